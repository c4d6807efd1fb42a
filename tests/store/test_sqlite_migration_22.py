"""SQLite schema 22: a purchase's own tallies and a lot's expiry reminder kept with their member
in ``member_tallies``, so that a return, a redemption against a purchase and a reminder write no
row of ``tallies``; files of schema 21 upgraded to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from loyalty.store import Store
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.migrations import SCHEMA_VERSION
from tests import purchase_tallies, shop
from tests.sqlite_files import previous_schema_file, shape_of
from tests.tampering import as_sqlite_schema_21


def _rows(path: Path) -> tuple[set[tuple[str, str]], set[str]]:
    """The (member, key) of ``member_tallies`` and the keys of ``tallies``."""
    with closing(sqlite3.connect(path)) as conn:
        owned = {(str(m), str(k)) for m, k in conn.execute("SELECT member_id, key FROM member_tallies")}
        return owned, {str(k) for (k,) in conn.execute("SELECT key FROM tallies")}


@pytest.mark.parametrize("scenario", list(purchase_tallies.SCENARIOS))
def test_a_purchases_and_a_lots_own_tallies_are_written_with_the_member_not_to_tallies(
    tmp_path: Path, scenario: str
) -> None:
    path = tmp_path / "shop.db"
    write: Callable[[Store], set[str]] = purchase_tallies.SCENARIOS[scenario]
    store = SQLiteStore(path)
    families = write(store)
    store.close()
    owned, shared = _rows(path)
    assert shared == set()  # under these programs nothing else is kept there either
    assert {key.partition("|")[0] for _, key in owned if purchase_tallies.of_family(key)} == families
    assert all(
        member == "M1" and key.endswith("\x1fM1") for member, key in owned if purchase_tallies.of_family(key)
    )


def test_a_version_21_file_keeps_a_purchases_and_a_lots_tallies_under_the_member_once_upgraded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v21.db"
    store = SQLiteStore(path)
    purchase_tallies.history(store)
    expected = shop.keep_tallies(store)  # keys of no purchase stay where they are
    store.close()
    moved = {key for _, key in _rows(path)[0] if purchase_tallies.of_family(key)}
    assert {key.partition("|")[0] for key in moved} == set(purchase_tallies.FAMILIES)
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_21(conn)
        fresh = tmp_path / "fresh-v21.db"
        previous_schema_file(fresh, 21)
        with closing(sqlite3.connect(fresh)) as v21:
            assert shape_of(conn) == shape_of(v21)
    held = _rows(path)[1]
    assert {key.partition("\x1f")[0] for key in moved} <= held
    reopened = SQLiteStore(path)
    assert reopened.schema_version() == SCHEMA_VERSION
    reopened.close()
    owned, shared = _rows(path)
    assert {key for _, key in owned if purchase_tallies.of_family(key)} == moved
    assert not [key for key in shared if purchase_tallies.of_family(key) and key != "taken|P404"]
    with SQLiteStore(path) as store, store.unit_of_work(readonly=True) as uow:
        assert uow.tallies(list(shop.TABLE_TALLIES)) == expected
    purchase_tallies.check_history_migrated(SQLiteStore(path))
