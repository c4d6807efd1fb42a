"""What only the SQLite adapter promises: URLs, pragmas, migrations, immutability, processes, crashes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loyalty import Engine, InvalidInput, Member, Program, StorageError, balance_of, open_store
from loyalty.store.sqlite import SCHEMA_VERSION, SQLiteStore

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import sqlite_worker  # noqa: E402  (a sibling module the spawned children import too)

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_open_store_parses_paths_and_options(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/a.db?synchronous=normal&busy_timeout=2500")
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "a.db"
    with store._connection() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    store.close()
    full = open_store(f"sqlite:///{tmp_path}/b.db")
    assert isinstance(full, SQLiteStore)
    with full._connection() as conn:
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    full.close()


def test_relative_paths_are_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    open_store("sqlite:///rel.db").close()
    assert (tmp_path / "rel.db").exists()


def test_default_store_is_an_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LOYALTY_STORE_URL", raising=False)
    store = open_store()
    assert isinstance(store, SQLiteStore)
    store.close()
    assert (tmp_path / "loyalty.db").exists()


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("sqlite://", "url"),
        ("sqlite:///:memory:", "url"),
        ("sqlite://host/x.db", "url"),
        ("sqlite:///x.db?synchronous=off", "synchronous"),
        ("sqlite:///x.db?busy_timeout=soon", "busy_timeout"),
        ("sqlite:///x.db?journal=delete", "url"),
        ("mysql://x", "url"),
        ("no-scheme", "url"),
    ],
)
def test_bad_urls_are_refused(url: str, field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInput) as info:
        open_store(url)
    assert info.value.field == field
    assert list(tmp_path.iterdir()) == []


def test_schema_is_versioned_and_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    SQLiteStore(path).close()
    store = SQLiteStore(path)
    assert store.schema_version() == SCHEMA_VERSION == 1
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1
    conn.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="upgrade loyalty-engine"):
        SQLiteStore(path)


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
    assert Engine(Program("P", "EUR"), store).balance("M1") == 0
    store.close()


def test_processes_creating_one_file_at_once_all_succeed(tmp_path: Path) -> None:
    with _context().Pool(6) as pool:
        for trial in range(8):
            path = str(tmp_path / f"new-{trial}.db")
            start = time.time() + 0.2  # every worker spins until the same instant, then opens
            results = pool.map(
                sqlite_worker.open_and_enroll, [(path, w, start) for w in range(6)], chunksize=1
            )
            assert results == ["ok"] * 6
            with SQLiteStore(path)._connection() as conn:
                assert conn.execute("SELECT count(*) FROM members").fetchone()[0] == 6
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_short_lived_threads_do_not_leak_connections(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "threads.db", max_idle=4)
    engine = Engine(Program("P", "EUR"), store)
    engine.enroll("M1", at=T0)
    for _ in range(6):
        threads = [threading.Thread(target=engine.balance, args=("M1",)) for _ in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(store._idle) <= 4
    store.close()
    assert store._idle == []


def test_a_read_only_unit_of_work_refuses_writes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "ro.db")
    with pytest.raises(StorageError, match="read-only"), store.unit_of_work(readonly=True) as uow:
        uow.add_member(Member("M1", T0))
    with store.unit_of_work(readonly=True) as uow:
        assert uow.member("M1") is None
    store.close()


def _context() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")


def test_processes_sharing_one_file_lose_no_purchase(tmp_path: Path) -> None:
    path = str(tmp_path / "procs.db")
    Engine(sqlite_worker.PROGRAM, SQLiteStore(path)).enroll("M1", at=T0)
    with _context().Pool(8) as pool:
        pool.starmap(sqlite_worker.purchases, [(path, w, 200) for w in range(8)])
    engine = Engine(sqlite_worker.PROGRAM, SQLiteStore(path))
    assert engine.balance("M1") == 8 * 200 * 2 == balance_of(engine.history("M1"))
    assert len(engine.history("M1")) == 1600


def test_processes_racing_redemptions_never_overdraw(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    engine = Engine(sqlite_worker.PROGRAM, SQLiteStore(path), clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.adjust("M1", 1000, id="seed", at=T0, reason="opening balance", actor="test")
    with _context().Pool(5) as pool:
        won = pool.starmap(sqlite_worker.redemptions, [(path, w, 10) for w in range(5)])
    assert sum(won) == 33
    assert engine.balance("M1") == 10 == balance_of(engine.history("M1"))


@pytest.mark.slow
def test_kill_and_reopen_loses_no_acknowledged_purchase(tmp_path: Path) -> None:
    path = tmp_path / "kill.db"
    Engine(sqlite_worker.PROGRAM, SQLiteStore(path)).enroll("M1", at=T0)
    acknowledged: list[str] = []
    start = 0
    for round_ in range(8):
        child = subprocess.Popen(
            [sys.executable, str(HERE / "sqlite_worker.py"), str(path), "kill", str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        deadline = time.monotonic() + 0.3 + 0.1 * round_
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        acknowledged += rest.split()
        start += 1_000_000
        engine = Engine(sqlite_worker.PROGRAM, SQLiteStore(path))
        history = engine.history("M1")
        recorded = {e.source_id for e in history}
        assert set(acknowledged) <= recorded, "an acknowledged purchase was lost"
        assert engine.balance("M1") == balance_of(history) == len(history)
        # At most one purchase can be committed without its acknowledgement reaching us.
        assert len(recorded - set(acknowledged)) <= round_ + 1
    assert len(acknowledged) > 50
