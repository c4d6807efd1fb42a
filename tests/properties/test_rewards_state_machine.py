"""The rewards state machine (the ledger machine with vouchers) on memory and SQLite."""

from __future__ import annotations

from loyalty.store.memory import MemoryStore
from loyalty.testing.rewards_machine import rewards_machine
from tests.properties.test_ledger_state_machine import _TemporarySQLite

TestMemoryRewards = rewards_machine(MemoryStore).TestCase
TestSQLiteRewards = rewards_machine(_TemporarySQLite).TestCase
