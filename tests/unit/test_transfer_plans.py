"""The plan of a transfer: drawn from the sender as a redemption is, received as lots keeping their
expiry dates, a debt or what the receiver owes repaid first, refused when the points fall short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty.errors import InsufficientPoints, InvalidInput
from loyalty.ledger import EntryKind
from loyalty.lots import Lot, lots_of
from loyalty.members import Member
from loyalty.outbox import EventKind
from loyalty.plans import Account, planned_lot
from loyalty.program import Program
from loyalty.returns import owed_key
from loyalty.tallies import Tally
from loyalty.tiers import Metric, Tier, Tiers, metric_key
from loyalty.transfers import check_parties, plan_transfer, progress

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
SOON, LATER = T + timedelta(days=30), T + timedelta(days=90)


def lot(lot_id: int, points: int, expires: datetime | None, **more: object) -> Lot:
    return Lot(lot_id, "A", points, points, T - timedelta(days=10), expires_at=expires, **more)  # type: ignore[arg-type]


def sender(*lots: Lot) -> Account:
    return Account("A", sum(lot.remaining for lot in lots), lots=lots)


def test_points_are_drawn_soonest_expiring_first_and_keep_their_dates() -> None:
    lots = (lot(1, 20, LATER), lot(2, 15, SOON), lot(3, 10, None), lot(4, 5, SOON))
    plan = plan_transfer(sender(*lots), Account("B", 7), 45, key="X", at=T, now=T, reason="gift")
    sent, *received = plan.postings
    assert (sent.member_id, sent.kind, sent.points) == ("A", EntryKind.TRANSFER, -45)
    assert sent.draws == ((2, -15), (4, -5), (1, -20), (3, -5))
    # Lots 2 and 4 expire together: one lot of the receiver's each date.
    assert [(p.member_id, p.kind, p.points, p.expires_at) for p in received] == [
        ("B", EntryKind.TRANSFER, 20, SOON),
        ("B", EntryKind.TRANSFER, 20, LATER),
        ("B", EntryKind.TRANSFER, 5, None),
    ]
    assert plan.balances == (5, 27, 47, 52)
    assert sent.reason == "transfer to B: gift"
    assert {p.reason for p in received} == {"transfer from A: gift"}
    assert all(p.source_id == "X" and p.occurred_at == T and not p.draws for p in received)


def test_pending_and_expired_points_are_not_sent() -> None:
    lots = (
        lot(1, 30, SOON, vests_at=T + timedelta(days=7)),
        lot(2, 25, T),  # its date is now: no longer valid
        lot(3, 10, LATER),
    )
    with pytest.raises(InsufficientPoints) as info:
        plan_transfer(sender(*lots), Account("B", 0), 11, key="X", at=T, now=T, reason="gift")
    assert (info.value.field, info.value.available, info.value.requested) == ("points", 10, 11)
    plan = plan_transfer(sender(*lots), Account("B", 0), 10, key="X", at=T, now=T, reason="gift")
    assert plan.postings[0].draws == ((3, -10),)
    assert plan.postings[1].vests_at is None


def test_a_debt_of_the_sender_counts_against_what_it_can_send() -> None:
    debt = Lot(5, "A", -8, -8, T)
    account = Account("A", 12, debt=8, debts=(debt,), lots=(lot(1, 20, LATER), debt))
    with pytest.raises(InsufficientPoints) as info:
        plan_transfer(account, Account("B", 0), 13, key="X", at=T, now=T, reason="gift")
    assert info.value.available == 12


def test_the_receiver_repays_its_debt_and_what_it_owes_before_it_keeps_any() -> None:
    debt = Lot(9, "B", -4, -4, T)
    receiver = Account("B", -4, debt=4, owed=3, debts=(debt,))
    plan = plan_transfer(sender(lot(1, 20, SOON)), receiver, 10, key="X", at=T, now=T, reason="gift")
    _, received, collect = plan.postings
    assert (received.points, received.draws, received.expires_at) == (10, ((9, 4),), SOON)
    assert (collect.kind, collect.points, collect.draws) == (EntryKind.COLLECT, -3, ((planned_lot(1), -3),))
    assert plan.balances == (10, 6, 3)
    assert plan.tallies[owed_key("B")].points == -3


def test_a_rolling_lot_arrives_rolling_with_the_senders_date() -> None:
    plan = plan_transfer(
        sender(lot(1, 20, SOON, rolling=True)), Account("B", 0), 5, key="X", at=T, now=T, reason="gift"
    )
    received = plan.postings[1]
    assert (received.rolling, received.expires_at) == (True, SOON)


def test_the_plan_replays_into_the_lots_it_describes() -> None:
    lots = (lot(1, 20, LATER), lot(2, 15, SOON))
    plan = plan_transfer(sender(*lots), Account("B", 0), 25, key="X", at=T, now=T, reason="gift")
    entries = [
        p.recorded(100 + i, b) for i, (p, b) in enumerate(zip(plan.postings, plan.balances, strict=True))
    ]
    received = lots_of(e for e in entries if e.member_id == "B")
    assert [(x.remaining, x.expires_at) for x in received] == [(15, SOON), (10, LATER)]


def test_one_event_names_both_members() -> None:
    plan = plan_transfer(sender(lot(1, 20, SOON)), Account("B", 0), 5, key="X", at=T, now=T, reason="gift")
    (event,) = plan.events
    assert (event.kind, event.member_id, event.source_id) == (EventKind.POINTS_TRANSFERRED, "A", "X")
    assert dict(event.data) == {"from_member": "A", "to_member": "B", "points": 5, "reason": "gift"}


def test_a_member_cannot_send_points_to_itself() -> None:
    with pytest.raises(InvalidInput) as info:
        check_parties("A", "A")
    assert info.value.field == "to_member"
    check_parties("A", "B")


def tiered(**options: object) -> Program:
    levels = [Tier(id="member"), Tier(id="silver", threshold=100)]
    tiers = Tiers(levels=levels, window="calendar_year", downgrade="never", **options)  # type: ignore[arg-type]
    return Program("Club", "EUR", timezone="Europe/Amsterdam", scale=2, tiers=tiers)


def test_received_points_count_toward_tiers_only_when_the_program_says_so() -> None:
    receiver = Member("B", T - timedelta(days=400))
    # 23:30 UTC on 31 December is already the next year in Amsterdam.
    new_year = datetime(2024, 12, 31, 23, 30, tzinfo=UTC)
    assert progress(tiered(), receiver, 1234, new_year) == {}
    assert progress(Program("Club", "EUR"), receiver, 1234, new_year) == {}
    counted = progress(tiered(count_transfers=True), receiver, 1234, new_year)
    assert counted == {metric_key(Metric.POINTS, "B", "2025"): Tally(0, Decimal("12.34"))}
    plan = plan_transfer(
        sender(lot(1, 2000, None)),
        Account("B", 0),
        1234,
        key="X",
        at=T,
        now=T,
        reason="gift",
        counted=counted,
    )
    assert plan.tallies == counted
