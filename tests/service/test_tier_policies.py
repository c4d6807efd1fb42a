"""Downgrade policies on every adapter: straight to the base tier, progress reset on the way down,
reviews every so many days (found by ``run_due`` through the date index)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty import Engine, EntryKind, Line, Program, Purchase
from loyalty.outbox import EventKind
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from tests.tiered_club import AMS, club

T0 = datetime(2024, 1, 10, 12, 0, tzinfo=AMS)


def ams(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=AMS)


def start(program: Program, store: Store) -> tuple[Engine, ManualClock]:
    clock = ManualClock(T0)
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=T0)
    return engine, clock


def buy(engine: Engine, clock: ManualClock, key: str, amount: str, at: datetime) -> Any:
    clock.now = at
    return engine.record_purchase(Purchase(key, "M1", at, [Line("goods", 1, Decimal(amount))], "EUR"))


def moves(engine: Engine) -> list[tuple[str, str]]:
    return [(e.source_id, e.reason) for e in engine.history("M1") if e.kind is EntryKind.TIER]


def yearly(**options: Any) -> Program:
    return club(window="calendar_year", downgrade="review", review="fixed", review_on="01-01", **options)


def test_a_review_drops_a_member_short_of_its_tier_straight_to_the_base_tier(any_store: Store) -> None:
    engine, clock = start(yearly(to_base=True), any_store)
    buy(engine, clock, "P1", "2000.00", T0)  # gold for 2024
    buy(engine, clock, "P2", "400.00", ams(2025, 3, 1))  # 600 points at gold's rate: silver's worth
    clock.now = ams(2026, 1, 2)
    report = engine.run_due()
    assert (report.tier_reviews, report.tier_changes) == (1, 1)
    status = engine.tier("M1")
    assert (status.tier.id, status.earned.id, status.review_at) == ("member", "member", None)
    assert moves(engine)[-1] == (
        f"tier-review:M1:{ams(2026, 1, 1).astimezone(UTC).isoformat()}",
        "tier Gold -> Member: review of 2026-01-01: 600 points, below Gold's 1500;"
        " a downgrade goes to the base tier, Member",
    )
    changed = [e for e in engine.events() if e.kind is EventKind.TIER_CHANGED]
    assert [(e.data["old"], e.data["new"]) for e in changed] == [("member", "gold"), ("gold", "member")]
    again = engine.run_due()
    assert (again.tier_reviews, again.tier_changes) == (0, 0)


def test_a_downgrade_resets_the_progress_of_the_window_in_force(any_store: Store) -> None:
    engine, clock = start(yearly(grace_days=30, reset_on_downgrade=True), any_store)
    buy(engine, clock, "P1", "2000.00", T0)  # gold for 2024
    buy(engine, clock, "P2", "400.00", ams(2025, 3, 1))  # 600 points in 2025
    buy(engine, clock, "P3", "500.00", ams(2026, 1, 10))  # 750 in 2026, during the grace period
    clock.now = ams(2026, 2, 1)
    assert engine.run_due().tier_changes == 1
    status = engine.tier("M1")
    assert (status.tier.id, status.value, status.to_keep) == ("silver", Decimal(0), Decimal(500))
    assert moves(engine)[-1][1] == (
        "tier Gold -> Silver: review of 2026-01-01: 600 points, below Gold's 1500;"
        " progress restarts at 0 (750 points set aside)"
    )
    assert engine.balance("M1").total == 2000 + 250 + 600 + 750  # the points themselves stay
    assert engine.run_due().tier_reviews == 0
    receipt = buy(engine, clock, "P4", "100.00", ams(2026, 2, 2))
    assert (receipt.points, receipt.tier) == (125, "silver")
    assert engine.tier("M1").value == Decimal(125)


def test_a_purchase_that_carries_out_a_due_review_counts_from_the_reset(any_store: Store) -> None:
    engine, clock = start(yearly(grace_days=30, reset_on_downgrade=True), any_store)
    buy(engine, clock, "P1", "2000.00", T0)
    buy(engine, clock, "P2", "400.00", ams(2025, 3, 1))  # 600 points in 2025
    buy(engine, clock, "P3", "950.00", ams(2026, 1, 10))  # 1425 in 2026: silver's worth, not gold's
    # No maintenance: the next purchase carries out the review (as of 31 January) first.
    clock.now = ams(2026, 2, 5)
    basket = Purchase("P4", "M1", ams(2026, 2, 5), [Line("goods", 1, Decimal("100.00"))], "EUR")
    assert (engine.quote(basket).tier, engine.quote(basket).tier_reached) == ("silver", None)
    receipt = engine.record_purchase(basket)
    # Counted from zero it has 125 points; on top of the 1425 set aside it would have reached gold.
    assert (receipt.points, receipt.tier, receipt.tier_reached) == (125, "silver", None)
    status = engine.tier("M1")
    assert (status.tier.id, status.value) == ("silver", Decimal(125))
    assert moves(engine)[-1] == (
        "P4",
        "tier Gold -> Silver: review of 2026-01-01: 600 points, below Gold's 1500;"
        " progress restarts at 0 (1425 points set aside)",
    )
    assert engine.record_purchase(basket) == receipt  # a replay writes nothing more
    assert engine.tier("M1").value == Decimal(125)


def test_reviews_every_n_days_are_found_by_maintenance(any_store: Store) -> None:
    program = club(window="rolling", months=2, downgrade="review", review="days", review_days=30)
    engine, clock = start(program, any_store)
    buy(engine, clock, "P1", "600.00", T0)  # silver
    assert engine.tier("M1").review_at == ams(2024, 2, 9, 12).astimezone(UTC)
    clock.now = ams(2024, 2, 9, 11)
    assert engine.run_due().tier_reviews == 0  # not yet due
    clock.now = ams(2024, 2, 9, 12)
    report = engine.run_due()  # January and February hold 600 points: silver is kept
    assert (report.tier_reviews, report.tier_changes) == (1, 0)
    assert engine.tier("M1").review_at == ams(2024, 3, 10, 12).astimezone(UTC)
    clock.now = ams(2024, 3, 10, 12) + timedelta(minutes=1)
    report = engine.run_due()  # February and March are empty
    assert (report.tier_reviews, report.tier_changes) == (1, 1)
    assert engine.tier("M1").tier.id == "member"
    assert moves(engine)[-1][1] == "tier Silver -> Member: review of 2024-03-10: 0 points, below Silver's 500"
    assert engine.run_due().tier_reviews == 0
