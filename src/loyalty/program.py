"""A loyalty program: the currency it runs in and how purchases earn points.

This is the value every later capability (rules, tiers, expiry) grows on; it is
frozen, so a running engine can never see it change under its feet.

>>> from decimal import Decimal
>>> club = Program("Bakery Club", "EUR", rate=EarnRate(points=1, per=Decimal("10.00")))
>>> print(club.rate, club.currency, club.rounding.value)
1 point per 10.00 EUR floor
>>> EarnRate(points=0)
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: rate.points: must be a positive int, got 0
"""

from __future__ import annotations

import enum
import functools
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from loyalty.checks import check_id, validates
from loyalty.errors import InvalidAmount, InvalidInput
from loyalty.money import check_currency, check_decimal

__all__ = ["EarnRate", "Program", "Rounding"]


_DECIMAL_MODES = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


class Rounding(enum.Enum):
    """How fractional points become whole points (applied once per purchase)."""

    FLOOR = "floor"
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"

    def __init__(self, value: str) -> None:
        # A plain attribute, not a property: it is read on every purchase.
        self.decimal_mode: str = _DECIMAL_MODES[value]


def _check_rate_points(_: Any, __: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInput("rate.points", f"must be a positive int, got {value!r}")


def _check_per(_: Any, __: Any, value: object) -> None:
    per = check_decimal("rate.per", value)
    if per == 0:
        raise InvalidAmount("rate.per", "must be positive, got 0")


@attrs.frozen
class EarnRate:
    """``points`` for every ``per`` of money spent: 1 per 1.00, or 1 per 10.00, or 4 per 1.00."""

    points: int = attrs.field(default=1, validator=_check_rate_points)
    per: Decimal = attrs.field(default=Decimal(1), validator=_check_per)

    def __str__(self) -> str:
        return _rate_text(self.points, str(self.per))


@functools.lru_cache(maxsize=256)
def _rate_text(points: int, per: str) -> str:
    # Cached: every receipt's explanation starts with it. Keyed by the text of
    # ``per``, not the Decimal: 10.0 == 10.00, but they must print as written.
    return f"{points} {'point' if points == 1 else 'points'} per {per}"


def _check_rate(field: str, value: object) -> None:
    if not isinstance(value, EarnRate):
        raise InvalidInput(field, f"must be an EarnRate, got {value!r}")


def _check_rounding(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, Rounding):
        raise InvalidInput("rounding", f"must be a Rounding, got {value!r}")


@attrs.frozen
class Program:
    """A named program in one currency with a base earning rate."""

    name: str = attrs.field(validator=validates(check_id, "name"))
    currency: str = attrs.field(validator=validates(check_currency, "currency"))
    rate: EarnRate = attrs.field(factory=EarnRate, validator=validates(_check_rate, "rate"))
    rounding: Rounding = attrs.field(default=Rounding.FLOOR, validator=_check_rounding)
