"""What a what-if run found: each program's outcome, the members' changes, and the table.

:func:`loyalty.whatif.simulate` replays a history under two programs and answers with a
:class:`Comparison` of the two :class:`Outcome` values (figures, points per rule, members per
tier, declined redemptions) and the members who gain and lose most; :meth:`Comparison.render`
draws it as a side-by-side text table. Values only: nothing here runs an engine or reads a
store, so a report (:mod:`loyalty.reporting`) and the CLI take a comparison as it is.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import attrs

from loyalty.figures import Figures
from loyalty.json_form import JsonForm
from loyalty.money import EXACT

__all__ = ["Comparison", "MemberChange", "Outcome", "RulePoints", "TierCount"]


@attrs.frozen
class RulePoints(JsonForm):
    """The points rule ``rule`` gave over the history, in the program's units, exact (before rounding)."""

    rule: str
    name: str
    points: Decimal


@attrs.frozen
class TierCount(JsonForm):
    """How many members ended the history in tier ``tier``."""

    tier: str
    members: int


@attrs.frozen
class MemberChange(JsonForm):
    """What one member earned under each program (net of returns), in whole points."""

    member_id: str
    current: Decimal
    proposed: Decimal

    @property
    def difference(self) -> Decimal:
        return EXACT.subtract(self.proposed, self.current)


@attrs.frozen
class Outcome(JsonForm):
    """One program's run over the history.

    ``figures`` are the engine's own for the whole history; ``rules`` the points each rule gave,
    by rule id, and ``rounding`` what rounding added or removed; ``tier_bonus`` the
    entry bonuses paid; ``tiers`` the members per tier at the end (empty without tiers);
    ``declined`` the redemptions and debits refused for want of points, ``declined_points``
    the points they asked for. Points are in the program's one unit, ``scale`` of its digits
    decimals (:meth:`whole` shows them as a till does). Asked for with ``over_time``,
    ``periods`` has the figures of each day, week or month of the history
    (:func:`loyalty.figures.periods`) and ``at_risk`` how many members were drifting away at
    the end (:meth:`loyalty.Engine.at_risk`); otherwise they are empty and ``None``.
    """

    program: str
    version: str
    scale: int
    figures: Figures
    rules: tuple[RulePoints, ...]
    rounding: Decimal
    tier_bonus: int
    tiers: tuple[TierCount, ...]
    declined: int
    declined_points: int
    periods: tuple[Figures, ...] = ()
    at_risk: int | None = None

    def whole(self, units: int | Decimal) -> Decimal:
        """``units`` of this program in whole points (675 at scale 2 is 6.75)."""
        return Decimal(units).scaleb(-self.scale, context=EXACT) if self.scale else Decimal(units)


@attrs.frozen
class Comparison(JsonForm):
    """A history replayed under ``current`` and ``proposed``: :func:`~loyalty.whatif.simulate`'s answer.

    ``records`` were replayed, from ``start`` to ``end`` (both included: the figures cover them;
    in UTC for a history read from text);
    ``gains`` and ``losses`` are the members who earn most more and most less under the
    proposed program, largest change first.
    """

    records: int
    start: datetime | None
    end: datetime | None
    current: Outcome
    proposed: Outcome
    gains: tuple[MemberChange, ...]
    losses: tuple[MemberChange, ...]

    def render(self) -> str:
        """The comparison as a side-by-side text table: current, proposed and the change."""
        return "\n".join(_table(self))


# -- the text table ---------------------------------------------------------------------------


def _shown(points: Decimal) -> str:
    """Whole points as a report shows them: at most two decimals, rounded half up."""
    exponent = points.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        points = points.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP, context=EXACT)
    return f"{points:f}"


def _change(before: Decimal | None, after: Decimal | None) -> str:
    if before is None or after is None:
        return ""
    difference = EXACT.subtract(after, before)
    return "0" if not difference else ("+" if difference > 0 else "") + _shown(difference)


def _compared(
    label: str, before: Decimal | None, after: Decimal | None, *, missing: Decimal | None = None
) -> tuple[str, str, str, str]:
    """A row of the table: ``-`` where a side has no such figure (its change counted from
    ``missing``, if given: a rule only one program has costs nothing in the other)."""
    shown = ("-" if before is None else _shown(before), "-" if after is None else _shown(after))
    base = (missing if before is None else before, missing if after is None else after)
    return label, shown[0], shown[1], _change(*base)


