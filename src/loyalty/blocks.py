"""Whole-block rounding: "every full 10.00 earns 1 point", and the part below a block earns nothing.

A spend rule (or the base ``rate``) with ``whole_blocks = true`` counts
blocks over the rule's **matching amount in the basket**, not line by line:
two lines of 5.00 make one block of 10.00, as merchants mean it (Adobe
Commerce's "X spent = N points"). The rule gives ``points`` per whole block.
Those points are then shared over the matching lines in proportion to what
each line spent, exactly (the last line takes what is left, so the shares add
up to the blocks' points to the last digit): the receipt keeps one row per
line, and a multiplier doubles a line's share of the blocks, as it doubles a
line's points under any spend rule. The program's rounding then applies once
to the purchase's total, as ever; rounding per line would round the shares
away, so the two are refused together.

>>> amounts = [Decimal("12.50"), Decimal("12.50"), Decimal("4.00")]
>>> counted = count_blocks(1, Decimal("10.00"), amounts, [0, 1, 2])
>>> counted.blocks, counted.amount, counted.points
(2, Decimal('29.00'), Decimal('2'))
>>> [(line, round(share, 4)) for line, share in counted.shares]
[(0, Decimal('0.8621')), (1, Decimal('0.8621')), (2, Decimal('0.2759'))]
>>> sum(share for _, share in counted.shares) == 2
True
>>> count_blocks(1, Decimal("10.00"), [Decimal("9.99")], [0]).blocks
0
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal

import attrs

from loyalty.money import EXACT

__all__ = ["Counted", "block_points", "count_blocks"]

_ZERO = Decimal(0)


@attrs.frozen
class Counted:
    """A whole-block rule on a basket: ``blocks`` whole ``per`` in ``amount`` (its matching lines'
    spend), worth ``points``, shared as ``(line, points)`` over the lines that spent anything."""

    blocks: int
    amount: Decimal
    points: Decimal
    shares: tuple[tuple[int, Decimal], ...]


def block_points(amount: Decimal, points: int, per: Decimal) -> tuple[int, Decimal]:
    """The whole blocks of ``per`` in ``amount`` and the points they are worth at ``points`` each."""
    blocks = int(EXACT.divide(amount, per).to_integral_value(rounding=ROUND_FLOOR, context=EXACT))
    return blocks, Decimal(blocks * points)


def count_blocks(points: int, per: Decimal, basis: Sequence[Decimal], matching: Sequence[int]) -> Counted:
    """Whole blocks of ``per`` over the ``matching`` lines' ``basis`` (what each line spends, as
    earning counts it), at ``points`` a block, shared over those lines in proportion (see the module)."""
    amount = _ZERO
    for i in matching:
        amount = EXACT.add(amount, basis[i])
    blocks, worth = block_points(amount, points, per)
    if not blocks:
        return Counted(0, amount, _ZERO, ())
    spending = [i for i in matching if basis[i]]
    shares: list[tuple[int, Decimal]] = []
    given = _ZERO
    for n, i in enumerate(spending):
        if n == len(spending) - 1:
            share = EXACT.subtract(worth, given)
        else:
            share = EXACT.divide(EXACT.multiply(worth, basis[i]), amount)
        given = EXACT.add(given, share)
        shares.append((i, share))
    return Counted(blocks, amount, worth, tuple(shares))
