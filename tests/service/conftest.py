"""Fixtures of the service tests (tests/conftest.py has ``store``, memory only, and ``any_store``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from loyalty import Engine
from loyalty.store import Store, open_store
from loyalty.store.memory import MemoryStore
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.clock import ManualClock
from tests.pg import postgres_dsn, store_schema_url
from tests.service.helpers import PROGRAM, T0, engine_for


@pytest.fixture(params=["memory", "sqlite"])
def memory_or_sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each adapter that needs no server (SQLite: a new file, synchronous=full).

    A module runs its tests on both by defining ``store`` as this fixture.
    """
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "loyalty.db")
    yield store
    store.close()


@pytest.fixture
def other_store(any_store: Store, tmp_path: Path) -> Iterator[Store]:
    """An empty store of another adapter than ``any_store``'s."""
    store = (
        SQLiteStore(tmp_path / "other.db")
        if type(any_store).__name__ == "MemoryStore"
        else open_store("memory://")
    )
    yield store
    store.close()


@pytest.fixture
def clock() -> ManualClock:
    """A clock at T0 (a module with an instant of its own defines its own ``clock``)."""
    return ManualClock(T0)


@pytest.fixture
def engine(store: Store) -> Engine:
    """An engine on ``store`` with the plain program, its clock at T0, M1 enrolled."""
    return engine_for(store, PROGRAM)


def _fresh(kind: str, path: Path) -> tuple[Store, Callable[[], None] | None]:
    """A new, empty store of adapter ``kind`` (PostgreSQL: on a schema of its own, and what drops it)."""
    if kind == "memory":
        return open_store("memory://"), None
    if kind == "sqlite":
        return SQLiteStore(path, synchronous="normal"), None
    url, drop = store_schema_url(postgres_dsn())
    return open_store(url), drop


@pytest.fixture(
    params=[
        ("memory", "sqlite"),
        pytest.param(("sqlite", "postgres"), marks=pytest.mark.postgres),
        pytest.param(("postgres", "memory"), marks=pytest.mark.postgres),
    ],
    ids=lambda pair: "-to-".join(pair),
)
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two new, empty stores of different adapters, for a round trip from the first into the
    second: memory into SQLite, SQLite into PostgreSQL, PostgreSQL into memory."""
    made = [_fresh(kind, tmp_path / f"{i}.db") for i, kind in enumerate(request.param)]
    yield made[0][0], made[1][0]
    for store, drop in made:
        store.close()
        if drop is not None:
            drop()
