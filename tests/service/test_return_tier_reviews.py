"""The tier review a return runs: what it measures, where, and the moves it records."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from loyalty import (
    Engine,
    EntryKind,
    Expiry,
    Line,
    Program,
    Purchase,
    Return,
    Returned,
    Tier,
    Tiers,
    open_store,
)
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from tests.tiered_club import AMS, LEVELS, club


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def buy(engine: Engine, clock: ManualClock, purchase_id: str, at: datetime, price: str) -> str | None:
    """Two of the same goods at ``price`` each; the tier the purchase reached."""
    clock.now = at
    line = Line("goods", 2, Decimal(price))
    return engine.record_purchase(Purchase(purchase_id, "M1", at, [line], "EUR")).tier_reached


def give_one_back(engine: Engine, clock: ManualClock, return_id: str, purchase_id: str, at: datetime) -> None:
    clock.now = at
    engine.record_return(Return(return_id, purchase_id, at, [Returned("goods", 1)]))


def moves(engine: Engine, source: str) -> list[tuple[str, datetime]]:
    return [
        (entry.reason, entry.occurred_at)
        for entry in engine.history("M1")
        if entry.kind is EntryKind.TIER and entry.source_id == source
    ]


def test_a_return_of_last_years_goods_leaves_this_years_tier_alone() -> None:
    clock = ManualClock(ams(2024, 1, 1))
    with open_store("memory://") as store:
        engine = Engine(club(window="calendar_year", downgrade="immediate"), store, clock=clock)
        engine.enroll("M1", at=clock.now)
        assert buy(engine, clock, "P1", ams(2024, 6, 1), "300.00") == "silver"
        # 2025 starts at Member; this purchase alone reaches Silver again.
        assert buy(engine, clock, "P2", ams(2025, 3, 1), "300.00") == "silver"
        give_one_back(engine, clock, "R1", "P1", ams(2025, 3, 2))
        status = engine.tier("M1")
        # 2024 lost 300 points, 2025 (the window the tier follows now) did not.
        assert (status.tier.id, status.value) == ("silver", Decimal(600))
        assert moves(engine, "R1") == []


def test_a_return_just_after_midnight_on_new_years_day_lowers_the_new_year_in_the_programs_zone() -> None:
    clock = ManualClock(ams(2024, 6, 1))
    with open_store("memory://") as store:
        engine = Engine(club(window="calendar_year", downgrade="immediate"), store, clock=clock)
        engine.enroll("M1", at=clock.now)
        # Ten past midnight in Amsterdam: still 2024 in UTC, already 2025 for the program.
        assert buy(engine, clock, "P1", ams(2025, 1, 1, 0, 10), "300.00") == "silver"
        give_one_back(engine, clock, "R1", "P1", ams(2025, 1, 1, 0, 20))
        status = engine.tier("M1")
        assert (status.tier.id, status.value) == ("member", Decimal(300))
        assert moves(engine, "R1") == [
            ("tier Silver -> Member: down to Member: 300 points, below Silver's 500", ams(2025, 1, 1, 0, 20))
        ]


def test_a_return_after_the_membership_year_turned_runs_the_anniversary_review() -> None:
    enrolled = ams(2023, 3, 15)
    clock = ManualClock(enrolled)
    with open_store("memory://") as store:
        engine = Engine(club(window="membership_year", downgrade="immediate"), store, clock=clock)
        engine.enroll("M1", at=enrolled)
        assert buy(engine, clock, "P1", ams(2023, 4, 1), "300.00") == "silver"
        # Nothing has run since the member's second year began on 15 March 2024.
        give_one_back(engine, clock, "R1", "P1", ams(2024, 4, 1))
        assert engine.tier("M1").tier.id == "member"
        assert moves(engine, "R1") == [
            (
                "tier Silver -> Member: the window moved on 2024-03-15: 0 points, below Silver's 500",
                ams(2024, 3, 15),
            )
        ]


def silver_in_june(store: Store, clock: ManualClock) -> Engine:
    """M1, enrolled on the clock's day in the club whose tiers fall at once, Silver on 1 June 2024."""
    engine = Engine(club(downgrade="immediate"), store, clock=clock)
    engine.enroll("M1", at=clock.now)
    assert buy(engine, clock, "P1", ams(2024, 6, 1), "300.00") == "silver"
    return engine


