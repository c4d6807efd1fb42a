"""Proportional returns: points taken back by the amount returned, as Square does.

Under ``returns = "proportional"`` a return does not recompute the
purchase. The amount of every unit returned so far, counted as earning
counts spend (after line discounts; without tax when the program's ``tax``
is ``"exclusive"``), earns points at the base ``rate`` of the version the
purchase was earned with, rounded by that version's ``rounding``; what that
comes to, less what earlier returns of the purchase took, is taken back
(with ``whole_blocks``, only the whole blocks in the amount returned so far).
Never more than the purchase earned, and everything it earned once nothing
of it is left. The figure is worked out on the running total, so two part
returns take exactly what one return of the same goods would.

>>> from datetime import datetime, timezone
>>> from loyalty.program import EarnRate, Program
>>> from loyalty.purchases import Line, Purchase
>>> club = Program("Club", "EUR", rate=EarnRate(1, Decimal("10.00")), returns="proportional")
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> sale = Purchase("T1", "M1", t, [Line("shirt", 2, Decimal("12.50"))], "EUR")
>>> share = proportional_take(club, sale, {0: Decimal(1)}, earned=2, taken=0)
>>> share.take, share.detail
(1, '12.50 EUR returned so far at 1 point per 10.00 EUR: 1 point (floor), 0 taken before')
>>> proportional_take(club, sale, {0: Decimal(2)}, earned=2, taken=1).take
1
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import attrs

from loyalty.blocks import block_points
from loyalty.money import EXACT, Money
from loyalty.program import Program, TaxBasis
from loyalty.purchases import Purchase
from loyalty.returns import remaining

__all__ = ["Share", "proportional_take", "spend_of"]


@attrs.frozen
class Share:
    """What a proportional return takes: ``amount`` is the spend of every unit returned so far,
    ``due`` the points (in the program's units) that all the returns of the purchase take,
    ``take`` this return's part of them."""

    amount: Decimal
    due: int
    take: int
    detail: str


def spend_of(program: Program, purchase: Purchase | None) -> Decimal:
    """The amount ``purchase`` spends as earning counts it (``0`` for ``None``: nothing left)."""
    if purchase is None:
        return Decimal(0)
    exclusive = program.tax is TaxBasis.EXCLUSIVE
    total = Decimal(0)
    for line in purchase.lines:
        total = EXACT.add(total, EXACT.subtract(line.amount, line.tax) if exclusive else line.amount)
    return total


def proportional_take(
    program: Program, purchase: Purchase, after: Mapping[int, Decimal], *, earned: int, taken: int
) -> Share:
    """The points a return takes when ``after`` units of each line of ``purchase`` have come back,
    the purchase having earned ``earned`` and its earlier returns taken ``taken`` (see the module)."""
    rate = program.rate
    assert rate is not None  # a program that returns proportionally is refused without a base rate
    left = remaining(purchase, after)
    amount = EXACT.subtract(spend_of(program, purchase), spend_of(program, left))
    if rate.whole_blocks:
        _, raw = block_points(amount, rate.points, rate.per)
    else:
        raw = EXACT.divide(EXACT.multiply(amount, Decimal(rate.points)), rate.per)
    points_due = int(raw.to_integral_value(rounding=program.rounding.decimal_mode, context=EXACT))
    due = earned if left is None else min(earned, points_due)
    money = Money.of(amount, purchase.currency).rounded().amount
    points = program.format_points(points_due)
    unit = "point" if points == "1" else "points"
    detail = (
        f"{money} {purchase.currency} returned so far at {attrs.evolve(rate, whole_blocks=False)} "
        f"{purchase.currency}{' in whole blocks' if rate.whole_blocks else ''}: "
        f"{points} {unit} ({program.rounding.value}), {program.format_points(taken)} taken before"
    )
    if left is None:
        detail += "; nothing left, so all it earned"
    elif due < points_due:
        detail += f"; at most the {program.format_points(earned)} it earned"
    return Share(amount, due, max(0, due - taken), detail)
