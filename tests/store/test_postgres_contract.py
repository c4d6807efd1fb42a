"""The PostgreSQL adapter passes the shipped store contract (loyalty.testing.contract)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loyalty.store import Store, open_store
from loyalty.testing.contract import StoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    concurrent_workers = 6
    concurrent_purchases = 100

    @pytest.fixture
    def store_factory(self, store_url: str) -> Callable[[], Store]:
        return lambda: open_store(store_url)