def test_a_return_after_an_assigned_tier_ended_records_the_end_and_the_fall_that_follows() -> None:
    clock = ManualClock(ams(2024, 1, 1))
    with open_store("memory://") as store:
        engine = silver_in_june(store, clock)
        until = ams(2024, 9, 1)
        engine.assign_tier("M1", "gold", until=until, id="A1", at=clock.now, reason="match", actor="staff-7")
        # Nothing has run since the assigned Gold ended.
        now = ams(2024, 10, 1)
        give_one_back(engine, clock, "R1", "P1", now)
        assert engine.tier("M1").tier.id == "member"
        assert moves(engine, "R1") == [
            ("tier Gold -> Silver: the assigned tier's term ended", until),
            ("tier Silver -> Member: down to Member: 300 points, below Silver's 500", now),
        ]


@pytest.mark.parametrize(
    ("returned", "progress"),
    [
        # The review set aside 2025's 250 points as they stood then; half of P2 (125) coming
        # back afterwards leaves the progress below zero (docs/tiers.md, limits).
        ("P2", -125),
        # The rest of P1 lowers 2024, which the review measured before it, not 2025's progress.
        ("P1", 0),
    ],
)
@pytest.mark.parametrize("on_time", [True, False], ids=["maintenance-on-time", "maintenance-late"])
def test_a_review_before_a_return_sets_aside_the_progress_as_it_stood_then(
    returned: str, progress: int, on_time: bool
) -> None:
    """Carried out late by the return, the review measures and sets aside what maintenance run
    on time did (found by review: it counted the return out of both)."""
    enrolled = ams(2023, 12, 1)
    clock = ManualClock(enrolled)
    program = club(
        window="calendar_year",
        downgrade="review",
        review="fixed",
        review_on="01-01",
        grace_days=30,
        reset_on_downgrade=True,
    )
    with open_store("memory://") as store:
        engine = Engine(program, store, clock=clock)
        engine.enroll("M1", at=enrolled)
        assert buy(engine, clock, "P1", ams(2024, 3, 1), "300.00") == "silver"
        give_one_back(engine, clock, "R1", "P1", ams(2024, 6, 1))
        # In the grace period of the review of 1 January 2025: 250 points at Silver's rate.
        buy(engine, clock, "P2", ams(2025, 1, 10), "100.00")
        if on_time:
            clock.now = ams(2025, 2, 1)
            engine.run_due()
        give_one_back(engine, clock, "R2", returned, ams(2025, 2, 5))
        status = engine.tier("M1")
        assert (status.tier.id, status.value) == ("member", Decimal(progress))
        assert [reason for reason, _ in moves(engine, "R2")] == (
            []
            if on_time
            else [
                "tier Silver -> Member: review of 2025-01-01: 300 points, below Silver's 500; "
                "progress restarts at 0 (250 points set aside)"
            ]
        )


def test_an_assigned_tier_ending_at_a_return_is_recorded_once() -> None:
    clock = ManualClock(ams(2024, 1, 1))
    with open_store("memory://") as store:
        engine = Engine(club(downgrade="immediate"), store, clock=clock)
        engine.enroll("M1", at=clock.now)
        assert buy(engine, clock, "P1", ams(2024, 2, 1), "100.00") is None
        until = ams(2024, 3, 1)
        engine.assign_tier("M1", "gold", until=until, id="A1", at=clock.now, reason="match", actor="staff-7")
        # Back at Member, which it never left by activity: the state the return records is
        # a new member's again, and the term must not end a second time at the next purchase.
        give_one_back(engine, clock, "R1", "P1", ams(2024, 4, 1))
        buy(engine, clock, "P2", ams(2024, 5, 1), "10.00")
        ended = [
            (entry.source_id, entry.reason)
            for entry in engine.history("M1")
            if entry.kind is EntryKind.TIER and "term ended" in entry.reason
        ]
        assert ended == [("R1", "tier Gold -> Member: the assigned tier's term ended")]
        assert engine.tier("M1").tier.id == "member"


def test_a_return_under_a_version_with_lower_thresholds_pays_the_entry_bonus_it_reaches() -> None:
    first = club(window="membership_year", downgrade="immediate")
    lower = (LEVELS[0], attrs.evolve(LEVELS[1], threshold=200), LEVELS[2])
    second = Program(
        "Club",
        "EUR",
        timezone="Europe/Amsterdam",
        tiers=Tiers(levels=lower, window="membership_year", downgrade="immediate"),
        version="2",
        effective_from=ams(2024, 6, 1),
        expiry=Expiry(policy="lifetime", days=30),
    )
    clock = ManualClock(ams(2024, 1, 1))
    with open_store("memory://") as store:
        engine = Engine([first, second], store, clock=clock)
        engine.enroll("M1", at=clock.now)
        assert buy(engine, clock, "P1", ams(2024, 2, 1), "200.00") is None
        # Version 2's Silver starts at 200: the 200 points left after the return meet it.
        now = ams(2024, 7, 1)
        give_one_back(engine, clock, "R1", "P1", now)
        status = engine.tier("M1")
        # Silver lasts while the membership year that began on 1 January 2024 does.
        assert (status.tier.id, status.review_at) == ("silver", ams(2025, 1, 1))
        (bonus,) = [e for e in engine.history("M1") if e.source_id == "R1" and e.kind is EntryKind.EARN]
        assert (bonus.points, bonus.reason, bonus.expires_at) == (
            50,
            "entry bonus for reaching Silver",
            now + timedelta(days=30),
        )


