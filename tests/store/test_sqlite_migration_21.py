"""SQLite schema 21: the records of commands written in parts indexed apart, so that finding the
half-written ones is a probe; files of schema 20 upgraded to it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite import transfers as sqlite_transfers
from loyalty.store.sqlite.migrations import SCHEMA_VERSION
from loyalty.transfers import PARTED_KINDS, RECEIVED
from tests import shop
from tests.sqlite_files import previous_schema_file, shape_of
from tests.tampering import as_sqlite_schema_20

_INDEXES = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'operations'"


def test_a_version_20_file_finds_its_half_written_commands_through_the_index_once_upgraded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v20.db"
    store = SQLiteStore(path)
    before = shop.reading(shop.record(store))
    expected = shop.keep_half_written(store)
    assert shop.half_written(store) == expected
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_20(conn)
        fresh = tmp_path / "fresh-v20.db"
        previous_schema_file(fresh, 20)
        with closing(sqlite3.connect(fresh)) as v20:
            assert shape_of(conn) == shape_of(v20)
        assert "operations_parts" not in {name for (name,) in conn.execute(_INDEXES)}
    shop.check_reopened(SQLiteStore(path), SCHEMA_VERSION, before)
    store = SQLiteStore(path)
    assert shop.half_written(store) == expected
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        assert "operations_parts" in {name for (name,) in conn.execute(_INDEXES)}


@pytest.mark.parametrize(
    ("query", "kind"),
    [("_UNFINISHED", kind) for kind in PARTED_KINDS] + [("_UNRECEIVED", "transfer")],
)
def test_the_search_for_half_written_commands_probes_their_index(
    tmp_path: Path, query: str, kind: str
) -> None:
    store = SQLiteStore(tmp_path / "plans.db")
    shop.keep_half_written(store)
    statement = getattr(sqlite_transfers, query)
    params = {"kind": kind, "suffix": RECEIVED, "limit": 10}
    with store._connection() as conn:
        plan = [str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
    store.close()
    # The kind's records in key order through the index (no sort), each probed by its key.
    assert any(step.startswith("SEARCH o USING") and "operations_parts (kind=?)" in step for step in plan), (
        plan
    )
    assert not [step for step in plan if step.startswith("SCAN") or "TEMP B-TREE" in step], plan


def _table_rows(path: Path) -> tuple[set[tuple[str, str]], set[str]]:
    """The (member, key) of ``member_tallies`` and the keys of ``tallies``."""
    with closing(sqlite3.connect(path)) as conn:
        owned = {(str(m), str(k)) for m, k in conn.execute("SELECT member_id, key FROM member_tallies")}
        return owned, {str(k) for (k,) in conn.execute("SELECT key FROM tallies")}


def test_a_version_20_file_keeps_each_members_own_tallies_under_it_once_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "v20.db"
    store = SQLiteStore(path)
    before = shop.reading(shop.record(store))
    expected = shop.keep_tallies(store)
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_20(conn)
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "member_tallies" not in tables
        held = {str(k) for (k,) in conn.execute("SELECT key FROM tallies")}
    shop.check_reopened(SQLiteStore(path), SCHEMA_VERSION, before)
    shop.check_tallies_moved(SQLiteStore(path), expected, held, _table_rows(path))
