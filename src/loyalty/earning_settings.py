"""How a program's purchases earn: the base rate, and how points are rounded, taxed and combined.

:class:`~loyalty.program.Program` holds one of each (``rate``, ``rounding``, ``round_per``,
``tax``, ``events``); they are defined here, the settings of earning apart from the program
that bundles them, and :mod:`loyalty.program` re-exports them.

>>> from decimal import Decimal
>>> print(EarnRate(points=4, per=Decimal("1.00"), whole_blocks=True))
4 points per 1.00 (whole blocks)
>>> Rounding("half_up").decimal_mode
'ROUND_HALF_UP'
"""

from __future__ import annotations

import enum
import functools
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from loyalty import schema
from loyalty.checks import MAX_POINTS, accepts
from loyalty.errors import InvalidAmount, InvalidInput
from loyalty.money import check_decimal

__all__ = ["EarnRate", "EventCombination", "RoundPer", "Rounding", "TaxBasis"]


_DECIMAL_MODES = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


class Rounding(enum.Enum):
    """How fractional points become whole points (applied once per purchase)."""

    FLOOR = "floor"
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"

    def __init__(self, value: str) -> None:
        # A plain attribute, not a property: it is read on every purchase.
        self.decimal_mode: str = _DECIMAL_MODES[value]


@accepts(minimum=1, maximum=MAX_POINTS)
def _check_rate_points(_: Any, __: Any, value: object) -> None:
    # Bounded here, where its path is known: the base rule it becomes would refuse it later
    # under its own field's name.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_POINTS:
        raise InvalidInput("rate.points", f"must be a positive int, got {value!r}")


def _check_per(_: Any, __: Any, value: object) -> None:
    per = check_decimal("rate.per", value)
    if per == 0:
        raise InvalidAmount("rate.per", "must be positive, got 0")


def _check_bool(field: str) -> Any:
    def check(_: Any, __: Any, value: object) -> None:
        if not isinstance(value, bool):
            raise InvalidInput(field, f"must be true or false, got {value!r}")

    return check


@attrs.frozen
class EarnRate:
    """``points`` for every ``per`` of money spent: 1 per 1.00, or 1 per 10.00, or 4 per 1.00."""

    points: int = attrs.field(default=1, validator=_check_rate_points)
    per: Decimal = attrs.field(default=Decimal(1), validator=_check_per)
    #: Only whole blocks of ``per`` in the basket earn; the rest earns nothing (:mod:`loyalty.blocks`).
    whole_blocks: bool = attrs.field(default=False, validator=_check_bool("rate.whole_blocks"))

    def __str__(self) -> str:
        text = _rate_text(self.points, str(self.per))
        return f"{text} (whole blocks)" if self.whole_blocks else text


@functools.lru_cache(maxsize=256)
def _rate_text(points: int, per: str) -> str:
    # Cached: every receipt's explanation starts with it. Keyed by the text of
    # ``per``, not the Decimal: 10.0 == 10.00, but they must print as written.
    return f"{points} {'point' if points == 1 else 'points'} per {per}"


class RoundPer(enum.Enum):
    """Where rounding happens: once on the purchase's total, or on each line's points."""

    PURCHASE = "purchase"
    LINE = "line"


class TaxBasis(enum.Enum):
    """Whether spend is counted with the tax included in the price or without it."""

    INCLUSIVE = "inclusive"
    EXCLUSIVE = "exclusive"


class EventCombination(enum.Enum):
    """When several event rules match one event: add them up, or keep only the best."""

    SUM = "sum"
    BEST = "best"


attrs.resolve_types(EarnRate)
schema.register(EarnRate, strip="rate.")
