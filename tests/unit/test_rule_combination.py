"""How rules combine on one purchase: phases, priorities, stop, exclusive groups, caps and budgets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.earning import earn, evaluate, tally_keys
from loyalty.errors import InvalidInput
from loyalty.members import Member
from loyalty.program import EarnRate, Program
from loyalty.purchases import Line
from loyalty.rules import (
    EventRule,
    Multiplier,
    PurchaseBonus,
    SpendRule,
)
from loyalty.tallies import Tally
from tests.unit.rule_runs import T0, D, given, line, program, reasons, run, sale

# -- order, stop, groups, priorities ----------------------------------------------------------


class TestCombination:
    def test_bonuses_come_after_multipliers(self) -> None:
        prog = program(
            PurchaseBonus(id="bonus", points=10),
            Multiplier(id="x2", factor=2),
            SpendRule(id="base", points=1),
        )
        receipt = run(prog, sale(line("a", "5.00")))
        assert receipt.rules == ("base", "x2", "bonus")
        assert receipt.points == 20  # the bonus is not multiplied

    def test_priority_orders_rules_within_a_phase(self) -> None:
        prog = program(
            PurchaseBonus(id="low", points=1, stop=True),
            PurchaseBonus(id="high", points=2, priority=10, stop=True),
        )
        receipt = run(prog, sale())
        assert receipt.rules == ("high",)
        assert reasons(receipt) == {"low": "stopped by high"}

    def test_stop_only_when_the_rule_fired(self) -> None:
        prog = program(
            SpendRule(id="vip", points=5, members={"tier": ["gold"]}, stop=True),
            SpendRule(id="base", points=1),
        )
        assert run(prog, sale(), member=Member("M1", T0)).points == 10
        gold = Member("M1", T0, attributes={"tier": "gold"})
        receipt = run(prog, sale(), member=gold)
        assert receipt.points == 50
        assert reasons(receipt) == {"base": "stopped by vip"}

    def test_a_stop_rule_that_gave_nothing_does_not_stop(self) -> None:
        # "stop after this rule (only when it actually fired)": a spend rule on a free line
        # gives 0 points, yet it stops the purchase bonus.
        program = Program(
            "Club",
            "EUR",
            rate=None,
            rules=[
                SpendRule(id="freebie", points=1, skus=["free"], stop=True),
                PurchaseBonus(id="bonus", points=50),
            ],
        )
        receipt = earn(program, sale(Line("free", 1, D("0.00")), Line("bread", 1, D("5.00"))))
        assert receipt.points == 50

    def test_exclusive_group_keeps_the_best(self) -> None:
        prog = program(
            PurchaseBonus(id="ten", points=10, group="promo"),
            PurchaseBonus(id="fifty", points=50, group="promo", min_amount=D("5.00")),
            PurchaseBonus(id="thirty", points=30, group="promo"),
            PurchaseBonus(id="other", points=1),
        )
        receipt = run(prog, sale())
        assert given(receipt) == {"fifty": D(50), "other": D(1)}
        assert reasons(receipt) == {
            "ten": "group promo: fifty gives more (50)",
            "thirty": "group promo: fifty gives more (50)",
        }
        small = run(prog, sale(line("a", "1.00")))
        assert given(small) == {"thirty": D(30), "other": D(1)}
        assert reasons(small)["fifty"] == "minimum order 5.00 not met: 1.00"

    def test_a_grouped_multiplier_multiplies_every_spend_rule_before_it(self) -> None:
        # Group G: "cake-extra" (a spend rule) or "cake-x3" (a multiplier). The group is resolved
        # at cake-extra's place, before "everyone-extra" (a later spend rule) ran, so the
        # multiplier only sees the base points: x3 of 10 (+20) ties with cake-extra (+20).
        # Evaluated in its own phase it gives x3 of 20 (+40) and wins: 10 + 10 + 40 = 60.
        program = Program(
            "Club",
            "EUR",
            rate=EarnRate(1, D("1.00")),
            rules=[
                SpendRule(id="cake-extra", points=2, per=D("1.00"), categories=["cake"], group="G"),
                SpendRule(id="everyone-extra", points=1, per=D("1.00")),
                Multiplier(id="cake-x3", factor=3, categories=["cake"], group="G"),
            ],
        )
        receipt = earn(program, sale(Line("tart", 1, D("10.00"), category="cake")))
        assert receipt.points == 60

    def test_explain_lists_every_rule_that_gave_nothing(self) -> None:
        prog = program(
            SpendRule(id="base", points=1),
            PurchaseBonus(id="big", name="Big basket", points=50, min_amount=D("20.00")),
            EventRule(id="survey", event="survey_completed", points=20),
        )
        receipt = run(prog, sale(line("a", "12.50")))
        assert reasons(receipt) == {
            "big": "minimum order 20.00 not met: 12.50",
            "survey": "only for event survey_completed",
        }
        text = receipt.render()
        assert "Big basket: minimum order 20.00 not met: 12.50" in text
        assert "points earned" in text
        # Without explain the reasons are not gathered.
        assert evaluate(prog, sale(line("a", "12.50"))).receipt.skipped == ()


# -- caps and budgets ------------------------------------------------------------------------


class TestCaps:
    def test_cap_per_purchase(self) -> None:
        prog = program(SpendRule(id="r", points=1, cap_per_purchase=30))
        receipt = run(prog, sale(line("a", "20.00"), line("b", "40.00")))
        assert receipt.points == 30
        assert receipt.points_of("r") == 30
        # Trimmed pro rata, so each line keeps a share.
        cuts = [c.points for c in receipt.breakdown if c.points < 0]
        assert cuts == [D("-10.00"), D("-20.00")]
        assert "capped at 30 per purchase" in receipt.render()

    @pytest.mark.parametrize("rounding", ["floor", "half_up", "half_even"])
    def test_cap_per_purchase_holds_after_per_line_rounding(self, rounding: str) -> None:
        # The trim spreads the cut pro rata (0.5 off each of ten 1-point lines), and each line
        # is then rounded on its own: half_up gives 10 (twice the cap), floor/half_even give 0.
        program = Program(
            "Club",
            "EUR",
            rate=None,
            rounding=rounding,
            round_per="line",
            rules=[SpendRule(id="spend", points=1, cap_per_purchase=5)],
        )
        lines = [Line(f"s{i}", 1, D("1.00")) for i in range(10)]
        assert earn(program, sale(*lines)).points == 5

    def test_cap_per_purchase_holds_with_half_up_per_line_rounding(self) -> None:
        program = Program(
            "Club",
            "EUR",
            rate=None,
            rounding="half_up",
            round_per="line",
            rules=[SpendRule(id="spend", points=1, per=Decimal("1.00"), cap_per_purchase=10)],
        )
        receipt = earn(program, sale(Line("a", 1, Decimal("7.50")), Line("b", 1, Decimal("7.50"))))
        assert receipt.points <= 10

    def test_a_cap_row_never_adds_points(self) -> None:
        # A label multiplier with mixed factors (x3 red, x0.5 blue) capped at 5: the trim is
        # spread pro rata over signed contributions, so the receipt shows a "capped at 5 per
        # purchase" row of +3.3333 next to one of -13.3333. The total is right; the rows are not.
        program = Program(
            "Club",
            "EUR",
            rules=[
                Multiplier(
                    id="colors", label="color", factors={"red": 3, "blue": D("0.5")}, cap_per_purchase=5
                )
            ],
        )
        receipt = earn(
            program,
            sale(
                Line("a", 1, D("10.00"), labels={"color": "red"}),
                Line("b", 1, D("10.00"), labels={"color": "blue"}),
            ),
        )
        assert receipt.points == 25
        capped = [c for c in receipt.breakdown if c.detail.startswith("capped")]
        assert capped and all(c.points <= 0 for c in capped)

    def test_member_cap_per_period(self) -> None:
        prog = program(SpendRule(id="r", points=1, cap=500, cap_period="month"))
        key = "cap|r|2024-03|M1"
        assert tally_keys(prog, sale(), None) == (["visits|M1", key], [])
        partly = evaluate(prog, sale(line("a", "100.00")), tallies={key: Tally(0, D(450))})
        assert partly.receipt.points == 50
        assert partly.tallies[key] == Tally(0, D(50))
        full = run(prog, sale(), tallies={key: Tally(0, D(500))})
        assert reasons(full) == {"r": "cap of 500/month reached"}

    @pytest.mark.parametrize(
        ("period", "key"),
        [
            ("day", "2024-03-01"),
            ("week", "2024-W09"),
            ("month", "2024-03"),
            ("year", "2024"),
            ("ever", "ever"),
        ],
    )
    def test_period_keys(self, period: str, key: str) -> None:
        prog = program(SpendRule(id="r", points=1, cap=5, cap_period=period))
        assert tally_keys(prog, sale(), None)[0][1] == f"cap|r|{key}|M1"

    def test_budget_gives_the_remainder_and_says_so(self) -> None:
        prog = program(PurchaseBonus(id="launch", points=100, budget=10_000))
        assert tally_keys(prog, sale(), None) == (["visits|M1"], ["budget|launch"])
        last = run(prog, sale(), tallies={"budget|launch": Tally(0, D(9_970))})
        assert last.points == 30
        assert "campaign budget of 10000: only 30 left" in last.render(width=120)
        spent = run(prog, sale(), tallies={"budget|launch": Tally(0, D(10_000))})
        assert reasons(spent) == {"launch": "campaign budget of 10000 used up"}

    def test_cap_and_budget_need_their_partner(self) -> None:
        with pytest.raises(InvalidInput) as info:
            SpendRule(id="r", points=1, cap=5)
        assert info.value.field == "cap_period"
