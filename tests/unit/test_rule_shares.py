"""How an entry's whole points are shared among the rules that gave them (the figures by rule)."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty.ledger import shares_of

# What a rule gives on one purchase: whole points (a bonus) or a fraction (a rate, a multiplier).
_POINTS = st.one_of(
    st.integers(min_value=0, max_value=500).map(Decimal), st.decimals(min_value=0, max_value=500, places=4)
)
_ROUNDINGS = st.sampled_from([ROUND_FLOOR, ROUND_HALF_UP, ROUND_CEILING])


def test_a_bonus_of_whole_points_keeps_them_when_the_rate_beside_it_is_rounded_down() -> None:
    # 16.95 EUR at a point per EUR and a 20-point bonus: 36 points. Shared in proportion, the
    # bonus had 19 and the rate 17, while the receipt and the bonus's budget said 20.
    assert shares_of([Decimal("16.95"), Decimal(20)], 36) == (16, 20)
    assert shares_of([Decimal("16.95"), Decimal(20)], 37) == (17, 20)


def test_the_rounding_falls_on_the_largest_fractions_the_first_of_equal_ones() -> None:
    assert shares_of([Decimal("2.2"), Decimal("3.7"), Decimal("1.7")], 8) == (2, 4, 2)
    assert shares_of([Decimal("0.5"), Decimal("0.5"), Decimal(4)], 5) == (1, 0, 4)


def test_points_a_cap_moved_out_of_reach_are_shared_in_proportion() -> None:
    # A cap of 30 on 16.95 + 20: each rule gives up its part of the 6.95 cut.
    assert shares_of([Decimal("16.95"), Decimal(20)], 30) == (14, 16)
    assert shares_of([Decimal(10), Decimal(30)], 60) == (15, 45)


def test_rules_that_gave_nothing_leave_all_the_points_to_the_first() -> None:
    assert shares_of([Decimal(0), Decimal(0)], 3) == (3, 0)


@given(st.lists(_POINTS, min_size=1, max_size=8), _ROUNDINGS)
def test_each_rule_keeps_its_points_rounded_down_or_up_and_a_whole_rule_keeps_all(
    exact: list[Decimal], rounding: str
) -> None:
    points = int(sum(exact, Decimal(0)).to_integral_value(rounding=rounding))
    shares = shares_of(exact, points)
    assert sum(shares) == points
    if sum(exact) <= 0:
        return
    for share, value in zip(shares, exact, strict=True):
        assert math.floor(value) <= share <= math.ceil(value)
        if value == value.to_integral_value():
            assert share == value


@given(st.lists(_POINTS, min_size=1, max_size=8), st.integers(min_value=0, max_value=5_000))
def test_any_points_are_shared_out_whole_and_never_below_zero(exact: list[Decimal], points: int) -> None:
    shares = shares_of(exact, points)
    assert len(shares) == len(exact)
    assert sum(shares) == points
    assert all(share >= 0 for share in shares)
