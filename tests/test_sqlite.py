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
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from loyalty import Engine, InvalidInput, Member, Program, StorageError, balance_of, open_store
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Lot
from loyalty.store import StoredProgram, Tally
from loyalty.store import sqlite as sqlite_module
from loyalty.store.sqlite import _MIGRATIONS, SCHEMA_VERSION, SQLiteStore
from loyalty.tiers import TierState

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import shop  # noqa: E402  (a sibling module)
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
    assert store.schema_version() == SCHEMA_VERSION == 6
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1
    conn.close()


# Schema version 1 exactly as released: migration 1 must never change.
V1_DDL = (
    """CREATE TABLE members (
            member_id TEXT PRIMARY KEY,
            enrolled_at TEXT NOT NULL,
            enrolled_offset INTEGER NOT NULL,
            birthday TEXT,
            attributes TEXT NOT NULL,
            balance INTEGER NOT NULL DEFAULT 0
        )""",
    """CREATE TABLE entries (
            seq INTEGER PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            kind TEXT NOT NULL,
            points INTEGER NOT NULL,
            balance_after INTEGER NOT NULL,
            occurred_at TEXT NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT,
            rule TEXT
        )""",
    "CREATE INDEX entries_by_member ON entries(member_id, seq)",
    """CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    """CREATE TABLE operations (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
)


def test_migration_1_is_unchanged() -> None:
    assert _MIGRATIONS[0] == V1_DDL


def _version_1_file(path: Path) -> None:
    """A file as schema 1 left it: a member, an earn entry with its rule, a redemption, an operation."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for statement in V1_DDL:
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute(
        "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?)",
        ("M1", "2024-03-01T08:30:00+00:00", 3600, "2000-02-29", '{"vip":true}', 30),
    )
    entry = "INSERT INTO entries VALUES (?, 'M1', ?, ?, ?, ?, 7200, ?, 0, ?, ?, NULL, ?)"
    at = "2024-03-01T09:30:00+00:00"
    conn.execute(entry, (1, "earn", 40, 40, at, "2024-03-01T09:31:00+00:00", "P1", "purchase", "base"))
    conn.execute(entry, (2, "redeem", -10, 30, at, "2024-03-01T09:32:00+00:00", "R1", "redemption", None))
    conn.execute(
        "INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?)",
        ("P1", "purchase", "{}", '{"points":40}', "2024-03-01T09:31:00+00:00", 0),
    )
    conn.execute("COMMIT")
    conn.close()


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _version_1_file(path)
    store = SQLiteStore(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 6
        enrolled = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
        occurred = datetime(2024, 3, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))
        with store.unit_of_work(readonly=True) as uow:
            member = uow.member("M1")
            assert member == Member("M1", enrolled, date(2000, 2, 29), {"vip": True})
            assert member is not None and member.birthday_changed_at is None
            assert uow.balance("M1") == 30
            t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
            assert uow.history("M1") == [
                Entry(1, "M1", EntryKind.EARN, 40, 40, occurred, t1, "P1", "purchase", None, ("base",)),
                Entry(2, "M1", EntryKind.REDEEM, -10, 30, occurred, t2, "R1", "redemption"),
            ]
            operation = uow.operation("P1")
            assert operation is not None and operation.result == {"points": 40}
            assert uow.tallies(["k"]) == {"k": Tally()}
            assert uow.program_versions() == []
            # The points from before lots existed: one lot that never expires, numbered by the last entry.
            assert uow.lots("M1") == [Lot(2, "M1", 30, 30, occurred)]
        # Everything new works on the upgraded file.
        with store.unit_of_work() as uow:
            uow.update_member(attrs.evolve(member, birthday=date(2001, 1, 1), birthday_changed_at=T0))
            uow.add_tallies({"k": Tally(1, Decimal("0.5"))})
            uow.add_program_version(StoredProgram("v1", None, {"rules": []}, T0))
            rules = ("base", "bonus")
            entry = uow.append(Posting("M1", EntryKind.EARN, 5, T0, T0, "P2", "purchase", None, rules, "v1"))
            assert uow.tier_state("M1") is None
            uow.put_tier_state(TierState("M1", "gold", "gold", T0, T0, T0))
            uow.commit()
        assert (entry.seq, entry.balance_after) == (3, 35)
        store.close()
        store = SQLiteStore(path)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.due_tier_states(T0) == [TierState("M1", "gold", "gold", T0, T0, T0)]
            assert uow.history("M1", after=2) == [entry]
            assert [(lot.id, lot.remaining) for lot in uow.lots("M1")] == [(2, 30), (3, 5)]
            assert uow.tallies(["k"]) == {"k": Tally(1, Decimal("0.5"))}
            assert [p.version for p in uow.program_versions()] == ["v1"]
            changed = uow.member("M1")
            assert changed is not None and changed.birthday_changed_at == T0
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(6,)]
        # The ledger is still append-only.
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("UPDATE entries SET program_version = 'forged'")
    finally:
        conn.close()


def test_an_upgrade_that_fails_leaves_the_file_at_version_1(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _version_1_file(path)
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE tallies (squatter TEXT)")  # makes migration 2 fail half way
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="tallies"):
        SQLiteStore(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
        columns = {row[1] for row in conn.execute("PRAGMA table_info(entries)")}
        assert "program_version" not in columns
    finally:
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
    assert Engine(Program("P", "EUR"), store).balance("M1").available == 0
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
    assert engine.balance("M1").available == 8 * 200 * 2 == balance_of(engine.history("M1"))
    assert len(engine.history("M1")) == 1600


def test_processes_racing_redemptions_never_overdraw(tmp_path: Path) -> None:
    path = str(tmp_path / "race.db")
    engine = Engine(sqlite_worker.PROGRAM, SQLiteStore(path), clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.adjust("M1", 1000, id="seed", at=T0, reason="opening balance", actor="test")
    with _context().Pool(5) as pool:
        won = pool.starmap(sqlite_worker.redemptions, [(path, w, 10) for w in range(5)])
    assert sum(won) == 33
    assert engine.balance("M1").available == 10 == balance_of(engine.history("M1"))


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
        assert engine.balance("M1").available == balance_of(history) == len(history)
        # At most one purchase can be committed without its acknowledgement reaching us.
        assert len(recorded - set(acknowledged)) <= round_ + 1
    assert len(acknowledged) > 50


# What migration 6 added, taken off a current file again: a file as schema version 5 left it.
V6_INDEXES = ("lots_spendable", "entries_by_time", "operations_purchases", "members_by_enrolment")


def _shape(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Every table's columns and every index's name, by table."""
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        table: [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        + sorted(row[1] for row in conn.execute(f"PRAGMA index_list({table})"))
        for table in tables
    }


def test_a_version_5_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path, v5 = tmp_path / "v5.db", tmp_path / "fresh-v5.db"
    store = SQLiteStore(path)
    before = shop.reading(shop.record(store))
    store.close()
    conn = sqlite3.connect(path)
    for index in V6_INDEXES:
        conn.execute(f"DROP INDEX {index}")
    conn.execute("ALTER TABLE operations DROP COLUMN purchased_micros")
    conn.execute("UPDATE schema_version SET version = 5")
    conn.commit()
    fresh = sqlite3.connect(v5)
    for step in _MIGRATIONS[:5]:
        for statement in step:
            fresh.execute(statement)
    assert _shape(conn) == {**_shape(fresh), "schema_version": ["version"]}
    fresh.close()
    conn.close()
    store = SQLiteStore(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 6
        shop.check_upgraded(store, before)
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        plan = " ".join(
            row[-1]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM operations WHERE kind = 'purchase' AND purchased_micros < 0"
            )
        )
        assert "operations_purchases" in plan, plan
        filled = conn.execute("SELECT COUNT(*) FROM operations WHERE purchased_micros IS NOT NULL").fetchone()
        assert filled == (6,)  # every purchase, nothing else
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("_SPENDABLE_DATED", "lots_spendable"),
        ("_SPENDABLE_UNDATED", "lots_spendable"),
        ("_PERIOD_PURCHASES", "operations_purchases"),
        ("_POINTS_BEFORE", "entries_by_time"),
        ("_LEDGER_SPAN", "entries_by_time"),
    ],
)
def test_the_reads_that_cost_what_they_return_search_their_index(
    tmp_path: Path, query: str, index: str
) -> None:
    store = SQLiteStore(tmp_path / "plans.db")
    statement = getattr(sqlite_module, query)
    names = {
        "m": "M1",
        "now": "x",
        "expires": "x",
        "lot": 1,
        "pending": 0,
        "n": 1,
        "lo": 0,
        "hi": 1,
        "first": 0,
    }
    params = (
        {name: value for name, value in names.items() if f":{name}" in statement}
        if ":" in statement
        else ("x",) * statement.count("?")
    )
    with store._connection() as conn:
        plan = [str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
    store.close()
    assert any(step.startswith("SEARCH") and index in step for step in plan), plan
    tables = {"lots", "entries", "operations", "members", "holds"}
    # No table read whole: a scan of one of them names the index it goes through.
    assert not [
        step for step in plan if step.split()[:2] in [["SCAN", t] for t in tables] and "USING" not in step
    ]