def bought_in_january(store: Store, **tiers: Any) -> tuple[Engine, ManualClock]:
    """M1, enrolled on 10 January 2024 in a club whose Silver takes 300 (``tiers`` says how it
    is counted and kept), 410.00 of goods bought on 25 January."""
    levels = [Tier(id="member", name="Member"), Tier(id="silver", name="Silver", threshold=300)]
    program = Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=Tiers(levels=levels, **tiers))
    clock = ManualClock(ams(2024, 1, 10, 10))
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=clock.now)
    clock.now = ams(2024, 1, 25, 10)
    engine.record_purchase(Purchase("P1", "M1", clock.now, [Line("goods", 1, Decimal("410.00"))], "EUR"))
    return engine, clock


@pytest.mark.parametrize("dated", [(3, 6), (2, 20)], ids=["dated-6-march", "dated-20-february"])
@pytest.mark.parametrize("on_time", [True, False], ids=["maintenance-on-time", "maintenance-late"])
def test_a_review_that_fell_due_before_a_return_measures_the_window_without_it(
    any_store: Store, on_time: bool, dated: tuple[int, int]
) -> None:
    """A review measures the window as it stood before its date, so nothing depends on
    maintenance having run: a void after that date does not reach back into it (found by
    review: carried out late by the void, the review saw the void's points gone)."""
    engine, clock = bought_in_january(
        any_store,
        metric="points",
        window="rolling",
        months=3,
        downgrade="review",
        review="days",
        review_days=45,
        grace_days=10,
    )
    clock.now = ams(2024, 3, 5, 10)  # the review of 24 February, and its grace, are over
    if on_time:
        engine.run_due()
    clock.now = ams(2024, 3, 6, 10)
    # Recorded on 6 March, whatever the till's date: maintenance on time had judged the window
    # without it (found by review: a return dated before the review reached back into it).
    engine.record_return(Return("R1", "P1", ams(2024, *dated, 10)))
    clock.now = ams(2024, 3, 20, 10)
    engine.run_due()
    assert engine.tier("M1").tier.id == "silver"  # 410 points in the window on 24 February
    assert [e.reason for e in engine.history("M1") if e.kind is EntryKind.TIER] == [
        "tier Member -> Silver: reached Silver: 410 points (threshold 300)"
    ]
    last = engine.history("M1")[-1]
    assert (last.kind, last.points, last.source_id) == (EntryKind.RETURN, -410, "R1")


@pytest.mark.parametrize("on_time", [True, False], ids=["maintenance-on-time", "maintenance-late"])
def test_a_downgrade_at_once_after_a_return_is_dated_when_the_window_lost_the_goods(
    any_store: Store, on_time: bool
) -> None:
    engine, clock = bought_in_january(
        any_store, metric="spend", window="rolling", months=2, downgrade="immediate"
    )
    if on_time:
        for day in range(1, 41):
            clock.now = ams(2024, 1, 25, 12) + timedelta(days=day)
            engine.run_due()
    clock.now = ams(2024, 3, 5, 10)
    engine.record_return(Return("R1", "P1", clock.now))
    assert engine.tier("M1").tier.id == "member"
    fall = [(e.reason, e.occurred_at) for e in engine.history("M1") if e.kind is EntryKind.TIER][-1]
    # The window (two months) held the January goods until 1 March, however late it was seen.
    assert fall == (
        "tier Silver -> Member: the window moved on 2024-03-01: 0 spent, below Silver's 300",
        ams(2024, 3, 1),
    )


def test_a_void_that_takes_nothing_back_but_moves_the_tier_writes_both_entries() -> None:
    clock = ManualClock(ams(2024, 1, 1))
    with open_store("memory://") as store:
        engine = silver_in_june(store, clock)
        engine.redeem("M1", engine.balance("M1").available, id="D1", at=clock.now)
        clock.now = ams(2024, 6, 2)
        void = engine.record_return(Return("V1", "P1", clock.now))
        assert (void.taken_back, engine.tier("M1").tier.id) == (0, "member")
        assert [(e.kind, e.points) for e in engine.history("M1") if e.source_id == "V1"] == [
            (EntryKind.RETURN, 0),
            (EntryKind.TIER, 0),
        ]
