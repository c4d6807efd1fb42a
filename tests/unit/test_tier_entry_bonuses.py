"""Entry bonuses: the chain they make under a balance metric, and the lot each one opens
(:func:`loyalty.tier_decisions.decide`, :func:`loyalty.tier_decisions.plan_moves`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import Line, Program, Purchase, Tier, Tiers
from loyalty.expiry import Expiry
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.plans import Account, Planner
from loyalty.tier_decisions import Decision, Settled, decide, plan_moves
from loyalty.tier_moves import TierChange
from loyalty.tiers import TierState
from tests.tiered_club import AMS, club

ENROLLED = datetime(2024, 1, 10, 12, 0, tzinfo=AMS)
# Each entry bonus is worth the step to the next tier.
STEPS = [
    Tier(id="member", name="Member"),
    Tier(id="silver", name="Silver", threshold=500, bonus=100),
    Tier(id="gold", name="Gold", threshold=600, bonus=100),
    Tier(id="platinum", name="Platinum", threshold=700, bonus=100),
]


def ams(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=AMS)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def balance_club(**options: Any) -> Program:
    tiers = Tiers(levels=STEPS, metric="balance", **options)
    return Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=tiers)


def bought(program: Program, amount: str) -> Decision:
    """A purchase on 1 February 2024 by a member with nothing yet (1 point a euro)."""
    assert program.tiers is not None
    at = ams(2024, 2, 1, 12)
    return decide(
        program,
        program,
        Purchase("P1", "M1", at, [Line("goods", 1, Decimal(amount))], "EUR"),
        Member("M1", ENROLLED),
        read={},
        balance=0,
        state=TierState.initial("M1", program.tiers, utc(ENROLLED)),
        now=utc(at),
        measure=lambda _: Decimal(0),
        progress=lambda _: Decimal(0),
    )


# -- a chain of entry bonuses -------------------------------------------------------------------


def test_each_entry_bonus_can_reach_the_next_tier_in_turn() -> None:
    # 500 reaches silver; its 100 makes 600, gold; gold's 100 makes 700, platinum; 800 is the end.
    done = bought(balance_club(downgrade="immediate"), "500.00")
    assert [(m.old, m.new, m.bonuses) for m in done.moves] == [
        ("member", "silver", ("silver",)),
        ("silver", "gold", ("gold",)),
        ("gold", "platinum", ("platinum",)),
    ]
    assert (done.state.tier, done.receipt.tier_reached, done.receipt.tier_bonus) == (
        "platinum",
        "platinum",
        300,
    )


def test_tiers_reached_through_a_chain_are_reviewed_on_the_members_cycle() -> None:
    # Every 90 days from the 10 January enrollment, at its time of day on the program's wall
    # clock: 9 April at 12:00 in Amsterdam, summer time by then.
    done = bought(balance_club(downgrade="review", review="days", review_days=90), "500.00")
    assert done.state.tier == "platinum"
    assert done.state.review_at == utc(ams(2024, 4, 9, 12))
    assert done.state.due_at == utc(ams(2024, 4, 9, 12))


# -- the lot an entry bonus opens ---------------------------------------------------------------

MOVED = utc(ams(2024, 5, 1, 12))


def bonus_of(
    program: Program, *, planner: Planner | None = None, versions: tuple[Program, ...] = ()
) -> Posting:
    """The credit planned for reaching silver on 1 May 2024, recorded a month later."""
    move = TierChange(MOVED, "member", "silver", "600 points", bonuses=("silver",), earned="silver")
    state = TierState("M1", "silver", "silver", MOVED, reached=("member", "silver"))
    planner = planner or Planner([Account("M1", 0)])
    plan_moves(
        planner,
        program,
        "M1",
        Settled(state, None, [move]),
        source="S1",
        now=MOVED + timedelta(days=31),
        versions=versions or (program,),
    )
    credits = [p for p in planner.plan().postings if p.kind is EntryKind.EARN]
    assert [(p.points, p.reason, p.occurred_at) for p in credits] == [
        (50, "entry bonus for reaching Silver", MOVED)
    ]
    return credits[0]


def test_an_entry_bonus_is_never_pending_and_expires_counted_from_the_move() -> None:
    # A purchase's points wait 30 days and expire a year after vesting; a bonus vests at once.
    program = club(program={"pending_days": 30, "expiry": Expiry("lifetime", months=12, from_vesting=True)})
    assert bonus_of(program).expires_at == utc(ams(2025, 5, 1, 12))


def test_an_entry_bonus_takes_the_dates_of_a_version_that_redates_earlier_points() -> None:
    first = club(program={"expiry": Expiry("lifetime", months=12)})
    redating = club(
        program={
            "version": "2",
            "effective_from": MOVED + timedelta(days=1),
            "expiry": Expiry("lifetime", months=6, redate_earlier=True),
        }
    )
    assert bonus_of(redating, versions=(first, redating)).expires_at == utc(ams(2024, 11, 1, 12))


@pytest.mark.parametrize("rolls", [True, False])
def test_an_entry_bonus_rolls_as_the_tier_programs_points_do(rolls: bool) -> None:
    # The planner follows the purchase's version; the bonus follows the version whose tiers pay it.
    expiry = Expiry("inactivity", months=12) if rolls else Expiry("lifetime", months=12)
    program = club(program={"expiry": expiry})
    credit = bonus_of(program, planner=Planner([Account("M1", 0)], rolling=not rolls))
    assert credit.rolling is rolls
    assert credit.expires_at == utc(ams(2025, 5, 1, 12))
