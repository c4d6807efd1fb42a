"""The PostgreSQL adapter passes the shipped store contract (loyalty.testing.contract)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loyalty.store import Store, open_store
from loyalty.testing.contract import StoreContract
from loyalty.testing.contract.engine import EngineContract
from loyalty.testing.contract.operations import OperationsContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(StoreContract):
    concurrent_workers = 6
    concurrent_purchases = 100

    @pytest.fixture
    def store_factory(self, store_url: str) -> Callable[[], Store]:
        return lambda: open_store(store_url)


class TestPostgresStoreUnprepared(EngineContract, OperationsContract):
    """``prepare=off`` (PgBouncer's transaction mode) sends the prepared statements as they are:
    the parts of the contract a purchase, a redemption and their retries go through (the whole
    contract once is enough for the rest, which the option does not touch; fewer concurrent
    purchases than there, to keep .ci/run's three versions under its time)."""

    concurrent_workers = 6
    concurrent_purchases = 30

    @pytest.fixture
    def store_factory(self, store_url: str) -> Callable[[], Store]:
        return lambda: open_store(f"{store_url}&prepare=off")
