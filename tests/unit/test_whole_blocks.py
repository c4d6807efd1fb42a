"""Whole-block rounding: only whole blocks of the rule's `per`, counted over its matching amount in the
basket, earn; their points are shared exactly over the lines, and multipliers act on a line's share."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.blocks import count_blocks
from loyalty.earning import earn
from loyalty.errors import ConfigError
from loyalty.money import EXACT
from loyalty.program import EarnRate, Program
from loyalty.proportional import proportional_take
from loyalty.purchases import Line, Purchase
from loyalty.rules import Multiplier, SpendRule

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
TENS = EarnRate(1, Decimal("10.00"), whole_blocks=True)


def basket(*lines: Line) -> Purchase:
    return Purchase("T1", "M1", T, lines, "EUR")


def test_the_part_below_a_whole_block_earns_nothing() -> None:
    program = Program("Club", "EUR", rate=TENS)
    assert earn(program, basket(Line("shirt", 1, Decimal("25.00")))).points == 2
    plain = Program("Club", "EUR", rate=EarnRate(1, Decimal("10.00")), rounding="half_up")
    assert earn(plain, basket(Line("shirt", 1, Decimal("25.00")))).points == 3  # 2.5 rounded half-up
    assert (
        earn(
            Program("Club", "EUR", rate=TENS, rounding="half_up"), basket(Line("shirt", 1, Decimal("25.00")))
        ).points
        == 2
    )


def test_blocks_are_counted_over_the_basket_not_line_by_line() -> None:
    program = Program("Club", "EUR", rate=TENS)
    receipt = earn(program, basket(Line("bread", 1, Decimal("5.00")), Line("milk", 1, Decimal("5.00"))))
    assert receipt.points == 1
    assert [(row.line, row.points) for row in receipt.breakdown] == [(0, Decimal("0.5")), (1, Decimal("0.5"))]
    assert receipt.breakdown[0].detail == "1 point per 10.00 EUR on bread 5.00, 1 whole block in 10.00"


def test_a_rule_counts_blocks_over_its_matching_lines_only() -> None:
    rule = SpendRule(id="books", points=5, per=Decimal("20.00"), categories=["books"], whole_blocks=True)
    program = Program("Club", "EUR", rate=None, rules=[rule])
    lines = (
        Line("novel", 1, Decimal("15.00"), category="books"),
        Line("pen", 1, Decimal("30.00")),
        Line("atlas", 1, Decimal("10.00"), category="books"),
    )
    receipt = earn(program, basket(*lines))
    assert receipt.points == 5  # 25.00 of books: one block of 20.00
    assert {row.line for row in receipt.breakdown} == {0, 2}


def test_a_multiplier_doubles_a_lines_share_of_the_blocks() -> None:
    program = Program("Club", "EUR", rate=TENS, rules=[Multiplier(id="x2", factor=2, categories=["cake"])])
    lines = (Line("shirt", 1, Decimal("12.00")), Line("tart", 2, Decimal("4.00"), category="cake"))
    receipt = earn(program, basket(*lines))
    # 20.00: 2 blocks; the tart's 8.00 holds 0.8 of them, doubled to 1.6: 2.8, floor 2.
    assert [row.points for row in receipt.breakdown] == [Decimal("1.2"), Decimal("0.8"), Decimal("0.8")]
    assert receipt.points == 2


def test_explain_says_why_no_block_was_reached() -> None:
    receipt = earn(Program("Club", "EUR", rate=TENS), basket(Line("tea", 1, Decimal("9.99"))), explain=True)
    assert receipt.points == 0
    assert [(s.rule, s.reason) for s in receipt.skipped] == [("base", "no whole 10.00 EUR in 9.99")]


def test_whole_blocks_cannot_be_rounded_per_line() -> None:
    data = {"name": "Club", "currency": "EUR", "round_per": "line"}
    with pytest.raises(ConfigError) as info:
        Program.from_dict({**data, "rate": {"per": "10.00", "whole_blocks": True}})
    assert [path for path, _ in info.value.problems] == ["rate.whole_blocks"]
    rules = [{"kind": "spend", "id": "s", "points": 1, "whole_blocks": True}]
    with pytest.raises(ConfigError) as info:
        Program.from_dict({**data, "rules": rules})
    assert [path for path, _ in info.value.problems] == ["rules[0].whole_blocks"]
    with pytest.raises(ConfigError) as info:
        Program.from_dict({"name": "Club", "currency": "EUR", "rules": [{**rules[0], "whole_blocks": "yes"}]})
    assert list(info.value.problems) == [("rules[0].whole_blocks", "must be true or false, not str 'yes'")]


def test_whole_blocks_round_trip_through_json() -> None:
    rule = SpendRule(id="s", points=2, per=Decimal("5.00"), whole_blocks=True)
    program = Program("Club", "EUR", rate=TENS, rules=[rule])
    assert Program.from_dict(program.to_dict()) == program
    assert program.to_dict()["rate"]["whole_blocks"] is True
    assert str(program.rate) == "1 point per 10.00 (whole blocks)"


def test_a_proportional_return_takes_the_whole_blocks_of_the_amount_returned() -> None:
    program = Program("Club", "EUR", rate=TENS, returns="proportional")
    sale = basket(Line("cup", 3, Decimal("7.00")))
    share = proportional_take(program, sale, {0: Decimal(2)}, earned=2, taken=0)
    assert (share.take, share.detail) == (
        1,
        "14.00 EUR returned so far at 1 point per 10.00 EUR in whole blocks: 1 point (floor), 0 taken before",
    )


amounts = st.lists(st.decimals(Decimal("0.00"), Decimal("60.00"), places=2), min_size=1, max_size=6)


@given(amounts, st.integers(1, 7), st.sampled_from([Decimal("1.00"), Decimal("3.00"), Decimal("10.00")]))
def test_shares_add_up_exactly_to_the_whole_blocks_and_follow_the_amounts(
    basis: list[Decimal], points: int, per: Decimal
) -> None:
    counted = count_blocks(points, per, basis, range(len(basis)))
    total = sum(basis, Decimal(0))
    assert counted.blocks * per <= total < (counted.blocks + 1) * per
    # Added in the engine's exact context: the default one keeps only 28 digits.
    given = functools.reduce(EXACT.add, (share for _, share in counted.shares), Decimal(0))
    assert given == counted.points == counted.blocks * points
    assert all(share >= 0 and basis[i] for i, share in counted.shares)
