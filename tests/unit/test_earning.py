"""Unit tests of the pure domain: money, purchases, programs and earning."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty import (
    CurrencyMismatch,
    EarnRate,
    InvalidAmount,
    InvalidInput,
    Line,
    Money,
    PointsOverflow,
    Program,
    Purchase,
    Rounding,
    UnknownCurrency,
    earn,
)
from loyalty.money import CURRENCY_MINOR_UNITS

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def basket(*prices: str, currency: str = "EUR") -> Purchase:
    return Purchase("P1", "M1", T0, [Line(f"s{i}", 1, Decimal(p)) for i, p in enumerate(prices)], currency)


class TestMoney:
    def test_adds_within_one_currency(self) -> None:
        assert Money(Decimal("0.10"), "EUR") + Money(Decimal("0.20"), "EUR") == Money(Decimal("0.30"), "EUR")

    def test_refuses_to_mix_currencies(self) -> None:
        with pytest.raises(CurrencyMismatch):
            Money(Decimal(1), "EUR") - Money(Decimal(1), "GBP")

    @pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "KWD", "CLF", "XCG"])
    def test_knows_active_codes(self, code: str) -> None:
        assert Money.zero(code).currency == code

    @pytest.mark.parametrize("code", ["eur", "EU", "XXX", "HRK", "ANG", "", None, 978])
    def test_refuses_other_codes(self, code: object) -> None:
        with pytest.raises(UnknownCurrency):
            Money(Decimal(1), code)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("currency", "amount", "rounded"),
        [("EUR", "2.345", "2.35"), ("JPY", "1234.5", "1235"), ("KWD", "1.2345", "1.235")],
    )
    def test_rounds_half_up_to_the_minor_unit(self, currency: str, amount: str, rounded: str) -> None:
        assert Money(Decimal(amount), currency).rounded().amount == Decimal(rounded)
        assert str(Money(Decimal(amount), currency)) == f"{rounded} {currency}"

    @pytest.mark.parametrize("amount", ["1e24", "-1e30", "1e400"])
    def test_refuses_absurd_amounts(self, amount: str) -> None:
        with pytest.raises(InvalidAmount):
            Money(Decimal(amount), "EUR")

    def test_minor_units_table_is_plausible(self) -> None:
        assert CURRENCY_MINOR_UNITS["EUR"] == 2
        assert CURRENCY_MINOR_UNITS["JPY"] == 0
        assert CURRENCY_MINOR_UNITS["BHD"] == 3
        assert len(CURRENCY_MINOR_UNITS) > 150


class TestPurchase:
    def test_total_sums_lines_and_rounds_once(self) -> None:
        p = Purchase(
            "P",
            "M",
            T0,
            [Line("fuel", Decimal("10.005"), Decimal("1.899")), Line("x", 2, Decimal("1.00"))],
            "EUR",
        )
        # 10.005 x 1.899 = 18.999495, + 2.00 = 20.999495 -> 21.00
        assert p.total == Money(Decimal("21.00"), "EUR")

    def test_large_amounts_stay_exact(self) -> None:
        # 28 significant digits would be exceeded by the default Decimal context.
        big = Line("bulk", Decimal("999999.999"), Decimal("99999999999999999.99"))
        total = Purchase("P", "M", T0, [big, big], "EUR").total.amount
        assert total == Decimal("199999999799999999980000.00")

    def test_a_total_beyond_the_bound_is_refused(self) -> None:
        big = Line("bulk", Decimal("999999999999.999"), Decimal("999999999999999999999.99"))
        with pytest.raises(InvalidAmount) as info:
            Purchase("P", "M", T0, [big], "EUR")
        assert info.value.field == "lines"

    def test_lines_become_a_tuple(self) -> None:
        lines = [Line("a", 1, Decimal(1))]
        p = Purchase("P", "M", T0, lines, "EUR")
        lines.append(Line("b", 1, Decimal(1)))
        assert len(p.lines) == 1

    def test_is_immutable(self) -> None:
        p = basket("1.00")
        with pytest.raises(AttributeError):
            p.id = "other"  # type: ignore[misc]

    def test_optional_store_and_terminal_are_checked(self) -> None:
        with pytest.raises(InvalidInput) as info:
            Purchase("P", "M", T0, [Line("a", 1, Decimal(1))], "EUR", store_id="")
        assert info.value.field == "store_id"


class TestProgram:
    @pytest.mark.parametrize("per", [Decimal(0), Decimal(-1), Decimal("NaN"), 1.0, 10])
    def test_rate_per_must_be_a_positive_decimal(self, per: object) -> None:
        with pytest.raises(InvalidAmount) as info:
            EarnRate(1, per)  # type: ignore[arg-type]
        assert info.value.field == "rate.per"

    @pytest.mark.parametrize("points", [0, -1, 1.5, True])
    def test_rate_points_must_be_a_positive_int(self, points: object) -> None:
        with pytest.raises(InvalidInput) as info:
            EarnRate(points)  # type: ignore[arg-type]
        assert info.value.field == "rate.points"

    def test_rate_prints_as_written(self) -> None:
        # Equal Decimals, different spellings: the explanation keeps each one's.
        assert str(EarnRate(1, Decimal("10.00"))) == "1 point per 10.00"
        assert str(EarnRate(1, Decimal("10.0"))) == "1 point per 10.0"
        assert str(EarnRate(4, Decimal("1"))) == "4 points per 1"

    def test_rounding_modes_map_to_decimal_modes(self) -> None:
        assert [r.decimal_mode for r in Rounding] == ["ROUND_FLOOR", "ROUND_HALF_UP", "ROUND_HALF_EVEN"]
        assert Rounding("half_even") is Rounding.HALF_EVEN

    def test_rounding_must_be_a_rounding(self) -> None:
        assert Program("P", "EUR", rounding="half_up").rounding is Rounding.HALF_UP
        with pytest.raises(InvalidInput) as info:
            Program("P", "EUR", rounding="ceiling")
        assert info.value.field == "rounding"


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

    @given(
        st.lists(st.integers(0, 10**9), min_size=1, max_size=20), st.integers(1, 100), st.integers(1, 10**4)
    )
    def test_points_match_integer_arithmetic(self, cents: list[int], points: int, per_cents: int) -> None:
        program = Program("P", "EUR", rate=EarnRate(points, Decimal(per_cents).scaleb(-2)))
        receipt = earn(program, basket(*(str(Decimal(c).scaleb(-2)) for c in cents)))
        assert receipt.points == sum(cents) * points // per_cents
        assert receipt.points >= 0

    @given(st.lists(st.integers(1, 10**6), min_size=1, max_size=8), st.integers(1, 10**6))
    def test_adding_a_line_never_lowers_points(self, cents: list[int], extra: int) -> None:
        program = Program("P", "EUR")
        prices = [str(Decimal(c).scaleb(-2)) for c in cents]
        assert (
            earn(program, basket(*prices, str(Decimal(extra).scaleb(-2)))).points
            >= earn(program, basket(*prices)).points
        )
