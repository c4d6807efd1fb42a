"""The SQLite adapter passes the shipped store contract, with synchronous=full (the default) and normal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from loyalty.store import Store
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.contract import StoreContract


class TestSQLiteStore(StoreContract):
    concurrent_workers = 6
    concurrent_purchases = 100

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SQLiteStore(tmp_path / "loyalty.db")


class TestSQLiteStoreSynchronousNormal(StoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> Callable[[], Store]:
        return lambda: SQLiteStore(tmp_path / "loyalty.db", synchronous="normal")
