"""Reviews a late purchase falls before, carried out again with it counted
(:func:`loyalty.tier_decisions.decide`): the window each review judges, the progress a reset
sets aside, the member's anniversary, and a tier reached and lost again between then and now."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from loyalty import Line, Program, Purchase
from loyalty.members import Member
from loyalty.tier_decisions import Decision, decide
from loyalty.tiers import TierState
from tests.tiered_club import AMS, YEARLY, club

ENROLLED = datetime(2024, 1, 10, 12, 0, tzinfo=AMS)


def ams(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=AMS)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def bought(at: datetime, amount: str) -> Purchase:
    return Purchase("P1", "M1", at, [Line("goods", 1, Decimal(amount))], "EUR")


def gold(review_at: datetime) -> TierState:
    return TierState(
        "M1", "gold", "gold", utc(ENROLLED), review_at=utc(review_at), reached=("member", "silver", "gold")
    )


def decided(
    program: Program, purchase: Purchase, state: TierState, now: datetime, values: dict[str, Decimal]
) -> Decision:
    """``purchase`` decided at ``now`` with the metric by bucket in ``values`` (without it)."""
    tiers = program.tiers
    assert tiers is not None

    def measure(at: datetime) -> Decimal:
        return sum((values.get(b, Decimal(0)) for b in tiers.buckets(at, AMS, ENROLLED)), Decimal(0))

    return decide(
        program,
        program,
        purchase,
        Member("M1", ENROLLED),
        read={},
        balance=0,
        state=state,
        now=utc(now),
        measure=measure,
        progress=lambda bucket: values.get(bucket, Decimal(0)),
    )


def yearly(**options: Any) -> Program:
    return club(metric="spend", **YEARLY, **options)


def test_the_progress_a_downgrade_sets_aside_includes_the_late_purchase() -> None:
    # Gold reviewed on 1 January 2026 (effective a month later); the review is carried out on
    # 2 February, when a purchase of 15 January is recorded: 2026's progress is 500 + 150.
    program = yearly(grace_days=30, reset_on_downgrade=True)
    values = {"2025": Decimal(600), "2026": Decimal(500)}
    done = decided(
        program, bought(ams(2026, 1, 15, 12), "150.00"), gold(ams(2026, 1, 1)), ams(2026, 2, 2), values
    )
    assert done.state.tier == "silver"
    assert [(m.old, m.new, m.reset) for m in done.moves] == [
        ("gold", "silver", (("2026", Decimal("650.00")),))
    ]
    assert done.moves[0].reason == (
        "review of 2026-01-01: 600 spent, below Gold's 1500; progress restarts at 0 (650.00 spent set aside)"
    )


def test_a_late_purchase_counts_in_the_year_the_review_judged_not_in_the_year_in_force() -> None:
    # 2025's 600.00 meets silver only; 2026's 1000.00 meets silver too. The late purchase adds
    # nothing to 2026, which begins in Amsterdam while it is still 31 December in UTC.
    program = yearly()
    values = {"2026": Decimal(1000)}
    done = decided(
        program, bought(ams(2025, 12, 20, 12), "600.00"), gold(ams(2026, 1, 1)), ams(2026, 1, 20), values
    )
    assert [(m.old, m.new, m.reason) for m in done.moves] == [
        ("gold", "silver", "review of 2026-01-01: 600.00 spent, below Gold's 1500")
    ]
    assert done.state.review_at == utc(ams(2027, 1, 1))


def test_a_late_purchase_before_the_anniversary_keeps_the_tier_at_its_review() -> None:
    # A membership year runs from the 10 January enrollment: the purchase of 5 January 2025
    # completes the first year's 1500.00 for gold, judged at the anniversary five days later.
    program = club(metric="spend", window="membership_year", downgrade="review")
    values = {"y0": Decimal(1400)}
    done = decided(
        program, bought(ams(2025, 1, 5, 12), "100.00"), gold(ams(2025, 1, 10, 12)), ams(2025, 1, 12), values
    )
    assert (done.state.tier, done.moves) == ("gold", [])
    assert done.state.review_at == utc(ams(2026, 1, 10, 12))
    assert done.deltas["tier|spend|y0|M1"].points == Decimal("100.00")


def test_a_tier_reached_and_lost_again_before_now_still_pays_its_first_time_bonuses() -> None:
    # A monthly window reviewed every 30 days: the March purchase reached gold, the review of
    # 9 April judged April's empty window, and the member is back where it started.
    program = club(
        metric="spend", window="rolling", months=1, downgrade="review", review="days", review_days=30
    )
    assert program.tiers is not None
    start = TierState.initial("M1", program.tiers, utc(ENROLLED))
    values = {"2024-03": Decimal(1000)}
    done = decided(program, bought(ams(2024, 3, 20, 12), "600.00"), start, ams(2024, 5, 1), values)
    assert (done.state.tier, done.state.earned, done.state.reached) == (
        "member",
        "member",
        ("member", "silver", "gold"),
    )
    # Only the bonuses are left to record, as a note at the tier the member holds.
    assert [(m.at, m.old, m.new, m.bonuses) for m in done.moves] == [
        (utc(ams(2024, 3, 20, 12)), "member", "member", ("silver", "gold"))
    ]
    assert (done.receipt.tier_reached, done.receipt.tier_bonus) == (None, 250)
