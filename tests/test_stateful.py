"""The ledger state machine over every adapter."""

from __future__ import annotations

import tempfile
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from loyalty.store import UnitOfWork, open_store
from loyalty.store.memory import MemoryStore
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.stateful import ledger_machine
from pg import fresh_schema_url, postgres_dsn


def _fresh_sqlite() -> SQLiteStore:
    # Hypothesis runs many examples per test: each needs its own empty file.
    folder = Path(tempfile.mkdtemp(prefix="loyalty-stateful-"))
    return SQLiteStore(folder / "loyalty.db", synchronous="normal")


class _SchemaDroppingStore:
    """A PostgreSQL store on its own schema, dropped when the store is closed."""

    def __init__(self) -> None:
        url, self._drop = fresh_schema_url(postgres_dsn())
        self._inner = open_store(url + "&pool_min=1&pool_max=2")

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        return self._inner.unit_of_work(readonly=readonly)

    def close(self) -> None:
        self._inner.close()
        self._drop()


TestMemoryLedger = ledger_machine(MemoryStore).TestCase
TestSQLiteLedger = ledger_machine(_fresh_sqlite).TestCase
TestPostgresLedger = pytest.mark.postgres(ledger_machine(_SchemaDroppingStore).TestCase)

