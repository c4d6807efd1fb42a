"""SQLite schema 18: the lot a credit opens kept in its entry's row, and files of schema 17
upgraded to it (their lots moved into their entries where the entry says all of the lot)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from loyalty import Engine, Line, Program, Purchase, balance_of
from loyalty.expiry import Expiry, ExpiryPolicy
from loyalty.lots import lots_of
from loyalty.store.rows import LOT_COLUMNS, lot_from_row
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.migrations import SCHEMA_VERSION
from tests import shop
from tests.sqlite_files import has_shape_of_schema
from tests.tampering import as_sqlite_schema_17

MEMBERS = (*shop.MEMBERS, "k", "m")


def _as_schema_17(path: Path, tmp_path: Path) -> list[tuple[object, ...]]:
    """The file at ``path`` taken back to schema 17; the rows of its lots."""
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_17(conn)
        assert has_shape_of_schema(conn, 17, tmp_path)
        return conn.execute(f"SELECT {LOT_COLUMNS} FROM lots ORDER BY lot").fetchall()


def test_a_purchase_keeps_its_lot_in_its_entry_and_no_row_of_lots(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "shop.db")
    engine = shop.record(store)
    lots = {member: engine.lots(member) for member in shop.MEMBERS}
    assert sum(len(open_lots) for open_lots in lots.values()) == 6
    store.close()
    with closing(sqlite3.connect(tmp_path / "shop.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM lots").fetchone() == (0,)
        kept = conn.execute(
            "SELECT seq, opened, remaining FROM entries WHERE remaining IS NOT NULL ORDER BY seq"
        ).fetchall()
    # Six purchases opened a lot each; R1 drew 7 points from a's first one (its entry opens none)
    # and capturing H1 will draw 3 from b's.
    assert [remaining for _, _, remaining in kept] == [3, 17, 30, 40, 50, 60]
    assert {opened for _, opened, _ in kept} == {None}  # every lot has its entry's points
    assert [lot.id for member in shop.MEMBERS for lot in lots[member]] == [1, 3, 5, 2, 6, 4]


def test_a_version_17_file_moves_its_lots_into_their_entries_and_replays_returns_and_explains(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v17.db"
    receipts, voided, before = shop.recorded_and_returned(SQLiteStore(path))
    kept = _as_schema_17(path, tmp_path)
    assert len(kept) == 9
    with SQLiteStore(path) as store, store.unit_of_work(readonly=True) as uow:
        assert store.schema_version() == SCHEMA_VERSION
        # Every lot reads back as it was, open or closed, and the open ones in their order.
        assert [uow.lot(lot.member_id, lot.id) for lot in map(lot_from_row, kept)] == list(
            map(lot_from_row, kept)
        )
        assert uow.open_lots(limit=100) == [lot for lot in map(lot_from_row, kept) if lot.remaining]
        for member in MEMBERS:
            assert uow.lots(member) == lots_of(uow.history(member))
    with closing(sqlite3.connect(path)) as conn:
        # Each lot's entry says all of it: none is left in lots.
        assert conn.execute("SELECT COUNT(*) FROM lots").fetchone() == (0,)
        moved = conn.execute("SELECT COUNT(*) FROM entries WHERE remaining IS NOT NULL").fetchone()
        assert moved == (len(kept),)
    shop.check_records_upgraded(lambda: SQLiteStore(path), SCHEMA_VERSION, receipts, voided, before)
    with Engine(shop.RULED, SQLiteStore(path), clock=lambda: shop.AT) as engine:
        assert engine.verify().ok
        for member in MEMBERS:
            assert engine.lots(member) == lots_of(engine.history(member))


def test_a_version_17_file_keeps_a_debt_in_its_entry_and_repays_it(tmp_path: Path) -> None:
    path = tmp_path / "v17.db"
    store = SQLiteStore(path)
    engine = shop.indebted(store)
    lots = {member: engine.lots(member) for member in ("d", "e")}
    store.close()
    kept = _as_schema_17(path, tmp_path)
    with closing(sqlite3.connect(path)) as conn:
        (debt,) = (row for row in kept if int(str(row[3])) < 0)
        # A return that drew on a lot and opened a debt: the debt's points are not the entry's.
        assert conn.execute("SELECT points, draws FROM entries WHERE seq = ?", (debt[0],)).fetchone()[1]
    shop.check_debts_reopened(SQLiteStore(path), SCHEMA_VERSION, lots)
    with closing(sqlite3.connect(path)) as conn:
        # The lots whose entries drew on others first stay where they were (the migration moves
        # only what an entry without draws says); the new ones are in their entries.
        left = {row[0] for row in conn.execute("SELECT lot FROM lots")}
        assert debt[0] in left
        drew = {row[0] for row in conn.execute("SELECT seq FROM entries WHERE draws IS NOT NULL")}
        assert left <= drew
        assert conn.execute("SELECT remaining FROM entries WHERE source_id = 'd3'").fetchone() == (15,)
    with Engine(shop.IN_DEBT, SQLiteStore(path), clock=lambda: shop.AT) as engine:
        assert engine.verify().ok
        assert [engine.balance(m).total for m in ("d", "e")] == [
            balance_of(engine.history(m)) for m in ("d", "e")
        ]


def test_a_redated_lot_leaves_its_entry_for_lots_and_agrees_with_the_ledger(tmp_path: Path) -> None:
    program = Program("Club", "EUR", expiry=Expiry(ExpiryPolicy.INACTIVITY, months=6))
    start = datetime(2024, 1, 31, 12, tzinfo=UTC)
    now = [start]
    path = tmp_path / "rolling.db"
    with Engine(program, SQLiteStore(path), clock=lambda: now[0]) as engine:
        engine.enroll("M1", at=start - timedelta(days=1))
        engine.record_purchase(Purchase("P1", "M1", start, [Line("x", 1, Decimal("100"))], "EUR"))
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("SELECT COUNT(*) FROM lots").fetchone() == (0,)
        now[0] = start + timedelta(days=100)
        engine.record_purchase(Purchase("P2", "M1", now[0], [Line("x", 1, Decimal("50"))], "EUR"))
        # Both expire six months after P2, P1's moved on from six months after itself.
        (deadline,) = {lot.expires_at for lot in engine.lots("M1")}
        assert [lot.points for lot in engine.lots("M1")] == [100, 50]
        assert deadline is not None and deadline > now[0] + timedelta(days=180)
        assert engine.lots("M1") == lots_of(engine.history("M1"))
        engine.redeem("M1", 120, id="R1", at=now[0])
        assert [lot.remaining for lot in engine.lots("M1")] == [30]
        assert engine.lots("M1") == lots_of(engine.history("M1"))
        assert engine.verify().ok
    with closing(sqlite3.connect(path)) as conn:
        # P1's lot was redated by P2: it moved out of its entry, P2's stays in its own.
        assert conn.execute("SELECT lot, remaining FROM lots").fetchall() == [(1, 0)]
        assert conn.execute(
            "SELECT source_id, remaining FROM entries WHERE remaining IS NOT NULL"
        ).fetchall() == [("P2", 30)]


def test_an_entry_keeps_its_recording_time_as_microseconds_and_reads_it_back_exactly(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    plus2 = timezone(timedelta(hours=2))
    recorded = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC).astimezone(plus2)
    with Engine(Program("Club", "EUR"), SQLiteStore(path), clock=lambda: recorded) as engine:
        engine.enroll("M1", at=recorded)
        engine.adjust("M1", 5, id="A1", at=recorded, reason="welcome", actor="staff")
        engine.record_purchase(Purchase("P1", "M1", recorded, [Line("x", 1, Decimal("3"))], "EUR"))
        entries = engine.history("M1")
        offset = plus2.utcoffset(None)
        assert [(e.recorded_at, e.recorded_at.utcoffset()) for e in entries] == [(recorded, offset)] * 2
        with closing(sqlite3.connect(path)) as conn:
            # An INTEGER since schema 22 (16 digits of TEXT from schema 18 to 21).
            assert conn.execute("SELECT recorded_at FROM entries").fetchall() == [(-1,), (-1,)]
            as_sqlite_schema_17(conn)
            assert (
                conn.execute("SELECT recorded_at FROM entries").fetchall()
                == [("1969-12-31T23:59:59.999999+00:00",)] * 2
            )
    with Engine(Program("Club", "EUR"), SQLiteStore(path), clock=lambda: recorded) as engine:
        # Both kinds of text read back alike; the record in P1's entry too.
        engine.adjust("M1", 1, id="A2", at=recorded, reason="welcome", actor="staff")
        assert [e.recorded_at for e in engine.history("M1")] == [recorded] * 3
        assert (
            engine.record_purchase(Purchase("P1", "M1", recorded, [Line("x", 1, Decimal("3"))], "EUR")).points
            == 3
        )
        assert engine.verify().ok
