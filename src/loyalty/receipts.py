"""What a purchase or event earned and why: the breakdown and its receipt text.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> from loyalty.money import EXACT, Money
>>> from loyalty.program import Rounding
>>> receipt = Receipt(
...     source_id="T1-42", member_id="M1", occurred_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
...     amount=Money(Decimal("10.95"), "EUR"), points=10,
...     breakdown=(Contribution("base", "base", Decimal("10.95"), "1 point per 1.00 EUR on 10.95", 0),),
...     rounding=Rounding.FLOOR, rounding_adjustment=Decimal("-0.95"),
...     skipped=(Skipped("happy", "Happy hour", "outside window Tue 14:00-17:00"),))
>>> print(receipt.render())
Purchase T1-42: 10.95 EUR
  base (1 point per 1.00 EUR on 10.95)      +10.95
  rounding (floor)                           -0.95
  points earned                                 10
  not applied:
    Happy hour: outside window Tue 14:00-17:00
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from loyalty.money import EXACT, Money
from loyalty.program import Rounding

__all__ = ["Contribution", "Receipt", "Skipped"]

_ZERO = Decimal(0)
_SHOWN = Decimal("0.0001")


@attrs.frozen
class Contribution:
    """One rule's share of the points, on one line (``line`` is its index) or the whole purchase.

    ``points`` are exact and in whole points (not the program's stored
    units); rounding happens once, after all rules, and is shown separately.
    """

    rule: str
    name: str
    points: Decimal
    detail: str
    line: int | None = None


@attrs.frozen
class Skipped:
    """A rule that gave nothing, and why ("minimum order 20.00 not met: 12.50")."""

    rule: str
    name: str
    reason: str


@attrs.frozen
class Receipt:
    """What a purchase (or an event, ``event`` set) earned, rule by rule.

    ``points`` are in the program's stored units (``10**-scale`` of a point).
    ``balance_after`` is ``None`` on a quote; ``skipped`` is filled by
    :meth:`~loyalty.Engine.explain` only, as finding every reason costs more
    than earning. ``carried_in``/``carried_out`` are the fractions of a point
    a program with ``carry`` brings from the member's earlier purchases and
    keeps for the next one. ``balance_after`` includes an entry bonus.
    """

    source_id: str
    member_id: str
    occurred_at: datetime
    amount: Money | None
    points: int
    breakdown: tuple[Contribution, ...]
    rounding: Rounding
    rounding_adjustment: Decimal
    balance_after: int | None = None
    skipped: tuple[Skipped, ...] = ()
    program_version: str = "1"
    scale: int = 0
    carried_in: Decimal = _ZERO
    carried_out: Decimal = _ZERO
    event: str | None = None
    #: Under a tiered program: the tier the purchase earned at, the tier it lifted
    #: the member to (if it did), and the entry bonus that paid (in stored units).
    tier: str | None = None
    tier_reached: str | None = None
    tier_bonus: int = 0

    @property
    def rules(self) -> tuple[str, ...]:
        """The ids of the rules that gave points, in evaluation order, each once."""
        return tuple(dict.fromkeys([c.rule for c in self.breakdown]))

    def points_of(self, rule: str) -> Decimal:
        """The exact points ``rule`` contributed (before rounding)."""
        total = _ZERO
        for c in self.breakdown:
            if c.rule == rule:
                total = EXACT.add(total, c.points)
        return total

    def shown_points(self, units: int | None = None) -> str:
        """Stored units as points are shown: 675 at scale 2 is ``6.75``."""
        units = self.points if units is None else units
        return str(Decimal(units).scaleb(-self.scale, context=EXACT)) if self.scale else str(units)

    def render(self, width: int = 50) -> str:
        """A plain-text explanation fit for a till receipt."""

        def row(label: str, value: str, indent: str = "  ") -> str:
            gap = max(1, width - len(indent) - len(label) - len(value))
            return f"{indent}{label}{' ' * gap}{value}"

        if self.event is not None:
            rows = [f"Event {self.source_id}: {self.event}"]
        else:
            rows = [f"Purchase {self.source_id}: {self.amount}"]
        rows += [row(f"{c.name} ({c.detail})", _signed(c.points)) for c in self.breakdown]
        if self.carried_in:
            rows.append(row("carried from earlier purchases", _signed(self.carried_in)))
        if self.carried_out:
            rows.append(row("carried to the next purchase", _signed(EXACT.minus(self.carried_out))))
        elif self.rounding_adjustment:
            rows.append(row(f"rounding ({self.rounding.value})", _signed(self.rounding_adjustment)))
        rows.append(row("points earned", self.shown_points()))
        if self.tier_reached is not None:
            rows.append(f"  tier reached: {self.tier_reached}")
        if self.tier_bonus:
            rows.append(row("entry bonus", f"+{self.shown_points(self.tier_bonus)}"))
        if self.balance_after is not None:
            rows.append(row("balance", self.shown_points(self.balance_after)))
        if self.skipped:
            rows.append("  not applied:")
            rows += [f"    {s.name}: {s.reason}" for s in self.skipped]
        return "\n".join(rows)


def _signed(value: Decimal) -> str:
    # Exact figures can have many digits (a third of a point); a receipt shows four.
    if isinstance(value.as_tuple().exponent, int) and value.as_tuple().exponent < -4:  # type: ignore[operator]
        value = value.quantize(_SHOWN, context=EXACT)
    return f"{value:+}"
