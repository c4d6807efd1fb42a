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

import textwrap
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import TYPE_CHECKING

import attrs

from loyalty.errors import InvalidInput
from loyalty.json_form import JsonForm
from loyalty.money import EXACT, Money
from loyalty.program import Rounding

__all__ = ["MIN_WIDTH", "Contribution", "Receipt", "Row", "Skipped", "breakdown_rows"]

_ZERO = Decimal(0)
_RULE_OF_ROW = itemgetter(0)
#: The narrowest slip :meth:`Receipt.render` lays out: a figure and a few words a line.
MIN_WIDTH = 24
# Points a rule gave are shown to at most this many places (or the program's scale, if finer).
_PLACES = 2
# The least room beside a figure worth wrapping a label into (else the figure gets its own line).
_ROOM = 12


@attrs.frozen
class Contribution:
    """One rule's share of the points, on one line (``line`` is its index) or the whole purchase.

    ``points`` are exact, before rounding, in the one unit of points every figure
    uses (hundredths under ``scale = 2``); rounding happens once, after all rules,
    and is shown separately.
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


#: A contribution as the evaluation keeps it: ``(rule, name, points, detail, line)``, the
#: fields of a :class:`Contribution` in order.
Row = tuple[str, str, Decimal, str, int | None]


class _Rows:
    """Where a receipt made by the evaluation keeps its breakdown as plain rows until it is read."""

    __slots__ = ("_rows",)


@attrs.frozen
class Receipt(JsonForm, _Rows):
    """What a purchase (or an event, ``event`` set) earned, rule by rule.

    ``points``, like every figure of points, are integers in the program's one unit;
    ``scale`` is how many of their digits :meth:`render` shows as decimals.
    ``balance_after`` is ``None`` on a quote; ``skipped`` is filled by
    :meth:`~loyalty.Engine.explain` only, as finding every reason costs more
    than earning. ``carried_in``/``carried_out`` are the fractions of a point
    a program with ``carry`` brings from the member's earlier purchases and
    keeps for the next one. ``balance_after`` includes an entry bonus.
    ``guest`` marks a guest quote, made for a card not enrolled.
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
    #: the member to (if it did), and the entry bonus that paid.
    tier: str | None = None
    tier_reached: str | None = None
    tier_bonus: int = 0
    #: A guest quote (:meth:`~loyalty.Engine.quote` with ``guest=True``): what the basket
    #: would earn a card's holder who joined now. Never a recorded purchase's.
    guest: bool = False

    @classmethod
    def of_rows(
        cls,
        source_id: str,
        member_id: str,
        occurred_at: datetime,
        amount: Money | None,
        points: int,
        rows: tuple[Row, ...],
        rounding: Rounding,
        rounding_adjustment: Decimal,
        balance_after: int | None,
        skipped: tuple[Skipped, ...],
        program_version: str,
        scale: int,
        carried_in: Decimal,
        carried_out: Decimal,
        event: str | None,
    ) -> Receipt:
        """A receipt whose breakdown is made of ``rows`` when it is first read (the evaluation's,
        on every purchase: a recorded purchase keeps its rows as text, and most callers read only
        the points). It is the same value as one made with the contributions: equal, alike in
        ``repr``, ``to_dict`` and pickling."""
        # Each slot set through its own descriptor, made once below: ``object.__setattr__`` looks
        # the name up on the class and builds two argument tuples on each of these 19 calls.
        made = _NEW_RECEIPT(cls)
        _SET_ROWS(made, rows)
        _SET_SOURCE_ID(made, source_id)
        _SET_MEMBER_ID(made, member_id)
        _SET_OCCURRED_AT(made, occurred_at)
        _SET_AMOUNT(made, amount)
        _SET_POINTS(made, points)
        _SET_ROUNDING(made, rounding)
        _SET_ROUNDING_ADJUSTMENT(made, rounding_adjustment)
        _SET_BALANCE_AFTER(made, balance_after)
        _SET_SKIPPED(made, skipped)
        _SET_PROGRAM_VERSION(made, program_version)
        _SET_SCALE(made, scale)
        _SET_CARRIED_IN(made, carried_in)
        _SET_CARRIED_OUT(made, carried_out)
        _SET_EVENT(made, event)
        _SET_TIER(made, None)
        _SET_TIER_REACHED(made, None)
        _SET_TIER_BONUS(made, 0)
        _SET_GUEST(made, False)
        return made

    if not TYPE_CHECKING:  # (so that the type checker still refuses a misspelt attribute)

        def __getattr__(self, name: str) -> object:
            # Only an unset slot comes here: the breakdown of a receipt made by of_rows, not read yet.
            if name != "breakdown":
                raise AttributeError(name)
            rows = object.__getattribute__(self, "_rows")
            breakdown = tuple([Contribution(*row) for row in rows])
            object.__setattr__(self, "breakdown", breakdown)
            return breakdown

    @property
    def rules(self) -> tuple[str, ...]:
        """The ids of the rules that gave points, in evaluation order, each once."""
        # (map with an itemgetter: a comprehension makes a function object on each call.)
        return tuple(dict.fromkeys(map(_RULE_OF_ROW, breakdown_rows(self))))

    def points_of(self, rule: str) -> Decimal:
        """The exact points ``rule`` contributed (before rounding)."""
        total = _ZERO
        for c in self.breakdown:
            if c.rule == rule:
                total = EXACT.add(total, c.points)
        return total

    def shown_points(self, units: int | None = None) -> str:
        """Points as a till shows them: 675 at scale 2 is ``6.75``."""
        units = self.points if units is None else units
        return str(Decimal(units).scaleb(-self.scale, context=EXACT)) if self.scale else str(units)

    def render(self, width: int = 50) -> str:
        """A plain-text explanation for a till slip ``width`` characters wide: no line is longer.

        A label too long for its line goes on over lines indented two more
        spaces, its figure right-aligned on the last of them. The amount is
        shown at its currency's minor unit (``10.95 EUR``); a rule's points,
        the rounding and carried fractions with their sign, rounded half-up
        to at most two decimal places (or the program's ``scale``, if finer):
        ``+3.0876`` is shown ``+3.09``, ``-0.3700`` is ``-0.37``, ``+6.80``
        stays ``+6.80``. A guest quote says so under the points earned. A
        ``width`` below :data:`MIN_WIDTH` raises :class:`~loyalty.errors.InvalidInput`.

        >>> from datetime import datetime, timezone
        >>> receipt = Receipt(
        ...     source_id="T1-42", member_id="M1", occurred_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
        ...     amount=Money(Decimal("3.0876"), "EUR"), points=3,
        ...     breakdown=(Contribution("base", "Points on everything", Decimal("3.0876"),
        ...                             "1 point per 1.00 EUR on P0002 3.09", 0),),
        ...     rounding=Rounding.FLOOR, rounding_adjustment=Decimal("-0.0876"), balance_after=120)
        >>> print(receipt.render(width=32))
        Purchase T1-42: 3.09 EUR
          Points on everything (1 point
            per 1.00 EUR on P0002
            3.09)                  +3.09
          rounding (floor)         -0.09
          points earned                3
          balance                    120
        >>> receipt.render(width=20)
        Traceback (most recent call last):
        ...
        loyalty.errors.InvalidInput: width: must be an int of at least 24, got 20
        """
        if isinstance(width, bool) or not isinstance(width, int) or width < MIN_WIDTH:
            raise InvalidInput("width", f"must be an int of at least {MIN_WIDTH}, got {width!r}")
        places = max(_PLACES, self.scale)

        def row(label: str, value: str) -> list[str]:
            return _row(label, value, width)

        if self.event is not None:
            rows = _wrapped(f"Event {self.source_id}: {self.event}", width, "")
        else:
            rows = _wrapped(f"Purchase {self.source_id}: {self.amount}", width, "")
        scale = self.scale

        def signed(points: Decimal) -> str:
            return _signed(points.scaleb(-scale, context=EXACT) if scale else points, places)

        for c in self.breakdown:
            rows += row(f"{c.name} ({c.detail})", signed(c.points))
        if self.carried_in:
            rows += row("carried from earlier purchases", signed(self.carried_in))
        if self.carried_out:
            rows += row("carried to the next purchase", signed(EXACT.minus(self.carried_out)))
        elif self.rounding_adjustment:
            rows += row(f"rounding ({self.rounding.value})", signed(self.rounding_adjustment))
        rows += row("points earned", self.shown_points())
        if self.guest:
            rows += _wrapped("join now to earn these points", width, "  ")
        if self.tier_reached is not None:
            rows += _wrapped(f"tier reached: {self.tier_reached}", width, "  ")
        if self.tier_bonus:
            rows += row("entry bonus", f"+{self.shown_points(self.tier_bonus)}")
        if self.balance_after is not None:
            rows += row("balance", self.shown_points(self.balance_after))
        if self.skipped:
            rows.append("  not applied:")
            for s in self.skipped:
                rows += _wrapped(f"{s.name}: {s.reason}", width, "    ")
        return "\n".join(rows)


