"""SQLite schema 25: the purchases kept as operations indexed in the order of their listing
without an entry, so that a page of it seeks the index to where the last one ended instead of
sorting every purchase after it; files of schema 24 upgraded to it list the same purchases.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.migrations import SCHEMA_VERSION
from loyalty.store.sqlite.no_entry import _AFTER, _FIRST
from tests.shop import gum_at_standstill, listed_without_entry
from tests.sqlite_files import has_shape_of_schema
from tests.tampering import as_sqlite_schema_24

T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)


def _plan(path: Path, query: str) -> list[str]:
    with closing(sqlite3.connect(path)) as conn:
        params = {"r": 0, "p": 0, "k": "", "limit": 5}
        return [str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + query, params)]


def test_a_page_of_the_purchases_without_an_entry_seeks_their_index(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    expected = gum_at_standstill(SQLiteStore(path))
    with SQLiteStore(path) as store:
        assert listed_without_entry(store, 3) == listed_without_entry(store, 100) == expected
    for query in (_FIRST, _AFTER):
        plan = _plan(path, query)
        inner = plan[: plan.index("SCAN c")]
        # Walked in its order from the place (no temporary tree sorts the purchases).
        assert any("USING INDEX operations_purchase_order" in step for step in inner), plan
        assert not [step for step in inner if "TEMP B-TREE" in step], plan
    assert any("SEARCH operations USING INDEX operations_purchase_order" in s for s in _plan(path, _AFTER))


def test_a_version_23_file_lists_the_same_purchases_once_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    expected = gum_at_standstill(SQLiteStore(path))
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_24(conn)
        assert has_shape_of_schema(conn, 23, tmp_path)
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 25
        assert listed_without_entry(store, 5) == expected
    with closing(sqlite3.connect(path)) as conn:
        assert has_shape_of_schema(conn, SCHEMA_VERSION, tmp_path)
