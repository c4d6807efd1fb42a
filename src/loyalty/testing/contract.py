"""The storage adapter contract, as a pytest mixin every adapter adopts.

An adapter passes when a subclass of :class:`StoreContract` that provides the
``store_factory`` fixture passes. Our three adapters adopt it like this::

    import pytest
    from loyalty.store.sqlite import SQLiteStore
    from loyalty.testing.contract import StoreContract

    class TestSQLiteStore(StoreContract):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: SQLiteStore(tmp_path / "loyalty.db")

``store_factory`` returns a function that opens a *new handle* on one fresh,
empty storage location each time it is called; the suite closes the handles it
opens. Set ``durable = False`` for a store that does not outlive its handle
(such a store's factory returns the same instance every time) and
``concurrent = False`` for one that cannot be shared between threads.

The mixin's name does not start with ``Test``, so pytest never collects it on
its own. Call :func:`pytest.register_assert_rewrite` on this module (our
conftest does) to get pytest's detailed assertion messages from it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from loyalty.checks import MAX_POINTS
from loyalty.engine import Engine
from loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    LoyaltyError,
    StorageError,
)
from loyalty.ledger import EntryKind, Posting, balance_of
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.store import Operation, Store
from loyalty.testing.snapshots import snapshot

__all__ = ["HOSTILE_STRINGS", "StoreContract"]

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
CET = timezone(timedelta(hours=1))

#: Strings that have broken SQL, JSON and terminal handling elsewhere; ids must
#: survive them verbatim (or be refused by validation before any write).
HOSTILE_STRINGS = (
    "'; DROP TABLE entries; --",
    'Robert"); DROP TABLE members;--',
    "%s %(x)s {0} $1 ?",
    "\\x00 not a nul",
    "ünïcødé ✓ 会员 🎉",
    "a" * 128,
)


def _posting(member_id: str, points: int, source: str, *, at: datetime = T0) -> Posting:
    return Posting(member_id, EntryKind.ADJUST, points, at, T0, source, "contract test", actor="tester")


class StoreContract:
    """Mixin with the tests every storage adapter must pass."""

    durable: ClassVar[bool] = True
    concurrent: ClassVar[bool] = True
    #: Workers x purchases per worker in the concurrent-purchase test.
    concurrent_workers: ClassVar[int] = 4
    concurrent_purchases: ClassVar[int] = 50

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        pytest.fail(f"{type(self).__name__} must override the store_factory fixture")

    @pytest.fixture
    def store(self, store_factory: Callable[[], Store]) -> Iterator[Store]:
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def engine(self, store: Store) -> Engine:
        return Engine(Program("Contract", "EUR"), store, clock=lambda: T0)

    def _enroll(self, store: Store, member_id: str = "M1") -> Member:
        member = Member(member_id, T0)
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.commit()
        return member

    # -- members and balances ---------------------------------------------------------------

    def test_unknown_member_has_no_balance(self, store: Store) -> None:
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("nobody") is None
            assert uow.balance("nobody") is None
            assert uow.history("nobody") == []

    def test_member_round_trips(self, store: Store) -> None:
        member = Member(
            "M1",
            datetime(2024, 3, 31, 2, 30, tzinfo=CET),
            date(2000, 2, 29),
            {"segment": "student", "visits": 3, "vip": True},
        )
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.member("M1")
            assert uow.balance("M1") == 0
        assert got == member
        assert got is not None and got.enrolled_at.utcoffset() == timedelta(hours=1)

    def test_append_numbers_entries_and_moves_the_balance(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            first = uow.append(_posting("M1", 40, "a"))
            second = uow.append(_posting("M1", -15, "b"))
            assert uow.balance("M1", for_update=True) == 25
            uow.commit()
        assert second.seq > first.seq
        assert (first.balance_after, second.balance_after) == (40, 25)
        with store.unit_of_work(readonly=True) as uow:
            history = uow.history("M1")
            assert uow.balance("M1") == balance_of(history) == 25
        assert history == [first, second]

    def test_history_pages_with_after_and_limit(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            mine = [uow.append(_posting("M1", n, f"k{n}")) for n in range(1, 8)]
            uow.append(_posting("M2", 99, "other"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.history("M1", limit=3) == mine[:3]
            assert uow.history("M1", after=mine[2].seq, limit=3) == mine[3:6]
            assert uow.history("M1", after=mine[-1].seq) == []

    def test_entries_keep_their_till_offset_and_both_times(self, store: Store) -> None:
        self._enroll(store)
        local = datetime(2024, 10, 27, 2, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
        with store.unit_of_work() as uow:
            uow.append(_posting("M1", 5, "late", at=local))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            (entry,) = uow.history("M1")
        assert entry.occurred_at == local
        assert entry.occurred_at.utcoffset() == timedelta(hours=2)
        assert entry.recorded_at == T0

    def test_balances_stay_exact_at_the_64_bit_edge(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(_posting("M1", MAX_POINTS, "max"))
            uow.append(_posting("M1", -MAX_POINTS, "back"))
            uow.append(_posting("M1", MAX_POINTS - 1, "again"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == MAX_POINTS - 1
            assert [e.points for e in uow.history("M1")] == [MAX_POINTS, -MAX_POINTS, MAX_POINTS - 1]

    # -- the unit of work -------------------------------------------------------------------

    def test_rolls_back_uncommitted_work_by_default(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(_posting("M1", 10, "lost"))
            uow.add_member(Member("M2", T0))
            uow.add_operation(Operation("op", "test", {}, {}, T0))
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == 0
            assert uow.history("M1") == []
            assert uow.member("M2") is None
            assert uow.operation("op") is None

    def test_rolls_back_when_the_block_raises(self, store: Store) -> None:
        self._enroll(store)
        before = snapshot(store, ["M1"], ["op"])
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.append(_posting("M1", 10, "lost"))
            uow.add_operation(Operation("op", "test", {}, {}, T0))
            raise RuntimeError("crash between the write and the commit")
        assert snapshot(store, ["M1"], ["op"]) == before

    def test_committed_work_is_visible_to_a_new_unit_of_work(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(_posting("M1", 7, "kept"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == 7

    # -- operations (idempotency records) ---------------------------------------------------

    def test_operation_round_trips(self, store: Store) -> None:
        request: dict[str, Any] = {"member_id": "M1", "lines": [{"sku": "ü'\"", "q": "1.5"}], "n": None}
        result: dict[str, Any] = {"points": 12, "nested": {"deep": [1, 2, {"x": "🎉"}]}, "flag": True}
        with store.unit_of_work() as uow:
            uow.add_operation(Operation("T1-000001", "purchase", request, result, T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.operation("T1-000001") == Operation("T1-000001", "purchase", request, result, T0)
            assert uow.operation("T1-000002") is None

    def test_a_second_operation_with_the_same_key_fails_and_keeps_nothing(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_operation(Operation("dup", "purchase", {"a": 1}, {}, T0))
            uow.commit()
        before = snapshot(store, ["M1"], ["dup"])
        with pytest.raises(LoyaltyError), store.unit_of_work() as uow:
            uow.append(_posting("M1", 10, "dup"))
            uow.add_operation(Operation("dup", "purchase", {"a": 2}, {}, T0))
            uow.commit()
        assert snapshot(store, ["M1"], ["dup"]) == before

    @pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
    def test_hostile_strings_are_stored_verbatim(self, store: Store, hostile: str) -> None:
        member = Member(hostile, T0, None, {hostile: hostile})
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.append(Posting(hostile, EntryKind.ADJUST, 3, T0, T0, hostile, hostile, hostile, hostile))
            uow.add_operation(Operation(hostile, hostile, {hostile: hostile}, {hostile: [hostile]}, T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member(hostile) == member
            (entry,) = uow.history(hostile)
            assert (entry.source_id, entry.reason, entry.actor, entry.rule) == (hostile,) * 4
            operation = uow.operation(hostile)
            assert operation is not None and operation.result == {hostile: [hostile]}
            # The tables are still there and still answer.
            assert uow.balance(hostile) == 3

    @pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
    def test_hostile_ids_through_the_engine_leave_the_schema_intact(
        self, engine: Engine, hostile: str
    ) -> None:
        engine.enroll("bystander", at=T0)
        engine.adjust("bystander", 7, id="seed", at=T0, reason="before", actor="test")
        engine.enroll(hostile, at=T0, attributes={"note": hostile})
        line = Line(hostile, 1, Decimal("12.00"), category=hostile)
        receipt = engine.record_purchase(Purchase(hostile, hostile, T0, [line], "EUR", store_id=hostile))
        redemption = "r/" + hostile[:126]
        engine.redeem(hostile, 2, id=redemption, at=T0, reason=hostile)
        assert (
            engine.record_purchase(Purchase(hostile, hostile, T0, [line], "EUR", store_id=hostile)) == receipt
        )
        assert engine.balance(hostile) == 10
        assert [e.source_id for e in engine.history(hostile)] == [hostile, redemption]
        assert engine.member(hostile).attributes == {"note": hostile}
        assert engine.balance("bystander") == 7
        engine.adjust("bystander", 1, id="after", at=T0, reason="tables still writable", actor="test")
        assert engine.balance("bystander") == 8

    def test_a_read_only_unit_of_work_refuses_writes(self, store: Store) -> None:
        with pytest.raises(StorageError), store.unit_of_work(readonly=True) as uow:
            uow.add_member(Member("M1", T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("M1") is None

    # -- durability -------------------------------------------------------------------------

    def test_committed_work_survives_reopening(self, store_factory: Callable[[], Store]) -> None:
        if not self.durable:
            pytest.skip("this store does not outlive its handle")
        first = store_factory()
        engine = Engine(Program("Contract", "EUR"), first, clock=lambda: T0)
        engine.enroll("M1", at=T0)
        receipt = engine.record_purchase(Purchase("P1", "M1", T0, [Line("x", 2, Decimal("10.00"))], "EUR"))
        first.close()
        second = store_factory()
        try:
            again = Engine(Program("Contract", "EUR"), second, clock=lambda: T0)
            assert again.balance("M1") == 20
            assert (
                again.record_purchase(Purchase("P1", "M1", T0, [Line("x", 2, Decimal("10.00"))], "EUR"))
                == receipt
            )
            assert again.balance("M1") == 20
        finally:
            second.close()

    # -- the engine over this store ---------------------------------------------------------

    def test_engine_purchase_retry_returns_the_original_receipt(self, engine: Engine) -> None:
        engine.enroll("M1", at=T0)
        purchase = Purchase("P1", "M1", T0, [Line("x", 3, Decimal("4.15"))], "EUR")
        receipt = engine.record_purchase(purchase)
        assert engine.record_purchase(purchase) == receipt
        assert engine.balance("M1") == 12 == balance_of(engine.history("M1"))
        assert len(engine.history("M1")) == 1
        with pytest.raises(IdempotencyConflict) as info:
            engine.record_purchase(Purchase("P1", "M1", T0, [Line("x", 4, Decimal("4.15"))], "EUR"))
        assert info.value.field == "lines[0].quantity"
        assert len(engine.history("M1")) == 1

    def test_engine_declined_redemption_stays_declined(self, engine: Engine) -> None:
        engine.enroll("M1", at=T0)
        engine.adjust("M1", 20, id="A1", at=T0, reason="welcome", actor="staff")
        with pytest.raises(InsufficientPoints):
            engine.redeem("M1", 30, id="R1", at=T0)
        engine.adjust("M1", 100, id="A2", at=T0, reason="top-up", actor="staff")
        with pytest.raises(InsufficientPoints) as info:
            engine.redeem("M1", 30, id="R1", at=T0)
        assert (info.value.available, info.value.requested) == (20, 30)
        assert engine.balance("M1") == 120

    def test_engine_concurrent_purchases_on_one_member_lose_nothing(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        workers, per_worker = self.concurrent_workers, self.concurrent_purchases
        setup = store_factory()
        Engine(Program("Contract", "EUR"), setup).enroll("M1", at=T0)
        stores = [store_factory() for _ in range(workers)]
        start = threading.Barrier(workers)

        def work(n: int) -> None:
            engine = Engine(Program("Contract", "EUR"), stores[n])
            start.wait()
            for i in range(per_worker):
                engine.record_purchase(
                    Purchase(f"W{n}-{i}", "M1", T0, [Line("x", 1, Decimal("3.00"))], "EUR")
                )

        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(work, range(workers)))
            engine = Engine(Program("Contract", "EUR"), setup)
            assert engine.balance("M1") == 3 * workers * per_worker
            assert balance_of(engine.history("M1")) == 3 * workers * per_worker
        finally:
            for store in [setup, *stores]:
                store.close()

    def test_engine_concurrent_redemptions_never_overdraw(self, store_factory: Callable[[], Store]) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        setup = store_factory()
        engine = Engine(Program("Contract", "EUR"), setup, clock=lambda: T0)
        engine.enroll("M1", at=T0)
        engine.adjust("M1", 1000, id="seed", at=T0, reason="opening balance", actor="test")
        workers = 10
        stores = [store_factory() for _ in range(workers)]

        def redeem(n: int) -> bool:
            mine = Engine(Program("Contract", "EUR"), stores[n % workers], clock=lambda: T0)
            try:
                mine.redeem("M1", 30, id=f"R{n}", at=T0)
            except InsufficientPoints:
                return False
            return True

        try:
            with ThreadPoolExecutor(workers) as pool:
                outcomes = list(pool.map(redeem, range(50)))
            assert outcomes.count(True) == 33
            assert engine.balance("M1") == 10 == balance_of(engine.history("M1"))
        finally:
            for store in [setup, *stores]:
                store.close()

    def test_storage_errors_are_loyalty_errors(self, store: Store) -> None:
        self._enroll(store)
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_member(Member("M1", T0))
            uow.commit()