# The setters of_rows uses: each slot's descriptor's ``__set__`` (``_rows`` is the base's slot).
_NEW_RECEIPT = object.__new__
_SET_ROWS = _Rows.__dict__["_rows"].__set__
(
    _SET_SOURCE_ID,
    _SET_MEMBER_ID,
    _SET_OCCURRED_AT,
    _SET_AMOUNT,
    _SET_POINTS,
    _SET_ROUNDING,
    _SET_ROUNDING_ADJUSTMENT,
    _SET_BALANCE_AFTER,
    _SET_SKIPPED,
    _SET_PROGRAM_VERSION,
    _SET_SCALE,
    _SET_CARRIED_IN,
    _SET_CARRIED_OUT,
    _SET_EVENT,
    _SET_TIER,
    _SET_TIER_REACHED,
    _SET_TIER_BONUS,
    _SET_GUEST,
) = (
    Receipt.__dict__[name].__set__
    for name in (
        "source_id",
        "member_id",
        "occurred_at",
        "amount",
        "points",
        "rounding",
        "rounding_adjustment",
        "balance_after",
        "skipped",
        "program_version",
        "scale",
        "carried_in",
        "carried_out",
        "event",
        "tier",
        "tier_reached",
        "tier_bonus",
        "guest",
    )
)


