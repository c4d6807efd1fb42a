"""Quotes and explanations: what recording would give, written nowhere."""

from __future__ import annotations

import pytest

from loyalty import Engine, FirstPurchase, IdempotencyConflict, Program, PurchaseBonus
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


def test_explain_gives_the_same_points_as_quote_with_a_group_around_a_stop(store: Store) -> None:
    # A group is resolved where its first member stands in the rule list. explain() walks all
    # rules (A first), quote()/record walk only candidates (A is not one), so B is evaluated
    # before the stop rule S in explain and after it in quote: 51 points vs 1. explain also
    # lists B both in the breakdown and as "stopped by S".
    program = Program(
        "Club",
        "EUR",
        rate=None,
        rules=[
            PurchaseBonus(id="A", points=100, priority=10, group="G", skus=["X"]),
            PurchaseBonus(id="S", points=1, priority=5, stop=True),
            PurchaseBonus(id="B", points=50, priority=0, group="G"),
        ],
    )
    engine = engine_for(store, program)
    purchase = sale("Q1", "1.00")
    explained = engine.explain(purchase)
    assert explained.points == engine.quote(purchase).points
    skipped = {s.rule for s in explained.skipped}
    assert not skipped & set(explained.rules), "a rule is both given and skipped"


def test_quote_and_explain_write_nothing(store: Store) -> None:
    # A quote is a read, but the first one takes a write transaction (BEGIN IMMEDIATE on
    # SQLite) and stores the program version; on a read-only replica it would fail.
    engine = engine_for(store, Program("Club", "EUR"))
    engine.quote(sale("Q1"))
    engine.explain(sale("Q1"))
    with store.unit_of_work(readonly=True) as uow:
        assert uow.program_versions() == []