def _paired(
    before: dict[str, Decimal], after: dict[str, Decimal]
) -> dict[str, tuple[Decimal | None, Decimal | None]]:
    """Each key of either side with both sides' figures (``None`` where a side lacks it), in order."""
    return {key: (before.get(key), after.get(key)) for key in (*before, *after)}


def _rate(value: Decimal | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(found: Comparison) -> list[str]:
    current, proposed = found.current, found.proposed
    rows: list[tuple[str, str, str, str]] = [
        ("", "current", "proposed", "change"),
        ("program", f"{current.program} {current.version}", f"{proposed.program} {proposed.version}", ""),
    ]

    def points(label: str, units: tuple[int, int]) -> None:
        before, after = current.whole(units[0]), proposed.whole(units[1])
        rows.append((label, _shown(before), _shown(after), _change(before, after)))

    def both(label: str, pick: str) -> tuple[int, int]:
        return getattr(current.figures, pick), getattr(proposed.figures, pick)

    for label, pick in (
        ("points issued", "issued"),
        ("points redeemed", "redeemed"),
        ("points expired", "expired"),
        ("points taken back", "taken_back"),
        ("points adjusted", "adjusted"),
        ("points outstanding", "outstanding"),
    ):
        points(label, both(label, pick))
    liability = current.figures.liability, proposed.figures.liability
    rows.append(
        (
            "liability",
            "-" if liability[0] is None else str(liability[0]),
            "-" if liability[1] is None else str(liability[1]),
            _change(*(None if money is None else money.amount for money in liability))
            if liability[0] is not None
            and liability[1] is not None
            and liability[0].currency == liability[1].currency
            else "",
        )
    )
    rates = current.figures.breakage_rate, proposed.figures.breakage_rate
    rows.append(("breakage rate", _rate(rates[0]), _rate(rates[1]), ""))
    declines = (current.declined, proposed.declined)
    rows.append(
        (
            "declined",
            f"{current.declined} ({_shown(current.whole(current.declined_points))} points)",
            f"{proposed.declined} ({_shown(proposed.whole(proposed.declined_points))} points)",
            _change(Decimal(declines[0]), Decimal(declines[1])),
        )
    )
    tiers = _paired(
        {count.tier: Decimal(count.members) for count in current.tiers},
        {count.tier: Decimal(count.members) for count in proposed.tiers},
    )
    if tiers:
        rows.append(("members per tier", "", "", ""))
        rows += [_compared(f"  {tier}", before, after) for tier, (before, after) in tiers.items()]
    rows.append(("points per rule", "", "", ""))
    names = {rule.rule: rule.name for rule in (*current.rules, *proposed.rules)}
    given = _paired(
        {rule.rule: rule.points for rule in current.rules},
        {rule.rule: rule.points for rule in proposed.rules},
    )
    for rule, (before, after) in given.items():
        label = f"  {rule}" if names[rule] == rule else f"  {rule} ({names[rule]})"
        rows.append(
            _compared(
                label,
                None if before is None else current.whole(before),
                None if after is None else proposed.whole(after),
                missing=Decimal(0),
            )
        )
    for label, before_extra, after_extra in (
        ("(rounding)", current.whole(current.rounding), proposed.whole(proposed.rounding)),
        ("(tier bonuses)", current.whole(current.tier_bonus), proposed.whole(proposed.tier_bonus)),
    ):
        if before_extra or after_extra:
            rows.append(_compared(f"  {label}", before_extra, after_extra))
    for heading, changes in (("members who gain most", found.gains), ("members who lose most", found.losses)):
        if changes:
            rows.append((heading, "", "", ""))
            rows += [
                (f"  {c.member_id}", _shown(c.current), _shown(c.proposed), _change(c.current, c.proposed))
                for c in changes
            ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    span = (
        ""
        if found.start is None or found.end is None
        else f" from {found.start.isoformat()} to {found.end.isoformat()}"
    )
    lines = [f"What-if: {found.records} records{span}"]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines
