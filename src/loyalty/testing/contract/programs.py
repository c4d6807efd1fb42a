"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Program versions: kept in order, one per label."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from loyalty.errors import LoyaltyError
from loyalty.store import Store, StoredProgram
from loyalty.tallies import Tally
from loyalty.testing.contract._base import CET, T0, ContractBase


class ProgramsContract(ContractBase):
    """Program versions: kept in order, one per label."""

    def test_program_versions_round_trip_in_order(self, store: Store) -> None:
        body: dict[str, Any] = {
            "name": "Corner Bakery 'ü' 🎉",
            "rules": [{"id": "base", "rate": "1.00", "cap": None, "days": [1, 2]}],
            "flag": True,
        }
        # 2024-02-29T22:30Z: earlier than "2024-03" although its local text sorts later.
        spring = StoredProgram(
            "2024-spring",
            datetime(2024, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            body,
            datetime(2024, 2, 1, 12, 0, 0, 1, tzinfo=CET),
        )
        march = StoredProgram("2024-03", datetime(2024, 3, 1, tzinfo=UTC), {"v": 3}, T0)
        # The same instant as "2024-03": ordered by version.
        march_b = StoredProgram("2024-03-b", datetime(2024, 3, 1, 1, tzinfo=CET), {"v": 4}, T0)
        first = StoredProgram("v1", None, {"v": 1}, T0)
        zeroth = StoredProgram("v0", None, {}, T0)
        with store.unit_of_work() as uow:
            uow.add_program_version(march_b)
            uow.add_program_version(first)
            uow.add_program_version(spring)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.add_program_version(march)
            uow.add_program_version(zeroth)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.program_versions()
        assert got == [zeroth, first, spring, march, march_b]
        assert got[2].effective_from is not None and got[2].effective_from.utcoffset() == timedelta(hours=2)
        assert got[2].recorded_at.utcoffset() == timedelta(hours=1)
        assert got[4].effective_from is not None and got[4].effective_from.utcoffset() == timedelta(hours=1)

    def test_a_second_program_version_with_the_same_version_fails_and_keeps_nothing(
        self, store: Store
    ) -> None:
        first = StoredProgram("v1", None, {"a": 1}, T0)
        with store.unit_of_work() as uow:
            uow.add_program_version(first)
            uow.commit()
        with pytest.raises(LoyaltyError), store.unit_of_work() as uow:
            uow.add_tallies({"k": Tally(1, Decimal(1))})
            uow.add_program_version(StoredProgram("v1", T0, {"a": 2}, T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.program_versions() == [first]
            assert uow.tallies(["k"]) == {"k": Tally()}

    def test_program_versions_roll_back(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_program_version(StoredProgram("v1", None, {}, T0))
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.add_program_version(StoredProgram("v2", T0, {}, T0))
            assert [p.version for p in uow.program_versions()] == ["v2"]
            raise RuntimeError("crash between the write and the commit")
        with store.unit_of_work(readonly=True) as uow:
            assert uow.program_versions() == []
