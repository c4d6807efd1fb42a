"""A return that takes a referral's purchase back: when it does, and what the bonuses' take-backs draw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest

from loyalty.earning import evaluate, tally_keys
from loyalty.expiry import Expiry
from loyalty.ledger import EntryKind
from loyalty.lots import DrawOrder, Lot
from loyalty.outbox import EventKind, NewEvent
from loyalty.plans import Account
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.referral_bonuses import plan_take_back
from loyalty.referrals import Referral, Referrals, ReferralState, cap_key
from loyalty.return_plans import ReturnPlan, ReturnSnapshot, Revoked, plan_return, revokes
from loyalty.returns import Clawback, Return, paid_key, refunded_key, remaining, returned_key, taken_key
from loyalty.tallies import Tally

T = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
LATER = T + timedelta(days=3)
#: The engine's clock an hour after the till's return, read in another zone.
NOW = (LATER + timedelta(hours=1)).astimezone(timezone(timedelta(hours=2)))
SALE = Purchase(
    "T1", "M1", T, [Line("shirt", 2, Decimal("20.00")), Line("socks", 1, Decimal("10.00"))], "EUR"
)
REFERRAL = Referral(
    "M1",
    "M2",
    "CODE",
    T - timedelta(days=1),
    ReferralState.REWARDED,
    purchase_id="T1",
    referrer_points=30,
    referee_points=20,
    referrer_lot=7,
    referee_lot=5,
)


def club(min_spend: str | None = "30.00", **options: object) -> Program:
    terms = Referrals(
        referrer_points=30, referee_points=20, min_spend=None if min_spend is None else Decimal(min_spend)
    )
    return Program("Club", "EUR", referrals=terms, **options)  # type: ignore[arg-type]


SHIRT_BACK = remaining(SALE, {0: Decimal(1)})  # 30.00 left
SHIRTS_BACK = remaining(SALE, {0: Decimal(2)})  # 10.00 left


@pytest.mark.parametrize(
    ("referral", "left"),
    [
        (None, None),
        (attrs.evolve(REFERRAL, purchase_id="T0"), None),
        (attrs.evolve(REFERRAL, state=ReferralState.PENDING), None),
        (attrs.evolve(REFERRAL, state=ReferralState.REJECTED), None),
        (REFERRAL, SHIRT_BACK),  # 30.00 left: still the minimum
    ],
)
def test_a_return_keeps_a_referral_it_did_not_qualify_or_that_still_qualifies(
    referral: Referral | None, left: Purchase | None
) -> None:
    assert revokes(club(), referral, "T1", left) is False


@pytest.mark.parametrize("state", [ReferralState.QUALIFIED, ReferralState.REWARDED])
def test_a_void_takes_back_the_referral_it_qualified(state: ReferralState) -> None:
    assert revokes(club(), attrs.evolve(REFERRAL, state=state), "T1", None) is True


def test_a_return_below_the_minimum_spend_takes_the_referral_back() -> None:
    assert revokes(club(), REFERRAL, "T1", SHIRTS_BACK) is True


@pytest.mark.parametrize("terms", [club(min_spend=None), Program("Club", "EUR")])
def test_without_a_minimum_only_a_void_takes_the_referral_back(terms: Program) -> None:
    assert revokes(terms, REFERRAL, "T1", SHIRTS_BACK) is False


def revoke(program: Program, referee_lots: tuple[Lot, ...]) -> ReturnPlan:
    own, shared = tally_keys(program, SALE, None)
    context = {key: Tally() for key in (*own, *shared)}
    receipt = evaluate(program, SALE, tallies=context).receipt  # 50 points
    state = {
        key: Tally()
        for key in (returned_key("M1", "T1", 0), returned_key("M1", "T1", 1), taken_key("M1", "T1"))
    }
    state |= {paid_key("M1", "T1"): Tally(), refunded_key("M1", "T1"): Tally()}
    member = Account("M1", sum(lot.remaining for lot in referee_lots), lots=referee_lots)
    snapshot = ReturnSnapshot(
        Return("R1", "T1", LATER),
        SALE,
        receipt,
        program,
        (program,),
        NOW,
        None,
        context,
        state,
        member,
        1,
        revoked=Revoked(REFERRAL, "2024-03"),
    )
    return plan_return(snapshot)


def test_a_bonus_is_taken_from_its_own_lot_first_then_in_the_programs_draw_order() -> None:
    referee_lots = (
        Lot(1, "M1", 50, 50, T),  # the purchase's own
        Lot(5, "M1", 20, 5, T),  # the referee's bonus, mostly spent
        Lot(6, "M1", 10, 10, T - timedelta(days=30), expires_at=T + timedelta(days=200)),
        Lot(9, "M1", 10, 10, T - timedelta(days=1), expires_at=T + timedelta(days=20)),
    )
    # Dated after the return, as when a purchase kept from before the versions were dated comes back.
    first = club(expiry=Expiry(draw=DrawOrder.OLDEST_EARNED), effective_from=LATER + timedelta(days=1))
    decided = revoke(first, referee_lots)
    _, bonus = decided.plan.postings
    assert (bonus.member_id, bonus.kind, bonus.points) == ("M1", EntryKind.RETURN, -20)
    assert bonus.draws == ((5, -5), (6, -10), (9, -5))
    assert (bonus.occurred_at, bonus.recorded_at, bonus.source_id) == (LATER, NOW, "R1")
    assert bonus.reason == "referral bonus taken back, T1 returned: 20 of 20"


@pytest.mark.parametrize(
    ("clawback", "taken", "left_behind"),
    [(Clawback.NEGATIVE, 30, Tally(0, Decimal(15))), (Clawback.FUTURE, 15, Tally(0, Decimal(15)))],
)
def test_a_referrers_spent_bonus_is_left_as_the_clawback_says(
    clawback: Clawback, taken: int, left_behind: Tally
) -> None:
    referrer_lots = (
        Lot(7, "M2", 30, 10, T),
        Lot(8, "M2", 5, 5, T - timedelta(days=5), expires_at=T + timedelta(days=50)),
    )
    decided = revoke(club(clawback=clawback), (Lot(1, "M1", 50, 50, T),))
    # The referrer's part: its own plan, from what the return kept for it.
    assert decided.take_back is not None and decided.take_back.lot == 7
    assert all(posting.member_id == "M1" for posting in decided.plan.postings)
    referrer = Account("M2", 15, lots=referrer_lots)
    part = plan_take_back(referrer, decided.take_back, lot=decided.take_back.lot, now=NOW)
    (bonus,) = part.postings
    assert (bonus.member_id, bonus.points, bonus.draws) == ("M2", -taken, ((7, -10), (8, -5)))
    assert (bonus.occurred_at, bonus.recorded_at, bonus.source_id) == (LATER, NOW, "R1")
    tallies = dict(part.tallies)
    kind = "debt" if clawback is Clawback.NEGATIVE else "owed"
    other = "owed" if clawback is Clawback.NEGATIVE else "debt"
    assert tallies[f"{kind}|M2"] == left_behind
    assert f"{other}|M2" not in tallies


def test_the_referrer_is_told_and_its_place_under_the_cap_is_freed() -> None:
    decided = revoke(club(), (Lot(1, "M1", 50, 50, T),))
    assert dict(decided.plan.tallies)[cap_key("2024-03", "M2")] == Tally(-1, Decimal(0))
    assert decided.plan.events == ()  # the referrer's event is its part's
    assert decided.take_back is not None
    part = plan_take_back(
        Account("M2", 30, lots=(Lot(7, "M2", 30, 30, T),)), decided.take_back, lot=7, now=NOW
    )
    data = {
        "referee": "M1",
        "purchase_id": "T1",
        "return_id": "R1",
        "referrer_points": 30,
        "referee_points": 20,
    }
    assert part.events == (NewEvent(EventKind.REFERRAL_REVOKED, "M2", LATER, NOW, "R1", data),)
    assert decided.referral == attrs.evolve(
        REFERRAL,
        state=ReferralState.REJECTED,
        reason="the qualifying purchase T1 was returned: bonuses taken back",
        decided_at=NOW,
    )
    assert decided.referral.decided_at is not None and decided.referral.decided_at.tzinfo is UTC
