"""Buying rewards of the catalogue with points, on every adapter: the voucher, the ledger, the limits
that apply, declines, refusals that write nothing, idempotency and the catalogue a member can afford."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from loyalty import (
    Engine,
    EntryKind,
    EventKind,
    IdempotencyConflict,
    InsufficientPoints,
    MemberNotActive,
    Program,
    RedemptionLimit,
    UnknownMember,
    UnknownPurchase,
    UnknownReward,
)
from loyalty.redemption import Redemption
from loyalty.rewards import Gives, Reward
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from loyalty.vouchers import VoucherStatus, code_for
from tests.service.helpers import T0, engine_with, sale

CATALOGUE = (
    Reward(id="coffee", name="A coffee", cost=30, gives=Gives.PRODUCT, sku="espresso"),
    Reward(id="five-off", name="5 off", cost=120, gives=Gives.AMOUNT_OFF, amount=5, valid_for_days=60),
    Reward(
        id="summer",
        name="Beans",
        cost=10,
        gives=Gives.VOUCHER,
        available_from=date(2024, 6, 1),
        available_until=date(2024, 8, 31),
    ),
)
PROGRAM = Program("Cafe", "EUR", rewards=CATALOGUE, redemption=Redemption(minimum=50, per_day=130))


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


@pytest.fixture
def engine(store: Store, clock: ManualClock) -> Engine:
    engine = engine_with(store, clock, PROGRAM, members=("M1", "M2"))
    assert engine.record_purchase(sale("P1", "150.00", at=T0)).points == 150
    return engine


def test_a_reward_is_bought_with_its_cost_as_a_voucher_with_a_code(engine: Engine) -> None:
    voucher = engine.redeem_reward("M1", "coffee", id="R1", at=T0)
    assert (voucher.code, voucher.member_id, voucher.reward_id, voucher.points) == (
        code_for("R1"),
        "M1",
        "coffee",
        30,
    )
    assert (voucher.status, voucher.expires_at, voucher.purchase_id) == (
        VoucherStatus.ISSUED,
        T0 + timedelta(days=30),
        None,
    )
    entry = engine.history("M1")[-1]
    assert (entry.kind, entry.points, entry.source_id) == (EntryKind.REDEEM, -30, "R1")
    assert entry.reason == f"reward coffee: voucher {voucher.code}"
    assert engine.balance("M1").available == 120
    assert engine.voucher(voucher.code) == voucher
    assert engine.vouchers("M1") == [voucher] and engine.vouchers("M2") == []
    (event,) = [e for e in engine.events() if e.kind is EventKind.VOUCHER_ISSUED]
    assert (event.member_id, event.source_id, event.data["code"], event.data["points"]) == (
        "M1",
        "R1",
        voucher.code,
        30,
    )


def test_a_retry_returns_the_same_voucher_and_another_request_under_the_id_names_the_field(
    engine: Engine,
) -> None:
    first = engine.redeem_reward("M1", "coffee", id="R1", at=T0)
    assert engine.redeem_reward("M1", "coffee", id="R1", at=T0) == first
    assert engine.balance("M1").available == 120
    with pytest.raises(IdempotencyConflict) as info:
        engine.redeem_reward("M1", "five-off", id="R1", at=T0)
    assert info.value.field == "reward_id"


def test_a_short_balance_is_declined_and_stays_declined(engine: Engine, clock: ManualClock) -> None:
    engine.redeem_reward("M1", "five-off", id="R1", at=T0)
    with pytest.raises(InsufficientPoints) as short:
        engine.redeem_reward("M1", "five-off", id="R2", at=clock.catch_up(T0 + timedelta(days=1)))
    assert (short.value.available, short.value.requested) == (30, 120)
    engine.record_purchase(sale("P2", "200.00", at=T0))
    with pytest.raises(InsufficientPoints):
        engine.redeem_reward("M1", "five-off", id="R2", at=T0 + timedelta(days=1))
    assert len(engine.vouchers("M1")) == 1


def test_the_day_limit_applies_and_minimum_does_not(engine: Engine) -> None:
    # coffee costs 30, below redemption.minimum (50): the catalogue sets the cost.
    engine.redeem_reward("M1", "coffee", id="R1", at=T0)
    engine.redeem_reward("M1", "coffee", id="R2", at=T0)
    engine.redeem_reward("M1", "coffee", id="R3", at=T0)
    engine.redeem_reward("M1", "coffee", id="R4", at=T0)
    with pytest.raises(RedemptionLimit) as limited:
        engine.redeem_reward("M1", "coffee", id="R5", at=T0)
    assert (limited.value.limit, limited.value.available) == ("per_day", 10)


def written(engine: Engine, store: Store) -> object:
    """What a refused request must leave as it was: members, the key, vouchers and the outbox."""
    vouchers = [engine.vouchers(member) for member in ("M1", "M2")]
    return snapshot(store, ["M1", "M2"], ["R1"]), vouchers, engine.events()


def test_refused_requests_write_nothing(engine: Engine, store: Store) -> None:
    before = written(engine, store)
    with pytest.raises(UnknownReward) as unknown:
        engine.redeem_reward("M1", "tea", id="R1", at=T0)
    assert unknown.value.field == "reward_id"
    with pytest.raises(UnknownReward):  # in the catalogue, not on offer in March
        engine.redeem_reward("M1", "summer", id="R1", at=T0)
    with pytest.raises(UnknownMember):
        engine.redeem_reward("M9", "coffee", id="R1", at=T0)
    with pytest.raises(UnknownPurchase) as theirs:
        engine.redeem_reward("M2", "coffee", id="R1", at=T0, purchase_id="P1")
    assert theirs.value.field == "purchase_id"
    assert written(engine, store) == before
    engine.change_status("M1", "suspended", id="S1", at=T0, reason="fraud check", actor="ops")
    suspended = written(engine, store)
    with pytest.raises(MemberNotActive):
        engine.redeem_reward("M1", "coffee", id="R1", at=T0)
    assert written(engine, store) == suspended


def test_a_summer_reward_is_on_offer_in_summer_only(engine: Engine, clock: ManualClock) -> None:
    june = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
    assert [reward.id for reward in engine.rewards()] == ["coffee", "five-off"]
    clock.now = june
    assert [reward.id for reward in engine.rewards()] == ["coffee", "five-off", "summer"]
    assert engine.redeem_reward("M1", "summer", id="R1", at=june).reward_id == "summer"


def test_the_catalogue_says_what_a_members_balance_affords(engine: Engine) -> None:
    assert [reward.id for reward in engine.rewards("M1")] == ["coffee", "five-off"]
    engine.redeem_reward("M1", "five-off", id="R1", at=T0)
    assert [reward.id for reward in engine.rewards("M1")] == ["coffee"]
    assert engine.rewards("M2") == []
    with pytest.raises(UnknownMember):
        engine.rewards("M9")
