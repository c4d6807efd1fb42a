"""Quotes and explanations: what recording would give, written nowhere."""

from __future__ import annotations

import pytest

from loyalty import Engine, FirstPurchase, IdempotencyConflict, Program
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import engine_for, sale


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


def test_quote_writes_nothing_and_matches_the_recorded_receipt(engine: Engine, store: Store) -> None:
    purchase = sale("P1", "12.34")
    before = snapshot(store, ["M1"], ["P1"])
    quote = engine.quote(purchase)
    assert snapshot(store, ["M1"], ["P1"]) == before
    recorded = engine.record_purchase(purchase)
    assert quote.balance_after is None
    assert recorded.balance_after == 12
    assert recorded.points == quote.points
    assert recorded.breakdown == quote.breakdown


def test_quote_equals_record(store: Store) -> None:
    program = Program("Club", "EUR", rules=[FirstPurchase(id="welcome", points=100)])
    engine = engine_for(store, program)
    quoted = engine.quote(sale("P1"))
    recorded = engine.record_purchase(sale("P1"))
    assert quoted.points == recorded.points == 110
    assert quoted.breakdown == recorded.breakdown
    assert engine.quote(sale("P2")).points == 10
    # A recorded purchase quotes as its retry would answer: the original receipt.
    assert engine.quote(sale("P1")) == engine.explain(sale("P1")) == recorded
    with pytest.raises(IdempotencyConflict):
        engine.quote(sale("P1", "11.00"))
