"""Program economics for a period: who stayed, who left, and what the points cost.

The store adds everything up (:class:`PeriodTotals`, from
``UnitOfWork.period_totals``: sums over the ledger and the recorded
purchases, never every entry loaded into Python); :func:`figures` turns the
totals into rates.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> jan, feb = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 2, 1, tzinfo=timezone.utc)
>>> totals = PeriodTotals(by_kind={"earn": 1000, "redeem": -400, "expire": -100, "transfer": 0},
...                       outstanding=2500, members=50, active=30, active_before=40, retained=28,
...                       purchases=90, spend=Decimal("2700.00"), transferred=120, by_rule={})
>>> f = figures(totals, jan, feb, "EUR", point_value=Decimal("0.01"))
>>> f.retention_rate, f.defection_rate, f.breakage_rate
(Decimal('0.7000'), Decimal('0.3000'), Decimal('0.2000'))
>>> f.transferred_out, f.transferred_in
(120, 120)
>>> print(f.liability, f.lifetime_value)
25.00 EUR 300.00 EUR

By rule (by campaign), with each rule's name and how much of a budget is spent:

>>> totals = attrs.evolve(totals, by_rule={"base": 900, "spring": 100})
>>> f = figures(totals, jan, feb, "EUR", names={"base": "Base rate", "spring": "Spring week"},
...             budgets={"spring": (500, Decimal("240"))})
>>> [(r.rule, r.name, r.issued, r.budget, r.budget_spent) for r in f.by_rule]
[('base', 'Base rate', 900, None, None), ('spring', 'Spring week', 100, 500, Decimal('240'))]
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

import attrs
from dateutil.relativedelta import relativedelta

from loyalty.json_form import JsonForm
from loyalty.money import CURRENCY_MINOR_UNITS, EXACT, Money

__all__ = ["Figures", "PeriodTotals", "RuleFigures", "figures", "periods"]

_RATE = Decimal("0.0001")
# A chart over time reads best with a few dozen points at most: the steps tried, shortest first.
_STEPS = (relativedelta(days=1), relativedelta(weeks=1), relativedelta(months=1), relativedelta(months=3))
_MOST = 40


@attrs.frozen
class PeriodTotals:
    """What the store adds up for ``[start, end)`` (instants of the till's time, ``occurred_at``).

    ``by_kind`` sums the points of the ledger entries in the period by kind;
    ``outstanding`` sums every entry before ``end``; ``members`` counts
    those enrolled before ``end``; ``active`` those with a purchase in the
    period, ``active_before`` in the period of the same length before it,
    ``retained`` in both; ``purchases`` and ``spend`` are the period's
    purchases and their totals. ``transferred`` sums the points of the
    period's ``transfer`` entries that credited a member (``by_kind`` has
    their net, what was received less what was sent: zero when each
    transfer's two sides fall in the period, as they do, written at one time). ``by_rule`` sums
    each rule's points of the period's entries (:func:`loyalty.ledger.rule_shares`: all of an
    entry of one rule, its share of an entry of several).
    """

    by_kind: Mapping[str, int]
    outstanding: int
    members: int
    active: int
    active_before: int
    retained: int
    purchases: int
    spend: Decimal
    transferred: int
    by_rule: Mapping[str, int]


@attrs.frozen
class RuleFigures(JsonForm):
    """One rule's figures (a campaign's): the points it gave in the period, and its budget."""

    rule: str
    #: The rule's name in the latest program version that has it (else its id: a referral's or
    #: a tier's bonus, a rule no version has any more).
    name: str
    #: The points the rule gave in the period: all of an entry's of the rule alone, its share of
    #: an entry's of several (what it gave rounded down, the rounding's gain to the largest
    #: fractions: :func:`loyalty.ledger.shares_of`).
    issued: int
    #: The rule's budget (points over its whole life), if it has one ...
    budget: int | None = None
    #: ... and the points spent of it when the figures were made (not at the period's end).
    budget_spent: Decimal | None = None


@attrs.frozen
class Figures(JsonForm):
    """A period's figures (points as integers, rates as shares from 0 to 1)."""

    start: datetime
    end: datetime
    members: int
    active: int
    active_before: int
    retained: int
    #: Of the members active in the period before, the share active again (``None``: nobody was).
    retention_rate: Decimal | None
    #: The share of them who were not: they defected.
    defection_rate: Decimal | None
    issued: int
    redeemed: int
    expired: int
    taken_back: int
    adjusted: int
    #: Points members sent to other members in the period, and points received from them: the
    #: same points, moving between members (neither issued nor redeemed, nor outstanding more).
    transferred_out: int
    transferred_in: int
    #: Of the points that reached their end in the period, the share that expired rather than
    #: being redeemed: ``expired / (expired + redeemed)``, from 0 to 1 (``None``: none ended).
    breakage_rate: Decimal | None
    outstanding: int
    #: ``outstanding`` at the value of a point, if one was given.
    liability: Money | None
    purchases: int
    spend: Money
    #: Spend per active member in the period.
    average_spend: Money | None
    #: Spend per active member per period over the periods a member is expected to stay
    #: (1 / defection rate); ``None`` when nobody defected or nothing is known.
    lifetime_value: Money | None
    #: Each rule that gave points in the period or has a budget: most points first, then by id.
    by_rule: tuple[RuleFigures, ...] = ()


def _money(value: Decimal, currency: str) -> Money:
    """``value`` rounded half-up to the currency's minor unit, as money."""
    unit = Decimal(1).scaleb(-CURRENCY_MINOR_UNITS[currency])
    return Money(value.quantize(unit, rounding=ROUND_HALF_UP, context=EXACT), currency)


