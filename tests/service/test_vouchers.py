"""Vouchers after they are bought, on every adapter: used once, voided with the points back, expired by
maintenance without them, revoked by a full return of the purchase they were bought against."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import (
    AlreadyReturned,
    Engine,
    EntryKind,
    EventKind,
    Expiry,
    ExpiryPolicy,
    IdempotencyConflict,
    Line,
    MemberNotActive,
    Program,
    Purchase,
    Return,
    UnknownPurchase,
    UnknownVoucher,
    VoucherEnded,
    VoucherExpired,
    VoucherNotOwned,
)
from loyalty.ledger import balance_of
from loyalty.lots import lots_of
from loyalty.returns import Returned
from loyalty.rewards import Gives, Reward
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from loyalty.vouchers import VoucherStatus
from tests.service.helpers import T0, engine_with, sale

COFFEE = Reward(id="coffee", name="A coffee", cost=30, gives=Gives.PRODUCT, sku="espresso", valid_for_days=7)
PROGRAM = Program("Cafe", "EUR", rewards=[COFFEE], expiry=Expiry(ExpiryPolicy.LIFETIME, days=365))


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


@pytest.fixture
def engine(store: Store, clock: ManualClock) -> Engine:
    engine = engine_with(store, clock, PROGRAM, members=("M1", "M2"))
    engine.record_purchase(sale("P1", "100.00", at=T0))
    engine.record_purchase(sale("P2", "50.00", member="M2", at=T0))
    return engine


def kinds(engine: Engine) -> list[EventKind]:
    return [event.kind for event in engine.events() if event.kind.value.startswith("voucher")]


def check_ledger(engine: Engine, member_id: str = "M1") -> None:
    """The maintained balance and lots are the ledger's."""
    history = engine.history(member_id)
    assert engine.balance(member_id).total == balance_of(history)
    assert engine.lots(member_id) == lots_of(history)


def test_a_voucher_is_used_once_by_its_member(engine: Engine) -> None:
    code = engine.redeem_reward("M1", "coffee", id="R1", at=T0).code
    with pytest.raises(VoucherNotOwned) as theirs:
        engine.use_voucher(code, id="U0", at=T0, member_id="M2")
    assert theirs.value.field == "code"
    with pytest.raises(VoucherNotOwned):
        engine.use_voucher(code, id="U0", at=T0, purchase_id="P2")
    with pytest.raises(UnknownPurchase):
        engine.use_voucher(code, id="U0", at=T0, purchase_id="P9")
    assert engine.voucher(code).open
    used = engine.use_voucher(code, id="U1", at=T0, member_id="M1", purchase_id="P1")
    assert (used.status, used.used_for, used.ended_at) == (VoucherStatus.USED, "P1", T0)
    assert engine.use_voucher(code, id="U1", at=T0, member_id="M1", purchase_id="P1") == used  # a retry
    with pytest.raises(IdempotencyConflict) as conflict:
        engine.use_voucher(code, id="U1", at=T0, member_id="M1")
    assert conflict.value.field == "purchase_id"
    with pytest.raises(VoucherEnded) as again:
        engine.use_voucher(code, id="U2", at=T0)
    assert (again.value.field, again.value.status) == ("code", "used")
    with pytest.raises(VoucherEnded):
        engine.void_voucher(code, id="X1", at=T0)
    with pytest.raises(UnknownVoucher):
        engine.use_voucher("NOSUCHCODE", id="U3", at=T0)
    assert engine.balance("M1").total == 70
    assert kinds(engine) == [EventKind.VOUCHER_ISSUED, EventKind.VOUCHER_USED]


