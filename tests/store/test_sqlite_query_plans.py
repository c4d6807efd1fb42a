"""SQLite reads a balance through its indexes, never through the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Program, Purchase, balance_of
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite import statements as sql_statements

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Engine", "EUR")


def sale(pid: str, euros: str) -> Purchase:
    return Purchase(pid, "M1", T0, [Line("sku", 1, Decimal(euros))], "EUR")


def test_sqlite_balance_reads_no_ledger_and_only_indexed_lots(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "balance.db", synchronous="normal")
    engine = Engine(PROGRAM, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    for i in range(300):
        engine.record_purchase(sale(f"P{i}", "1.00"))
    statements: list[str] = []
    with store._connection() as conn:  # the idle connection the next unit of work reuses
        conn.set_trace_callback(statements.append)
    try:
        assert engine.balance("M1").available == 300
    finally:
        conn.set_trace_callback(None)
    reads = [s for s in statements if s.startswith("SELECT")]
    # One statement: the maintained total and open holds' points (the member's row), the pending
    # and past-due lots through their date indexes (in their entries' rows from schema 18, and in
    # lots for a member whose row says it has some there).
    assert len(reads) == 1
    for read in reads:
        steps = [str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {read}")]
        searches = [step for step in steps if "SEARCH" in step]
        assert all(("USING" in step and "INDEX" in step) or "PRIMARY KEY" in step for step in searches)
        assert not [step for step in steps if "SCAN" in step], steps
        assert not [step for step in steps if "holds" in step], steps
        # The entries are read through the covering indexes of the lots they keep (schema 19),
        # never the ledger's own, nor an entry's row.
        ledger = [step for step in steps if step.startswith("SEARCH entries")]
        assert len(ledger) == 2, steps
        assert all("USING COVERING INDEX" in s for s in ledger), ledger
        assert all(("entries_due_by_member" in s or "entries_vesting" in s) for s in ledger), ledger
    assert balance_of(engine.history("M1")) == 300
    store.close()


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("SPENDABLE_DATED", "lots_spendable"),
        ("SPENDABLE_UNDATED", "lots_spendable"),
        ("SPENDABLE_DATED", "entries_spendable"),
        ("SPENDABLE_UNDATED", "entries_spendable"),
        ("OPEN_LOTS", "entries_spendable"),
        ("OPEN_LOTS", "entries_debts"),
        ("DUE_LOTS", "entries_due"),
        ("MEMBER_DUE_LOTS", "entries_due_by_member"),
        ("PERIOD_PURCHASES", "operations_purchases"),
        ("PERIOD_PURCHASES", "entries_by_time"),
        ("POINTS_BEFORE", "entries_by_time"),
        ("LEDGER_SPAN", "entries_by_time"),
    ],
)
def test_the_reads_that_cost_what_they_return_search_their_index(
    tmp_path: Path, query: str, index: str
) -> None:
    store = SQLiteStore(tmp_path / "plans.db")
    statement = getattr(sql_statements, query)
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
        "lo_at": "x",
        "hi_at": "x",
        "first_at": "x",
        "until": "x",
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
