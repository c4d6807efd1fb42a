"""What a report shows: a program's figures over time, its members per tier and at risk, and
the points each rule gave; for a what-if, the same for each program side by side.

A :class:`Report` is plain values (whole points as ``Decimal``, money as amounts in
``currency``), one :class:`Side` per program: :mod:`loyalty.reporting` gathers one from a
store or a what-if run, :mod:`loyalty.report_html` draws it, reading nothing else. Each series
of a side (the points per rule among them) is one input, wherever it was added up.

>>> from datetime import datetime, timezone
>>> from zoneinfo import ZoneInfo
>>> from loyalty.figures import PeriodTotals, figures
>>> jan, feb = datetime(2024, 1, 1, tzinfo=timezone.utc), datetime(2024, 2, 1, tzinfo=timezone.utc)
>>> totals = PeriodTotals(by_kind={"earn": 1250}, outstanding=4000, members=3, active=2, active_before=2,
...                       retained=1, purchases=4, spend=Decimal("125.00"), transferred=0, by_rule={})
>>> january = figures(totals, jan, feb, "EUR", point_value=Decimal("0.001"))
>>> period = Period.of(january, 2, ZoneInfo("Europe/Paris"))
>>> period.start.isoformat(), period.issued, period.outstanding, period.liability, period.retention_rate
('2024-01-01T01:00:00+01:00', Decimal('12.50'), Decimal('40.00'), Decimal('4.00'), Decimal('0.5000'))
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs

from loyalty.figures import Figures
from loyalty.json_form import JsonForm
from loyalty.money import EXACT

__all__ = ["Period", "Report", "Share", "Side", "whole"]


def whole(units: int | Decimal, scale: int) -> Decimal:
    """``units`` of a program of ``scale`` in whole points (675 at scale 2 is 6.75)."""
    return Decimal(units).scaleb(-scale, context=EXACT) if scale else Decimal(units)


@attrs.frozen
class Period(JsonForm):
    """One period's figures (:class:`~loyalty.figures.Figures`), points in whole points.

    ``outstanding`` and ``liability`` (an amount in the report's currency, ``None`` without a
    point value) are at the period's end; ``retention_rate`` is against the period before.
    """

    start: datetime
    end: datetime
    issued: Decimal
    redeemed: Decimal
    expired: Decimal
    outstanding: Decimal
    liability: Decimal | None
    active: int
    retention_rate: Decimal | None

    @classmethod
    def of(cls, found: Figures, scale: int, zone: ZoneInfo) -> Period:
        """A period's :class:`~loyalty.figures.Figures` of a program of ``scale``, its bounds in ``zone``."""
        return cls(
            found.start.astimezone(zone),
            found.end.astimezone(zone),
            whole(found.issued, scale),
            whole(found.redeemed, scale),
            whole(found.expired, scale),
            whole(found.outstanding, scale),
            None if found.liability is None else found.liability.amount,
            found.active,
            found.retention_rate,
        )


@attrs.frozen
class Share(JsonForm):
    """A figure under a key: the members of tier ``key``, or the points rule ``key`` gave."""

    key: str
    name: str
    value: Decimal


@attrs.frozen
class Side(JsonForm):
    """One program's figures: a store's, or one program of a what-if.

    ``periods`` run over the report's span; ``tiers`` are the members per tier (empty without
    tiers), ``rules`` the whole points each rule gave, ``at_risk`` the members drifting away at
    the end of the span (``None``: not known).
    """

    label: str
    periods: tuple[Period, ...]
    tiers: tuple[Share, ...]
    rules: tuple[Share, ...]
    at_risk: int | None


@attrs.frozen
class Report(JsonForm):
    """A report: ``title``, a line saying what it covers, and one :class:`Side` per program."""

    title: str
    subtitle: str
    currency: str
    start: datetime
    end: datetime
    sides: tuple[Side, ...]
