"""The SQLite adapter's period figures (``UnitOfWork.period_totals``), each part through its index."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal

from loyalty.errors import StorageError
from loyalty.figures import PeriodTotals
from loyalty.store.periods import count_from_start
from loyalty.store.rows import kind_of
from loyalty.store.sqlite.statements import (
    EPOCH,
    LEDGER_SPAN,
    PERIOD_PURCHASES,
    PERIOD_RULES,
    POINTS_BEFORE,
    POINTS_BEFORE_FROM_TOTAL,
    micros,
    utc_text,
)

__all__ = ["period_totals"]


def period_totals(conn: sqlite3.Connection, start: datetime, end: datetime, before: datetime) -> PeriodTotals:
    """What :mod:`loyalty.figures` needs for ``[start, end)``, ``before`` starting the period
    compared for retention, added up on ``conn`` (every entry of the unit of work inserted)."""
    # An entry's till time is microseconds since 1970 (schema 22), as the purchases' kept apart.
    lo, hi = micros(start), micros(end)
    # Each kind's net points and its credits (MAX of two values is SQLite's greatest).
    sums = conn.execute(
        "SELECT kind, SUM(points), SUM(MAX(points, 0)) FROM entries"
        " WHERE occurred_at >= ? AND occurred_at < ? GROUP BY kind",
        (lo, hi),
    ).fetchall()
    # A kind is kept as its number (schema 22), or its name.
    by_kind = {kind_of(kind).value: int(points) for kind, points, _ in sums}
    credited = {kind_of(kind).value: int(gained) for kind, _, gained in sums}
    by_rule = {str(rule): int(points) for rule, points in conn.execute(PERIOD_RULES, {"lo": lo, "hi": hi})}
    (members,) = conn.execute(
        "SELECT COUNT(*) FROM members WHERE enrolled_at < ?", (utc_text(end),)
    ).fetchone()
    row = conn.execute(PERIOD_PURCHASES, {"lo": lo, "hi": hi, "first": micros(before)}).fetchone()
    purchases, active, active_before, retained, minor, low, high = row
    if low != high:
        raise StorageError(None, "purchase totals with different numbers of decimals in one store")
    spend = Decimal(minor or 0).scaleb(-(low or 0))
    return PeriodTotals(
        by_kind,
        _points_before(conn, end),
        int(members),
        int(active),
        int(active_before),
        int(retained),
        int(purchases),
        spend,
        credited.get("transfer", 0),
        by_rule,
    )


def _points_before(conn: sqlite3.Connection, end: datetime) -> int:
    """The points of every entry before ``end``, added up from the nearer end of the ledger."""
    first, last = conn.execute(LEDGER_SPAN).fetchone()
    if first is None:
        return 0
    ahead = count_from_start(EPOCH + timedelta(microseconds=first), EPOCH + timedelta(microseconds=last), end)
    query = POINTS_BEFORE if ahead else POINTS_BEFORE_FROM_TOTAL
    (points,) = conn.execute(query, (micros(end),)).fetchone()
    return int(points)
