"""A :class:`~loyalty.report.Report` gathered: from an engine on a store (:func:`of_store`) or
from a what-if run (:func:`of_comparison`). :mod:`loyalty.report_html` draws it.

>>> from loyalty import Program
>>> from loyalty.whatif import simulate
>>> lines = [
...     '{"type": "enrollment", "id": "E1", "member_id": "M1", "at": "2024-03-01T09:00:00+01:00"}',
...     '{"type": "purchase", "id": "T1", "member_id": "M1", "at": "2024-03-04T09:30:00+01:00",'
...     ' "currency": "EUR", "lines": [{"sku": "cake", "quantity": 3, "unit_price": "4.15"}]}',
... ]
>>> club, proposed = Program("Club", "EUR"), Program("Club", "EUR", version="2")
>>> found = of_comparison(simulate(lines, club, proposed, over_time=True))
>>> [side.label for side in found.sides], [len(side.periods) for side in found.sides]
(['current: Club 1', 'proposed: Club 2'], [4, 4])
>>> [str(period.issued) for period in found.sides[0].periods]
['0', '0', '0', '12']
>>> [(share.key, str(share.value)) for share in found.sides[0].rules]
[('base', '12.45'), ('(rounding)', '-0.45')]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from loyalty.engine import Engine
from loyalty.errors import InvalidInput
from loyalty.figures import periods
from loyalty.program import Program
from loyalty.report import Period, Report, Share, Side, whole
from loyalty.store import Store
from loyalty.whatif import Comparison, Outcome, RulePoints

__all__ = ["member_ids", "of_comparison", "of_store", "points_by_rule"]

_UTC = ZoneInfo("UTC")


def _rules(rules: Sequence[RulePoints], scale: int) -> tuple[Share, ...]:
    return tuple(Share(rule.rule, rule.name, whole(rule.points, scale)) for rule in rules)


def member_ids(store: Store, *, page: int = 500) -> Iterator[str]:
    """Every member id in the store, in order, ``page`` per read."""
    after = ""
    while True:
        with store.unit_of_work(readonly=True) as uow:
            ids = uow.member_ids(after=after, limit=page)
        yield from ids
        if len(ids) < page:
            return
        after = ids[-1]


def points_by_rule(engine: Engine, start: datetime, end: datetime) -> list[RulePoints]:
    """The points each rule gave in ``[start, end)``, as the store adds them up
    (:attr:`loyalty.figures.Figures.by_rule`: an entry of several rules counts for each its
    share), in the program's units, rules that gave nothing left out."""
    given = engine.figures(start, end).by_rule
    return [RulePoints(rule.rule, rule.name, Decimal(rule.issued)) for rule in given if rule.issued]


def of_store(
    engine: Engine,
    store: Store,
    start: datetime,
    end: datetime,
    *,
    point_value: Decimal | None = None,
    rules: Sequence[RulePoints] | None = None,
) -> Report:
    """The report of the program on ``engine`` (over ``store``) for ``[start, end)``.

    Figures over time are :meth:`~loyalty.Engine.figures` for each day, week or month
    (:func:`loyalty.figures.periods`), priced at ``point_value`` (default: the program's
    ``redemption.point_value``); members per tier are as they stand now, members at risk as of
    ``end`` (:meth:`~loyalty.Engine.at_risk`). ``rules`` are the points each rule gave, in the
    program's units; by default the store's own figures by rule (:func:`points_by_rule`).
    """
    program = engine.program
    value = program.redemption.point_value if point_value is None else point_value
    series = tuple(
        Period.of(engine.figures(a, b, point_value=value), program.scale, program.zone)
        for a, b in periods(start, end, program.zone)
    )
    members = list(member_ids(store))
    tiers: tuple[Share, ...] = ()
    if program.tiers is not None:
        counts = Counter(engine.tier(member).tier.id for member in members)
        tiers = tuple(
            Share(level.id, level.name or level.id, Decimal(counts[level.id]))
            for level in program.tiers.levels
        )
    given = points_by_rule(engine, start, end) if rules is None else rules
    side = Side(
        f"{program.name} {program.version}",
        series,
        tiers,
        _rules(given, program.scale),
        len(engine.at_risk(end).at_risk),
    )
    span = f"{start.astimezone(program.zone).isoformat()} to {end.astimezone(program.zone).isoformat()}"
    return Report(f"{program.name}: figures", span, program.currency, start, end, (side,))


def _side(label: str, outcome: Outcome, program: Program | None) -> Side:
    scale = outcome.scale
    zone = _UTC if program is None else program.zone
    named = {} if program is None or program.tiers is None else {t.id: t.name for t in program.tiers.levels}
    found = outcome.periods or (outcome.figures,)
    extras = [
        RulePoints(key, name, points)
        for key, name, points in (
            ("(rounding)", "rounding", outcome.rounding),
            ("(tier bonuses)", "tier bonuses", Decimal(outcome.tier_bonus)),
        )
        if points
    ]
    return Side(
        f"{label}: {outcome.program} {outcome.version}",
        tuple(Period.of(figures, scale, zone) for figures in found),
        tuple(
            Share(count.tier, named.get(count.tier) or count.tier, Decimal(count.members))
            for count in outcome.tiers
        ),
        _rules([*outcome.rules, *extras], scale),
        outcome.at_risk,
    )


def of_comparison(found: Comparison, *, programs: Sequence[Program] = ()) -> Report:
    """The report of a what-if: the current program and the proposed one side by side.

    Run :func:`~loyalty.whatif.simulate` with ``over_time=True`` for figures over time and
    members at risk; without, each side has one period, the whole history. ``programs``
    (current and proposed, latest versions) give the timezone the periods are shown in (by
    default UTC) and the tiers' names (by default their ids).
    """
    chosen: Sequence[Program | None] = programs or (None, None)
    if len(chosen) != 2:
        raise InvalidInput("programs", f"must be the current and the proposed program, got {len(chosen)}")
    sides = (_side("current", found.current, chosen[0]), _side("proposed", found.proposed, chosen[1]))
    start = found.start if found.start is not None else found.current.figures.start
    end = found.end if found.end is not None else found.current.figures.end
    span = f"{found.records} records from {start.isoformat()} to {end.isoformat()}"
    currency = found.current.figures.spend.currency
    return Report(f"What-if: {found.current.program}", span, currency, start, end, sides)
