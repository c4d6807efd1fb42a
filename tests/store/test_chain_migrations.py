"""A ledger written before entries were chained (SQLite schema 14, PostgreSQL 13) is chained from
each member's first entry when the store is opened: it verifies clean, new entries chain onto it,
and an old entry edited afterwards is caught."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from loyalty import Engine, Line, Program, Purchase
from loyalty.chains import Break
from loyalty.store import Store
from loyalty.store.postgres import SCHEMA_VERSION as POSTGRES_VERSION
from loyalty.store.postgres import open_postgres
from loyalty.store.sqlite import SCHEMA_VERSION as SQLITE_VERSION
from loyalty.store.sqlite import SQLiteStore
from tests.pg import postgres_dsn, schema_of
from tests.tampering import (
    PostgresTamperer,
    SQLiteTamperer,
    Tamperer,
    as_postgres_schema_13,
    as_sqlite_schema_14,
)

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _basket(pid: str, member: str, euros: str) -> Purchase:
    return Purchase(pid, member, T0, [Line("cake", 1, Decimal(euros))], "EUR")


def _write_history(store: Store) -> list[tuple[str, int]]:
    """Three members' history (one has none); the (member, seq) of every entry."""
    with Engine(Program("Club", "EUR"), store, clock=lambda: T0) as engine:
        for member in ("M1", "M2", "M3"):
            engine.enroll(member, at=T0)
        engine.record_purchase(_basket("T1", "M1", "20.00"))
        engine.record_purchase(_basket("T2", "M2", "7.50"))
        engine.redeem("M1", 5, id="R1", at=T0)
        engine.adjust("M2", 3, id="A1", at=T0, reason="goodwill", actor="ops")
        return [(e.member_id, e.seq) for e in engine.entries()]


def _check_chained(store: Store, tamperer: Tamperer, written: list[tuple[str, int]]) -> None:
    with Engine(Program("Club", "EUR"), store, clock=lambda: T0) as engine:
        report = engine.verify()
        assert (report.ok, report.entries, report.members) == (True, 4, 3)
        # New entries chain onto the heads the migration set.
        engine.record_purchase(_basket("T3", "M1", "10.00"))
        engine.record_purchase(_basket("T4", "M3", "4.00"))
        assert engine.verify().ok
        member, seq = written[2]  # M1's redemption, chained by the migration
        tamperer.edit(seq, "points", "M2")
        assert engine.verify().breaks == (Break(member, seq, "link"),)


def test_an_sqlite_file_of_schema_14_is_chained_from_its_first_entries(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    written = _write_history(SQLiteStore(path))
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_14(conn)
    store = SQLiteStore(path)
    try:
        assert store.schema_version() == SQLITE_VERSION == 25
        with closing(sqlite3.connect(path)) as conn:
            # Kept apart (the ledger is never rewritten): one link per entry from before.
            assert conn.execute("SELECT COUNT(*) FROM kept_links").fetchone()[0] == len(written)
            assert conn.execute("SELECT COUNT(*) FROM entries WHERE link IS NOT NULL").fetchone()[0] == 0
        _check_chained(store, SQLiteTamperer(path), written)
    finally:
        store.close()


def test_a_postgres_schema_of_version_13_is_chained_from_its_first_entries(schema_url: str) -> None:
    written = _write_history(open_postgres(schema_url))
    as_postgres_schema_13(postgres_dsn(), schema_of(schema_url))
    store = open_postgres(schema_url)
    try:
        assert store.schema_version() == POSTGRES_VERSION == 23
        _check_chained(store, PostgresTamperer(postgres_dsn(), schema_of(schema_url)), written)
    finally:
        store.close()
