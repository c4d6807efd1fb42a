"""SQLite schema 23: an entry's till and recording times as integer microseconds since 1970, and
a purchase's record in its entry without what the entry says (layout 3); files of schema 22
upgraded to it replay, return, explain, verify and add up as before."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from loyalty import Engine, Line, Program, Purchase
from loyalty.ledger import Entry
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.migrations import SCHEMA_VERSION
from tests import shop
from tests.sqlite_files import has_shape_of_schema
from tests.tampering import as_sqlite_schema_22

_TYPES = "SELECT DISTINCT typeof(kind), typeof(occurred_at), typeof(recorded_at) FROM entries"
_LAYOUTS = "SELECT DISTINCT json_extract(record, '$[2]') FROM entries WHERE record IS NOT NULL"


def _ledger(path: Path) -> list[Entry]:
    with SQLiteStore(path) as store, store.unit_of_work(readonly=True) as uow:
        return uow.entries()


def test_a_version_22_file_keeps_its_entries_and_their_chain_once_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "v22.db"
    receipts, voided, before = shop.recorded_and_returned(SQLiteStore(path))
    entries = _ledger(path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute(_TYPES).fetchall() == [("integer", "integer", "integer")]
        assert conn.execute(_LAYOUTS).fetchall() == [(3,)]
        as_sqlite_schema_22(conn)
        assert has_shape_of_schema(conn, 22, tmp_path)
        assert conn.execute(_TYPES).fetchall() == [("text", "text", "text")]
        assert conn.execute(_LAYOUTS).fetchall() == [(2,)]
    shop.check_records_upgraded(lambda: SQLiteStore(path), SCHEMA_VERSION, receipts, voided, before)
    upgraded = _ledger(path)
    assert upgraded[: len(entries)] == entries
    assert [(e.occurred_at.utcoffset(), e.recorded_at.utcoffset()) for e in upgraded[: len(entries)]] == [
        (e.occurred_at.utcoffset(), e.recorded_at.utcoffset()) for e in entries
    ]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute(_TYPES).fetchall() == [("integer", "integer", "integer")]
        # The records kept before stay as they were; the purchase recorded since is of layout 3.
        assert sorted(conn.execute(_LAYOUTS).fetchall()) == [(2,), (3,)]
    with Engine(shop.PROGRAM, SQLiteStore(path), clock=lambda: shop.AT) as engine:
        assert engine.verify().ok


def test_the_periods_count_an_entry_by_its_instant_to_the_microsecond(tmp_path: Path) -> None:
    # Integers compare as the instants do, before 1970 and in any offset.
    minus5 = timezone(timedelta(hours=-5))
    edge = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    times = (edge - timedelta(microseconds=1), edge.astimezone(minus5), edge + timedelta(microseconds=1))
    with Engine(Program("Club", "EUR"), SQLiteStore(tmp_path / "club.db"), clock=lambda: times[-1]) as engine:
        engine.enroll("M1", at=times[0] - timedelta(days=1))
        for n, at in enumerate(times):
            engine.record_purchase(Purchase(f"P{n}", "M1", at, [Line("x", 1, Decimal(10**n))], "EUR"))
        at_edge = engine.figures(edge, edge + timedelta(microseconds=1))
        assert (at_edge.purchases, at_edge.issued) == (1, 10)
        before = engine.figures(times[0], edge)
        assert (before.purchases, before.issued, before.outstanding) == (1, 1, 1)
        assert [e.occurred_at for e in engine.history("M1")] == list(times)
        assert engine.history("M1")[1].occurred_at.utcoffset() == timedelta(hours=-5)
