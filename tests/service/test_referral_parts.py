"""A referral reward, and its take-back, each written as two units of work on every adapter: the
referee's purchase (or return), then the referrer's part. A crash between them leaves the
referrer's bonus in no balance (or still in its balance) until a retry, a return, a merge of the
referrer or maintenance writes the referrer's part, with what an uninterrupted command gives."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import Engine, EntryKind, EventKind, Return, balance_of, open_store
from loyalty.lots import lots_of
from loyalty.referral_bonuses import REFERRER_PART
from loyalty.referrals import ReferralState
from loyalty.service.referral_parts import OWED
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.transfers import RECEIVED
from tests.service.test_referrals import T0, buy, club, setup
from tests.service.test_transfer_parts import Crash, CrashingStore
from tests.service.test_transfers_to_erased_members import ErasingStore

TERMS: dict[str, Any] = {"referrer_points": 100, "referee_share": Decimal("0.5")}
BONUS = "referral bonus: bob made a first purchase"


def referred(store: Store) -> tuple[Engine, ManualClock, CrashingStore]:
    """ann refers bob, on a store that can crash."""
    clock = ManualClock(T0)
    wrapped = CrashingStore(store)
    engine, code = setup(club(**TERMS), wrapped, clock)  # type: ignore[arg-type]
    engine.enroll("bob", at=T0, referred_by=code)
    return engine, clock, wrapped


def half_rewarded(store: Store) -> tuple[Engine, ManualClock, CrashingStore]:
    """bob's first purchase B1, crashed after its own unit of work, before ann's bonus."""
    engine, clock, wrapped = referred(store)
    wrapped.crashing = True
    with pytest.raises(Crash):
        buy(engine, "B1", "bob", "60.00", T0)
    wrapped.crashing = False
    return engine, clock, wrapped


def rows(engine: Engine) -> list[Any]:
    """Both members' balances, lots and entries as comparable values (each member's agreeing)."""
    found: list[Any] = []
    for member in ("ann", "bob"):
        history = engine.history(member)
        assert engine.balance(member).total == balance_of(history)
        assert engine.lots(member) == lots_of(history)
        found.append([(lot.remaining, lot.vests_at, lot.expires_at) for lot in engine.lots(member)])
        found.append([(e.kind, e.points, e.reason, e.source_id, e.rules) for e in history])
    return found


def uninterrupted() -> Engine:
    engine, _, _ = referred(open_store("memory://"))
    buy(engine, "B1", "bob", "60.00", T0)
    return engine


def test_an_uninterrupted_reward_writes_both_parts_and_leaves_nothing_to_finish(any_store: Store) -> None:
    engine, _, _ = referred(any_store)
    receipt = buy(engine, "B1", "bob", "60.00", T0)
    assert (receipt.points, receipt.balance_after) == (60, 90)
    assert engine.balance("ann").total == 100
    assert engine.run_due().paid_referrals == 0
    with any_store.unit_of_work(readonly=True) as uow:
        paid = uow.operation("B1" + REFERRER_PART + RECEIVED)
    assert paid is not None and paid.result["lot"] is not None
    assert rows(engine) == rows(uninterrupted())
    assert engine.verify().ok


def test_between_the_parts_the_referee_is_rewarded_and_the_referrers_bonus_is_in_no_balance(
    any_store: Store,
) -> None:
    engine, _, _ = half_rewarded(any_store)
    assert (engine.balance("ann").total, engine.balance("bob").total) == (0, 90)
    (bob,) = engine.referrals("ann").referred
    assert (bob.state, bob.referrer_points, bob.referee_points) == (ReferralState.REWARDED, 100, 30)
    assert [event.kind for event in engine.events()] == []  # ann's event is her part's


def test_a_retry_of_the_purchase_pays_the_referrer_with_the_uninterrupted_result(any_store: Store) -> None:
    engine, _, _ = half_rewarded(any_store)
    receipt = buy(engine, "B1", "bob", "60.00", T0)
    assert (receipt.points, receipt.balance_after) == (60, 90)
    assert engine.balance("ann").total == 100
    assert [(e.kind, e.member_id) for e in engine.events()] == [(EventKind.REFERRAL_REWARDED, "ann")]
    assert engine.run_due().paid_referrals == 0
    assert buy(engine, "B1", "bob", "60.00", T0) == receipt
    assert engine.balance("ann").total == 100
    assert rows(engine) == rows(uninterrupted())


def test_maintenance_pays_a_referrer_nobody_retried_for(any_store: Store) -> None:
    engine, clock, _ = half_rewarded(any_store)
    clock.advance(hours=1)
    assert engine.run_due().paid_referrals == 1
    assert engine.run_due().paid_referrals == 0
    assert [(e.kind, e.points, e.reason) for e in engine.history("ann")] == [(EntryKind.EARN, 100, BONUS)]
    assert rows(engine) == rows(uninterrupted())
    assert engine.referrals("ann").points == 100
    assert engine.verify().ok


def test_a_return_between_the_parts_pays_the_bonus_first_and_takes_it_back(any_store: Store) -> None:
    engine, clock, _ = half_rewarded(any_store)
    engine.record_return(Return("B1-void", "B1", clock.catch_up(T0 + timedelta(days=1))))
    assert [(e.kind, e.points) for e in engine.history("ann")] == [
        (EntryKind.EARN, 100),
        (EntryKind.RETURN, -100),
    ]
    # The bonus was taken from the lot it opened.
    credit, taken = engine.history("ann")
    assert taken.draws == ((credit.seq, -100),)
    (bob,) = engine.referrals("ann").referred
    assert bob.state is ReferralState.REJECTED
    assert engine.run_due().paid_referrals == 0
    assert (engine.balance("ann").total, engine.balance("bob").total) == (0, 0)
    rows(engine)


def test_an_erased_referrer_is_paid_nothing(any_store: Store) -> None:
    engine, clock, _ = half_rewarded(any_store)
    hidden = engine.erase("ann", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    assert engine.run_due().paid_referrals == 1
    assert engine.history(hidden) == []
    with any_store.unit_of_work(readonly=True) as uow:
        paid = uow.operation("B1" + REFERRER_PART + RECEIVED)
    assert paid is not None and paid.result == {"entries": [], "lot": None, "referrer_erased": True}
    assert engine.run_due().paid_referrals == 0
    assert engine.verify().ok


def test_a_referrer_erased_between_the_parts_of_one_purchase_is_paid_nothing_and_the_purchase_stands(
    any_store: Store,
) -> None:
    clock = ManualClock(T0)
    wrapped = ErasingStore(any_store, kind=OWED)
    engine, code = setup(club(**TERMS), wrapped, clock)  # type: ignore[arg-type]
    engine.enroll("bob", at=T0, referred_by=code)
    before = engine.balance("ann").total
    erased: list[str] = []
    wrapped.between = lambda: erased.append(
        engine.erase("ann", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    )
    # The erasure, between bob's part and ann's, is no error of bob's purchase.
    receipt = buy(engine, "B1", "bob", "60.00", T0)
    assert (receipt.points, receipt.balance_after) == (60, 90)
    [hidden] = erased
    assert engine.balance(hidden).total == before
    with any_store.unit_of_work(readonly=True) as uow:
        paid = uow.operation("B1" + REFERRER_PART + RECEIVED)
    assert paid is not None and paid.result["referrer_erased"] is True
    assert engine.run_due().paid_referrals == 0
    assert engine.verify().ok


def test_a_merge_of_the_referrer_between_the_parts_carries_its_bonus_to_the_survivor(
    any_store: Store,
) -> None:
    engine, clock, _ = half_rewarded(any_store)
    engine.enroll("cy", at=T0)
    engine.merge_members("cy", "ann", id="M1", at=clock(), reason="same person")
    assert (engine.balance("ann").total, engine.balance("cy").total) == (0, 100)
    assert engine.run_due().paid_referrals == 0
    assert engine.balance("ann").total == 0
    for member in ("ann", "cy"):
        assert engine.balance(member).total == balance_of(engine.history(member))
    assert engine.verify().ok


def void(engine: Engine, clock: ManualClock) -> None:
    engine.record_return(Return("B1-void", "B1", clock.catch_up(T0 + timedelta(days=1))))


def taken_back_straight() -> Engine:
    engine, clock, _ = referred(open_store("memory://"))
    buy(engine, "B1", "bob", "60.00", T0)
    void(engine, clock)
    return engine


def half_taken_back(store: Store) -> tuple[Engine, ManualClock, CrashingStore]:
    """bob's first purchase B1 rewarded whole, then voided: crashed before ann's part of the void."""
    engine, clock, wrapped = referred(store)
    buy(engine, "B1", "bob", "60.00", T0)
    wrapped.crashing = True
    with pytest.raises(Crash):
        void(engine, clock)
    wrapped.crashing = False
    return engine, clock, wrapped


def test_between_a_take_backs_parts_the_referrer_still_holds_its_bonus(any_store: Store) -> None:
    engine, _, _ = half_taken_back(any_store)
    assert (engine.balance("ann").total, engine.balance("bob").total) == (100, 0)
    (bob,) = engine.referrals("ann").referred
    assert bob.state is ReferralState.REJECTED
    assert [event.kind for event in engine.events()] == [EventKind.REFERRAL_REWARDED]


def test_maintenance_takes_back_what_a_crash_left_with_the_referrer(any_store: Store) -> None:
    engine, clock, _ = half_taken_back(any_store)
    clock.advance(hours=1)
    assert engine.run_due().paid_referrals == 1
    assert engine.run_due().paid_referrals == 0
    assert [(e.kind, e.points, e.reason) for e in engine.history("ann")] == [
        (EntryKind.EARN, 100, BONUS),
        (EntryKind.RETURN, -100, "referral bonus taken back, B1 returned: 100 of 100"),
    ]
    assert [event.kind for event in engine.events()] == [
        EventKind.REFERRAL_REWARDED,
        EventKind.REFERRAL_REVOKED,
    ]
    assert rows(engine) == rows(taken_back_straight())
    assert engine.verify().ok


def test_a_retry_of_the_return_takes_the_bonus_back_with_the_uninterrupted_result(any_store: Store) -> None:
    engine, clock, _ = half_taken_back(any_store)
    receipt = engine.record_return(Return("B1-void", "B1", clock.catch_up(T0 + timedelta(days=1))))
    assert receipt.balance_after == 0
    assert engine.balance("ann").total == 0
    assert engine.run_due().paid_referrals == 0
    assert rows(engine) == rows(taken_back_straight())


def test_a_reward_and_its_take_back_both_half_written_are_finished_in_order(any_store: Store) -> None:
    engine, clock, wrapped = half_rewarded(any_store)
    wrapped.crashing = True
    with pytest.raises(Crash):
        void(engine, clock)
    wrapped.crashing = False
    assert engine.balance("ann").total == 0  # paid nothing yet, and nothing taken
    assert engine.run_due().paid_referrals == 2
    assert rows(engine) == rows(taken_back_straight())
    assert engine.run_due().paid_referrals == 0
