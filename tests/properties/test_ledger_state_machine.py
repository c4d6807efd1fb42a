"""The ledger state machine over every adapter."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from hypothesis import settings

from loyalty.store import Closing, UnitOfWork, open_store
from loyalty.store.memory import MemoryStore
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.stateful import ledger_machine
from tests.pg import postgres_dsn, store_schema_url


class _TemporarySQLite(SQLiteStore):
    """An SQLite store in its own temporary folder, removed on close.

    Hypothesis runs many examples per test: each needs its own empty file.
    """

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="loyalty-stateful-"))
        super().__init__(self.folder / "loyalty.db", synchronous="normal")

    def close(self) -> None:
        super().close()
        shutil.rmtree(self.folder, ignore_errors=True)


class _SchemaDroppingStore(Closing):
    """A PostgreSQL store on its own schema, dropped when the store is closed."""

    def __init__(self) -> None:
        url, self._drop = store_schema_url(postgres_dsn())
        self._inner = open_store(url + "&pool_min=1&pool_max=2")

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        return self._inner.unit_of_work(readonly=readonly)

    def close(self) -> None:
        self._inner.close()
        self._drop()


TestMemoryLedger = ledger_machine(MemoryStore).TestCase
TestSQLiteLedger = ledger_machine(_TemporarySQLite).TestCase
TestPostgresLedger = pytest.mark.postgres(ledger_machine(_SchemaDroppingStore).TestCase)
# Each PostgreSQL example migrates a schema of its own (about a third of a second), so the
# default profile runs a fifth of its examples there; the stress profile runs them all.
if os.environ.get("HYPOTHESIS_PROFILE", "default") == "default":
    TestPostgresLedger.settings = settings(max_examples=12)