def test_a_void_gives_the_points_back_to_their_lots_as_a_new_entry(engine: Engine) -> None:
    voucher = engine.redeem_reward("M1", "coffee", id="R1", at=T0)
    voided = engine.void_voucher(voucher.code, id="X1", at=T0)
    assert voided.status is VoucherStatus.VOIDED
    assert engine.void_voucher(voucher.code, id="X1", at=T0) == voided  # a retry
    back = engine.history("M1")[-1]
    assert (back.kind, back.points, back.source_id, back.draws) == (
        EntryKind.RELEASE,
        30,
        "X1",
        voucher.give_back(),
    )
    assert engine.balance("M1").total == 100
    assert [lot.remaining for lot in engine.lots("M1")] == [100]  # the lot keeps its date
    with pytest.raises(VoucherEnded) as ended:
        engine.use_voucher(voucher.code, id="U1", at=T0)
    assert ended.value.status == "voided"
    check_ledger(engine)
    assert kinds(engine) == [EventKind.VOUCHER_ISSUED, EventKind.VOUCHER_VOIDED]


def test_maintenance_expires_unused_vouchers_and_gives_no_points_back(
    engine: Engine, clock: ManualClock
) -> None:
    kept = engine.redeem_reward("M1", "coffee", id="R1", at=T0)
    used = engine.redeem_reward("M1", "coffee", id="R2", at=T0)
    engine.use_voucher(used.code, id="U1", at=T0)
    clock.advance(days=7)
    with pytest.raises(VoucherExpired) as late:
        engine.use_voucher(kept.code, id="U2", at=clock())
    assert (late.value.field, late.value.status) == ("code", "expired")
    with pytest.raises(VoucherExpired):
        engine.void_voucher(kept.code, id="X1", at=clock())
    report = engine.run_due()
    assert report.expired_vouchers == 1
    assert engine.run_due().expired_vouchers == 0
    expired = engine.voucher(kept.code)
    assert (expired.status, expired.ended_at) == (VoucherStatus.EXPIRED, clock())
    assert engine.balance("M1").total == 40
    assert [v.status for v in engine.vouchers("M1", open_only=True)] == []
    (event,) = [e for e in engine.events() if e.kind is EventKind.VOUCHER_EXPIRED]
    assert (event.data["code"], event.data["points"]) == (kept.code, 30)
    check_ledger(engine)


def test_a_full_return_of_the_purchase_revokes_its_unused_vouchers(engine: Engine) -> None:
    against = engine.redeem_reward("M1", "coffee", id="R1", at=T0, purchase_id="P1")
    other = engine.redeem_reward("M1", "coffee", id="R2", at=T0)
    engine.record_return(Return("B1", "P1", T0, [Returned("sku", 1)]))
    assert engine.voucher(against.code).status is VoucherStatus.REVOKED
    assert engine.voucher(other.code).open
    # The voucher's 30 points came back, then the return took back the 100 the purchase earned.
    assert engine.balance("M1").total == 0
    revoked = [e for e in engine.events() if e.kind is EventKind.VOUCHER_REVOKED]
    assert [(e.data["code"], e.data["return_id"]) for e in revoked] == [(against.code, "B1")]
    check_ledger(engine)


@pytest.mark.parametrize("maintained", [False, True], ids=["before-run_due", "after-run_due"])
def test_a_full_return_after_the_voucher_is_past_its_time_gives_nothing_back(
    engine: Engine, clock: ManualClock, maintained: bool
) -> None:
    # Past its time the voucher has expired whether or not maintenance has said so: the return
    # does not revoke it, and ends with the same balance either way.
    against = engine.redeem_reward("M1", "coffee", id="R1", at=T0, purchase_id="P1")
    clock.advance(timedelta(days=10))
    if maintained:
        engine.run_due()
    engine.record_return(Return("B1", "P1", clock.now))
    engine.run_due()
    assert engine.voucher(against.code).status is VoucherStatus.EXPIRED
    # The return takes back what is left of the 100 the purchase earned (70: the program clamps);
    # a revoked coffee would have given 30 back first, and left them.
    assert engine.balance("M1").total == 0
    assert not [e for e in engine.events() if e.kind is EventKind.VOUCHER_REVOKED]
    check_ledger(engine)


