"""Caps and budgets at their exact edges: what is left, how a cut is spread, what the tallies record."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D

from loyalty import Line, Program, Purchase
from loyalty.earning import evaluate
from loyalty.money import EXACT
from loyalty.receipts import Receipt
from loyalty.rules import Multiplier, PurchaseBonus, Rule, SpendRule, StampCard
from loyalty.tallies import Tally

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
CAP = "cap|r|2024-03|M1"


def sale(*amounts: str) -> Purchase:
    return Purchase("P1", "M1", T0, [Line(f"s{i}", 1, D(a)) for i, a in enumerate(amounts)], "EUR")


def club(*rules: Rule, **options: object) -> Program:
    return Program("Club", "EUR", rate=None, rules=rules, **options)  # type: ignore[arg-type]


def cuts(receipt: Receipt) -> list[tuple[int | None, D, str]]:
    return [(c.line, c.points, c.detail) for c in receipt.breakdown if c.points < 0]


class TestMemberCap:
    program = club(SpendRule(id="r", points=1, cap=5, cap_period="month"))

    def test_one_point_left_is_given(self) -> None:
        done = evaluate(self.program, sale("10.00"), tallies={CAP: Tally(0, D(4))})
        assert done.receipt.points == 1
        assert done.tallies[CAP] == Tally(0, D(1))

    def test_what_is_left_is_shown_as_the_figure_it_is(self) -> None:
        whole = evaluate(self.program, sale("10.00"), tallies={CAP: Tally(0, D(3))}).receipt
        assert cuts(whole) == [(0, D(-8), "cap of 5/month: 2 left")]
        part = evaluate(self.program, sale("10.00"), tallies={CAP: Tally(0, D("2.5"))}).receipt
        assert cuts(part) == [(0, D("-7.5"), "cap of 5/month: 2.5 left")]

    def test_what_is_left_of_points_counted_in_cents_is_shown_whole(self) -> None:
        receipt = evaluate(self.program, sale("10.00"), tallies={CAP: Tally(0, D("3.00"))}).receipt
        assert cuts(receipt) == [(0, D(-8), "cap of 5/month: 2 left")]

    def test_a_per_purchase_cap_met_exactly_is_not_named_when_the_member_cap_cuts(self) -> None:
        program = club(SpendRule(id="r", points=1, cap_per_purchase=8, cap=10, cap_period="month"))
        receipt = evaluate(program, sale("8.00"), tallies={CAP: Tally(0, D(4))}).receipt
        assert cuts(receipt) == [(0, D(-2), "cap of 10/month: 6 left")]

    def test_a_cap_not_reached_leaves_the_rows_alone(self) -> None:
        receipt = evaluate(self.program, sale("2.00", "3.00"), tallies={CAP: Tally(0, D(0))}).receipt
        assert [(c.line, c.points) for c in receipt.breakdown] == [(0, D("2.00")), (1, D("3.00"))]

    def test_both_caps_are_named_when_both_cut(self) -> None:
        program = club(SpendRule(id="r", points=1, cap_per_purchase=8, cap=10, cap_period="month"))
        receipt = evaluate(program, sale("20.00"), tallies={CAP: Tally(0, D(4))}).receipt
        assert receipt.points == 6
        assert cuts(receipt) == [(0, D(-14), "capped at 8 per purchase; cap of 10/month: 6 left")]

    def test_a_cap_left_at_exactly_the_per_purchase_cap_is_not_named(self) -> None:
        program = club(SpendRule(id="r", points=1, cap_per_purchase=8, cap=10, cap_period="month"))
        receipt = evaluate(program, sale("20.00"), tallies={CAP: Tally(0, D(2))}).receipt
        assert receipt.points == 8
        assert cuts(receipt) == [(0, D(-12), "capped at 8 per purchase")]


class TestBudget:
    def test_one_point_left_is_given_and_only_points_are_counted(self) -> None:
        program = club(PurchaseBonus(id="launch", points=100, budget=1000))
        done = evaluate(program, sale("1.00"), tallies={"budget|launch": Tally(3, D(999))})
        assert done.receipt.points == 1
        assert done.tallies["budget|launch"] == Tally(0, D(1))

    def test_a_budget_left_at_exactly_the_per_purchase_cap_is_not_named(self) -> None:
        program = club(PurchaseBonus(id="launch", points=100, cap_per_purchase=30, budget=1000))
        receipt = evaluate(program, sale("1.00"), tallies={"budget|launch": Tally(0, D(970))}).receipt
        assert cuts(receipt) == [(None, D(-70), "capped at 30 per purchase")]


class TestSpreadingTheCut:
    def test_every_line_that_gained_takes_its_share_even_under_a_point(self) -> None:
        program = club(SpendRule(id="r", points=1, cap_per_purchase=5))
        receipt = evaluate(program, sale("0.50", "9.50", "0.00")).receipt
        assert [(c.line, c.points) for c in receipt.breakdown] == [
            (0, D("0.50")),
            (1, D("9.50")),
            (2, D("0.00")),  # a line that gained nothing takes no share
            (0, D("-0.25")),
            (1, D("-4.75")),
        ]
        assert receipt.points_of("r") == 5

    def test_the_last_line_takes_the_remainder_so_the_rule_gives_exactly_its_cap(self) -> None:
        program = club(SpendRule(id="r", points=1, cap_per_purchase=20))
        receipt = evaluate(program, sale("10.00", "10.00", "10.00")).receipt
        assert receipt.points == 20
        shares = [points for _, points, _ in cuts(receipt)]
        assert EXACT.add(EXACT.add(shares[0], shares[1]), shares[2]) == -10

    def test_rounding_per_line_spreads_the_cut_and_rounds_the_rule_once(self) -> None:
        # The shares are fractions (2.25 and 2.75 left): rounded line by line they would give 4;
        # a trimmed rule's rows are rounded together, so the cap is given whole.
        program = club(SpendRule(id="r", points=1, cap_per_purchase=5), round_per="line")
        receipt = evaluate(program, sale("4.50", "5.50")).receipt
        assert cuts(receipt) == [
            (0, D("-2.25"), "capped at 5 per purchase"),
            (1, D("-2.75"), "capped at 5 per purchase"),
        ]
        assert receipt.points == 5

    def test_a_later_multiplier_doubles_what_the_cap_left_however_the_program_rounds(self) -> None:
        rules = (SpendRule(id="r", points=1, cap_per_purchase=30), Multiplier(id="double", factor=D(2)))
        for per in ("purchase", "line"):
            receipt = evaluate(club(*rules, round_per=per), sale("20.00", "40.00")).receipt
            assert receipt.points == 60, per
            assert [(c.line, c.points) for c in receipt.breakdown if c.rule == "double"] == [
                (0, D("10.00")),
                (1, D("20.00")),
            ]


class TestCappedRulesCompete:
    def test_a_group_compares_what_a_rule_gives_after_its_cap(self) -> None:
        program = club(
            PurchaseBonus(id="big", points=100, cap_per_purchase=30, group="g"),
            PurchaseBonus(id="fair", points=40, group="g"),
        )
        receipt = evaluate(program, sale("1.00"), explain=True).receipt
        assert receipt.points == 40
        assert [(s.rule, s.reason) for s in receipt.skipped] == [("big", "group g: fair gives more (40)")]

    def test_a_capped_rule_that_gives_stops_the_rest(self) -> None:
        program = club(
            PurchaseBonus(id="first", points=100, cap_per_purchase=30, stop=True, priority=1),
            PurchaseBonus(id="second", points=40),
        )
        assert evaluate(program, sale("1.00")).receipt.points == 30


class TestStampCardUnderACap:
    def test_a_stamp_is_collected_when_the_cap_is_reached_and_the_cap_is_not_touched(self) -> None:
        program = club(StampCard(id="r", points=10, every=3, cap=10, cap_period="month"))
        done = evaluate(program, sale("1.00"), tallies={CAP: Tally(0, D(10))})
        assert done.receipt.points == 0
        assert dict(done.tallies) == {"stamps|r|M1": Tally(1, D(0)), "visits|M1": Tally(1, D(0))}
