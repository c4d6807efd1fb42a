"""The rewards state machine (the ledger machine with vouchers) on memory and SQLite."""

from __future__ import annotations

from typing import Any

from loyalty.store.memory import MemoryStore
from loyalty.testing.rewards_machine import rewards_machine
from tests.properties.test_ledger_state_machine import _TemporarySQLite

TestMemoryRewards = rewards_machine(MemoryStore).TestCase
TestSQLiteRewards = rewards_machine(_TemporarySQLite).TestCase


def test_the_machine_expects_a_merge_to_refuse_a_member_holding_a_valid_voucher() -> None:
    # The run Hypothesis once found: the model knew holds and pending points, not vouchers.
    machine: Any = rewards_machine(MemoryStore)()
    try:
        machine.a_member_with_points()
        machine.buy_reward(member="M1", reward="coffee")
        machine.enroll(member="M3")
        machine.merge(survivor="M3", absorbed="M1")
        machine.vouchers_agree()
    finally:
        machine.teardown()
