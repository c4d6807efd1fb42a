"""A transfer written as two units of work, the sender's and then the receiver's, on every adapter:
a crash between them leaves the points in neither balance until a retry of the transfer or
maintenance finishes the receiver's part, with the result an uninterrupted transfer gives."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import (
    Engine,
    EntryKind,
    EventKind,
    IdempotencyConflict,
    InsufficientPoints,
    LoyaltyError,
    Transfer,
    UnknownMember,
    balance_of,
    codec,
    open_store,
)
from loyalty.lots import lots_of
from loyalty.store import Operation, Store, UnitOfWork
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from loyalty.transfers import RECEIVED
from tests.service.helpers import T0
from tests.service.test_transfers import club


class Crash(Exception):
    """The process dying between the two parts (no library error: nothing retries it)."""


class _Failing:
    """A unit of work whose receiver's record fails to be written, so nothing of it commits."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def add_operation(self, operation: Operation) -> None:
        if operation.key.endswith(RECEIVED):
            raise Crash(operation.key)
        self._uow.add_operation(operation)


class CrashingStore:
    """A store that crashes every receiver's part of a transfer while ``crashing``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.crashing = False

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        return self._unit(readonly)

    @contextmanager
    def _unit(self, readonly: bool) -> Iterator[Any]:
        with self.store.unit_of_work(readonly=readonly) as uow:
            yield _Failing(uow) if self.crashing else uow

    def close(self) -> None:
        self.store.close()


def crashing_club(store: Store) -> tuple[Engine, ManualClock, CrashingStore]:
    """:func:`club` (A holds 50 points from day 0 and 30 from day 5) on a store that can crash."""
    wrapped = CrashingStore(store)
    engine, clock = club(wrapped)  # type: ignore[arg-type]
    return engine, clock, wrapped


def half_sent(store: Store) -> tuple[Engine, ManualClock, CrashingStore]:
    """A's transfer X1 of 60 points to B, crashed after the sender's part."""
    engine, clock, wrapped = crashing_club(store)
    wrapped.crashing = True
    with pytest.raises(Crash):
        engine.transfer("A", "B", 60, id="X1", at=clock(), reason="family pooling")
    wrapped.crashing = False
    return engine, clock, wrapped


def figures(made: Transfer) -> tuple[Any, ...]:
    """A transfer's result but for its entries' numbers."""
    entries = (made.sent, *made.received)
    return (
        made.id,
        made.from_member,
        made.to_member,
        made.points,
        [
            (e.member_id, e.points, e.balance_after, e.occurred_at, e.recorded_at, e.expires_at, e.reason)
            for e in entries
        ],
    )


def whole(engine: Engine) -> list[tuple[Any, ...]]:
    """Both members' balances, lots and entries, as comparable values."""
    found: list[tuple[Any, ...]] = []
    for member in ("A", "B"):
        history = engine.history(member)
        assert engine.balance(member).total == balance_of(history)
        assert engine.lots(member) == lots_of(history)
        found.append(
            (engine.balance(member).total, [(lot.remaining, lot.expires_at) for lot in engine.lots(member)])
        )
        found.append(tuple((e.kind, e.points, e.reason, e.source_id) for e in history))
    return found


def test_an_uninterrupted_transfer_writes_both_parts_and_leaves_nothing_to_finish(any_store: Store) -> None:
    engine, clock = club(any_store)
    made = engine.transfer("A", "B", 60, id="X1", at=clock(), reason="gift")
    assert (made.from_balance, made.to_balance, [e.points for e in made.received]) == (20, 60, [50, 10])
    assert engine.run_due().finished_transfers == 0
    assert engine.balance("B").total == 60


def test_between_the_parts_the_points_are_in_neither_balance(any_store: Store) -> None:
    engine, _, _ = half_sent(any_store)
    assert (engine.balance("A").total, engine.balance("B").total) == (20, 0)
    assert [e.kind for e in engine.history("B")] == []
    assert [ev.kind for ev in engine.events()][-1] is EventKind.POINTS_TRANSFERRED


