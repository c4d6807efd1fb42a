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
from tests.service.helpers import T0, clocked_engine_for, engine_for, sale

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

    def test_a_stamp_card_visit_without_a_bonus_does_not_stop(self, store: Store) -> None:
        # A stamp collected (0 points) counts as "fired": the stop flag then cancels every
        # later rule on 2 visits out of 3.
        program = Program(
            "Club",
            "EUR",
            rate=None,
            rules=[
                StampCard(id="card", points=50, every=3, stop=True),
                PurchaseBonus(id="bonus", points=1),
            ],
        )
        engine = engine_for(store, program)
        assert [engine.record_purchase(sale(f"P{i}")).points for i in range(3)] == [1, 1, 50]

    def test_a_stamp_card_in_an_exclusive_group_still_collects_stamps(self, store: Store) -> None:
        # A visit that is not the Nth gives 0, so the card always loses its group and its stamp
        # delta is dropped with it: the card never reaches its 3rd stamp.
        program = Program(
            "Club",
            "EUR",
            rate=None,
            rules=[
                StampCard(id="card", points=50, every=3, group="G"),
                PurchaseBonus(id="visit", points=1, group="G"),
            ],
        )
        engine = engine_for(store, program)
        assert [engine.record_purchase(sale(f"P{i}")).points for i in range(3)] == [1, 1, 50]

    def test_member_cap_per_month(self, store: Store) -> None:
        program = Program(
            "Club", "EUR", rate=None, rules=[SpendRule(id="r", points=1, cap=25, cap_period="month")]
        )
        engine, clock = clocked_engine_for(store, program)
        points = [engine.record_purchase(sale(f"P{i}")).points for i in range(4)]
        assert points == [10, 10, 5, 0]
        april = engine.record_purchase(sale("P9", at=clock.catch_up(datetime(2024, 4, 1, 12, tzinfo=UTC))))
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

    def test_stamp_card_losing_its_group_does_not_spend_its_budget(self, store: Store) -> None:
        program = Program(
            "Club",
            "EUR",
            rate=None,
            rules=[
                StampCard(id="card", points=5, every=1, budget=5, group="g"),
                PurchaseBonus(id="big", points=50, group="g", min_amount=Decimal("100.00")),
            ],
        )
        engine = engine_for(store, program)
        first = engine.record_purchase(sale("P1", "150.00"))
        assert first.points == 50  # the big bonus wins the group; the card gave nothing
        second = engine.record_purchase(sale("P2", "5.00"))
        assert second.points == 5  # the budget of 5 was never spent

    def test_carry_across_purchases(self, store: Store) -> None:
        program = Program("Club", "EUR", rate=EarnRate(1, D("10.00")), carry=True)
        engine = engine_for(store, program)
        assert [engine.record_purchase(sale(f"P{i}", "5.00")).points for i in range(4)] == [0, 1, 0, 1]

    def test_carry_with_non_terminating_per_adds_up_to_a_whole_point(self, store: Store) -> None:
        # The carry's promise: three 1.00 purchases earn what one 3.00 purchase earns.
        engine = engine_for(store, Program("Club", "EUR", rate=EarnRate(1, D("3.00")), carry=True))
        for i in range(3):
            engine.record_purchase(sale(f"P{i}", "1.00"))
        assert engine.balance("M1").available == 1

    @pytest.mark.parametrize("rounding", ["half_up", "half_even"])
    def test_carry_with_per_line_rounding_keeps_the_total_exact(self, store: Store, rounding: str) -> None:
        # round_per=line + carry: a line rounded up leaves a negative carry, but the carried
        # amount is rounded on its own and clamped at 0, so it is never paid back and grows
        # without bound (-0.5, -1.0, -1.5, ...). Four 1.50 purchases must earn 6, not 8.
        program = Program(
            "Club", "EUR", rate=EarnRate(1, D("1.00")), rounding=rounding, round_per="line", carry=True
        )
        engine = engine_for(store, program)
        for i in range(4):
            engine.record_purchase(sale(f"P{i}", "1.50"))
        assert engine.balance("M1").available == 6


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
