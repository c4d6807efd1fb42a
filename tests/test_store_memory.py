from __future__ import annotations

from collections.abc import Callable

import pytest

from loyalty.store import Store
from loyalty.store.memory import MemoryStore
from loyalty.testing.contract import StoreContract


class TestMemoryStore(StoreContract):
    durable = False

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        shared = MemoryStore()
        return lambda: shared
