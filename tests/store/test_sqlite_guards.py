"""What an SQLite store refuses: ledger edits, work once closed or read-only, a locked file's driver error."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loyalty import Engine, Member, Program, StorageError
from loyalty.store.sqlite import SQLiteStore

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_the_ledger_refuses_edits_and_deletes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "l.db")
    engine = Engine(Program("P", "EUR"), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.adjust("M1", 10, id="A1", at=T0, reason="x", actor="y")
    store.close()
    conn = sqlite3.connect(tmp_path / "l.db")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("UPDATE entries SET points = 1000")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        conn.execute("DELETE FROM entries")
    conn.close()


def test_a_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    store.close()
    with pytest.raises(StorageError):
        store.unit_of_work().__enter__()


def test_a_locked_database_is_a_storage_error_not_a_driver_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, busy_timeout_ms=50)
    Engine(Program("P", "EUR"), store).enroll("M1", at=T0)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        engine = Engine(Program("P", "EUR"), store, max_attempts=2)
        with pytest.raises(StorageError):
            engine.adjust("M1", 5, id="A1", at=T0, reason="x", actor="y")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert Engine(Program("P", "EUR"), store).balance("M1").available == 0
    store.close()


def test_a_read_only_unit_of_work_refuses_writes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "ro.db")
    with pytest.raises(StorageError, match="read-only"), store.unit_of_work(readonly=True) as uow:
        uow.add_member(Member("M1", T0))
    with store.unit_of_work(readonly=True) as uow:
        assert uow.member("M1") is None
    store.close()


def test_a_failed_read_is_a_storage_error_and_its_connection_goes_back_idle(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    with pytest.raises(StorageError, match="sqlite: no such table"), store.unit_of_work(readonly=True) as uow:
        uow._conn.execute("SELECT * FROM no_such_table")
    assert len(store._idle) == 1
    assert not store._idle[0].in_transaction
    with store.unit_of_work(readonly=True) as uow:
        assert uow.balance("M1") is None
    assert len(store._idle) == 1
    store.close()


def test_a_unit_of_work_entered_twice_is_refused_and_the_pool_stays_whole(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "x.db"))
    try:
        work = store.unit_of_work(readonly=True)
        with work, pytest.raises(StorageError, match="entered once"):
            work.__enter__()
        # One connection, given back once: the next two units of work get different ones.
        with store.unit_of_work(readonly=True) as first, store.unit_of_work(readonly=True) as second:
            assert first._conn is not second._conn
    finally:
        store.close()
