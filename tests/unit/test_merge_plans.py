"""The decisions of a merge: every open lot of the absorbed member's taken and received lot by lot with
its dates, what the merge cannot carry refused naming ``absorbed``, the tallies carried (tier
progress, habits), the referrals and keys moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs
import pytest

from loyalty.errors import InvalidInput, MergeBlocked
from loyalty.habits import micros
from loyalty.holds import Hold
from loyalty.identifiers import Identifier, IdentifierKind, IdentifierStatus
from loyalty.ledger import Entry, EntryKind
from loyalty.lots import Lot, lots_of
from loyalty.members import Member
from loyalty.merges import (
    Carried,
    Merge,
    carry,
    check_mergeable,
    check_parties,
    habit_keys,
    lot_map,
    moved_keys,
    moved_referrals,
    plan_merge,
    progress_keys,
)
from loyalty.outbox import EventKind
from loyalty.plans import Account, planned_lot
from loyalty.referrals import Referral, ReferralState
from loyalty.returns import debt_key
from loyalty.tallies import Tally
from loyalty.tiers import Tier, Tiers
from loyalty.vouchers import Voucher, VoucherStatus

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
SOON, LATER = T + timedelta(days=30), T + timedelta(days=90)
AMS = ZoneInfo("Europe/Amsterdam")
LEVELS = [Tier(id="member"), Tier(id="silver", threshold=500)]


def lot(lot_id: int, remaining: int, expires: datetime | None, **more: object) -> Lot:
    return Lot(lot_id, "B", remaining + 5, remaining, T - timedelta(days=10), expires_at=expires, **more)  # type: ignore[arg-type]


def test_every_open_lot_leaves_in_one_entry_and_arrives_as_a_lot_of_its_own() -> None:
    lots = (lot(2, 15, SOON), lot(4, 5, SOON, rolling=True), lot(7, 20, None))
    plan = plan_merge(Account("A", 3), Account("B", 40, lots=lots), key="G", at=T, now=T, reason="dup")
    sent, *received = plan.postings
    assert (sent.member_id, sent.kind, sent.points, sent.draws) == (
        "B",
        EntryKind.MERGE,
        -40,
        ((2, -15), (4, -5), (7, -20)),
    )
    assert sent.reason == "merged into A: dup"
    # No two lots run together, however alike their dates: each is the survivor's lot of its own.
    assert [(p.member_id, p.kind, p.points, p.expires_at, p.rolling) for p in received] == [
        ("A", EntryKind.MERGE, 15, SOON, False),
        ("A", EntryKind.MERGE, 5, SOON, True),
        ("A", EntryKind.MERGE, 20, None, False),
    ]
    assert received[0].reason == "merged from B (its lot 2, earned 2024-02-20): dup"
    assert plan.balances == (0, 18, 23, 43)
    (event,) = plan.events
    assert (event.kind, event.member_id, event.source_id) == (EventKind.MEMBER_MERGED, "B", "G")
    assert dict(event.data) == {"survivor": "A", "absorbed": "B", "points": 40, "lots": 3, "reason": "dup"}


def test_the_survivors_debt_is_repaid_from_what_it_receives() -> None:
    debt = Lot(9, "A", -8, -8, T)
    plan = plan_merge(
        Account("A", -8, debt=8, debts=(debt,)),
        Account("B", 15, lots=(lot(2, 15, SOON),)),
        key="G",
        at=T,
        now=T,
        reason="dup",
    )
    received = plan.postings[1]
    assert (received.points, received.draws) == (15, ((9, 8),))
    assert plan.tallies[debt_key("A")] == Tally(0, Decimal(-8))
    assert plan.balances == (0, 7)


def test_a_member_without_points_leaves_a_zero_entry_on_each_side() -> None:
    plan = plan_merge(Account("A", 3), Account("B", 0, lots=()), key="G", at=T, now=T, reason="dup")
    assert [(p.member_id, p.points, p.reason) for p in plan.postings] == [
        ("B", 0, "merged into A: dup"),
        ("A", 0, "merged from B, no points: dup"),
    ]


def test_the_tallies_carried_come_off_one_side_and_onto_the_other() -> None:
    moved = (
        Carried("visits", "visits|B", "visits|A", Tally(3), Tally(3)),
        Carried("first and last visit", "seen|B", "seen|A", Tally(5, Decimal(9)), Tally(-2, Decimal(1))),
    )
    plan = plan_merge(
        Account("A", 0), Account("B", 0, lots=()), key="G", at=T, now=T, reason="r", carried=moved
    )
    assert dict(plan.tallies) == {
        "visits|B": Tally(-3),
        "visits|A": Tally(3),
        "seen|B": Tally(-5, Decimal(-9)),
        "seen|A": Tally(-2, Decimal(1)),
    }


def test_a_planned_merge_replays_into_the_lots_it_decided() -> None:
    lots = (lot(2, 15, SOON), lot(4, 5, LATER))
    plan = plan_merge(Account("A", 0), Account("B", 20, lots=lots), key="G", at=T, now=T, reason="r")
    entries = [
        p.recorded(seq, balance)
        for seq, (p, balance) in enumerate(zip(plan.postings, plan.balances, strict=True), start=10)
    ]
    survivor = lots_of([e for e in entries if e.member_id == "A"])
    assert [(x.id, x.remaining, x.expires_at) for x in survivor] == [(11, 15, SOON), (12, 5, LATER)]
    assert lot_map(lots, entries[1:]) == {2: 11, 4: 12}
    assert planned_lot(1) > 12  # (planned lots are numbered apart from the store's)


def test_same_member_is_refused_naming_absorbed() -> None:
    with pytest.raises(InvalidInput) as info:
        check_parties("A", "A")
    assert info.value.field == "absorbed"
    check_parties("A", "B")


@pytest.mark.parametrize(
    ("account", "holds", "blocking"),
    [
        (Account("B", 10, lots=(lot(2, 10, SOON),)), [Hold("H1", "B", 4, ((2, -4),), T, SOON)], "holds"),
        (Account("B", 10, lots=(lot(2, 10, SOON, vests_at=T + timedelta(days=1)),)), [], "pending"),
        (Account("B", -5, debt=5, lots=(Lot(3, "B", -5, -5, T),)), [], "owed"),
        (Account("B", 0, owed=5, lots=()), [], "owed"),
    ],
)
def test_what_a_merge_cannot_carry_blocks_it_naming_absorbed(
    account: Account, holds: list[Hold], blocking: str
) -> None:
    with pytest.raises(MergeBlocked) as info:
        check_mergeable(account, holds, T)
    assert (info.value.field, info.value.blocking) == ("absorbed", blocking)


def test_points_vested_already_and_nothing_at_all_merge() -> None:
    check_mergeable(Account("B", 10, lots=(lot(2, 10, SOON, vests_at=T),)), [], T)
    check_mergeable(Account("B", 0, lots=()), [], T)


def test_an_unused_voucher_blocks_until_it_has_ended_or_its_time_is_up() -> None:
    account = Account("B", 10, lots=(lot(2, 10, SOON),))
    valid = Voucher("CODE1", "B", "coffee", 30, ((2, -30),), T, T + timedelta(days=7))
    with pytest.raises(MergeBlocked) as info:
        check_mergeable(account, [], T, [valid])
    assert (info.value.blocking, str(info.value)) == (
        "vouchers",
        "absorbed: member 'B' has unused vouchers ('CODE1'): use or void them first",
    )
    used = attrs.evolve(valid, status=VoucherStatus.USED, ended_at=T)
    check_mergeable(account, [], T, [used])
    check_mergeable(account, [], T + timedelta(days=7), [valid])  # past its time: ends unused


def test_tier_progress_moves_stretch_by_stretch() -> None:
    survivor, absorbed = Member("A", T), Member("B", T - timedelta(days=200))
    rolling = Tiers(levels=LEVELS, window="rolling", months=2)
    assert progress_keys(rolling, AMS, survivor, absorbed, T) == [
        ("tier points 2024-02", "tier|points|2024-02|B", "tier|points|2024-02|A"),
        ("tier points 2024-03", "tier|points|2024-03|B", "tier|points|2024-03|A"),
    ]
    # A membership year is each member's own: the current one of each.
    yearly = Tiers(levels=LEVELS, metric="spend", window="membership_year")
    assert progress_keys(yearly, AMS, survivor, Member("B", T - timedelta(days=400)), T) == [
        ("tier spend y1", "tier|spend|y1|B", "tier|spend|y0|A")
    ]
    assert progress_keys(Tiers(levels=LEVELS, metric="balance"), AMS, survivor, absorbed, T) == []


def test_habits_move_month_by_month_since_the_first_visit() -> None:
    first, last = datetime(2023, 11, 30, 23, 30, tzinfo=UTC), datetime(2024, 1, 5, tzinfo=UTC)
    seen = Tally(micros(first), Decimal(micros(last)))
    # Amsterdam: the first visit was on 1 December, local time.
    assert [what for what, _, _ in habit_keys("A", "B", seen, AMS, T)] == [
        "visits",
        "first and last visit",
        "spend 2023-12",
        "spend 2024-01",
        "spend 2024-02",
        "spend 2024-03",
    ]
    assert habit_keys("A", "B", Tally(), AMS, T) == [("visits", "visits|B", "visits|A")]


def test_the_survivor_keeps_the_earlier_first_visit_and_the_later_last() -> None:
    pairs = [
        ("visits", "visits|B", "visits|A"),
        ("first and last visit", "seen|B", "seen|A"),
        ("spend 2024-03", "spent|2024-03|B", "spent|2024-03|A"),
    ]
    read = {"visits|B": Tally(2), "seen|B": Tally(10, Decimal(50)), "seen|A": Tally(20, Decimal(40))}
    visits, seen = carry(pairs, read)  # no spend in March: nothing to move
    assert (visits.taken, visits.added) == (Tally(2), Tally(2))
    assert (seen.taken, seen.added) == (Tally(10, Decimal(50)), Tally(-10, Decimal(10)))
    # A survivor never seen takes the absorbed member's visits as they are.
    (_, alone, _) = carry(pairs, {**read, "seen|A": Tally(), "spent|2024-03|B": Tally(1, Decimal(5))})
    assert alone.added == Tally(10, Decimal(50))


def test_referrals_move_to_the_survivor_with_their_history() -> None:
    made = [
        Referral("C", "B", "CODE", T),
        Referral("D", "B", "CODE", T, ReferralState.QUALIFIED, referrer_points=20, referrer_lot=4),
        Referral("E", "B", "CODE", T, ReferralState.REWARDED, referrer_points=20, referrer_lot=5),
        Referral("A", "B", "CODE", T),
    ]
    c, d, e, a = moved_referrals(made, "A", T, {4: 41})
    assert (c.referrer, c.code, c.state) == ("A", "CODE", ReferralState.PENDING)
    assert (d.referrer, d.referrer_lot, d.state) == ("A", 41, ReferralState.QUALIFIED)
    assert (e.referrer, e.referrer_lot) == ("A", None)  # its lot was spent before the merge
    # The survivor referred by the absorbed member: rejected, still naming its referrer.
    assert (a.referrer, a.state, a.reason, a.decided_at) == (
        "B",
        ReferralState.REJECTED,
        "its referrer B was merged into it",
        T,
    )
    rewarded = Referral("A", "B", "CODE", T, ReferralState.REWARDED)
    assert moved_referrals([rewarded], "A", T, {}) == []  # history: left as it is


def test_keys_move_except_those_removed() -> None:
    card = Identifier(IdentifierKind.CARD, "12", "B", T)
    lost = Identifier(IdentifierKind.CARD, "11", "B", T, IdentifierStatus.REPLACED, replaced_by="card:12")
    gone = Identifier(IdentifierKind.EMAIL, "b@example.com", "B", T, IdentifierStatus.REMOVED)
    assert [(k.key, k.member_id, k.status) for k in moved_keys([card, lost, gone], "A")] == [
        ("card:12", "A", IdentifierStatus.ACTIVE),
        ("card:11", "A", IdentifierStatus.REPLACED),
    ]


def test_a_merge_has_a_json_form() -> None:
    sent = Entry(3, "B", EntryKind.MERGE, -5, 0, T, T, "G", "merged into A: dup", draws=((1, -5),))
    received = Entry(4, "A", EntryKind.MERGE, 5, 5, T, T, "G", "merged from B: dup", expires_at=SOON)
    made = Merge(
        "G",
        "A",
        "B",
        5,
        "dup",
        sent,
        (received,),
        (Carried("visits", "visits|B", "visits|A", Tally(1), Tally(1)),),
        ("C",),
        ("card:12",),
    )
    assert Merge.from_dict(made.to_dict()) == made
    assert made.survivor_balance == 5
