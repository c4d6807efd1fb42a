"""Money: one currency at a time, ISO 4217 codes, rounding to the minor unit, sane bounds."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from loyalty import CurrencyMismatch, InvalidAmount, Money, UnknownCurrency
from loyalty.errors import InvalidQuantity
from loyalty.money import CURRENCY_MINOR_UNITS, check_currency, check_decimal, check_magnitude

BOUND = "1,000,000,000,000,000,000,000,000"


class TestMoney:
    def test_adds_within_one_currency(self) -> None:
        assert Money(Decimal("0.10"), "EUR") + Money(Decimal("0.20"), "EUR") == Money(Decimal("0.30"), "EUR")

    def test_refuses_to_mix_currencies(self) -> None:
        with pytest.raises(CurrencyMismatch):
            Money(Decimal(1), "EUR") + Money(Decimal(1), "GBP")

    @pytest.mark.parametrize("code", ["EUR", "USD", "JPY", "KWD", "CLF", "XCG"])
    def test_knows_active_codes(self, code: str) -> None:
        assert Money.zero(code) == Money(Decimal(0), code)

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


def test_an_amount_may_be_negative_and_keeps_its_sign_when_rounded() -> None:
    refund = Money(Decimal("-2.345"), "EUR")
    assert refund.amount == Decimal("-2.345")
    # Half-up is away from zero on both sides: a refund rounds as the sale it undoes.
    assert refund.rounded() == Money(Decimal("-2.35"), "EUR")
    assert Money(Decimal("-2.344"), "EUR").rounded() == Money(Decimal("-2.34"), "EUR")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("eur", "currency: 'eur': ISO 4217 codes are upper case, did you mean 'EUR'?"),
        ("XXX", "currency: 'XXX' is not an active ISO 4217 currency code"),
        ("xxx", "currency: 'xxx' is not an active ISO 4217 currency code"),
        (978, "currency: 978 is not an active ISO 4217 currency code"),
    ],
)
def test_a_refused_currency_names_the_field_and_says_why(code: object, message: str) -> None:
    with pytest.raises(UnknownCurrency) as info:
        Money(Decimal(1), code)  # type: ignore[arg-type]
    assert (info.value.field, str(info.value)) == ("currency", message)
    with pytest.raises(UnknownCurrency) as info:
        check_currency("lines[2].currency", code)
    assert str(info.value) == message.replace("currency:", "lines[2].currency:", 1)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2.5, "must be a Decimal, not float"),
        (Decimal("NaN"), "must be finite, got NaN"),
        (Decimal("-Infinity"), "must be finite, got -Infinity"),
        (Decimal("-0.01"), "must not be negative, got -0.01"),
        (Decimal("1E+24"), f"must be below {BOUND}, got 1E+24"),
        (Decimal("0.0000000000001"), "must have at most 12 decimal places, got 1E-13"),
    ],
)
def test_a_refused_amount_names_the_field_and_says_why(value: object, message: str) -> None:
    with pytest.raises(InvalidAmount) as info:
        check_decimal("lines[0].unit_price", value)
    assert str(info.value) == f"lines[0].unit_price: {message}"


def test_amounts_are_bounded_on_both_sides_exclusive() -> None:
    largest = Decimal(10) ** 24 - 1
    assert Money(largest, "EUR").amount == largest
    assert Money(-largest, "EUR").amount == -largest
    for beyond in (Decimal(10) ** 24, -(Decimal(10) ** 24)):
        with pytest.raises(InvalidAmount) as info:
            Money(beyond, "EUR")
        assert str(info.value) == f"amount: must be below {BOUND}, got {beyond}"
    with pytest.raises(InvalidQuantity) as quantity:
        check_magnitude("quantity", -(Decimal(10) ** 24), InvalidQuantity)
    assert quantity.value.field == "quantity"


def test_twelve_decimal_places_pass_and_trailing_zeros_do_not_count() -> None:
    assert check_decimal("amount", Decimal("0.000000000001")) == Decimal("1E-12")
    assert check_decimal("amount", Decimal("1.50000000000000000000")) == Decimal("1.5")
    with pytest.raises(InvalidAmount):
        check_decimal("amount", Decimal("1.5000000000001"))
    # The widest value with 12 places (36 digits), whole numbers in exponent form, zeros.
    widest = Decimal("999999999999999999999999.999999999999")
    assert check_decimal("amount", widest, allow_negative=True) == widest
    narrowest = Decimal("-999999999999999999999999.999999999999")
    assert check_decimal("amount", narrowest, allow_negative=True) == narrowest
    assert check_decimal("amount", Decimal("5E+3")) == 5000
    assert check_decimal("amount", Decimal("0E-30")) == 0
    with pytest.raises(InvalidAmount):
        check_decimal("amount", Decimal("-1E-13"), allow_negative=True)


def test_checking_and_rounding_are_exact_under_a_callers_narrow_decimal_context() -> None:
    with localcontext(prec=4):
        price = Money(Decimal("123456.78500000000000000"), "EUR")
        assert price.rounded() == Money(Decimal("123456.79"), "EUR")
        assert str(price) == "123456.79 EUR"


def test_rounding_up_to_the_bound_is_refused_naming_the_amount() -> None:
    for sign in (1, -1):
        almost = Money(sign * Decimal("999999999999999999999999.995"), "EUR")
        with pytest.raises(InvalidAmount) as info:
            almost.rounded()
        assert str(info.value) == f"amount: must be below {BOUND}, got {sign * Decimal(10) ** 24:.2f}"


def test_an_amount_prints_with_the_currencys_minor_digits() -> None:
    assert str(Money(Decimal("1E+2"), "EUR")) == "100.00 EUR"
    assert str(Money(Decimal("7"), "KWD")) == "7.000 KWD"
    assert str(Money(Decimal("2.50"), "EUR")) == "2.50 EUR"
