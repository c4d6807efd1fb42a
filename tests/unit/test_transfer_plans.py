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
from loyalty.plans import Account, Plan, planned_lot
from loyalty.program import Program
from loyalty.returns import owed_key
from loyalty.tallies import Tally
from loyalty.tiers import Metric, Tier, Tiers, metric_key
from loyalty.transfers import check_parties, plan_transfer, progress

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
SOON, LATER = T + timedelta(days=30), T + timedelta(days=90)


def lot(lot_id: int, points: int, expires: datetime | None, **more: object) -> Lot:
    return Lot(lot_id, "A", points, points, T - timedelta(days=10), expires_at=expires, **more)  # type: ignore[arg-type]


def send(points: int, lots: list[Lot], receiver: Account | None = None, **more: object) -> Plan:
    """``points`` sent from A, whose drawable lots are ``lots`` (in draw order) and reach all of them."""
    reach = sum(x.remaining for x in lots)
    return plan_transfer(
        Account("A", reach),
        receiver or Account("B", 0),
        points,
        drawable=lots,
        reach=reach,
        key="X",
        at=T,
        now=T,
        reason="gift",
        **more,  # type: ignore[arg-type]
    )


def test_points_are_drawn_in_draw_order_and_keep_their_dates() -> None:
    # In draw order: soonest-expiring first, lots that never expire last.
    lots = [lot(2, 15, SOON), lot(4, 5, SOON), lot(1, 20, LATER), lot(3, 10, None)]
    plan = send(45, lots, Account("B", 7))
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
    assert all(p.vests_at is None for p in received)


def test_points_out_of_reach_are_declined_with_a_redemptions_figures() -> None:
    lots = [lot(1, 20, LATER)]
    with pytest.raises(InsufficientPoints) as info:
        plan_transfer(
            Account("A", 20), Account("B", 0), 13, drawable=lots, reach=12, key="X", at=T, now=T, reason="r"
        )
    assert (info.value.field, info.value.available, info.value.requested) == ("points", 12, 13)
    # A debt larger than the lots leaves nothing to send, not less than nothing.
    with pytest.raises(InsufficientPoints) as info:
        plan_transfer(
            Account("A", -5), Account("B", 0), 1, drawable=[], reach=-5, key="X", at=T, now=T, reason="r"
        )
    assert info.value.available == 0


def test_the_receiver_repays_its_debt_and_what_it_owes_before_it_keeps_any() -> None:
    debt = Lot(9, "B", -4, -4, T)
    plan = send(10, [lot(1, 20, SOON)], Account("B", -4, debt=4, owed=3, debts=(debt,)))
    _, received, collect = plan.postings
    assert (received.points, received.draws, received.expires_at) == (10, ((9, 4),), SOON)
    assert (collect.kind, collect.points, collect.draws) == (EntryKind.COLLECT, -3, ((planned_lot(1), -3),))
    assert plan.balances == (10, 6, 3)
    assert plan.tallies[owed_key("B")].points == -3


def test_a_rolling_lot_arrives_rolling_with_the_senders_date() -> None:
    received = send(5, [lot(1, 20, SOON, rolling=True)]).postings[1]
    assert (received.rolling, received.expires_at) == (True, SOON)


def test_the_plan_replays_into_the_lots_it_describes() -> None:
    plan = send(25, [lot(2, 15, SOON), lot(1, 20, LATER)])
    entries = [
        p.recorded(100 + i, b) for i, (p, b) in enumerate(zip(plan.postings, plan.balances, strict=True))
    ]
    received = lots_of(e for e in entries if e.member_id == "B")
    assert [(x.remaining, x.expires_at) for x in received] == [(15, SOON), (10, LATER)]


def test_one_event_names_both_members() -> None:
    plan = send(5, [lot(1, 20, SOON)])
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
    assert send(1234, [lot(1, 2000, None)], counted=counted).tallies == counted
