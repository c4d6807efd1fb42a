"""How a purchase earns points, as a pure function with its explanation.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> from loyalty.program import EarnRate, Program
>>> from loyalty.purchases import Line, Purchase
>>> program = Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")))
>>> sale = Purchase("T1-42", "M1", datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc),
...                 [Line("coffee", 2, Decimal("3.40")), Line("cake", 1, Decimal("4.15"))], "EUR")
>>> receipt = earn(program, sale)
>>> receipt.points
10
>>> print(receipt.render())
Purchase T1-42: 10.95 EUR
  base (1 point per 1.00 EUR on 10.95 EUR)  +10.95
  rounding (floor)                           -0.95
  points earned                                 10
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from loyalty.checks import MAX_POINTS
from loyalty.errors import CurrencyMismatch, PointsOverflow
from loyalty.money import EXACT, Money
from loyalty.program import Program, Rounding
from loyalty.purchases import Purchase

__all__ = ["Contribution", "Receipt", "earn"]


@attrs.frozen
class Contribution:
    """One rule's share of a purchase's points, before rounding, and why."""

    rule: str
    points: Decimal
    detail: str


@attrs.frozen
class Receipt:
    """What a purchase earned and why. ``balance_after`` is ``None`` on a quote."""

    purchase_id: str
    member_id: str
    occurred_at: datetime
    amount: Money
    points: int
    breakdown: tuple[Contribution, ...]
    rounding: Rounding
    rounding_adjustment: Decimal
    balance_after: int | None = None

    def render(self, width: int = 50) -> str:
        """A plain-text explanation fit for a till receipt."""

        def row(label: str, value: str) -> str:
            return f"  {label}{value.rjust(max(1, width - 2 - len(label)))}"

        rows = [f"Purchase {self.purchase_id}: {self.amount}"]
        rows += [row(f"{c.rule} ({c.detail})", f"{c.points:+}") for c in self.breakdown]
        if self.rounding_adjustment:
            rows.append(row(f"rounding ({self.rounding.value})", f"{self.rounding_adjustment:+}"))
        rows.append(row("points earned", str(self.points)))
        if self.balance_after is not None:
            rows.append(row("balance", str(self.balance_after)))
        return "\n".join(rows)


def earn(program: Program, purchase: Purchase, *, balance_before: int | None = None) -> Receipt:
    """Points ``purchase`` earns under ``program``, with the breakdown. Writes nothing.

    With ``balance_before`` (the member's balance before this purchase) the
    receipt's ``balance_after`` is that plus the points; it plays no part in
    the computation.
    """
    if purchase.currency != program.currency:
        raise CurrencyMismatch(
            "currency",
            f"purchase is in {purchase.currency} but program {program.name!r} runs in {program.currency}",
        )
    amount = purchase.total
    rate = program.rate
    raw = EXACT.divide(EXACT.multiply(amount.amount, Decimal(rate.points)), rate.per)
    # amount is already rounded to the minor unit, so its digits print as they are.
    base = Contribution("base", raw, f"{rate} {program.currency} on {amount.amount} {program.currency}")
    points = int(raw.to_integral_value(rounding=program.rounding.decimal_mode, context=EXACT))
    if points > MAX_POINTS:
        raise PointsOverflow("lines", f"the purchase would earn {points} points, beyond the 64-bit range")
    return Receipt(
        purchase_id=purchase.id,
        member_id=purchase.member_id,
        occurred_at=purchase.at,
        amount=amount,
        points=points,
        breakdown=(base,),
        rounding=program.rounding,
        rounding_adjustment=EXACT.subtract(Decimal(points), raw),
        balance_after=None if balance_before is None else balance_before + points,
    )
