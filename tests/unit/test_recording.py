"""Recording decided from a snapshot: the receipt, the postings in order, the tallies and the
referral, with nothing read or written while deciding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loyalty.earning import tally_keys
from loyalty.earning_keys import visits_key
from loyalty.habits import micros, seen_key, spent_key
from loyalty.ledger import EntryKind
from loyalty.members import Member
from loyalty.outbox import EventKind
from loyalty.plans import Account
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.recording import ReferralSnapshot, Snapshot, plan_earning
from loyalty.referral_bonuses import ReferrerBonus, plan_bonus
from loyalty.referrals import Referral, Referrals, ReferralState
from loyalty.tallies import Tally

T = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
CLUB = Program("Club", "EUR", referrals=Referrals(referrer_points=50, referee_points=10))
SALE = Purchase("T1", "M2", T, [Line("cake", 2, Decimal("12.40"))], "EUR")


def snapshot(account: Account, referral: ReferralSnapshot | None = None) -> Snapshot:
    own, shared = tally_keys(CLUB, SALE, None)
    read = {key: Tally() for key in (*own, *shared, seen_key("M2"), spent_key("M2", "2024-03"))}
    read[visits_key("M2")] = Tally(0 if referral is not None else 4, Decimal(0))
    return Snapshot(SALE, CLUB, (CLUB,), T, account, None, read, "purchase", referral=referral)


def test_a_purchase_plans_its_earn_entry_and_habits() -> None:
    decided = plan_earning(snapshot(Account("M2", balance=100)))
    assert decided.receipt.points == 24
    assert decided.receipt.balance_after == 124
    assert [(p.kind, p.points, p.source_id) for p in decided.plan.postings] == [(EntryKind.EARN, 24, "T1")]
    assert decided.plan.balances == (124,)
    assert decided.lot == 0
    tallies = dict(decided.plan.tallies)
    assert tallies[seen_key("M2")] == Tally(micros(T), Decimal(micros(T)))
    assert tallies[spent_key("M2", "2024-03")] == Tally(1, Decimal("24.80"))
    assert tallies[visits_key("M2")] == Tally(1, Decimal(0))


def test_a_purchase_by_a_member_who_owes_collects_and_shows_the_balance_left() -> None:
    decided = plan_earning(snapshot(Account("M2", balance=0, owed=10)))
    assert [(p.kind, p.points) for p in decided.plan.postings] == [
        (EntryKind.EARN, 24),
        (EntryKind.COLLECT, -10),
    ]
    assert decided.receipt.balance_after == 14
    assert dict(decided.plan.tallies)["owed|M2"] == Tally(0, Decimal(-10))


def test_a_first_purchase_rewards_the_referee_and_leaves_the_referrers_bonus_to_its_own_part() -> None:
    referral = Referral("M2", "M1", "ABCD2345", T - timedelta(days=2))
    found = ReferralSnapshot(referral, Member("M2", T - timedelta(days=2)), None, 0)
    decided = plan_earning(snapshot(Account("M2", balance=0), found))
    postings = [(p.member_id, p.kind, p.points, p.rules) for p in decided.plan.postings]
    assert postings == [
        ("M2", EntryKind.EARN, 24, ("base",)),
        ("M2", EntryKind.EARN, 10, ("referral:referee",)),
    ]
    assert decided.plan.balances == (24, 34)
    assert decided.receipt.balance_after == 34
    assert decided.referral is not None
    assert decided.referral.state is ReferralState.REWARDED
    assert (decided.referral.referee_points, decided.referral.referrer_points) == (10, 50)
    assert decided.referee_lot == 1
    # The referrer's rows are its own part's: its bonus and its event.
    assert decided.plan.events == ()
    assert decided.bonus == ReferrerBonus("M1", "M2", "T1", 50, 10, T, CLUB.version, None, None, False)
    paid = plan_bonus(Account("M1", balance=5), decided.bonus, now=T)
    assert [(p.member_id, p.points, p.rules) for p in paid.postings] == [("M1", 50, ("referral:referrer",))]
    assert paid.balances == (55,)
    assert [event.kind for event in paid.events] == [EventKind.REFERRAL_REWARDED]


def test_a_referral_that_does_not_qualify_is_rejected_with_no_bonus() -> None:
    strict = Program("Club", "EUR", referrals=Referrals(referrer_points=50, min_spend=Decimal(100)))
    referral = Referral("M2", "M1", "ABCD2345", T - timedelta(days=2))
    found = ReferralSnapshot(referral, Member("M2", T - timedelta(days=2)), None, 0)
    base = snapshot(Account("M2", balance=0), found)
    own, shared = tally_keys(strict, SALE, None)
    read = {**base.read, **{key: Tally() for key in (*own, *shared)}}
    decided = plan_earning(
        Snapshot(SALE, strict, (strict,), T, base.account, None, read, "purchase", referral=found)
    )
    assert [p.member_id for p in decided.plan.postings] == ["M2"]
    assert decided.referral is not None
    assert decided.referral.state is ReferralState.REJECTED
    assert decided.referral.reason == "first purchase of 24.80 is below the minimum of 100"
    assert decided.plan.events == ()
