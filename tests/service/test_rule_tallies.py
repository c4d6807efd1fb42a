"""Rules that count across purchases: visits, stamp cards, caps, campaign budgets and carried fractions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, open_store
from loyalty.program import EarnRate, Program
from loyalty.rules import FirstPurchase, PurchaseBonus, SpendRule, StampCard
from loyalty.store import Store
from tests.service.helpers import T0, engine_for, sale

D = Decimal


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


class TestTallies:
    def test_first_purchase_and_stamp_card_count_visits(self, store: Store) -> None:
        program = Program(
            "Cafe",
            "EUR",
            rate=None,
            rules=[FirstPurchase(id="welcome", points=100), StampCard(id="card", points=30, every=3)],
        )
        engine = engine_for(store, program)
        points = [engine.record_purchase(sale(f"P{i}")).points for i in range(7)]
        assert points == [100, 0, 30, 0, 0, 30, 0]
        # A retry changes no count.
        assert engine.record_purchase(sale("P6")).points == 0
        assert [engine.record_purchase(sale(f"P{i}")).points for i in (7, 8)] == [0, 30]

    def test_member_cap_per_month(self, store: Store) -> None:
        program = Program(
            "Club", "EUR", rate=None, rules=[SpendRule(id="r", points=1, cap=25, cap_period="month")]
        )
        engine = engine_for(store, program)
        points = [engine.record_purchase(sale(f"P{i}")).points for i in range(4)]
        assert points == [10, 10, 5, 0]
        april = engine.record_purchase(sale("P9", at=datetime(2024, 4, 1, 12, tzinfo=UTC)))
        assert april.points == 10
        explained = engine.explain(sale("P10"))
        assert [(s.rule, s.reason) for s in explained.skipped] == [("r", "cap of 25/month reached")]

    def test_campaign_budget_across_members(self, store: Store) -> None:
        program = Program("Club", "EUR", rate=None, rules=[PurchaseBonus(id="launch", points=40, budget=100)])
        engine = engine_for(store, program)
        engine.enroll("M2", at=T0)
        engine.enroll("M3", at=T0)
        got = [engine.record_purchase(sale(f"P{m}", member=m)).points for m in ("M1", "M2", "M3")]
        assert got == [40, 40, 20]
        assert engine.record_purchase(sale("P4", member="M1")).points == 0

    def test_carry_across_purchases(self, store: Store) -> None:
        program = Program("Club", "EUR", rate=EarnRate(1, D("10.00")), carry=True)
        engine = engine_for(store, program)
        assert [engine.record_purchase(sale(f"P{i}", "5.00")).points for i in range(4)] == [0, 1, 0, 1]


def test_a_shared_budget_is_never_overspent_by_concurrent_members(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'budget.db'}")
    try:
        program = Program("Club", "EUR", rate=None, rules=[PurchaseBonus(id="launch", points=7, budget=100)])
        engine = Engine(program, store)
        members = [f"M{i}" for i in range(8)]
        for member in members:
            engine.enroll(member, at=T0)

        def buy(member: str) -> int:
            return sum(engine.record_purchase(sale(f"{member}-{n}", member=member)).points for n in range(5))

        with ThreadPoolExecutor(8) as pool:
            total = sum(pool.map(buy, members))
        assert total == 100
    finally:
        store.close()
