"""A report's figures: over time they add up to the period's, tiers and rules come from the ledger,
and a what-if's two sides come from its two runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from loyalty import Engine, Program
from loyalty.history import Enrollment, Event, Redemption, Sale
from loyalty.report import Share
from loyalty.reporting import of_comparison, of_store
from loyalty.rules import ProductBonus
from loyalty.store import Store
from loyalty.whatif import RulePoints, simulate
from tests.service.helpers import T0, sale
from tests.tiered_club import club

BAKERY = ProductBonus(id="bakery", name="Bakery bonus", points=5, categories=["bakery"])
PROGRAM = club(program={"rules": [BAKERY]})
DAY = timedelta(days=1)


def _recorded(store: Store) -> Engine:
    engine = Engine(PROGRAM, store, clock=lambda: T0 + 90 * DAY)
    for member in ("M1", "M2", "M3"):
        engine.enroll(member, at=T0)
    engine.record_purchase(sale("P1", "600.00", at=T0 + DAY))  # M1 reaches Silver: 600 + its bonus 50
    engine.record_purchase(sale("P2", "20.00", member="M2", at=T0 + 40 * DAY, category="bakery"))
    engine.record_purchase(sale("P3", "30.00", member="M2", at=T0 + 70 * DAY))
    engine.redeem("M1", 100, id="X1", at=T0 + 50 * DAY)
    return engine


def test_a_stores_report_adds_up_to_the_periods_figures(memory_or_sqlite_store: Store) -> None:
    engine = _recorded(memory_or_sqlite_store)
    start, end = T0 - DAY, T0 + 80 * DAY
    found = of_store(engine, memory_or_sqlite_store, start, end, point_value=Decimal("0.01"))
    whole = engine.figures(start, end, point_value=Decimal("0.01"))
    (side,) = found.sides
    assert len(side.periods) == 13  # 81 days: weeks, the first from the Monday before the start
    assert (side.periods[0].start, side.periods[-1].end) == (start, end)
    assert sum(p.issued for p in side.periods) == whole.issued == 600 + 50 + 20 + 5 + 30
    assert sum(p.redeemed for p in side.periods) == whole.redeemed == 100
    last = side.periods[-1]
    assert (last.outstanding, last.liability) == (Decimal(whole.outstanding), Decimal("6.05"))
    assert side.tiers == (
        Share("member", "Member", Decimal(2)),
        Share("silver", "Silver", Decimal(1)),
        Share("gold", "Gold", Decimal(0)),
    )
    # The store's figures by rule: the bakery purchase's one entry counts for each of its two
    # rules its share (20 and 5).
    assert {(s.key, s.value) for s in side.rules} == {
        ("base", Decimal(650)),
        ("tier-silver:bonus", Decimal(50)),
        ("bakery", Decimal(5)),
    }
    assert side.at_risk is not None


def test_rules_given_to_a_stores_report_replace_the_stores_own(memory_or_sqlite_store: Store) -> None:
    engine = _recorded(memory_or_sqlite_store)
    given = [RulePoints("bakery", "Bakery bonus", Decimal(5))]
    found = of_store(engine, memory_or_sqlite_store, T0, T0 + 80 * DAY, rules=given)
    assert found.sides[0].rules == (Share("bakery", "Bakery bonus", Decimal(5)),)
    assert found.sides[0].periods[-1].liability is None  # the club has no point value


def test_a_what_ifs_report_has_each_programs_figures_over_time() -> None:
    history: list[Event] = [
        Enrollment("E1", "M1", T0),
        Sale(sale("P1", "12.00", at=T0 + DAY, category="bakery")),
        Sale(sale("P2", "8.00", at=T0 + 20 * DAY)),
        Redemption("X1", "M1", 10, T0 + 30 * DAY),
    ]
    plain = Program("Club", "EUR", timezone="Europe/Amsterdam")
    proposed = Program("Club", "EUR", version="2", timezone="Europe/Amsterdam", rules=[BAKERY])
    found = simulate(history, plain, proposed, point_value=Decimal("0.01"), over_time=True)
    report = of_comparison(found, programs=(plain, proposed))
    current, new = report.sides
    assert (current.label, new.label) == ("current: Club 1", "proposed: Club 2")
    assert [sum(p.issued for p in side.periods) for side in report.sides] == [20, 25]
    assert [side.periods[-1].outstanding for side in report.sides] == [10, 15]
    assert current.periods[0].start.utcoffset() == timedelta(hours=1)  # shown in Amsterdam time
    assert {s.key: s.value for s in new.rules} == {"base": 20, "bakery": 5}
    assert (current.tiers, current.at_risk) == ((), 0)
    # Without over_time each side is the whole history, one period.
    once = of_comparison(simulate(history, plain, proposed))
    assert [len(side.periods) for side in once.sides] == [1, 1]
    assert once.sides[1].at_risk is None


def test_a_what_ifs_tiers_are_named_as_the_programs_name_them() -> None:
    history: list[Event] = [Enrollment("E1", "M1", T0), Sale(sale("P1", "600.00", at=T0 + DAY))]
    found = simulate(history, PROGRAM, PROGRAM)
    named = of_comparison(found, programs=(PROGRAM, PROGRAM)).sides[0].tiers
    assert [(s.key, s.name, int(s.value)) for s in named] == [
        ("member", "Member", 0),
        ("silver", "Silver", 1),
        ("gold", "Gold", 0),
    ]
    assert [s.name for s in of_comparison(found).sides[0].tiers] == ["member", "silver", "gold"]
