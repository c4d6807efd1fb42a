"""What an SQLite store refuses: ledger edits, work once closed or read-only, a locked file's driver error."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loyalty import Engine, Member, Program, StorageError
from loyalty.store import UnitOfWork
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.erasure import ErasingConnection

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


def test_an_erasure_renames_the_members_entries_without_touching_the_ledgers_guard(
    tmp_path: Path,
) -> None:
    # Schema 19: no trigger is dropped or made; the guard lets the rename through because the
    # erasure's connection says, through loyalty_erasing(), which member it renames into what.
    path = tmp_path / "e.db"
    schema = "SELECT name, sql FROM sqlite_master ORDER BY name"
    with closing(sqlite3.connect(path)) as conn, Engine(Program("P", "EUR"), SQLiteStore(path)) as engine:
        engine.enroll("+31612345678", at=T0)
        engine.enroll("M2", at=T0)
        engine.adjust("+31612345678", 10, id="A1", at=T0, reason="x", actor="y")
        engine.adjust("M2", 10, id="A2", at=T0, reason="x", actor="y")
        before = conn.execute(schema).fetchall()
        hidden = engine.erase("+31612345678", id="E1", at=T0, reason="r", actor="dpo").pseudonym
        assert conn.execute(schema).fetchall() == before
        members = "SELECT DISTINCT member_id FROM entries ORDER BY member_id"
        assert conn.execute(members).fetchall() == [("M2",), (hidden,)]
        # Another connection cannot rename an entry: it has no loyalty_erasing().
        for statement in (
            f"UPDATE entries SET member_id = 'x' WHERE member_id = '{hidden}'",
            "UPDATE entries SET source_id = 'x'",
        ):
            with pytest.raises(sqlite3.OperationalError, match="loyalty_erasing"):
                conn.execute(statement)
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("UPDATE entries SET points = 1000")


def _connection(uow: UnitOfWork) -> ErasingConnection:
    conn = getattr(uow, "_conn", None)
    assert isinstance(conn, ErasingConnection)
    return conn


def test_the_ledgers_guard_lets_only_the_named_rename_through(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "g.db")
    engine = Engine(Program("P", "EUR"), store, clock=lambda: T0)
    for member in ("M1", "M2"):
        engine.enroll(member, at=T0)
        engine.adjust(member, 10, id=f"A-{member}", at=T0, reason="x", actor="y")
    kept = "INSERT INTO kept_texts (seq, digest) SELECT seq, x'00' FROM entries"
    refused = [
        (None, "UPDATE entries SET member_id = 'P' WHERE member_id = 'M1'"),  # no erasure
        (("M1", "P"), "UPDATE entries SET member_id = 'Q' WHERE member_id = 'M1'"),  # another name
        (("M1", "P"), "UPDATE entries SET member_id = 'P' WHERE member_id = 'M2'"),  # another member
        (("M1", "P"), "UPDATE entries SET source_id = 'x' WHERE member_id = 'M2'"),
        (("M1", "P"), "UPDATE entries SET member_id = 'P', points = 1 WHERE member_id = 'M1'"),
    ]
    for renaming, statement in refused:
        with pytest.raises(StorageError, match="immutable"), store.unit_of_work() as uow:
            conn = _connection(uow)
            conn.execute(kept)
            conn.renaming.pair = renaming
            try:
                conn.execute(statement)
            finally:
                conn.renaming.pair = None
    # Without a kept digest, not even the named rename.
    with pytest.raises(StorageError, match="immutable"), store.unit_of_work() as uow:
        conn = _connection(uow)
        conn.renaming.pair = ("M1", "P")
        try:
            conn.execute("UPDATE entries SET member_id = 'P' WHERE member_id = 'M1'")
        finally:
            conn.renaming.pair = None
    with store.unit_of_work() as uow:
        conn = _connection(uow)
        conn.execute(kept)
        # (Into a member that exists: the entries' member is a foreign key.)
        conn.renaming.pair = ("M1", "M2")
        conn.execute("UPDATE entries SET member_id = 'M2', source_id = 'S' WHERE member_id = 'M1'")
        conn.renaming.pair = None
        assert conn.execute("SELECT member_id, source_id FROM entries ORDER BY seq").fetchall() == [
            ("M2", "S"),
            ("M2", "A-M2"),
        ]
    store.close()


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
