"""The memory adapter passes the shipped store contract, and refuses a tally that is not a Tally."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from loyalty.errors import InvalidInput
from loyalty.store import Store
from loyalty.store.memory import MemoryStore
from loyalty.testing.contract import StoreContract


class TestMemoryStore(StoreContract):
    durable = False

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        shared = MemoryStore()
        return lambda: shared


def test_add_tallies_refuses_what_is_not_a_tally() -> None:
    store = MemoryStore()
    with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
        uow.add_tallies({"k": (1, Decimal(1))})  # type: ignore[dict-item]
    assert info.value.field == "deltas"
