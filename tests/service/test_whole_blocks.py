"""Whole-block rounding through the engine on every adapter: purchases, retries, quotes and returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import EarnRate, Engine, Line, Multiplier, Program, Purchase, Receipt, SpendRule
from loyalty.returns import Return, Returned
from loyalty.store import Store

T0 = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)
BLOCKS = EarnRate(1, Decimal("10.00"), whole_blocks=True)


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def engine_for(store: Store, program: Program) -> Engine:
    engine = Engine(program, store, clock=lambda: T0)
    engine.enroll("M1", at=T0 - timedelta(days=30))
    return engine


def sale(key: str, *lines: Line) -> Purchase:
    return Purchase(key, "M1", T0, lines, "EUR")


def test_a_purchase_earns_only_whole_blocks_of_its_basket(store: Store) -> None:
    engine = engine_for(store, Program("Club", "EUR", rate=BLOCKS))
    lines = (Line("bread", 1, Decimal("5.00")), Line("milk", 1, Decimal("9.00")))
    quoted = engine.quote(sale("P1", *lines))
    receipt = engine.record_purchase(sale("P1", *lines))
    assert receipt.points == quoted.points == 1  # 14.00: one block of 10.00, 4.00 earns nothing
    assert receipt.breakdown[1].detail == "1 point per 10.00 EUR on milk 9.00, 1 whole block in 14.00"
    assert engine.record_purchase(sale("P1", *lines)) == receipt  # a retry
    assert Receipt.from_dict(receipt.to_dict()) == receipt
    assert engine.balance("M1").available == 1


def test_a_rules_blocks_and_a_multiplier_on_its_lines(store: Store) -> None:
    rules = [
        SpendRule(id="garden", points=10, per=Decimal("25.00"), categories=["garden"], whole_blocks=True),
        Multiplier(id="x3", factor=3, categories=["garden"]),
    ]
    engine = engine_for(store, Program("Club", "EUR", rate=None, rules=rules))
    lines = (
        Line("spade", 1, Decimal("30.00"), category="garden"),
        Line("rake", 1, Decimal("30.00"), category="garden"),
    )
    # 60.00 of garden: 2 blocks of 25.00, 20 points, tripled: 60.
    assert engine.record_purchase(sale("P1", *lines)).points == 60


def test_a_return_recomputes_the_blocks_of_what_is_left(store: Store) -> None:
    engine = engine_for(store, Program("Club", "EUR", rate=BLOCKS))
    engine.record_purchase(sale("P1", Line("cup", 3, Decimal("7.00"))))  # 21.00: 2 points
    back = engine.record_return(Return("R1", "P1", T0, (Returned("cup", 1),)))
    assert (back.earned, back.now_earns, back.taken_back) == (2, 1, 1)  # 14.00 left: 1 block


def test_a_proportional_return_takes_the_whole_blocks_returned(store: Store) -> None:
    engine = engine_for(store, Program("Club", "EUR", rate=BLOCKS, returns="proportional"))
    engine.record_purchase(sale("P1", Line("cup", 3, Decimal("7.00"))))
    first = engine.record_return(Return("R1", "P1", T0, (Returned("cup", 1),)))
    assert first.taken_back == 0  # 7.00 back: no whole block
    second = engine.record_return(Return("R2", "P1", T0, (Returned("cup", 1),)))
    assert second.taken_back == 1  # 14.00 back so far: one block
