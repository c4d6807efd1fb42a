"""Money: one currency at a time, ISO 4217 codes, rounding to the minor unit, sane bounds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty import CurrencyMismatch, InvalidAmount, Money, UnknownCurrency
from loyalty.money import CURRENCY_MINOR_UNITS


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
