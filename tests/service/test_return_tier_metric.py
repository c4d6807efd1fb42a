"""A return lowers the tier metric in the stretch its purchase counted in, and the tier follows."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import Engine, EntryKind, Line, Program, Purchase, Return, Returned, Tier, Tiers, open_store
from loyalty.testing.clock import ManualClock
from tests.tiered_club import AMS, LEVELS, club


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


@pytest.mark.parametrize(
    ("window", "enrolled", "bought"),
    [
        # Half past midnight on New Year's Day in Amsterdam is still 2023 in UTC.
        ("calendar_year", ams(2023, 6, 1), ams(2024, 1, 1, 0, 30)),
        # Five days into the member's second membership year.
        ("membership_year", ams(2023, 3, 15), ams(2024, 3, 20)),
    ],
)
def test_a_return_takes_its_points_off_the_stretch_its_purchase_counted_in(
    window: str, enrolled: datetime, bought: datetime
) -> None:
    clock = ManualClock(enrolled)
    with open_store("memory://") as store:
        engine = Engine(club(metric="points", window=window, downgrade="immediate"), store, clock=clock)
        engine.enroll("M1", at=enrolled)
        clock.now = bought
        line = Line("goods", 2, Decimal("300.00"))
        assert engine.record_purchase(Purchase("P1", "M1", bought, [line], "EUR")).tier_reached == "silver"
        clock.now = bought + timedelta(days=1)
        engine.record_return(Return("R1", "P1", clock.now, [Returned("goods", 1)]))
        status = engine.tier("M1")
        # 600 points earned, 300 taken back: below Silver's 500 at once.
        assert (status.tier.id, status.value) == ("member", Decimal(300))


@pytest.mark.parametrize("on_time", [True, False], ids=["maintenance-on-time", "maintenance-late"])
def test_a_review_due_before_goods_come_back_counts_the_year_as_it_stood(on_time: bool) -> None:
    enrolled = ams(2023, 12, 1)
    clock = ManualClock(enrolled)
    program = club(window="calendar_year", downgrade="review", review="fixed", review_on="01-01")
    with open_store("memory://") as store:
        engine = Engine(program, store, clock=clock)
        engine.enroll("M1", at=enrolled)
        clock.now = bought = ams(2024, 3, 1)
        line = Line("goods", 2, Decimal("300.00"))
        assert engine.record_purchase(Purchase("P1", "M1", bought, [line], "EUR")).tier_reached == "silver"
        clock.now = ams(2025, 1, 1, 12)
        if on_time:
            engine.run_due()
        # Half the goods come back after the review of 1 January 2025, run or not: it judged 2024
        # as it stood then (600 points), as maintenance run on time did (found by review: carried
        # out by the return, it used to count 300 and take Silver).
        clock.now = ams(2025, 1, 2)
        engine.record_return(Return("R1", "P1", clock.now, [Returned("goods", 1)]))
        assert engine.tier("M1").tier.id == "silver"
        assert not [
            entry
            for entry in engine.history("M1")
            if entry.kind is EntryKind.TIER and entry.source_id == "R1"
        ]


def test_a_void_of_a_purchase_that_climbed_past_its_rate_takes_off_exactly_what_it_counted() -> None:
    # Silver doubles, gold does not (this_purchase): a late 600 EUR purchase from December
    # reaches gold at silver's rate and counts 1200; voiding it takes the same 1200 off
    # December, so the window never holds a negative month that lifts the member once
    # December drops out of it in April.
    levels = [LEVELS[0], Tier(id="silver", threshold=500, multiplier=2), Tier(id="gold", threshold=1000)]
    tiers = Tiers(levels=levels, window="rolling", months=4, upgrade="this_purchase", downgrade="immediate")
    clock = ManualClock(now := ams(2024, 1, 1, 10))
    with open_store("memory://") as store:
        engine = Engine(Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=tiers), store, clock=clock)
        # Enrolled before the late purchase is dated (time guards refuse activity before enrollment).
        engine.enroll("M1", at=ams(2023, 12, 29, 9))
        late = Purchase("P1", "M1", ams(2023, 12, 29, 10), [Line("goods", 1, Decimal("600.00"))], "EUR")
        engine.record_purchase(late)
        engine.record_purchase(Purchase("P2", "M1", now, [Line("goods", 1, Decimal("150.00"))], "EUR"))
        engine.record_return(Return("R1", "P1", now, None))
        status = engine.tier("M1")
        assert (status.tier.id, status.value) == ("member", Decimal(150))
        clock.now = ams(2024, 4, 5, 10)
        engine.run_due()
        status = engine.tier("M1")
        assert (status.tier.id, status.value) == ("member", Decimal(150))
