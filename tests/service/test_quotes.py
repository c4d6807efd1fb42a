"""Quotes and explanations: what recording would give, written nowhere."""

from __future__ import annotations

import pytest

from loyalty import Engine
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import sale


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
