"""Returns and voids: what a purchase keeps earning once goods come back.

A return names the purchase and the units brought back; a void
(``lines=None``) brings back everything that is left. The engine recomputes
the purchase *without* the returned units, under the program version it was
earned with and with what it knew then (visit count, caps), and takes back
the difference, so thresholds, multipliers and caps stay right; the
take-backs of all returns of one purchase never add up to more than it
earned. The pure part, which units remain, lives here.

>>> from datetime import datetime, timezone
>>> from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
>>> from loyalty.purchases import Line, Purchase
>>> t = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
>>> lines = [Line("shirt", 2, Decimal("20.00")), Line("socks", 3, Decimal("4.00"))]
>>> sale = Purchase("T1", "M1", t, lines, "EUR")
>>> returned = returned_after(sale, {}, (Returned("shirt", 1),))
>>> returned
{0: Decimal('1')}
>>> [(line.sku, line.quantity) for line in remaining(sale, returned).lines]
[('shirt', Decimal('1')), ('socks', 3)]
>>> returned_after(sale, returned, (Returned("shirt", 2),))
Traceback (most recent call last):
...
loyalty.errors.InvalidQuantity: lines[0].quantity: 2 of 'shirt' returned, but only 1 is left to return
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any

import attrs

from loyalty.checks import check_aware, check_id, validates
from loyalty.errors import InvalidInput, InvalidQuantity
from loyalty.json_form import JsonForm
from loyalty.money import EXACT
from loyalty.purchases import MAX_LINES, Line, Purchase, check_quantity
from loyalty.tallies import of_member

__all__ = [
    "Clawback",
    "Clawed",
    "Return",
    "ReturnPolicy",
    "ReturnReceipt",
    "Returned",
    "claw",
    "debt_key",
    "owed_key",
    "paid_key",
    "refund_due",
    "refunded_key",
    "remaining",
    "returned_after",
    "returned_key",
    "taken_key",
]


class Clawback(enum.Enum):
    """What a return does when the points it takes back were already spent."""

    #: Take them anyway: the balance goes below zero, and later earnings repay it.
    NEGATIVE = "negative"
    #: Take what there is; the rest is recorded on the return as not collected, and forgotten.
    CLAMP = "clamp"
    #: Take what there is now, and the rest from the member's next earnings.
    FUTURE = "future"


class ReturnPolicy(enum.Enum):
    """How a return works out the points it takes back (the program's ``returns``)."""

    #: Recompute the purchase without every unit returned so far and take back the difference.
    RECOMPUTE = "recompute"
    #: Take back what the amount returned earns at the base rate, rounded as earning rounds,
    #: never more than the purchase earned (:mod:`loyalty.proportional`).
    PROPORTIONAL = "proportional"


@attrs.frozen
class Returned:
    """``quantity`` units of ``sku`` brought back."""

    sku: str = attrs.field(validator=validates(check_id, "sku"))
    quantity: int | Decimal = attrs.field(validator=check_quantity)


def _returned_lines(value: Iterable[Returned] | None) -> tuple[Returned, ...] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(
            "lines", f"must be a sequence of Returned, or None for a void, not {type(value).__name__}"
        )
    return tuple(value)


def _check_returned(_: Any, __: Any, lines: tuple[Returned, ...] | None) -> None:
    if lines is None:
        return
    if not lines:
        raise InvalidInput("lines", "a return needs at least one line (None voids the whole purchase)")
    if len(lines) > MAX_LINES:
        raise InvalidInput("lines", f"at most {MAX_LINES} lines, got {len(lines)}")
    for i, line in enumerate(lines):
        if not isinstance(line, Returned):
            raise InvalidInput(f"lines[{i}]", f"must be a Returned, not {type(line).__name__}")


@attrs.frozen
class Return:
    """Goods brought back from purchase ``purchase_id``; ``id`` is the POS's key for the return.

    ``lines=None`` is a void: everything of the purchase that is not yet
    returned. ``at`` is the till's time.
    """

    id: str = attrs.field(validator=validates(check_id, "id"))
    purchase_id: str = attrs.field(validator=validates(check_id, "purchase_id"))
    at: datetime = attrs.field(validator=validates(check_aware, "at"))
    lines: tuple[Returned, ...] | None = attrs.field(
        default=None, converter=_returned_lines, validator=_check_returned
    )


@attrs.frozen
class ReturnReceipt(JsonForm):
    """What a return did, for the till's slip and for the merchant.

    ``earned`` is what the purchase earned when it was made and ``now_earns``
    what it earns without everything returned so far. Of what this return's
    goods had earned, ``taken_back`` is what it took from the member now (a
    ``return`` entry of that many points), ``owed`` what is left to collect
    from future earnings (``clawback = "future"``) and ``uncollected`` what
    was given up (``"clamp"``); the three add up to the goods' points.
    ``refunded`` are points spent on the purchase that this return gave back.
    ``policy`` is the program's ``returns`` the take-back was worked out by,
    and ``detail`` says how (``"25.00 EUR returned so far at 1 point per
    10.00 EUR: 2 points (floor), 0 taken before"``; empty when recomputed).
    """

    id: str
    purchase_id: str
    member_id: str
    void: bool
    earned: int
    now_earns: int
    taken_back: int
    refunded: int
    owed: int
    uncollected: int
    balance_after: int
    policy: ReturnPolicy = ReturnPolicy.RECOMPUTE
    detail: str = ""


def returned_after(
    purchase: Purchase, before: Mapping[int, Decimal], lines: tuple[Returned, ...] | None
) -> dict[int, Decimal]:
    """The units returned per line of ``purchase`` once ``lines`` come back after ``before``.

    Each returned SKU is taken from the purchase's lines of that SKU in
    order (the first line first). ``None`` returns everything left. A SKU
    the purchase did not have, a fraction of a SKU sold in whole units, or
    more units than are left raises :class:`~loyalty.errors.InvalidQuantity`
    naming the returned line.
    """
    after = {i: Decimal(before.get(i, 0)) for i in range(len(purchase.lines))}
    if lines is None:
        return {i: Decimal(line.quantity) for i, line in enumerate(purchase.lines)}
    for n, back in enumerate(lines):
        wanted = Decimal(back.quantity)
        left_total = Decimal(0)
        matching = [i for i, line in enumerate(purchase.lines) if line.sku == back.sku]
        if not matching:
            raise InvalidQuantity(f"lines[{n}].sku", f"purchase {purchase.id!r} has no {back.sku!r}")
        if (
            all(isinstance(purchase.lines[i].quantity, int) for i in matching)
            and wanted != wanted.to_integral_value()
        ):
            raise InvalidQuantity(
                f"lines[{n}].quantity", f"{back.sku!r} was sold in whole units, not {back.quantity}"
            )
        for i in matching:
            line = purchase.lines[i]
            left = EXACT.subtract(Decimal(line.quantity), after[i])
            left_total = EXACT.add(left_total, left)
            take = min(left, wanted)
            after[i] = EXACT.add(after[i], take)
            wanted = EXACT.subtract(wanted, take)
        if wanted:
            unit = "is" if left_total == 1 else "are"
            left_text = f"{left_total.normalize():f}"
            raise InvalidQuantity(
                f"lines[{n}].quantity",
                f"{back.quantity} of {back.sku!r} returned, but only {left_text} {unit} left to return",
            )
    return {i: quantity for i, quantity in after.items() if quantity}


#: Money keeps at most 12 decimal places (what a Line accepts).
_MONEY_PLACES = Decimal(1).scaleb(-12)


def _share(amount: Decimal, share: Decimal) -> Decimal:
    """``amount`` scaled by ``share``, cut to 12 places: down, so a kept discount or tax never
    exceeds what the kept units cost."""
    if not amount:
        return amount
    return EXACT.multiply(amount, share).quantize(_MONEY_PLACES, rounding=ROUND_DOWN, context=EXACT)


def remaining(purchase: Purchase, returned: Mapping[int, Decimal]) -> Purchase | None:
    """The purchase as if the ``returned`` units had never been bought; ``None`` when nothing is left.

    A line's discount and tax shrink in proportion to the units kept (to 12
    decimal places, rounded down).
    """
    lines: list[Line] = []
    for i, line in enumerate(purchase.lines):
        back = returned.get(i)
        if not back:
            lines.append(line)
            continue
        kept = EXACT.subtract(Decimal(line.quantity), back)
        if kept <= 0:
            continue
        share = EXACT.divide(kept, Decimal(line.quantity))
        lines.append(
            attrs.evolve(
                line,
                quantity=kept,
                discount=_share(line.discount, share),
                tax=_share(line.tax, share),
            )
        )
    return attrs.evolve(purchase, lines=lines) if lines else None


# Tally keys the engine keeps for returns. Ids are at most 128 characters, so every key fits.
# A purchase's own tallies name its member after the purchase (loyalty.tallies.of_member), so a
# store keeps them with the member's rows: its returns and the redemptions against it write no
# other member's row, nor a table shared by every member.


def returned_key(member_id: str, purchase_id: str, line: int) -> str:
    """Units of line ``line`` of ``member_id``'s purchase returned so far (the tally's points)."""
    return of_member(f"returned|{purchase_id}|{line}", member_id)


def taken_key(member_id: str, purchase_id: str) -> str:
    """Returns of the member's purchase (count) and the points they took back (points)."""
    return of_member(f"taken|{purchase_id}", member_id)


def paid_key(member_id: str, purchase_id: str) -> str:
    """Points redeemed to pay for the member's purchase."""
    return of_member(f"paid|{purchase_id}", member_id)


def refunded_key(member_id: str, purchase_id: str) -> str:
    """Points the returns of the member's purchase gave back of those paid."""
    return of_member(f"refunded|{purchase_id}", member_id)


def debt_key(member_id: str) -> str:
    """Points a return took beyond the member's lots under ``negative``: open debt lots."""
    return f"debt|{member_id}"


def owed_key(member_id: str) -> str:
    """Points a return could not take under ``future``, to collect from later earnings."""
    return f"owed|{member_id}"


@attrs.frozen
class Clawed:
    """How points to take back are split when the member has spent some (``short``) of them."""

    #: Taken from the member now (the take-back entry's points, as a positive number).
    taken: int
    #: Left as a debt below zero (``negative``), to be repaid by later credits.
    debt: int
    #: Owed, collected from the next earnings (``future``).
    owed: int
    #: Given up (``clamp``).
    uncollected: int

    def note(self) -> str:
        """What the take-back left behind, for its entry's reason (``", 10 owed"``), or ``""``."""
        if self.owed:
            return f", {self.owed} owed"
        if self.uncollected:
            return f", {self.uncollected} not collected"
        return ""


def claw(policy: Clawback, wanted: int, short: int) -> Clawed:
    """Split ``wanted`` points to take back, ``short`` of which the member's lots no longer hold.

    >>> claw(Clawback.FUTURE, 30, 10)
    Clawed(taken=20, debt=0, owed=10, uncollected=0)
    >>> claw(Clawback.NEGATIVE, 30, 10)
    Clawed(taken=30, debt=10, owed=0, uncollected=0)
    """
    if not short:
        return Clawed(wanted, 0, 0, 0)
    if policy is Clawback.NEGATIVE:
        return Clawed(wanted, short, 0, 0)
    if policy is Clawback.FUTURE:
        return Clawed(wanted - short, 0, short, 0)
    return Clawed(wanted - short, 0, 0, short)


def refund_due(paid: int, refunded: int, purchase: Purchase, left: Purchase | None) -> int:
    """Points ``paid`` for ``purchase`` that are owed back once it is down to ``left`` (``None``:
    nothing left), less those already ``refunded``; a part return refunds its share, rounded down.

    >>> from datetime import datetime, timezone
    >>> from loyalty.purchases import Line
    >>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
    >>> sale = Purchase("T1", "M1", t, [Line("a", 1, Decimal("30")), Line("b", 1, Decimal("10"))], "EUR")
    >>> refund_due(100, 0, sale, remaining(sale, {0: Decimal(1)}))
    75
    """
    if not paid:
        return 0
    total = purchase.total.amount
    if left is None or not total:
        due = paid
    else:
        share = EXACT.divide(EXACT.subtract(total, left.total.amount), total)
        # Exact already: rounding to an integer needs no precision, so no context either.
        due = int(EXACT.multiply(Decimal(paid), share).to_integral_value(rounding=ROUND_FLOOR))
    return max(0, due - refunded)
