"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

What a store keeps once its handle is closed and reopened."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

import pytest

from loyalty.engine import Engine
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.store import Store, StoredProgram
from loyalty.tallies import Tally
from loyalty.testing.contract._base import CET, T0, THIRD, ContractBase


class DurabilityContract(ContractBase):
    """What a store keeps once its handle is closed and reopened."""

    def test_tallies_programs_and_member_updates_survive_reopening(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.durable:
            pytest.skip("this store does not outlive its handle")
        program = StoredProgram("v1", datetime(2024, 1, 1, tzinfo=CET), {"rules": ["base"]}, T0)
        member = Member("M1", T0, date(2000, 1, 1), {"segment": "staff"}, birthday_changed_at=T0)
        first = store_factory()
        try:
            with first.unit_of_work() as uow:
                uow.add_member(Member("M1", T0))
                uow.update_member(member)
                uow.add_tallies({"k": Tally(2, THIRD)})
                uow.add_program_version(program)
                uow.commit()
        finally:
            first.close()
        second = store_factory()
        try:
            with second.unit_of_work(readonly=True) as uow:
                assert uow.member("M1") == member
                assert uow.tallies(["k"]) == {"k": Tally(2, THIRD)}
                assert uow.program_versions() == [program]
        finally:
            second.close()

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
            assert again.balance("M1").available == 20
            assert (
                again.record_purchase(Purchase("P1", "M1", T0, [Line("x", 2, Decimal("10.00"))], "EUR"))
                == receipt
            )
            assert again.balance("M1").available == 20
        finally:
            second.close()
