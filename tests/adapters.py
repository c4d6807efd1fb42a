"""A fresh store on each adapter, for the fixtures that run their tests on all three."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loyalty.store import Store, open_store
from loyalty.store.sqlite import SQLiteStore
from tests.pg import postgres_dsn, store_schema_url

#: A fixture's ``params`` for a test run on each adapter (PostgreSQL's marked, so that it can be left out).
ADAPTERS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

#: More of a PostgreSQL store's URL: a pool of one connection.
ONE_CONNECTION = "&pool_min=1&pool_max=1"


@contextmanager
def fresh_store(adapter: str, folder: Path, postgres_options: str = "") -> Iterator[Store]:
    """A new, empty store of ``adapter``, closed afterwards: in memory; a file in ``folder``
    (synchronous=normal); or a PostgreSQL schema of its own, dropped afterwards
    (``postgres_options``: more of its URL, such as :data:`ONE_CONNECTION`)."""
    drop: Callable[[], None] | None = None
    if adapter == "memory":
        store: Store = open_store("memory://")
    elif adapter == "sqlite":
        store = SQLiteStore(folder / "loyalty.db", synchronous="normal")
    else:
        url, drop = store_schema_url(postgres_dsn())
        store = open_store(url + postgres_options)
    try:
        yield store
    finally:
        store.close()
        if drop is not None:
            drop()
