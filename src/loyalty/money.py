"""Money: a ``Decimal`` amount with an ISO 4217 currency.

Floats are refused outright (``0.1 + 0.2`` is not a price), and so are bools,
NaN and infinities. Arithmetic between two currencies raises.

>>> from decimal import Decimal
>>> Money(Decimal("2.50"), "EUR") + Money(Decimal("1.25"), "EUR")
Money(amount=Decimal('3.75'), currency='EUR')
>>> Money(Decimal("2.50"), "EUR") + Money(Decimal("1"), "USD")
Traceback (most recent call last):
...
loyalty.errors.CurrencyMismatch: currency: cannot combine EUR with USD
>>> Money(2.5, "EUR")  # type: ignore[arg-type]
Traceback (most recent call last):
...
loyalty.errors.InvalidAmount: amount: must be a Decimal, not float
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from loyalty.errors import CurrencyMismatch, InvalidAmount, InvalidInput, UnknownCurrency

__all__ = [
    "CURRENCY_MINOR_UNITS",
    "EXACT",
    "MAX_AMOUNT",
    "MAX_DECIMAL_PLACES",
    "Money",
    "check_currency",
    "check_decimal",
    "check_magnitude",
]

# Active ISO 4217 codes (funds codes included, precious metals and test codes
# excluded) with their number of minor units. Withdrawn codes such as HRK, SLL,
# ZWL and ANG are absent on purpose: a POS sending them is misconfigured.
_MINOR_UNITS_BY_DIGITS = {
    0: "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF",
    3: "BHD IQD JOD KWD LYD OMR TND",
    4: "CLF UYW",
    2: (
        "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
        "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL "
        "GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR "
        "LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD "
        "PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC "
        "SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
    ),
}
#: No till sends an amount this large or this finely divided; refusing them
#: keeps every product of quantity and price exact within :data:`EXACT`
#: (80 digits), whatever the caller's own decimal context says.
MAX_AMOUNT = Decimal(10) ** 24
MAX_DECIMAL_PLACES = 12
_MIN_AMOUNT = -MAX_AMOUNT
_FINEST = Decimal(1).scaleb(-MAX_DECIMAL_PLACES)
#: The context for money arithmetic: wide enough that nothing a till can send is rounded by accident.
EXACT = decimal.Context(prec=80, traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow])

CURRENCY_MINOR_UNITS: dict[str, int] = {
    code: digits for digits, codes in _MINOR_UNITS_BY_DIGITS.items() for code in codes.split()
}

_MINOR_UNIT = {code: Decimal(1).scaleb(-digits) for code, digits in CURRENCY_MINOR_UNITS.items()}


def check_currency(field: str, code: object) -> str:
    """Return ``code`` if it is an active ISO 4217 code, else raise :class:`UnknownCurrency`."""
    if not isinstance(code, str) or code not in CURRENCY_MINOR_UNITS:
        if isinstance(code, str) and code.upper() in CURRENCY_MINOR_UNITS:
            # The likeliest slip at a till or in a file: the code exists, the case does not match.
            hint = f"did you mean {code.upper()!r}?"
            raise UnknownCurrency(field, f"{code!r}: ISO 4217 codes are upper case, {hint}")
        raise UnknownCurrency(field, f"{code!r} is not an active ISO 4217 currency code")
    return code


def check_decimal(field: str, value: object, *, allow_negative: bool = False) -> Decimal:
    """Return ``value`` if it is a finite ``Decimal`` (non-negative unless allowed)."""
    if not isinstance(value, Decimal):
        raise InvalidAmount(field, f"must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise InvalidAmount(field, f"must be finite, got {value}")
    if value < 0 and not allow_negative:
        raise InvalidAmount(field, f"must not be negative, got {value}")
    check_magnitude(field, value, InvalidAmount)
    return value


def check_magnitude(field: str, value: Decimal, error: type[InvalidInput]) -> None:
    """Refuse a finite ``value`` beyond :data:`MAX_AMOUNT` or with more than :data:`MAX_DECIMAL_PLACES`."""
    # Comparisons are exact: they do not consult the (caller's) decimal context.
    if not _MIN_AMOUNT < value < MAX_AMOUNT:
        raise error(field, f"must be below {MAX_AMOUNT:,.0f}, got {value}")
    # Equal to itself at 12 places: no digit beyond them but zeros (1.5000000000000 passes).
    # Exact in EXACT: below MAX_AMOUNT at 12 places is at most 36 digits. (One C call where
    # ``as_tuple().exponent`` built a tuple of digits and a named tuple in Python first.)
    if value != value.quantize(_FINEST, context=EXACT):
        raise error(field, f"must have at most {MAX_DECIMAL_PLACES} decimal places, got {value}")


def _check_amount(_: Any, attribute: attrs.Attribute[Decimal], value: object) -> None:
    check_decimal(attribute.name, value, allow_negative=True)


def _check_code(_: Any, attribute: attrs.Attribute[str], value: object) -> None:
    check_currency(attribute.name, value)


@attrs.frozen
class Money:
    """An exact amount in one currency."""

    amount: Decimal = attrs.field(validator=_check_amount)
    currency: str = attrs.field(validator=_check_code)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        """Money the engine worked out from checked values (a finite Decimal within
        :data:`MAX_AMOUNT` and :data:`MAX_DECIMAL_PLACES`, an active currency), made without
        running the validators again: a purchase's total is made this way.

        >>> Money.of(Decimal("2.50"), "EUR") == Money(Decimal("2.50"), "EUR")
        True
        """
        made = object.__new__(cls)
        object.__setattr__(made, "amount", amount)
        object.__setattr__(made, "currency", currency)
        return made

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch("currency", f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(EXACT.add(self.amount, other.amount), self.currency)

    def rounded(self) -> Money:
        """This amount rounded half-up to the currency's minor unit (cents for EUR)."""
        amount = self.amount.quantize(_MINOR_UNIT[self.currency], rounding=ROUND_HALF_UP, context=EXACT)
        # Rounded to at most 4 places from a checked amount: only the size can have changed, and
        # only up to the bound, which an amount may not reach.
        if not _MIN_AMOUNT < amount < MAX_AMOUNT:
            raise InvalidAmount("amount", f"must be below {MAX_AMOUNT:,.0f}, got {amount}")
        return Money.of(amount, self.currency)

    def __str__(self) -> str:
        amount = self.amount
        if amount.as_tuple().exponent != -CURRENCY_MINOR_UNITS[self.currency]:
            amount = self.rounded().amount
        return f"{amount} {self.currency}"