def test_a_retry_after_a_crash_finishes_the_receivers_part_with_the_uninterrupted_result(
    any_store: Store,
) -> None:
    engine, clock, _ = half_sent(any_store)
    finished = engine.transfer("A", "B", 60, id="X1", at=T0 + timedelta(days=12), reason="family pooling")
    assert isinstance(finished, Transfer)
    assert (finished.points, finished.from_balance, finished.to_balance) == (60, 20, 60)
    assert [(lot.remaining, lot.expires_at) for lot in engine.lots("B")] == [
        (50, T0 + timedelta(days=30)),
        (10, T0 + timedelta(days=35)),
    ]
    # Another retry replays the whole transfer; nothing is left for maintenance.
    assert engine.transfer("A", "B", 60, id="X1", at=clock(), reason="family pooling") == finished
    assert engine.run_due().finished_transfers == 0
    # The same as on a store where nothing crashed.
    other, other_clock = club(open_store("memory://"))
    straight = other.transfer("A", "B", 60, id="X1", at=other_clock(), reason="family pooling")
    # (Entry numbers aside: a sequence PostgreSQL rolled back leaves a gap.)
    assert figures(straight) == figures(finished)
    assert whole(engine) == whole(other)


def test_maintenance_finishes_a_part_nobody_retried(any_store: Store) -> None:
    engine, clock, _ = half_sent(any_store)
    clock.advance(hours=1)
    assert engine.run_due().finished_transfers == 1
    assert (engine.balance("A").total, engine.balance("B").total) == (20, 60)
    assert [(e.kind, e.points, e.reason) for e in engine.history("B")] == [
        (EntryKind.TRANSFER, 50, "transfer from A: family pooling"),
        (EntryKind.TRANSFER, 10, "transfer from A: family pooling"),
    ]
    assert engine.run_due().finished_transfers == 0
    # The retry after it replays the transfer maintenance finished.
    again = engine.transfer("A", "B", 60, id="X1", at=T0 + timedelta(days=12), reason="family pooling")
    assert (again.from_balance, again.to_balance) == (20, 60)
    assert engine.balance("B").total == 60
    assert engine.verify().ok


def test_a_reused_id_is_refused_naming_the_field_even_between_the_parts(any_store: Store) -> None:
    engine, clock, _ = half_sent(any_store)
    with pytest.raises(IdempotencyConflict) as refused:
        engine.transfer("A", "B", 61, id="X1", at=T0 + timedelta(days=12), reason="family pooling")
    assert refused.value.field == "points"
    with pytest.raises(IdempotencyConflict) as refused:
        engine.adjust("A", 5, id="X1", at=clock(), reason="goodwill", actor="crm")
    assert refused.value.field == "kind"
    assert engine.balance("B").total == 0  # a refused reuse finishes nothing


def test_a_declined_transfer_leaves_nothing_for_maintenance(any_store: Store) -> None:
    engine, clock = club(any_store)
    with pytest.raises(InsufficientPoints):
        engine.transfer("A", "B", 500, id="X1", at=clock(), reason="too much")
    assert engine.run_due().finished_transfers == 0
    assert (engine.balance("A").total, engine.balance("B").total) == (80, 0)


def test_bad_input_writes_neither_part(any_store: Store) -> None:
    engine, clock = club(any_store)
    before = snapshot(any_store, ["A", "B"], ["X1", "X1" + RECEIVED])
    bad: list[tuple[str, str, int]] = [("A", "Z", 10), ("Z", "B", 10), ("A", "B", 0)]
    for frm, to, points in bad:
        with pytest.raises(LoyaltyError):
            engine.transfer(frm, to, points, id="X1", at=clock(), reason="r")
    with pytest.raises(UnknownMember) as unknown:
        engine.transfer("A", "Z", 10, id="X1", at=clock(), reason="r")
    assert unknown.value.field == "to_member"
    assert snapshot(any_store, ["A", "B"], ["X1", "X1" + RECEIVED]) == before


