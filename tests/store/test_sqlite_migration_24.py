"""SQLite schema 24: an erasure written one member at a time. A referee's row names its referrer as
a plain value (no foreign key: the two are renamed in different members' parts), and an erasure's
record of its other members' parts is among the kinds indexed for finding half-written commands;
files of schema 23 upgraded to it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from loyalty.erasure_parts import KIND
from loyalty.referrals import Referral
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.migrations import SCHEMA_VERSION
from loyalty.transfers import PARTED_KINDS
from tests import shop
from tests.sqlite_files import previous_schema_file, shape_of
from tests.tampering import as_sqlite_schema_23


def _referrer_keys(conn: sqlite3.Connection) -> list[str]:
    return sorted(str(row[3]) for row in conn.execute("PRAGMA foreign_key_list(referrals)"))


def _parts_index(conn: sqlite3.Connection) -> str:
    found = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'operations_parts'").fetchone()
    return str(found[0])


def test_a_version_23_file_keeps_its_referrals_and_finds_erasures_half_written_once_upgraded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v23.db"
    store = SQLiteStore(path)
    before = shop.reading(shop.record(store))
    expected = shop.keep_half_written(store)
    with store.unit_of_work() as uow:
        uow.put_referral(Referral("b", "a", "CODE-A", shop.AT, reason="its referrer a was merged into it"))
        uow.put_referral(Referral("c", "a", "CODE-A", shop.AT))
        uow.commit()
    assert KIND in PARTED_KINDS and expected[KIND]
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        referrals = conn.execute("SELECT * FROM referrals ORDER BY referee").fetchall()
        assert len(referrals) == 2
        as_sqlite_schema_23(conn)
        fresh = tmp_path / "fresh-v23.db"
        previous_schema_file(fresh, 23)
        with closing(sqlite3.connect(fresh)) as v23:
            assert shape_of(conn) == shape_of(v23)
            assert _referrer_keys(conn) == _referrer_keys(v23) == ["referee", "referrer"]
            assert _parts_index(conn) == _parts_index(v23) and KIND not in _parts_index(conn)
    shop.check_reopened(SQLiteStore(path), SCHEMA_VERSION, before)
    store = SQLiteStore(path)
    assert shop.half_written(store) == expected
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT * FROM referrals ORDER BY referee").fetchall() == referrals
        assert _referrer_keys(conn) == ["referee"]
        assert KIND in _parts_index(conn)
