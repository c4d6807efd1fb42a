"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Tier states: kept, replaced, found by due date, reviewed once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest

from loyalty.engine import Engine
from loyalty.errors import StorageError
from loyalty.ledger import EntryKind
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.store import Store
from loyalty.testing.contract._base import DAY, T0, ContractBase
from loyalty.tiers import Tier, Tiers, TierState


class TiersContract(ContractBase):
    """Tier states: kept, replaced, found by due date, reviewed once."""

    def test_tier_states_round_trip_are_replaced_and_found_by_due_date(self, store: Store) -> None:
        for member_id in ("M1", "M2", "M3", "M4"):
            self._enroll(store, member_id)
        first = TierState("M1", "gold", "silver", T0, T0 + DAY, T0 + DAY, "gold", T0 + 2 * DAY, ("a", "b"))
        with store.unit_of_work() as uow:
            assert uow.tier_state("M1") is None
            uow.put_tier_state(first)
            uow.put_tier_state(TierState("M2", "silver", "silver", T0, T0 + DAY, T0 + DAY))
            uow.put_tier_state(TierState("M3", "silver", "silver", T0, T0, T0 + 2 * DAY))
            uow.put_tier_state(TierState("M4", "member", "member", T0))  # never due
            assert uow.tier_state("M1") == first  # read back in its own unit of work
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            stored = uow.tier_state("M1")
            assert stored == first and stored is not None and stored.reached == ("a", "b")
            assert [s.member_id for s in uow.due_tier_states(T0 + 3 * DAY)] == ["M1", "M2", "M3"]
            assert [s.member_id for s in uow.due_tier_states(T0 + DAY)] == ["M1", "M2"]  # ties by member
            assert [s.member_id for s in uow.due_tier_states(T0 + 3 * DAY, limit=1)] == ["M1"]
            assert uow.due_tier_states(T0) == []
        moved = attrs.evolve(first, tier="silver", due_at=T0 + 5 * DAY, floor=None, floor_until=None)
        with store.unit_of_work() as uow:
            uow.put_tier_state(moved)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tier_state("M1") == moved
            assert [s.member_id for s in uow.due_tier_states(T0 + 3 * DAY)] == ["M2", "M3"]
            assert [s.member_id for s in uow.due_tier_states(T0 + 5 * DAY)] == ["M2", "M3", "M1"]

    def test_tier_states_roll_back_and_need_a_member(self, store: Store) -> None:
        self._enroll(store)
        kept = TierState("M1", "gold", "gold", T0, T0 + DAY, T0 + DAY)
        with store.unit_of_work() as uow:
            uow.put_tier_state(kept)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.put_tier_state(attrs.evolve(kept, tier="silver", due_at=None))
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tier_state("M1") == kept
            assert uow.due_tier_states(T0 + DAY) == [kept]
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.put_tier_state(TierState("nobody", "gold", "gold", T0))
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tier_state("nobody") is None

    def test_engine_run_due_reviews_each_tier_once_across_engines(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        tiers = Tiers(
            levels=[Tier(id="member"), Tier(id="gold", threshold=100)],
            window="rolling",
            months=12,
            downgrade="review",
            review="anniversary",
        )
        program = Program("Contract", "EUR", tiers=tiers)
        setup = store_factory()
        members = [f"M{n}" for n in range(24)]
        year = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
        engine = Engine(program, setup, clock=lambda: T0)
        for member_id in members:
            engine.enroll(member_id, at=T0)
            engine.record_purchase(
                Purchase(f"{member_id}-1", member_id, T0, [Line("x", 1, Decimal(100))], "EUR")
            )
        workers = 4
        stores = [store_factory() for _ in range(workers)]
        start = threading.Barrier(workers)

        def work(n: int) -> int:
            racer = Engine(program, stores[n], clock=lambda: year + DAY)
            start.wait()
            return racer.run_due(batch=5).tier_changes

        try:
            with ThreadPoolExecutor(workers) as pool:
                changes = sum(pool.map(work, range(workers)))
            assert changes == len(members)
            after = Engine(program, setup, clock=lambda: year + DAY)
            assert after.run_due() == after.run_due() == attrs.evolve(after.run_due(), tier_reviews=0)
            for member_id in members:
                moves = [e.reason for e in after.history(member_id) if e.kind is EntryKind.TIER]
                assert len(moves) == 2, moves  # up with the purchase, down at the first anniversary
                assert after.tier(member_id).tier.id == "member"
        finally:
            for store in stores:
                store.close()
            setup.close()