def test_two_transfers_from_one_sender_racing_never_overdraw_it(any_store: Store) -> None:
    engine, clock = club(any_store)
    engine.enroll("C", at=T0)
    at = clock()
    outcomes: list[object] = []

    def send(to: str, key: str) -> None:
        try:
            outcomes.append(engine.transfer("A", to, 50, id=key, at=at, reason="race"))
        except InsufficientPoints as short:
            outcomes.append(short)

    threads = [threading.Thread(target=send, args=(to, f"R-{to}")) for to in ("B", "C")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [o for o in outcomes if isinstance(o, Transfer)]
    assert len(made) == 1 and len(outcomes) == 2
    assert engine.balance("A").total == 30
    assert engine.balance("B").total + engine.balance("C").total == 50
    assert engine.run_due().finished_transfers == 0


def test_an_erasure_of_either_member_finds_both_records_of_a_transfer(any_store: Store) -> None:
    engine, clock = club(any_store)
    engine.transfer("A", "B", 60, id="X1", at=clock(), reason="for Bob's birthday")
    for member in ("A", "B"):
        with any_store.unit_of_work(readonly=True) as uow:
            keys = [record.key for record in uow.member_records(member)]
        assert {"X1", "X1" + RECEIVED} <= set(keys)
    engine.erase("B", id="E1", at=clock(), reason="asked", actor="dpo")
    with any_store.unit_of_work(readonly=True) as uow:
        kept = [uow.operation(key) for key in ("X1", "X1" + RECEIVED)]
    # Both are marked erased and lose the request's reason, as the one record of a transfer did.
    assert [(op.request["erased"], op.request["reason"]) for op in kept if op is not None] == [
        ("E1", None)
    ] * 2
    assert engine.verify().ok
    assert engine.run_due().finished_transfers == 0  # the erased sender's record is no half


def test_figures_leave_points_in_flight_out_until_the_transfer_is_finished(any_store: Store) -> None:
    engine, clock, _ = half_sent(any_store)
    start, end = T0, T0 + timedelta(days=20)
    between = engine.figures(start, end, point_value=Decimal("0.01"))
    assert between.liability is not None
    assert (
        between.outstanding,
        between.liability.amount,
        between.transferred_out,
        between.transferred_in,
    ) == (
        20,
        Decimal("0.20"),
        60,
        0,
    )
    clock.advance(days=3)  # finished later: its entries still carry the transfer's time
    assert engine.run_due().finished_transfers == 1
    after = engine.figures(start, end, point_value=Decimal("0.01"))
    other, other_clock = club(open_store("memory://"))
    other.transfer("A", "B", 60, id="X1", at=other_clock(), reason="family pooling")
    assert after == other.figures(start, end, point_value=Decimal("0.01"))
    assert (after.outstanding, after.transferred_in) == (80, 60)


def test_a_transfer_recorded_whole_by_an_earlier_version_replays_and_is_left_alone(any_store: Store) -> None:
    engine, clock = club(any_store)
    other, other_clock = club(open_store("memory://"))
    made = other.transfer("A", "B", 60, id="OLD", at=other_clock(), reason="gift")
    request = {
        "from_member": "A",
        "to_member": "B",
        "points": 60,
        "at": clock().isoformat(),
        "reason": "gift",
    }
    with any_store.unit_of_work() as uow:
        uow.add_operation(Operation("OLD", "transfer", request, codec.unstructure(made), clock()))
        uow.commit()
    assert engine.transfer("A", "B", 60, id="OLD", at=clock(), reason="gift") == made
    assert engine.run_due().finished_transfers == 0
    assert engine.balance("B").total == 0  # the earlier version wrote its entries; none here
