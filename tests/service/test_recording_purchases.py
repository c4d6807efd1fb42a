"""Recording a purchase: the program's rate, the till's own time kept, the engine's clock checked."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import EarnRate, Engine, InvalidDatetime, Program
from loyalty.store import Store
from tests.service.helpers import PROGRAM, T0, sale


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


def test_late_offline_sales_keep_their_till_time(engine: Engine, store: Store) -> None:
    now = [T0]
    engine = Engine(PROGRAM, store, clock=lambda: now[0])
    engine.enroll("M2", at=T0 - timedelta(days=30))  # a member since last month
    engine.record_purchase(sale("today", "10.00", member="M2", at=T0))
    now[0] = T0 + timedelta(minutes=5)
    engine.record_purchase(sale("last-week", "3.00", member="M2", at=T0 - timedelta(days=7)))
    first, second = engine.history("M2")
    assert [e.source_id for e in (first, second)] == ["today", "last-week"]
    assert second.occurred_at == T0 - timedelta(days=7)
    assert second.recorded_at == T0 + timedelta(minutes=5)
    assert second.balance_after == 13


def test_a_naive_engine_clock_is_refused(store: Store) -> None:
    now = [T0]
    engine = Engine(PROGRAM, store, clock=lambda: now[0])
    engine.enroll("M1", at=T0)
    now[0] = datetime(2024, 1, 1)  # the clock breaks
    with pytest.raises(InvalidDatetime) as info:
        engine.record_purchase(sale("P1", "1.00"))
    assert info.value.field == "clock"
    assert engine.history("M1") == []


def test_program_rate_applies(store: Store) -> None:
    engine = Engine(Program("Ten", "EUR", rate=EarnRate(1, Decimal("10.00"))), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    assert engine.record_purchase(sale("P1", "99.99")).points == 9