def breakdown_rows(receipt: Receipt) -> tuple[Row, ...]:
    """The receipt's breakdown as rows, without making its contributions if they are not made yet."""
    try:
        return object.__getattribute__(receipt, "_rows")  # type: ignore[no-any-return]
    except AttributeError:
        return tuple((c.rule, c.name, c.points, c.detail, c.line) for c in receipt.breakdown)


def _wrapped(text: str, width: int, indent: str, then: str | None = None) -> list[str]:
    """``text`` in lines of at most ``width``, the first indented by ``indent``, the others by
    ``then`` (two more spaces); a word longer than a line is cut, an id is not cut at hyphens."""
    then = indent + "  " if then is None else then
    lines = textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=then, break_on_hyphens=False)
    return lines or [indent]


def _row(label: str, value: str, width: int) -> list[str]:
    """A label and its figure, right-aligned on the label's last line: that line is wrapped again
    to leave the figure room, or, with too little room left, the figure goes under it (cut into
    lines of ``width`` if it is wider than the slip)."""
    lines = _wrapped(label, width, "  ")
    room = width - len(value) - 1
    if len(lines[-1]) > room and room >= _ROOM:
        indent = "  " if len(lines) == 1 else "    "
        lines[-1:] = _wrapped(lines[-1][len(indent) :], room, indent, "    ")
    last = lines[-1]
    if len(last) + 1 + len(value) <= width:
        lines[-1] = last + value.rjust(width - len(last))
    else:
        lines += [part.rjust(width) for part in textwrap.wrap(value, width)]
    return lines


def _signed(value: Decimal, places: int) -> str:
    # Exact figures can have many digits (a third of a point, the points on a price of 2.0584):
    # a slip shows at most ``places``; written out in full, never as 1E+1.
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP, context=EXACT)
    return f"{value:+f}"
