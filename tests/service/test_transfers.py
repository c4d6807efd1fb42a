"""Transfers between members through the engine, on every adapter: the points leave the sender as a
redemption's would and reach the receiver with their expiry dates, both sides on the ledger, one
outbox event; retries replay, declines are kept, and every refusal writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import attrs
import pytest

from loyalty import (
    Engine,
    EntryKind,
    EventKind,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidDatetime,
    InvalidId,
    InvalidInput,
    InvalidPoints,
    LoyaltyError,
    MemberNotActive,
    Program,
    RedemptionLimit,
    Tiers,
    Transfer,
    UnknownMember,
    balance_of,
)
from loyalty.checks import MAX_POINTS
from loyalty.errors import PointsOverflow
from loyalty.expiry import Expiry, ExpiryPolicy
from loyalty.lots import lots_of
from loyalty.redemption import Redemption, day_key
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import T0, sale
from tests.tiered_club import LEVELS
from tests.tiered_club import club as tiered_club

# Purchase points wait out a week's return window; every credit lives 30 days.
CLUB = Program("Club", "EUR", pending_days=7, expiry=Expiry(ExpiryPolicy.LIFETIME, days=30))
MEMBERS = ["A", "B"]


def club(store: Store) -> tuple[Engine, ManualClock]:
    """A and B enrolled; A holds 50 points from day 0 and 30 from day 5, all available by day 12."""
    clock = ManualClock(T0)
    engine = Engine(CLUB, store, clock=clock)
    for member in MEMBERS:
        engine.enroll(member, at=T0)
    engine.adjust("A", 50, id="A1", at=T0, reason="welcome", actor="crm")
    clock.advance(days=5)
    engine.adjust("A", 30, id="A2", at=clock(), reason="goodwill", actor="crm")
    clock.advance(days=7)
    return engine, clock


def test_points_move_with_their_expiry_dates_and_both_sides_say_why(any_store: Store) -> None:
    engine, clock = club(any_store)
    made = engine.transfer("A", "B", 60, id="X1", at=clock(), reason="family pooling")
    assert isinstance(made, Transfer)
    assert (made.points, made.from_balance, made.to_balance) == (60, 20, 60)
    assert [(lot.remaining, lot.expires_at) for lot in engine.lots("B")] == [
        (50, T0 + timedelta(days=30)),
        (10, T0 + timedelta(days=35)),
    ]
    assert [(lot.remaining, lot.expires_at) for lot in engine.lots("A")] == [(20, T0 + timedelta(days=35))]
    for member in MEMBERS:
        history = engine.history(member)
        assert engine.balance(member).total == balance_of(history)
        assert engine.lots(member) == lots_of(history)
    sent = engine.history("A")[-1]
    assert (sent.kind, sent.points, sent.reason) == (EntryKind.TRANSFER, -60, "transfer to B: family pooling")
    assert [(e.kind, e.points, e.reason) for e in engine.history("B")] == [
        (EntryKind.TRANSFER, 50, "transfer from A: family pooling"),
        (EntryKind.TRANSFER, 10, "transfer from A: family pooling"),
    ]
    (event,) = engine.events()
    assert (event.kind, event.member_id, event.source_id) == (EventKind.POINTS_TRANSFERRED, "A", "X1")
    assert event.data == {"from_member": "A", "to_member": "B", "points": 60, "reason": "family pooling"}
    # The received points expire on the sender's dates.
    clock.advance(days=19)
    assert engine.run_due().expired_points == 50
    assert engine.balance("B").available == 10


def test_a_retry_returns_the_original_and_a_reused_id_is_refused(any_store: Store) -> None:
    engine, clock = club(any_store)
    made = engine.transfer("A", "B", 25, id="X1", at=clock())
    before = snapshot(any_store, MEMBERS, ["X1"])
    clock.advance(hours=1)
    assert engine.transfer("A", "B", 25, id="X1", at=T0 + timedelta(days=12)) == made
    assert snapshot(any_store, MEMBERS, ["X1"]) == before
    conflicts: list[tuple[Callable[[], object], str]] = [
        (lambda: engine.transfer("A", "B", 26, id="X1", at=T0 + timedelta(days=12)), "points"),
        (lambda: engine.transfer("B", "A", 25, id="X1", at=T0 + timedelta(days=12)), "from_member"),
        (lambda: engine.redeem("A", 25, id="X1", at=T0), "kind"),
    ]
    for changed, field in conflicts:
        with pytest.raises(IdempotencyConflict) as info:
            changed()
        assert info.value.field == field
    assert snapshot(any_store, MEMBERS, ["X1"]) == before


def test_a_short_balance_is_declined_and_stays_declined(any_store: Store) -> None:
    engine, clock = club(any_store)
    engine.record_purchase(sale("P1", "40.00", member="A", at=clock()))  # pending for a week
    before = snapshot(any_store, MEMBERS)
    with pytest.raises(InsufficientPoints) as info:
        engine.transfer("A", "B", 81, id="X1", at=clock())
    assert (info.value.field, info.value.available, info.value.requested) == ("points", 80, 81)
    assert snapshot(any_store, MEMBERS) == before
    clock.advance(days=8)  # the purchase's points are available now
    with pytest.raises(InsufficientPoints) as again:
        engine.transfer("A", "B", 81, id="X1", at=T0 + timedelta(days=12))
    assert again.value.available == 80
    assert engine.transfer("A", "B", 81, id="X2", at=clock()).points == 81


def test_points_past_their_date_are_written_off_and_never_sent(any_store: Store) -> None:
    engine, clock = club(any_store)
    clock.advance(days=19)  # day 31: the 50 points of day 0 expired yesterday
    with pytest.raises(InsufficientPoints) as info:
        engine.transfer("A", "B", 31, id="X1", at=clock())
    assert info.value.available == 30
    # Written off by the transfer's unit of work, declined or not, as by a redemption's.
    assert [(e.kind, e.points) for e in engine.history("A")][-1] == (EntryKind.EXPIRE, -50)
    made = engine.transfer("A", "B", 30, id="X2", at=clock())
    assert [(e.points, e.expires_at) for e in made.received] == [(30, T0 + timedelta(days=35))]


def test_refusals_name_the_field_and_write_nothing(any_store: Store) -> None:
    engine, clock = club(any_store)
    engine.enroll("S", at=T0)
    engine.enroll("C", at=T0)
    engine.adjust("S", 10, id="A3", at=T0, reason="welcome", actor="crm")
    engine.change_status("S", "suspended", id="ST1", at=T0, reason="chargeback", actor="crm")
    engine.change_status("C", "closed", id="ST2", at=T0, reason="left", actor="crm")
    members = [*MEMBERS, "S", "C"]
    before = snapshot(any_store, members, ["X1"])
    at = clock()
    refusals: list[tuple[Callable[[], object], type[LoyaltyError], str]] = [
        (lambda: engine.transfer("A", "A", 5, id="X1", at=at), InvalidInput, "to_member"),
        (lambda: engine.transfer("A", "Z", 5, id="X1", at=at), UnknownMember, "to_member"),
        (lambda: engine.transfer("0", "A", 5, id="X1", at=at), UnknownMember, "from_member"),
        (lambda: engine.transfer("S", "A", 5, id="X1", at=at), MemberNotActive, "from_member"),
        (lambda: engine.transfer("A", "S", 5, id="X1", at=at), MemberNotActive, "to_member"),
        (lambda: engine.transfer("C", "A", 5, id="X1", at=at), MemberNotActive, "from_member"),
        (lambda: engine.transfer("A", "C", 5, id="X1", at=at), MemberNotActive, "to_member"),
        (lambda: engine.transfer("A", "B", 0, id="X1", at=at), InvalidPoints, "points"),
        (lambda: engine.transfer("A", "B", -5, id="X1", at=at), InvalidPoints, "points"),
        (lambda: engine.transfer("A", "B", True, id="X1", at=at), InvalidPoints, "points"),
        (lambda: engine.transfer("A", "B", 5.0, id="X1", at=at), InvalidPoints, "points"),  # type: ignore[arg-type]
        (lambda: engine.transfer("A", "B", 5, id="", at=at), InvalidId, "id"),
        (lambda: engine.transfer("", "B", 5, id="X1", at=at), InvalidId, "from_member"),
        (lambda: engine.transfer("A", "B", 5, id="X1", at=at.replace(tzinfo=None)), InvalidDatetime, "at"),
        (lambda: engine.transfer("A", "B", 5, id="X1", at=at, reason=7), InvalidInput, "reason"),  # type: ignore[arg-type]
    ]
    for refused, error, field in refusals:
        with pytest.raises(error) as info:
            refused()
        assert info.value.field == field, refused
    assert snapshot(any_store, members, ["X1"]) == before
    # The receiver's suspension refused it, not the sender's balance: once reinstated it receives.
    engine.change_status("S", "active", id="ST3", at=T0, reason="cleared", actor="crm")
    assert engine.transfer("A", "S", 5, id="X1", at=at).to_balance == 15


def test_a_transfer_the_receiver_cannot_hold_is_refused_before_the_sender_pays(any_store: Store) -> None:
    """The sender's part used to commit, then the receiver's raised PointsOverflow: the points
    were in neither balance, and every run_due raised on the transfer (found by review)."""
    engine, clock = club(any_store)
    engine.adjust("B", MAX_POINTS, id="A3", at=clock(), reason="test", actor="crm")
    before = snapshot(any_store, MEMBERS, ["X1"])
    with pytest.raises(PointsOverflow) as info:
        engine.transfer("A", "B", 5, id="X1", at=clock())
    assert info.value.field == "points"
    assert snapshot(any_store, MEMBERS, ["X1"]) == before
    assert engine.run_due().finished_transfers == 0


def test_opposite_transfers_both_land(any_store: Store) -> None:
    engine, clock = club(any_store)
    engine.transfer("A", "B", 40, id="X1", at=clock())
    back = engine.transfer("B", "A", 15, id="X2", at=clock())
    assert (back.from_balance, back.to_balance) == (25, 55)
    assert engine.balance("A").total + engine.balance("B").total == 80
    # B's 40 came from A's day-0 lot: the 15 back keep that date.
    assert back.received[0].expires_at == T0 + timedelta(days=30)


@pytest.mark.parametrize("counts", [False, True])
def test_received_points_count_toward_the_receivers_tier_only_if_the_program_says_so(
    any_store: Store, counts: bool
) -> None:
    engine = Engine(tiered_club(count_transfers=counts), any_store, clock=lambda: T0)
    for member in MEMBERS:
        engine.enroll(member, at=T0)
    engine.adjust("A", 800, id="A1", at=T0, reason="welcome", actor="crm")  # corrections never count
    engine.transfer("A", "B", 600, id="X1", at=T0)
    assert engine.tier("A").value == 0  # sending takes nothing off the sender's progress
    status = engine.tier("B")
    if not counts:
        assert (status.tier.id, status.value, engine.balance("B").total) == ("member", Decimal(0), 600)
        assert [e.kind for e in engine.events()] == [EventKind.POINTS_TRANSFERRED]
        return
    assert (status.tier.id, status.value, engine.balance("B").total) == ("silver", Decimal(600), 650)
    assert [(e.kind.value, e.points, e.source_id) for e in engine.history("B")] == [
        ("transfer", 600, "X1"),
        ("tier", 0, "X1"),
        ("earn", 50, "X1"),
    ]
    assert [e.kind for e in engine.events()] == [EventKind.POINTS_TRANSFERRED, EventKind.TIER_CHANGED]
    # A retry counts nothing twice.
    engine.transfer("A", "B", 600, id="X1", at=T0)
    assert engine.tier("B").value == 600


def test_balance_tiers_follow_both_balances(any_store: Store) -> None:
    wallet = Tiers(levels=LEVELS[:2], metric="balance", downgrade="immediate")
    engine = Engine(Program("Wallet", "EUR", tiers=wallet), any_store, clock=lambda: T0)
    for member in MEMBERS:
        engine.enroll(member, at=T0)
    engine.adjust("A", 600, id="A1", at=T0, reason="welcome", actor="crm")
    assert (engine.tier("A").tier.id, engine.balance("A").total) == ("silver", 650)
    engine.transfer("A", "B", 500, id="X1", at=T0)
    assert (engine.tier("A").tier.id, engine.balance("A").total) == ("member", 150)
    assert (engine.tier("B").tier.id, engine.balance("B").total) == ("silver", 550)


def test_the_senders_minimum_steps_and_day_apply_but_not_a_purchases_limits(any_store: Store) -> None:
    # Points leaving a member are points spent: a transfer keeps the sender's day, minimum and
    # steps as a redemption does; per_purchase and point_value concern paying for a purchase.
    terms = Redemption(minimum=10, multiple=5, per_purchase=10, per_day=60, point_value=Decimal("0.01"))
    clock = ManualClock(T0 + timedelta(days=12))
    engine = Engine(attrs.evolve(CLUB, redemption=terms), any_store, clock=clock)
    for member in MEMBERS:
        engine.enroll(member, at=T0)
    engine.adjust("A", 80, id="A1", at=T0, reason="welcome", actor="crm")
    at = clock()
    spent = day_key("A", at.date())
    before = snapshot(any_store, MEMBERS, ["X1"], [spent])
    for points, rule in ((5, "minimum"), (12, "multiple")):
        with pytest.raises(InvalidPoints, match=rf"redemption\.{rule}") as bad:
            engine.transfer("A", "B", points, id="X1", at=at)
        assert bad.value.field == "points"
    assert snapshot(any_store, MEMBERS, ["X1"], [spent]) == before
    engine.redeem("A", 25, id="R1", at=at)
    declined = snapshot(any_store, MEMBERS, (), [spent])
    with pytest.raises(RedemptionLimit) as over:
        engine.transfer("A", "B", 40, id="X1", at=at)
    assert (over.value.field, over.value.limit, over.value.available, over.value.requested) == (
        "points",
        "per_day",
        35,
        40,
    )
    assert snapshot(any_store, MEMBERS, (), [spent]) == declined  # only the decline is kept
    clock.advance(days=1)
    with pytest.raises(RedemptionLimit):  # retried another day: declined as the till was told
        engine.transfer("A", "B", 40, id="X1", at=at)
    # Above per_purchase, and counted toward the sender's day: nothing is left of it today.
    assert engine.transfer("A", "B", 35, id="X2", at=at).points == 35
    with pytest.raises(RedemptionLimit) as full:
        engine.redeem("A", 10, id="R2", at=at)
    assert (full.value.limit, full.value.available) == ("per_day", 0)
    # The receiver's day is its own: points received are not points spent.
    assert engine.redeem("B", 35, id="R3", at=at).points == -35
    assert engine.transfer("A", "B", 20, id="X3", at=clock()).from_balance == 0
