"""Tallies: the running counts and exact sums the domain keeps under string keys.

What a rule, a cap, a budget, a return or a reminder needs to remember
between two commands is a :class:`Tally` under a key (``visits|M1``,
``cap|coffee|2024-03|M1``). Each key is named by one function in the module
that owns its concept (:func:`loyalty.earning_keys.visits_key`,
:func:`loyalty.returns.taken_key`, ...); the store only adds deltas up.

A decision says how tallies change as deltas, and deltas of several steps of
one command are added key by key with :func:`merged` before they are written:

>>> from decimal import Decimal
>>> merged({"visits|M1": Tally(1)}, {"visits|M1": Tally(1), "carry|M1": Tally(0, Decimal("0.25"))})
{'visits|M1': Tally(count=2, points=Decimal('0')), 'carry|M1': Tally(count=0, points=Decimal('0.25'))}
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from loyalty.errors import InvalidInput

__all__ = ["MEMBER_MARK", "Tally", "merged", "of_member"]

#: What comes between a tally key that names no member (a purchase's, a lot's) and the member it is
#: kept for: a control character, which no id may hold (:func:`loyalty.checks.check_id`), so the
#: member is whatever follows it, and the key's own parts may hold anything else (a ``|``).
MEMBER_MARK = "\x1f"


def of_member(key: str, member_id: str) -> str:
    r"""``key``, which names no member, as the tally of ``member_id``: a store keeps it with the
    member's other rows (on a cluster, the member's shard: docs/scaling.md).

    >>> of_member("taken|P1", "M1")
    'taken|P1\x1fM1'
    """
    return f"{key}{MEMBER_MARK}{member_id}"


#: Digits a tally's points may grow to. Additions are exact: one that would
#: need more digits fails instead of rounding.
_TALLY_DIGITS = 1000
_EXACT = decimal.Context(
    prec=_TALLY_DIGITS, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow]
)
# Nearly every sum fits in far fewer digits: it is tried in this narrower context first (an
# exact sum is the same in any context it fits in), and only one that would be rounded here
# is done again in the wide one.
_NARROW = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow])


def _check_count(_: Any, __: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("count", f"must be an int, not {type(value).__name__}")


def _check_decimal(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, Decimal):
        raise InvalidInput("points", f"must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise InvalidInput("points", f"must be finite, got {value}")


@attrs.frozen
class Tally:
    """A running count and an exact Decimal sum kept under a key.

    The engine keeps these for caps, budgets, visit counts and carried
    fractions. Adding two is exact (never rounded):

    >>> Tally(1, Decimal("0.3333333333333333333333333333")) + Tally(2, Decimal("1"))
    Tally(count=3, points=Decimal('1.3333333333333333333333333333'))
    """

    count: int = attrs.field(default=0, validator=_check_count)
    points: Decimal = attrs.field(default=Decimal(0), validator=_check_decimal)

    @classmethod
    def of(cls, count: int, points: Decimal) -> Tally:
        """A tally of values the engine worked out from checked ones (an int, a finite Decimal),
        made without running the validators again: this is on every purchase.

        >>> Tally.of(1, Decimal("2.50")) == Tally(1, Decimal("2.50"))
        True
        """
        made = _NEW_TALLY(cls)
        _SET_COUNT(made, count)
        _SET_POINTS(made, points)
        return made

    def __add__(self, other: Tally) -> Tally:
        if not isinstance(other, Tally):
            return NotImplemented
        try:
            points = _NARROW.add(self.points, other.points)
        except decimal.DecimalException:
            points = _wide_sum(self.points, other.points)
        # Both sides were checked when they were made: their sum needs no check again.
        made = _NEW_TALLY(Tally)
        _SET_COUNT(made, self.count + other.count)
        _SET_POINTS(made, points)
        return made

    def __neg__(self) -> Tally:
        """The tally that takes this one back, exactly: a Decimal's own ``-`` rounds to the
        caller's context (28 digits by default), and what a return or a merge gives back must
        cancel what was added to the last digit.

        >>> third = Tally(1, Decimal(2) / Decimal(3)) + Tally(0, Decimal("1E-60"))
        >>> (third + -third).points == 0
        True
        """
        return Tally.of(-self.count, _EXACT.minus(self.points))


# The slots' own setters, for the tallies made without the validators: ``object.__setattr__``
# looks the name up on the class and builds two argument tuples on each call, and a purchase
# makes about five tallies.
_NEW_TALLY = object.__new__
_SET_COUNT, _SET_POINTS = (Tally.__dict__[name].__set__ for name in ("count", "points"))


def _wide_sum(a: Decimal, b: Decimal) -> Decimal:
    try:
        return _EXACT.add(a, b)
    except decimal.DecimalException:
        raise InvalidInput("points", f"{a} + {b} needs more than {_TALLY_DIGITS} digits") from None


def merged(*parts: Mapping[str, Tally]) -> dict[str, Tally]:
    """Tally deltas added up key by key, keys in the order they first appear.

    A key in one part only keeps its delta as it is; the parts are not changed.
    """
    total: dict[str, Tally] = {}
    for part in parts:
        for key, delta in part.items():
            total[key] = total[key] + delta if key in total else delta
    return total
