"""SQLite reads a balance through its indexes, never through the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from loyalty import Engine, Line, Program, Purchase, balance_of
from loyalty.store.sqlite import SQLiteStore

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Engine", "EUR")


def sale(pid: str, euros: str) -> Purchase:
    return Purchase(pid, "M1", T0, [Line("sku", 1, Decimal(euros))], "EUR")


def test_sqlite_balance_reads_no_entries_and_only_indexed_lots(tmp_path: Path) -> None:
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
    # The maintained total, the pending and past-due lots through their date indexes, the open holds.
    assert len(reads) == 4
    assert not any("entries" in read for read in reads)
    for read in reads:
        plan = " ".join(str(row) for row in conn.execute(f"EXPLAIN QUERY PLAN {read}"))
        assert "USING INDEX" in plan or "PRIMARY KEY" in plan, plan
        assert "SCAN" not in plan, plan
    assert balance_of(engine.history("M1")) == 300
    store.close()
