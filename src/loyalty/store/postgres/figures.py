"""The PostgreSQL adapter's figures for a period (:meth:`loyalty.store.ReportsRole.period_totals`),
a mixin of its unit of work: the points by entry kind and by rule, the members and purchases, and
the points of the ledger before the period's end, each read through the indexes that keep them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from loyalty.figures import PeriodTotals
from loyalty.store.periods import count_from_start
from loyalty.store.postgres.transaction import Transaction

__all__ = ["PostgresFigures"]


class PostgresFigures:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` adds up for a period."""

    def period_totals(self: Transaction, start: datetime, end: datetime, before: datetime) -> PeriodTotals:
        rows = self._execute(self._q.period_kinds, (start, end)).fetchall()
        by_kind = {str(kind): int(points) for kind, points, _ in rows}
        credited = {str(kind): int(gained) for kind, _, gained in rows}
        shares = self._execute(self._q.period_rules, {"lo": start, "hi": end}).fetchall()
        row = self._execute(self._q.period_purchases, {"lo": start, "hi": end, "first": before}).fetchone()
        assert row is not None
        members, purchases, active, active_before, retained, spend = row
        return PeriodTotals(
            by_kind,
            _points_before(self, end),
            int(members),
            int(active),
            int(active_before),
            int(retained),
            int(purchases),
            Decimal(spend),
            credited.get("transfer", 0),
            {str(rule): int(points) for rule, points in shares},
        )


def _points_before(uow: Transaction, end: datetime) -> int:
    """The points of every entry before ``end``, added up from the nearer end of the ledger."""
    span = uow._execute(uow._q.ledger_span).fetchone()
    if span is None or span[0] is None:
        return 0
    ahead = count_from_start(span[0], span[1], end)
    query = uow._q.points_before if ahead else uow._q.points_before_from_total
    row = uow._execute(query, (end,)).fetchone()
    assert row is not None
    return int(row[0])
