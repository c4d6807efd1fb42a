"""The ledger state machine over every adapter (PostgreSQL is in test_store_postgres.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from loyalty.store.memory import MemoryStore
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.stateful import ledger_machine


def _fresh_sqlite() -> SQLiteStore:
    # Hypothesis runs many examples per test: each needs its own empty file.
    return SQLiteStore(
        Path(tempfile.mkdtemp(prefix="loyalty-stateful-")) / "loyalty.db", synchronous="normal"
    )


TestMemoryLedger = ledger_machine(MemoryStore).TestCase
TestSQLiteLedger = ledger_machine(_fresh_sqlite).TestCase
