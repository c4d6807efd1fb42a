"""Each command is one unit of work: a crash leaves nothing behind, a lost race is retried, boundedly."""

from __future__ import annotations

import pytest

from loyalty import ConcurrencyError, Engine, StorageError
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import PROGRAM, T0, CrashingStore, FlakyStore, sale


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


def test_a_crash_inside_a_command_leaves_nothing_behind(engine: Engine, store: Store) -> None:
    engine.record_purchase(sale("P1", "10.00"))
    before = snapshot(store, ["M1"], ["P2", "R1"])
    crashing = Engine(PROGRAM, CrashingStore(store), clock=lambda: T0)
    with pytest.raises(RuntimeError):
        crashing.record_purchase(sale("P2", "25.00"))
    with pytest.raises(RuntimeError):
        crashing.redeem("M1", 5, id="R1", at=T0)
    assert snapshot(store, ["M1"], ["P2", "R1"]) == before
    assert engine.balance("M1").available == 10


def test_lost_races_are_retried(store: Store) -> None:
    flaky = FlakyStore(store, failures=3)
    engine = Engine(PROGRAM, flaky, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    assert engine.record_purchase(sale("P1", "7.00")).points == 7
    assert flaky.attempts == 5  # three lost races, the enrollment's win and the purchase's win


def test_retries_are_bounded(store: Store) -> None:
    Engine(PROGRAM, store).enroll("M1", at=T0)
    engine = Engine(PROGRAM, FlakyStore(store, failures=100), clock=lambda: T0, max_attempts=3)
    with pytest.raises(ConcurrencyError):
        engine.record_purchase(sale("P1", "7.00"))
    assert snapshot(store, ["M1"], ["P1"])["operations"] == {"P1": None}


def test_an_engine_in_a_with_block_closes_its_store_when_the_block_ends(store: Store) -> None:
    with Engine(PROGRAM, store) as engine:
        engine.enroll("M1", at=T0)
    with pytest.raises(StorageError):
        engine.balance("M1")


def test_closing_an_engine_closes_its_store(store: Store) -> None:
    engine = Engine(PROGRAM, store)
    engine.enroll("M1", at=T0)
    engine.close()
    with pytest.raises(StorageError), store.unit_of_work(readonly=True) as uow:
        uow.balance("M1")
