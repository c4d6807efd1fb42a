"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

The unit of work: nothing kept unless committed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import attrs
import pytest

from loyalty.errors import StorageError
from loyalty.members import Member
from loyalty.store import Operation, Store, StoredProgram
from loyalty.tallies import Tally
from loyalty.testing.contract._base import T0, ContractBase, adjust_posting
from loyalty.testing.snapshots import snapshot


class UnitOfWorkContract(ContractBase):
    """The unit of work: nothing kept unless committed."""

    def test_rolls_back_uncommitted_work_by_default(self, store: Store) -> None:
        member = self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 10, "lost"))
            uow.add_member(Member("M2", T0))
            uow.add_operation(Operation("op", "test", {}, {}, T0))
            uow.update_member(attrs.evolve(member, birthday=date(2000, 1, 1)))
            uow.add_tallies({"k": Tally(1, Decimal(1))})
            uow.add_program_version(StoredProgram("v1", None, {}, T0))
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == 0
            assert uow.history("M1") == []
            assert uow.member("M1") == member
            assert uow.member("M2") is None
            assert uow.operation("op") is None
            assert uow.tallies(["k"]) == {"k": Tally()}
            assert uow.program_versions() == []

    def test_rolls_back_when_the_block_raises(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_tallies({"k": Tally(1, Decimal("1.5"))})
            uow.add_program_version(StoredProgram("v1", None, {}, T0))
            uow.commit()
        before = snapshot(store, ["M1"], ["op"], ["k", "new"], programs=True)
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 10, "lost"))
            uow.add_operation(Operation("op", "test", {}, {}, T0))
            uow.add_tallies({"k": Tally(1, Decimal(1)), "new": Tally(1, Decimal(1))})
            uow.add_program_version(StoredProgram("v2", T0, {}, T0))
            raise RuntimeError("crash between the write and the commit")
        assert snapshot(store, ["M1"], ["op"], ["k", "new"], programs=True) == before

    def test_committed_work_is_visible_to_a_new_unit_of_work(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 7, "kept"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == 7

    def test_a_store_used_in_a_with_block_is_closed_when_the_block_ends(
        self, store_factory: Callable[[], Store]
    ) -> None:
        with store_factory() as store:
            self._enroll(store)
        with pytest.raises(StorageError), store.unit_of_work(readonly=True) as uow:
            uow.balance("M1")
        store.close()  # closing again is harmless

    def test_a_store_used_in_a_with_block_is_closed_when_the_block_raises(
        self, store_factory: Callable[[], Store]
    ) -> None:
        with pytest.raises(RuntimeError), store_factory() as store:
            raise RuntimeError("the caller's own failure")
        with pytest.raises(StorageError), store.unit_of_work(readonly=True) as uow:
            uow.balance("M1")
