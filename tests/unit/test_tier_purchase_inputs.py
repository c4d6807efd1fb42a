"""What a purchase under a tiered program is rated with and which window it lifts
(:func:`loyalty.tier_decisions.decide`): the tallies read and the balance before it, at the
member's tier; its own window or now's, whichever reaches further; and a local day's edge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from loyalty import Line, Program, Purchase, Tiers
from loyalty.earning import Event
from loyalty.members import Member
from loyalty.rules import EventRule, SpendRule
from loyalty.tallies import Tally
from loyalty.tier_decisions import Decision, decide
from loyalty.tiers import TierState
from tests.tiered_club import AMS, YEARLY, club

ENROLLED = datetime(2024, 1, 10, 12, 0, tzinfo=AMS)


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def bought(at: datetime, amount: str = "600.00") -> Purchase:
    return Purchase("P1", "M1", at, [Line("goods", 1, Decimal(amount))], "EUR")


def by_bucket(
    tiers: Tiers, values: dict[str, Decimal], reads: list[datetime] | None = None
) -> Callable[[datetime], Decimal]:
    """The metric over the window at an instant, from ``values`` by bucket (each read noted)."""

    def measure(at: datetime) -> Decimal:
        if reads is not None:
            reads.append(at)
        return sum((values.get(b, Decimal(0)) for b in tiers.buckets(at, AMS, ENROLLED)), Decimal(0))

    return measure


def decided(
    program: Program,
    subject: Purchase | Event,
    *,
    now: datetime,
    measure: Callable[[datetime], Decimal],
    state: TierState | None = None,
    read: dict[str, Tally] | None = None,
    balance: int = 0,
) -> Decision:
    assert program.tiers is not None
    return decide(
        program,
        program,
        subject,
        Member("M1", ENROLLED),
        read=read or {},
        balance=balance,
        state=state or TierState.initial("M1", program.tiers, utc(ENROLLED)),
        now=utc(now),
        measure=measure,
        progress=lambda _: Decimal(0),
    )


# -- what the purchase is rated with ----------------------------------------------------------

CAP = "cap|r|2024-05|M1"


def capped(**options: Any) -> Program:
    rule = SpendRule(id="r", points=1, cap=100, cap_period="month")
    return club(program={"rules": [rule], "rate": None}, **options)


def test_a_purchase_is_rated_with_the_tallies_read_and_the_balance_before_it() -> None:
    program = capped()
    at = ams(2024, 5, 1, 12)
    done = decided(
        program,
        bought(at),
        now=at,
        measure=lambda _: Decimal(0),
        read={CAP: Tally(0, Decimal(40))},
        balance=1000,
    )
    # 40 of the month's cap of 100 already earned: 60 left of the 600.
    assert (done.receipt.points, done.receipt.balance_after) == (60, 1060)
    # The evaluation's own tallies and the metric's, side by side.
    assert done.deltas == {
        CAP: Tally(0, Decimal(60)),
        "visits|M1": Tally(1, Decimal(0)),
        "tier|points|all|M1": Tally(0, Decimal(60)),
    }


def test_a_purchase_rated_again_at_the_tier_it_reaches_keeps_the_tallies_and_the_balance() -> None:
    program = capped(metric="spend", upgrade="this_purchase")
    at = ams(2024, 5, 1, 12)
    done = decided(
        program,
        bought(at),
        now=at,
        measure=lambda _: Decimal(0),
        read={CAP: Tally(0, Decimal(40))},
        balance=1000,
    )
    # 600.00 spent reaches silver; rated again there: the cap's 60 left, times silver's 1.25.
    assert (done.receipt.tier, done.receipt.tier_reached) == ("silver", "silver")
    assert (done.receipt.points, done.receipt.balance_after) == (75, 1075)
    assert done.deltas[CAP] == Tally(0, Decimal(60))


@pytest.mark.parametrize(
    ("read", "points"),
    [({}, 30), ({"events|survey|2024-05|M1": Tally(1, Decimal(0))}, 0)],
    ids=["first-this-month", "limit-reached"],
)
def test_an_event_is_rated_at_the_members_tier_within_its_limit(read: dict[str, Tally], points: int) -> None:
    survey = EventRule(
        id="survey", event="survey", points=30, limit=1, limit_period="month", members={"tier": ("silver",)}
    )
    program = club(program={"rules": [survey], "rate": None})
    at = ams(2024, 5, 1, 12)
    silver = TierState("M1", "silver", "silver", utc(ENROLLED), reached=("member", "silver"))
    done = decided(
        program,
        Event("E1", "M1", "survey", at),
        now=at,
        measure=lambda _: Decimal(0),
        state=silver,
        read=read,
        balance=1000,
    )
    assert (done.receipt.points, done.receipt.balance_after, done.receipt.tier) == (
        points,
        1000 + points,
        "silver",
    )


# -- which window the purchase lifts ----------------------------------------------------------


def rolling() -> Program:
    return club(metric="spend", window="rolling", months=3)


@pytest.mark.parametrize(
    ("earlier", "lands_in", "dated"),
    [
        # January's 1000.00 is in the purchase's window (January to March) but has left now's.
        ({"2024-01": Decimal(1000)}, "gold", ams(2024, 3, 15, 12)),
        # April's 1000.00 is in now's window (March to May), after the purchase's.
        ({"2024-04": Decimal(1000)}, "gold", ams(2024, 5, 5, 12)),
        # Both windows meet gold: the purchase's own time decides.
        ({"2024-03": Decimal(1000)}, "gold", ams(2024, 3, 15, 12)),
        # Neither holds anything else: silver, from the purchase's own time.
        ({}, "silver", ams(2024, 3, 15, 12)),
    ],
    ids=["own-window", "now-window", "tie", "only-the-purchase"],
)
def test_a_late_purchase_lifts_the_tier_in_whichever_window_reaches_further(
    earlier: dict[str, Decimal], lands_in: str, dated: datetime
) -> None:
    program = rolling()
    assert program.tiers is not None
    done = decided(
        program,
        bought(ams(2024, 3, 15, 12)),
        now=ams(2024, 5, 5, 12),
        measure=by_bucket(program.tiers, earlier),
    )
    assert (done.state.tier, done.receipt.tier_reached) == (lands_in, lands_in)
    assert [(m.at, m.new) for m in done.moves] == [(utc(dated), lands_in)]


def test_a_purchase_after_midnight_on_new_years_day_counts_in_the_new_year_read_once() -> None:
    # 00:30 in Amsterdam is still 31 December in UTC: the window is the program's local year.
    program = club(metric="spend", **YEARLY)
    assert program.tiers is not None
    reads: list[datetime] = []
    at = ams(2026, 1, 1, 0, 30)
    measure = by_bucket(program.tiers, {"2025": Decimal(100), "2026": Decimal(1000)}, reads)
    done = decided(program, bought(at), now=ams(2026, 1, 1, 0, 45), measure=measure)
    assert [(m.at, m.new, m.reason) for m in done.moves] == [
        (utc(at), "gold", "reached Gold: 1600.00 spent (threshold 1500)")
    ]
    # A till online: the purchase's window is now's, and the metric is read once.
    assert reads == [utc(at)]
    assert done.deltas["tier|spend|2026|M1"] == Tally(0, Decimal("600.00"))


def test_under_a_downgrade_at_once_a_purchase_from_a_year_gone_lifts_nothing() -> None:
    # The tier follows the window of now alone: last year's purchase counts in last year only.
    program = club(metric="spend", window="calendar_year", downgrade="immediate")
    assert program.tiers is not None
    measure = by_bucket(program.tiers, {"2025": Decimal(1000), "2026": Decimal(300)})
    done = decided(program, bought(ams(2025, 12, 20, 12)), now=ams(2026, 1, 5, 12), measure=measure)
    assert (done.state.tier, done.moves) == ("member", [])
    assert (done.receipt.tier_reached, done.receipt.tier_bonus) == (None, 0)
    assert done.deltas["tier|spend|2025|M1"] == Tally(0, Decimal("600.00"))
