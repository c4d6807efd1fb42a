"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

The engine over the store: retries, declines and races."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from loyalty.engine import Engine
from loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    StorageError,
)
from loyalty.ledger import balance_of
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.store import Store
from loyalty.testing.contract._base import T0, ContractBase


class EngineContract(ContractBase):
    """The engine over the store: retries, declines and races."""

    def test_engine_purchase_retry_returns_the_original_receipt(self, engine: Engine) -> None:
        engine.enroll("M1", at=T0)
        purchase = Purchase("P1", "M1", T0, [Line("x", 3, Decimal("4.15"))], "EUR")
        receipt = engine.record_purchase(purchase)
        assert engine.record_purchase(purchase) == receipt
        assert engine.balance("M1").available == 12 == balance_of(engine.history("M1"))
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
        assert engine.balance("M1").available == 120

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
            assert engine.balance("M1").available == 3 * workers * per_worker
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
            assert engine.balance("M1").available == 10 == balance_of(engine.history("M1"))
        finally:
            for store in [setup, *stores]:
                store.close()

    def test_storage_errors_are_loyalty_errors(self, store: Store) -> None:
        self._enroll(store)
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_member(Member("M1", T0))
            uow.commit()