def _share(part: int, whole: int) -> Decimal | None:
    return None if not whole else (Decimal(part) / Decimal(whole)).quantize(_RATE)


def figures(
    totals: PeriodTotals,
    start: datetime,
    end: datetime,
    currency: str,
    *,
    point_value: Decimal | None = None,
    names: Mapping[str, str] | None = None,
    budgets: Mapping[str, tuple[int, Decimal]] | None = None,
) -> Figures:
    """The period's figures from the store's totals. ``point_value`` is money per point; ``names``
    are the rules' names by id, ``budgets`` the budgets of the rules that have one and the points
    spent of each (``(budget, spent)`` by rule id)."""
    kind = totals.by_kind
    issued = kind.get("earn", 0) + kind.get("refund", 0)
    # A hold's entry is the redemption; points given back from holds come off it.
    redeemed = -(kind.get("redeem", 0) + kind.get("hold", 0) + kind.get("release", 0))
    # Breakage is a share of the points that ended, not of those issued: a period's expiries
    # are mostly points issued in earlier periods, so over issuance it could pass 100%. Net
    # redemptions below zero (holds of an earlier period released in this one) end nothing.
    expired = -kind.get("expire", 0)
    retention = _share(totals.retained, totals.active_before)
    defection = None if retention is None else Decimal(1) - retention
    liability = None
    if point_value is not None:
        value = Decimal(totals.outstanding) * point_value
        liability = _money(value, currency)
    average = None
    if totals.active:
        average = _money(totals.spend / totals.active, currency)
    lifetime = None
    defected = totals.active_before - totals.retained
    if totals.active and defected:
        # From the exact totals, rounded once: spend per active member over the defection rate.
        exact = EXACT.divide(
            EXACT.multiply(totals.spend, Decimal(totals.active_before)), Decimal(totals.active * defected)
        )
        lifetime = _money(exact, currency)
    return Figures(
        start,
        end,
        totals.members,
        totals.active,
        totals.active_before,
        totals.retained,
        retention,
        defection,
        issued,
        redeemed,
        expired,
        -(kind.get("return", 0) + kind.get("collect", 0)),
        kind.get("adjust", 0),
        totals.transferred - kind.get("transfer", 0),
        totals.transferred,
        _share(expired, expired + max(redeemed, 0)),
        totals.outstanding,
        liability,
        totals.purchases,
        _money(totals.spend, currency),
        average,
        lifetime,
        _by_rule(totals.by_rule, names or {}, budgets or {}),
    )


def _by_rule(
    issued: Mapping[str, int], names: Mapping[str, str], budgets: Mapping[str, tuple[int, Decimal]]
) -> tuple[RuleFigures, ...]:
    rows = []
    for rule in {**issued, **budgets}:
        budget, spent = budgets.get(rule, (None, None))
        rows.append(RuleFigures(rule, names.get(rule, rule), issued.get(rule, 0), budget, spent))
    return tuple(sorted(rows, key=lambda row: (-row.issued, row.rule)))


def periods(start: datetime, end: datetime, zone: tzinfo) -> list[tuple[datetime, datetime]]:
    """``[start, end)`` cut into calendar days, weeks (from Monday), months or quarters of the
    program's timezone, the shortest step that gives at most 40 periods (years beyond that);
    the first and last are cut at ``start`` and ``end``. Figures over time are
    :meth:`~loyalty.Engine.figures` for each.

    >>> from datetime import timezone
    >>> from zoneinfo import ZoneInfo
    >>> jan = datetime(2024, 1, 10, tzinfo=timezone.utc)
    >>> year = periods(jan, jan.replace(month=12), ZoneInfo("UTC"))
    >>> [(a.date().isoformat(), b.date().isoformat()) for a, b in (year[0], year[1], year[-1])]
    [('2024-01-10', '2024-02-01'), ('2024-02-01', '2024-03-01'), ('2024-12-01', '2024-12-10')]
    >>> utc = ZoneInfo("UTC")
    >>> len(periods(jan, jan + timedelta(days=20), utc)), len(periods(jan, jan.replace(month=4), utc))
    (20, 14)
    """
    if end <= start:
        return [(start, end)]
    local = start.astimezone(zone)
    day = datetime.combine(local.date(), time(), zone)
    for step in _STEPS:
        if step.months == 3:
            first = day.replace(day=1, month=(day.month - 1) // 3 * 3 + 1)
        elif step.months:
            first = day.replace(day=1)
        elif step.weeks:
            first = day - timedelta(days=day.weekday())
        else:
            first = day
        bounds = _bounds(first, step, end, _MOST + 1)
        if len(bounds) <= _MOST + 1:
            break
    else:
        bounds = _bounds(day.replace(month=1, day=1), relativedelta(years=1), end, None)
    cuts = [start, *(bound for bound in bounds[1:-1] if start < bound < end), end]
    return list(pairwise(cuts))


def _bounds(first: datetime, step: relativedelta, end: datetime, most: int | None) -> list[datetime]:
    """``first``, ``first + step``, ... up to the first at or after ``end`` (stopping past ``most``).
    Each is counted from ``first`` in wall-clock time: a month after 31 January ends February."""
    bounds = [first]
    while bounds[-1] < end and (most is None or len(bounds) <= most):
        local = (first.replace(tzinfo=None) + step * len(bounds)).replace(tzinfo=first.tzinfo)
        bounds.append(local)
    return bounds
