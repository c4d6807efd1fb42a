"""SQLite schema migrations: versioned, run once, version 1 upgraded in place or left whole, newer refused."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from loyalty import (
    Engine,
    FirstPurchase,
    Line,
    Member,
    Program,
    Purchase,
    StorageError,
    open_store,
)
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Lot
from loyalty.store import StoredProgram, Tally
from loyalty.store.sqlite import SCHEMA_VERSION, SQLiteStore
from loyalty.store.sqlite.migrations import MIGRATIONS
from loyalty.tiers import TierState

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def test_schema_is_versioned_and_reopening_does_not_migrate_again(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    SQLiteStore(path).close()
    store = SQLiteStore(path)
    assert store.schema_version() == SCHEMA_VERSION == 25
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
    assert MIGRATIONS[0] == V1_DDL


def _schema_1_file(path: Path, *rows: tuple[str, tuple[object, ...]]) -> None:
    """An SQLite file at schema version 1 exactly as released, holding ``rows`` (statement, values)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for statement in V1_DDL:
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    for statement, values in rows:
        conn.execute(statement, values)
    conn.execute("COMMIT")
    conn.close()


def _version_1_file(path: Path) -> None:
    """A file as schema 1 left it: a member, an earn entry with its rule, a redemption, an operation."""
    entry = "INSERT INTO entries VALUES (?, 'M1', ?, ?, ?, ?, 7200, ?, 0, ?, ?, NULL, ?)"
    at = "2024-03-01T09:30:00+00:00"
    _schema_1_file(
        path,
        (
            "INSERT INTO members VALUES (?, ?, ?, ?, ?, ?)",
            ("M1", "2024-03-01T08:30:00+00:00", 3600, "2000-02-29", '{"vip":true}', 30),
        ),
        (entry, (1, "earn", 40, 40, at, "2024-03-01T09:31:00+00:00", "P1", "purchase", "base")),
        (entry, (2, "redeem", -10, 30, at, "2024-03-01T09:32:00+00:00", "R1", "redemption", None)),
        (
            "INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?)",
            ("P1", "purchase", "{}", '{"points":40}', "2024-03-01T09:31:00+00:00", 0),
        ),
    )


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _version_1_file(path)
    store = SQLiteStore(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 25
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
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        # The ledger is still append-only.
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            conn.execute("UPDATE entries SET program_version = 'forged'")
    finally:
        conn.close()


# What the issue-2 engine (commit f93a468) kept for one 10.00 purchase by M1: a till may retry it.
_V1_REQUEST = (
    '{"at":"2024-03-01T09:30:00+00:00","currency":"EUR","lines":[{"category":null,"quantity":"1",'
    '"sku":"a","unit_price":"10.00"}],"member_id":"M1","store_id":null,"terminal_id":null}'
)
_V1_RESULT = (
    '{"amount":{"amount":"10.00","currency":"EUR"},"balance_after":10,"breakdown":[{"detail":'
    '"1 point per 1 EUR on 10.00 EUR","points":"10.00","rule":"base"}],"member_id":"M1",'
    '"occurred_at":"2024-03-01T09:30:00+00:00","points":10,"purchase_id":"P1","rounding":"floor",'
    '"rounding_adjustment":"0.00"}'
)


def _issue_2_file(path: Path) -> None:
    """An SQLite file as the issue-2 engine left it after one 10.00 purchase by M1."""
    at = "2024-03-01T09:30:00+00:00"
    _schema_1_file(
        path,
        ("INSERT INTO members VALUES ('M1', ?, 0, NULL, '{}', 10)", (at,)),
        (
            "INSERT INTO entries VALUES (1, 'M1', 'earn', 10, 10, ?, 0, ?, 0, 'P1', 'purchase', NULL,"
            " 'base')",
            (at, at),
        ),
        ("INSERT INTO operations VALUES ('P1', 'purchase', ?, ?, ?, 0)", (_V1_REQUEST, _V1_RESULT, at)),
    )


def _ten_euros(pid: str) -> Purchase:
    return Purchase(pid, "M1", T0, [Line("a", 1, Decimal("10.00"))], "EUR")


def test_a_retry_of_a_purchase_recorded_before_the_upgrade_returns_its_receipt(tmp_path: Path) -> None:
    # The replay record of schema 1 has purchase_id (not source_id) and breakdown rows without
    # a name: structuring it as the new Receipt raises cattrs' ClassValidationError, not even a
    # LoyaltyError, so a till retrying a sale sent just before the upgrade crashes.
    path = tmp_path / "v1.db"
    _issue_2_file(path)
    store = open_store(f"sqlite:///{path}")
    try:
        engine = Engine(Program("Club", "EUR"), store, clock=lambda: T0)
        receipt = engine.record_purchase(_ten_euros("P1"))
        assert (receipt.points, receipt.balance_after) == (10, 10)
    finally:
        store.close()


def test_first_purchase_is_not_given_to_a_member_who_bought_before_the_upgrade(tmp_path: Path) -> None:
    # "First purchase" reads the visits tally, which starts empty on an upgraded file:
    # every existing customer gets the welcome bonus on their next purchase.
    path = tmp_path / "v1.db"
    _issue_2_file(path)
    store = open_store(f"sqlite:///{path}")
    try:
        program = Program("Club", "EUR", rules=[FirstPurchase(id="welcome", points=100)])
        engine = Engine(program, store, clock=lambda: T0)
        receipt = engine.record_purchase(_ten_euros("P2"))
        assert "welcome" not in receipt.rules
        assert receipt.points == 10
    finally:
        store.close()


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


def test_a_store_that_cannot_be_opened_keeps_no_connection_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "future.db"
    SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
        conn.commit()
    opened: list[sqlite3.Connection] = []
    connect = sqlite3.connect

    def tracked(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(connect(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(sqlite3, "connect", tracked)
    with pytest.raises(StorageError, match="upgrade loyalty-engine"):
        SQLiteStore(path)
    assert opened
    for conn in opened:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")