def test_a_partial_return_leaves_the_voucher_and_a_used_one_stays_used(engine: Engine, store: Store) -> None:
    engine.record_purchase(sale("P3", "10.00", at=T0))
    two = engine.record_purchase(Purchase("P4", "M1", T0, [Line("sku", 2, Decimal("5.00"))], "EUR"))
    assert two.points == 10
    kept = engine.redeem_reward("M1", "coffee", id="R1", at=T0, purchase_id="P4")
    used = engine.redeem_reward("M1", "coffee", id="R2", at=T0, purchase_id="P3")
    engine.use_voucher(used.code, id="U1", at=T0)
    engine.record_return(Return("B1", "P4", T0, [Returned("sku", 1)]))
    assert engine.voucher(kept.code).open
    engine.record_return(Return("B2", "P3", T0))
    assert engine.voucher(used.code).status is VoucherStatus.USED
    engine.record_return(Return("B3", "P4", T0))
    assert engine.voucher(kept.code).status is VoucherStatus.REVOKED
    check_ledger(engine)


def test_a_suspended_member_cannot_use_a_voucher_but_it_can_be_voided(engine: Engine) -> None:
    code = engine.redeem_reward("M1", "coffee", id="R1", at=T0).code
    engine.change_status("M1", "suspended", id="S1", at=T0, reason="check", actor="ops")
    with pytest.raises(MemberNotActive) as refused:
        engine.use_voucher(code, id="U1", at=T0)
    assert refused.value.field == "code"
    assert engine.voucher(code).open
    assert engine.void_voucher(code, id="X1", at=T0 + timedelta(minutes=1)).status is VoucherStatus.VOIDED


def test_tills_racing_to_use_one_voucher_use_it_once(engine: Engine) -> None:
    code = engine.redeem_reward("M1", "coffee", id="R1", at=T0).code

    def use(n: int) -> str:
        try:
            return engine.use_voucher(code, id=f"U{n}", at=T0).status.value
        except VoucherEnded as ended:
            return f"refused: {ended.status}"

    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = sorted(pool.map(use, range(6)))
    assert outcomes == ["refused: used"] * 5 + ["used"]
    assert kinds(engine) == [EventKind.VOUCHER_ISSUED, EventKind.VOUCHER_USED]


def test_refused_uses_and_voids_write_nothing_and_an_id_reused_names_the_field(
    engine: Engine, store: Store
) -> None:
    first = engine.redeem_reward("M1", "coffee", id="R1", at=T0)
    second = engine.redeem_reward("M1", "coffee", id="R2", at=T0)
    engine.use_voucher(first.code, id="U1", at=T0)

    def written() -> object:
        return snapshot(store, ["M1", "M2"], ["U2", "X2"]), engine.vouchers("M1"), engine.events()

    before = written()
    with pytest.raises(VoucherEnded):
        engine.void_voucher(first.code, id="X2", at=T0)
    with pytest.raises(VoucherNotOwned):
        engine.use_voucher(second.code, id="U2", at=T0, member_id="M2")
    with pytest.raises(UnknownVoucher):
        engine.void_voucher("NOSUCHCODE", id="X2", at=T0)
    assert written() == before
    engine.void_voucher(second.code, id="X1", at=T0)
    with pytest.raises(IdempotencyConflict) as conflict:
        engine.void_voucher(first.code, id="X1", at=T0)
    assert conflict.value.field == "code"


def test_a_return_of_a_purchase_already_returned_in_full_is_refused_as_before(engine: Engine) -> None:
    engine.redeem_reward("M1", "coffee", id="R1", at=T0, purchase_id="P1")
    engine.record_return(Return("B1", "P1", T0))
    for lines in (None, [Returned("sku", 1)]):
        with pytest.raises(AlreadyReturned):
            engine.record_return(Return("B2", "P1", T0, lines))
    with pytest.raises(AlreadyReturned):  # nor can a reward be bought against it now
        engine.redeem_reward("M1", "coffee", id="R2", at=T0, purchase_id="P1")
