"""Earning at the program's base rate, as a pure function: rounding, breakdown, currency and bounds."""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty import CurrencyMismatch, EarnRate, Line, PointsOverflow, Program, Purchase, Rounding, earn

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def basket(*prices: str, currency: str = "EUR") -> Purchase:
    return Purchase("P1", "M1", T0, [Line(f"s{i}", 1, Decimal(p)) for i, p in enumerate(prices)], currency)


def purchase(*lines: Line) -> Purchase:
    return Purchase("P1", "M1", T0, lines, "EUR")


class TestEarn:
    @pytest.mark.parametrize(
        ("rate", "prices", "points"),
        [
            (EarnRate(1, Decimal("1.00")), ["42.76"], 42),
            (EarnRate(1, Decimal("10.00")), ["99.99"], 9),
            (EarnRate(1, Decimal("10.00")), ["100.00"], 10),
            (EarnRate(4, Decimal("1.00")), ["2.50", "0.30"], 11),
            (EarnRate(1, Decimal("1.00")), ["0.99"], 0),
        ],
    )
    def test_base_rate_floors_by_default(self, rate: EarnRate, prices: list[str], points: int) -> None:
        assert earn(Program("P", "EUR", rate=rate), basket(*prices)).points == points

    def test_rate_with_non_terminating_per_loses_a_point_over_several_lines(self) -> None:
        # 1 point per 3.00: each 1.00 line earns 1/3 rounded at 80 digits; three of them sum to
        # 0.999...9, which floors to 0. One 3.00 line earns 1, so splitting a basket loses points.
        program = Program("Club", "EUR", rate=EarnRate(1, Decimal("3.00")))
        lines = [Line(sku, 1, Decimal("1.00")) for sku in ("a", "b", "c")]
        assert earn(program, purchase(Line("a", 3, Decimal("1.00")))).points == 1
        assert earn(program, purchase(*lines)).points == 1

    @pytest.mark.parametrize(
        ("rounding", "price", "points"),
        [
            (Rounding.FLOOR, "2.50", 2),
            (Rounding.HALF_UP, "2.50", 3),
            (Rounding.HALF_EVEN, "2.50", 2),
            (Rounding.HALF_EVEN, "3.50", 4),
            (Rounding.HALF_UP, "2.49", 2),
        ],
    )
    def test_rounding_modes(self, rounding: Rounding, price: str, points: int) -> None:
        receipt = earn(Program("P", "EUR", rounding=rounding), basket(price))
        assert receipt.points == points
        assert receipt.rounding_adjustment == points - Decimal(price)

    def test_caller_decimal_context_with_traps_does_not_crash_rounding(self) -> None:
        program = Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")))
        sale = purchase(Line("a", 1, Decimal("12.3456")))
        with decimal.localcontext() as ctx:
            ctx.prec = 3
            ctx.traps[decimal.Inexact] = True
            ctx.traps[decimal.Rounded] = True
            receipt = earn(program, sale)
        assert receipt.points == 12

    def test_breakdown_explains_the_points(self) -> None:
        receipt = earn(Program("P", "EUR", rate=EarnRate(1, Decimal("10.00"))), basket("25.00", "4.99"))
        first, second = receipt.breakdown
        assert (first.rule, first.line, second.line) == ("base", 0, 1)
        assert (first.points, second.points) == (Decimal("2.5"), Decimal("0.499"))
        assert first.detail == "1 point per 10.00 EUR on s0 25.00"
        assert receipt.points_of("base") == Decimal("2.999")
        assert receipt.points == 2
        assert receipt.rounding_adjustment == Decimal("-0.999")
        assert "points earned" in receipt.render()

    def test_currency_must_match_the_program(self) -> None:
        with pytest.raises(CurrencyMismatch) as info:
            earn(Program("P", "EUR"), basket("1.00", currency="SEK"))
        assert info.value.field == "currency"

    def test_points_beyond_64_bits_overflow(self) -> None:
        with pytest.raises(PointsOverflow):
            earn(Program("P", "EUR", rate=EarnRate(100, Decimal("0.0001"))), basket("1e20"))
