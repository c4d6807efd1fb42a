"""What a purchase writes on SQLite: its entry with its idempotency record and its lot in it, and
one update of the member's row, which carries the balance and the tallies every purchase touches."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from loyalty import Engine, Line, Program, Purchase, SpendRule
from loyalty.habits import spent_key
from loyalty.ledger import EntryKind, Posting
from loyalty.rules import Period
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.entries import insert_entry, pending
from loyalty.store.sqlite.statements import INSERT_ENTRY, INSERT_PLAIN_ENTRY
from loyalty.tallies import Tally
from tests import shop

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _traced(store: SQLiteStore, engine: Engine, purchase: Purchase) -> list[str]:
    statements: list[str] = []
    with store._connection() as conn:  # the idle connection the next unit of work reuses
        conn.set_trace_callback(statements.append)
    try:
        engine.record_purchase(purchase)
    finally:
        conn.set_trace_callback(None)
    return [" ".join(s.split()) for s in statements]


def test_a_purchase_writes_its_members_tallies_with_its_balance(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "shop.db", synchronous="normal")
    engine = Engine(Program("Shop", "EUR"), store, clock=lambda: T0 + timedelta(days=60))
    engine.enroll("M1", at=T0)

    def sale(n: int, at: datetime) -> Purchase:
        return Purchase(f"P{n}", "M1", at, [Line("sku", 1, Decimal("2.50"))], "EUR")

    engine.record_purchase(sale(1, T0))
    march = _traced(store, engine, sale(2, T0 + timedelta(days=1)))
    assert [" ".join(s.split()[:3]) for s in march] == [
        "BEGIN IMMEDIATE",
        "SELECT 'purchase', record,",  # the idempotency record, if this is a retry
        "SELECT balance, tallies,",  # the member's balance and tallies, under the write lock
        "UPDATE members SET",  # both, in one statement, numbering the entry
        "INSERT INTO entries",  # with its lot and the idempotency record: no row of lots or operations
        "COMMIT",
    ]
    # A new month: its spend is looked for in the member's own table (a key written before the
    # member enrolled would be there) and March's goes there, out of the row.
    april = _traced(store, engine, sale(3, T0 + timedelta(days=31)))
    assert [
        s.split(" WHERE")[0].split(" VALUES")[0] for s in april if "tallies (" in s or "tallies WHERE" in s
    ] == [
        "SELECT key, count, points FROM member_tallies",
        "INSERT INTO member_tallies (member_id, key, count, points)",
    ]
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tallies([spent_key("M1", "2024-03"), spent_key("M1", "2024-04")]) == {
            spent_key("M1", "2024-03"): Tally(2, Decimal("5.00")),
            spent_key("M1", "2024-04"): Tally(1, Decimal("2.50")),
        }
    store.close()


@pytest.mark.parametrize("budget", [None, 10_000])
def test_a_purchase_under_a_cap_writes_its_members_own_tallies_and_the_tallies_table_only_for_a_budget(
    tmp_path: Path, budget: int | None
) -> None:
    store = SQLiteStore(tmp_path / "shop.db", synchronous="normal")
    rule = SpendRule(id="double", points=2, cap=500, cap_period=Period.MONTH, budget=budget)
    engine = Engine(Program("Shop", "EUR", rules=[rule]), store, clock=lambda: T0 + timedelta(days=60))
    engine.enroll("M1", at=T0)
    engine.record_purchase(Purchase("P1", "M1", T0, [Line("sku", 1, Decimal("2.50"))], "EUR"))
    traced = _traced(store, engine, Purchase("P2", "M1", T0, [Line("sku", 1, Decimal("2.50"))], "EUR"))
    writes = sorted(" ".join(s.split()[:3]) for s in traced if s.startswith(("INSERT", "UPDATE", "DELETE")))
    # The cap is the member's own (cap|double|2024-03|M1), beside its other rows; only a budget,
    # counted across members, is written to the tallies table.
    expected = ["INSERT INTO entries", "INSERT INTO member_tallies", "UPDATE members SET"]
    assert writes == sorted([*expected, *(["INSERT INTO tallies"] if budget else [])])
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tallies(["cap|double|2024-03|M1"]) == {"cap|double|2024-03|M1": Tally(0, Decimal(10))}
    store.close()


def test_only_what_writes_no_entry_keeps_its_record_as_an_operation(tmp_path: Path) -> None:
    shop.kept_apart(SQLiteStore(tmp_path / "shop.db"))
    with closing(sqlite3.connect(tmp_path / "shop.db")) as conn:
        carried = conn.execute("SELECT source_id FROM entries WHERE record IS NOT NULL").fetchall()
        kept = conn.execute("SELECT key, kind FROM operations ORDER BY key").fetchall()
    assert carried == [("P1",)]
    assert kept == [("P2", "purchase"), ("R1", "redeem"), ("R2", "redeem")]


def test_a_purchase_of_no_points_keeps_a_compact_record_with_the_ledgers_place(tmp_path: Path) -> None:
    shop.kept_apart(SQLiteStore(tmp_path / "shop.db"))
    with closing(sqlite3.connect(tmp_path / "shop.db")) as conn:
        (body,) = conn.execute("SELECT body FROM operations WHERE key = 'P2'").fetchone()
        (last,) = conn.execute("SELECT seq FROM entries WHERE source_id = 'P1'").fetchone()
    # Layout 4 (loyalty.records): the member, the amount, the layout, then the ledger's last
    # entry when it was recorded, which places it in a history export; not the whole request
    # and result, which was about 750 bytes a purchase on the benchmark's workload.
    assert json.loads(body)[:4] == ["M1", "0.50", 4, last]
    assert len(body) < 200
    store = SQLiteStore(tmp_path / "shop.db")
    with store.unit_of_work(readonly=True) as uow:
        operation = uow.operation("P2")
        assert operation is not None
        assert operation.result["ledger_seq"] == last
        assert operation.result["points"] == 0
    store.close()


def test_an_entry_leaving_the_usual_columns_empty_is_inserted_as_the_full_statement_would(
    tmp_path: Path,
) -> None:
    # A purchase's earn entry goes in by INSERT_PLAIN_ENTRY (NULL written in the statement, not
    # bound): the same row as INSERT_ENTRY with the None values bound.
    store = SQLiteStore(tmp_path / "shop.db", synchronous="normal")
    store.close()
    rules = ("spend",)
    posting = Posting("M1", EntryKind.EARN, 12, T0, T0, "T1", "purchase", rules=rules, program_version="1")
    values = pending(posting, 1, 12, bytes(16)).values
    plain, kept = insert_entry(values, "{}")
    assert plain == INSERT_PLAIN_ENTRY and len(kept) == plain.count("?")
    with closing(sqlite3.connect(tmp_path / "shop.db")) as conn, conn:
        conn.execute(plain, kept)
        conn.execute(INSERT_ENTRY, (2, *values[1:9], "T2", *values[10:], "{}"))  # (a source of its own)
        rows = conn.execute("SELECT * FROM entries ORDER BY seq").fetchall()
    assert [row[:9] + row[10:] for row in rows] == [(seq, *rows[0][1:9], *rows[0][10:]) for seq in (1, 2)]
    drawn = attrs.evolve(posting, kind=EntryKind.REDEEM, points=-5, draws=((1, -5),))
    assert insert_entry(pending(drawn, 3, 7, bytes(16)).values, None)[0] == INSERT_ENTRY
