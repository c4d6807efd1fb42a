"""Processes and threads on one SQLite file, and a process killed mid-write: nothing acknowledged is lost."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loyalty import Engine, Program, balance_of
from loyalty.store.sqlite import SQLiteStore
from tests import sqlite_worker  # the spawned children import it too

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_processes_creating_one_file_at_once_all_succeed(tmp_path: Path) -> None:
    with _context().Pool(6) as pool:
        for trial in range(4):
            path = str(tmp_path / f"new-{trial}.db")
            start = time.time() + 0.2  # every worker spins until the same instant, then opens
            results = pool.map(
                sqlite_worker.open_and_enroll, [(path, w, start) for w in range(6)], chunksize=1
            )
            assert results == ["ok"] * 6
            with closing(SQLiteStore(path)) as store, store._connection() as conn:
                assert conn.execute("SELECT count(*) FROM members").fetchone()[0] == 6
                assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


class _Contended:
    """A new file's connection whose switch to WAL is refused ``refusals`` times, as while another
    process holds the file (which the test above provokes, but not on demand)."""

    def __init__(self, conn: sqlite3.Connection, refusals: int) -> None:
        self.conn = conn
        self.refusals = refusals

    def execute(self, statement: str) -> sqlite3.Cursor:
        if statement == "PRAGMA journal_mode = WAL" and self.refusals:
            self.refusals -= 1
            raise sqlite3.OperationalError("database is locked")
        return self.conn.execute(statement)


def test_waiting_to_switch_a_new_file_to_wal_is_logged_once_at_info(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="loyalty")
    with closing(SQLiteStore(tmp_path / "store.db", busy_timeout_ms=5_000)) as store:
        caplog.clear()  # (its own migration)
        with closing(sqlite3.connect(tmp_path / "new.db")) as conn:
            contended = _Contended(conn, refusals=3)
            store._enable_wal(contended)  # type: ignore[arg-type]
            assert (contended.refusals, conn.execute("PRAGMA journal_mode").fetchone()[0]) == (0, "wal")
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "loyalty.store.sqlite",
            logging.INFO,
            f"SQLite store {tmp_path / 'store.db'}: switching to WAL failed (OperationalError), "
            "retrying for up to 5000 ms",
        )
    ]


def test_opening_a_file_that_needs_no_migration_does_not_wait_for_its_writers(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    with closing(SQLiteStore(path)) as store:
        engine = Engine(Program("Club", "EUR"), store, clock=lambda: T0)
        engine.enroll("M1", at=T0)
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN IMMEDIATE")  # a till's unit of work, holding the write lock
        started = time.monotonic()
        with closing(SQLiteStore(path, busy_timeout_ms=50)) as other:
            # Opened, and read, under the other's write: it took the write lock to migrate
            # nothing, and gave up past busy_timeout.
            assert Engine(Program("Club", "EUR"), other, clock=lambda: T0).balance("M1").total == 0
        assert time.monotonic() - started < 5
        writer.execute("ROLLBACK")


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


def _context() -> multiprocessing.context.SpawnContext:
    return multiprocessing.get_context("spawn")


def test_processes_sharing_one_file_lose_no_purchase(tmp_path: Path) -> None:
    path = str(tmp_path / "procs.db")
    with closing(SQLiteStore(path)) as store:
        Engine(sqlite_worker.PROGRAM, store).enroll("M1", at=T0)
    with _context().Pool(4) as pool:
        pool.starmap(sqlite_worker.purchases, [(path, w, 200) for w in range(4)])
    with closing(SQLiteStore(path)) as store:
        engine = Engine(sqlite_worker.PROGRAM, store)
        assert engine.balance("M1").available == 4 * 200 * 2 == balance_of(engine.history("M1"))
        assert len(engine.history("M1")) == 800


def test_processes_racing_redemptions_never_overdraw(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    with closing(SQLiteStore(path)) as store:
        engine = Engine(sqlite_worker.PROGRAM, store, clock=lambda: T0)
        engine.enroll("M1", at=T0)
        engine.adjust("M1", 1000, id="seed", at=T0, reason="opening balance", actor="test")
        with _context().Pool(5) as pool:
            won = pool.starmap(sqlite_worker.redemptions, [(path, w, 10) for w in range(5)])
        assert sum(won) == 33
        assert engine.balance("M1").available == 10 == balance_of(engine.history("M1"))


@pytest.mark.slow
def test_kill_and_reopen_loses_no_acknowledged_purchase(tmp_path: Path) -> None:
    path = tmp_path / "kill.db"
    with closing(SQLiteStore(path)) as store:
        Engine(sqlite_worker.PROGRAM, store).enroll("M1", at=T0)
    acknowledged: list[str] = []
    start = 0
    for round_ in range(5):
        child = subprocess.Popen(
            [sys.executable, sqlite_worker.__file__, str(path), "kill", str(start)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        # The window opens once the child has acknowledged its first purchase, so a slow start
        # (a loaded machine importing the package) does not eat it.
        first = child.stdout.readline()
        if first:
            acknowledged.append(first.strip())
        deadline = time.monotonic() + 0.2 + 0.1 * round_
        while first and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.append(line.strip())
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        acknowledged += rest.split()
        start += 1_000_000
        with closing(SQLiteStore(path)) as store:
            engine = Engine(sqlite_worker.PROGRAM, store)
            history = engine.history("M1")
            recorded = {e.source_id for e in history}
            assert set(acknowledged) <= recorded, "an acknowledged purchase was lost"
            assert engine.balance("M1").available == balance_of(history) == len(history)
        # At most one purchase can be committed without its acknowledgement reaching us.
        assert len(recorded - set(acknowledged)) <= round_ + 1
    assert len(acknowledged) > 50
