"""Properties of earning: the base rate's arithmetic, and rule evaluation over generated programs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import Engine, earn, open_store
from loyalty.earning import evaluate
from loyalty.members import Member
from loyalty.program import EarnRate, Program
from loyalty.purchases import Line, Purchase
from loyalty.rules import EventRule, Multiplier, PurchaseBonus, Rule, SpendRule
from loyalty.testing.clock import ManualClock
from loyalty.testing.strategies import lines, members, programs, purchases

T0 = datetime(2000, 1, 1, tzinfo=UTC)
#: Before any till time the strategies draw (from 2000-01-01 in any timezone's wall time).
ENROLLED = T0 - timedelta(days=2)


def unbounded(program: Program) -> Program:
    """``program`` without what can make more basket mean fewer points.

    Caps and thresholds (minimums, budgets) are dropped; so are ``stop``
    flags (a new line can make a stopping rule fire and cut off later,
    richer ones) and multipliers below 1 (they give a line fewer points).
    """

    def plain(rule: Rule) -> Rule:
        return attrs.evolve(
            rule,
            stop=False,
            min_amount=None,
            min_quantity=None,
            cap_per_purchase=None,
            cap=None,
            cap_period=None,
            budget=None,
        )

    kept = [
        plain(rule)
        for rule in program.rules
        if not (
            isinstance(rule, Multiplier)
            and ((rule.factor is not None and rule.factor < 1) or any(f < 1 for f in rule.factors.values()))
        )
    ]
    return attrs.evolve(program, rules=kept)


def basket(*prices: str) -> Purchase:
    """M1's purchase of one line per price."""
    return Purchase("P1", "M1", T0, [Line(f"s{i}", 1, Decimal(p)) for i, p in enumerate(prices)], "EUR")


# -- the base rate alone ------------------------------------------------------------------------


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=20), st.integers(1, 100), st.integers(1, 10**4))
def test_points_match_integer_arithmetic(cents: list[int], points: int, per_cents: int) -> None:
    program = Program("P", "EUR", rate=EarnRate(points, Decimal(per_cents).scaleb(-2)))
    receipt = earn(program, basket(*(str(Decimal(c).scaleb(-2)) for c in cents)))
    assert receipt.points == sum(cents) * points // per_cents
    assert receipt.points >= 0


@given(st.lists(st.integers(1, 10**6), min_size=1, max_size=8), st.integers(1, 10**6))
def test_adding_a_line_never_lowers_points(cents: list[int], extra: int) -> None:
    program = Program("P", "EUR")
    prices = [str(Decimal(c).scaleb(-2)) for c in cents]
    assert (
        earn(program, basket(*prices, str(Decimal(extra).scaleb(-2)))).points
        >= earn(program, basket(*prices)).points
    )


# -- generated programs -------------------------------------------------------------------------


@given(programs(), purchases(), lines(), members(("M1", "M2", "M3")))
def test_adding_a_line_never_lowers_the_points(
    program: Program, purchase: Purchase, extra: Line, member: Member
) -> None:
    program = unbounded(program)
    member = attrs.evolve(member, id=purchase.member_id)
    bigger = attrs.evolve(purchase, lines=[*purchase.lines, extra])
    before = evaluate(program, purchase, member=member).receipt.points
    after = evaluate(program, bigger, member=member).receipt.points
    assert after >= before


@given(programs(), purchases(), st.data())
def test_an_exclusion_never_raises_the_points(
    program: Program, purchase: Purchase, data: st.DataObject
) -> None:
    program = unbounded(program)
    if not program.rules:
        return
    index = data.draw(st.integers(0, len(program.rules) - 1), label="rule")
    line = data.draw(st.sampled_from(purchase.lines), label="line")
    rule = program.rules[index]
    if isinstance(rule, EventRule):
        return  # events have no lines to exclude
    how = data.draw(st.sampled_from(["sku", "category", "label"]), label="exclude by")
    if how == "sku":
        changed = attrs.evolve(rule, exclude_skus=[*rule.exclude_skus, line.sku])
    elif how == "category" and line.category is not None:
        changed = attrs.evolve(rule, exclude_categories=[*rule.exclude_categories, line.category])
    elif how == "label" and line.labels:
        key, value = next(iter(line.labels.items()))
        labels = {k: list(v) for k, v in rule.exclude_labels.items()}
        labels[key] = [*labels.get(key, []), value]
        changed = attrs.evolve(rule, exclude_labels=labels)
    else:
        return
    rules = list(program.rules)
    rules[index] = changed
    narrower = attrs.evolve(program, rules=rules)
    assert evaluate(narrower, purchase).receipt.points <= evaluate(program, purchase).receipt.points


@settings(max_examples=40, deadline=None)
@given(programs(), st.lists(purchases(), min_size=1, max_size=6, unique_by=lambda p: p.id))
def test_quote_equals_record_for_the_same_input(program: Program, sales: list[Purchase]) -> None:
    clock = ManualClock(T0)
    engine = Engine(attrs.evolve(program, effective_from=None), open_store("memory://"), clock=clock)
    for member in ("M1", "M2", "M3"):
        engine.enroll(member, at=ENROLLED)
    for sale in sales:
        # The engine's clock follows the tills' (none may run ahead of it), never back.
        clock.catch_up(sale.at)
        quoted = engine.quote(sale)
        recorded = engine.record_purchase(sale)
        assert (quoted.points, quoted.breakdown, quoted.carried_in) == (
            recorded.points,
            recorded.breakdown,
            recorded.carried_in,
        )
        assert recorded.balance_after == engine.balance(sale.member_id).available


# -- caps and budgets through the engine ------------------------------------------------------


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(amounts=st.lists(st.integers(1, 5_000), min_size=1, max_size=12), cap=st.integers(1, 60))
def test_no_cap_or_budget_is_ever_exceeded(amounts: list[int], cap: int) -> None:
    program = Program(
        "Club",
        "EUR",
        rate=None,
        rules=[
            SpendRule(id="capped", points=1, cap=cap, cap_period="ever"),
            PurchaseBonus(id="budgeted", points=7, budget=cap),
            SpendRule(id="per-purchase", points=3, cap_per_purchase=cap),
        ],
    )
    engine = Engine(program, open_store("memory://"), clock=lambda: T0)
    engine.enroll("M1", at=T0)
    given_by: dict[str, Decimal] = {}
    for n, cents in enumerate(amounts):
        at = T0 + timedelta(minutes=n)
        receipt = engine.record_purchase(
            Purchase(f"P{n}", "M1", at, [Line("sku", 1, Decimal(cents).scaleb(-2))], "EUR")
        )
        assert receipt.points_of("per-purchase") <= cap
        for rule in ("capped", "budgeted"):
            given_by[rule] = given_by.get(rule, Decimal(0)) + receipt.points_of(rule)
    assert given_by["capped"] <= cap
    assert given_by["budgeted"] <= cap
