"""Retention: members drifting away, their announcement, and the program's figures.

An announcement run is logged at INFO with its counts and duration (see ``docs/logging.md``).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from loyalty.checks import check_aware
from loyalty.earning_keys import budget_key, visits_key
from loyalty.errors import InvalidInput
from loyalty.figures import Figures, figures
from loyalty.habits import (
    AtRisk,
    AtRiskReport,
    Habit,
    at_risk_key,
    drift,
    instant,
    micros,
    seen_key,
    spent_key,
)
from loyalty.members import MemberStatus
from loyalty.outbox import EventKind, NewEvent
from loyalty.pseudonyms import is_pseudonym
from loyalty.service import locks
from loyalty.service.context import Context
from loyalty.store import UnitOfWork
from loyalty.tallies import Tally
from loyalty.versions import in_force

__all__ = ["announce_at_risk", "at_risk", "check_batch", "period_figures"]

logger = logging.getLogger(__name__)


def check_batch(batch: object) -> int:
    """A batch size for maintenance jobs: an int from 1 to 100,000."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 100_000:
        raise InvalidInput("batch", f"must be an int from 1 to 100000, got {batch!r}")
    return batch


def at_risk(
    ctx: Context,
    now: datetime | None,
    *,
    factor: Decimal,
    drop: Decimal,
    recent_months: int,
    baseline_months: int,
    min_visits: int,
    page: int,
) -> AtRiskReport:
    """Members drifting away at ``now`` (see :meth:`loyalty.Engine.at_risk`)."""
    at = ctx.now() if now is None else check_aware("now", now)
    for name, value, least in (("factor", factor, Decimal(1)), ("drop", drop, Decimal(0))):
        if not isinstance(value, Decimal) or not value.is_finite() or value < least:
            raise InvalidInput(name, f"must be a Decimal of at least {least}, got {value!r}")
    if drop >= 1:
        raise InvalidInput("drop", f"must be below 1 (a share of the baseline), got {drop}")
    limits = (
        ("recent_months", recent_months, 1, 24),
        ("baseline_months", baseline_months, 1, 120),
        ("min_visits", min_visits, 2, 10_000),
        ("page", page, 1, 10_000),
    )
    for name, number, low, top in limits:
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= top:
            raise InvalidInput(name, f"must be an int from {low} to {top}, got {number!r}")
    program = in_force(ctx.programs.all(), at, default_first=True)
    local = at.astimezone(program.zone)
    index = local.year * 12 + local.month - 1
    months = [
        f"{(index - m) // 12:04d}-{(index - m) % 12 + 1:02d}" for m in range(recent_months + baseline_months)
    ]
    start = datetime(local.year, local.month, 1, tzinfo=program.zone)
    end = start + relativedelta(months=1)
    # Elapsed time, in UTC: a difference of two times of one zone is of wall clocks, and ``at``
    # may be written in any offset (the same instant must give the same answer).
    utc_start = start.astimezone(UTC)
    month_done = Decimal((at.astimezone(UTC) - utc_start) / (end.astimezone(UTC) - utc_start)).quantize(
        Decimal("0.0001")
    )
    risky: list[AtRisk] = []
    unknown: list[str] = []
    checked = 0
    after = ""
    while True:

        def page_of(uow: UnitOfWork, after: str = after) -> tuple[list[str], dict[str, Tally]]:
            ids = uow.member_ids(after=after, limit=page)
            keys = [
                key
                for member_id in ids
                for key in (
                    visits_key(member_id),
                    seen_key(member_id),
                    *(spent_key(member_id, month) for month in months),
                )
            ]
            return ids, uow.tallies(keys)

        ids, read = ctx.runner.read(page_of)
        for member_id in ids:
            if is_pseudonym(member_id):
                continue  # erased: its habits stay in the figures, but it gets no more notices
            checked += 1
            visits = read[visits_key(member_id)].count
            first, last = read[seen_key(member_id)].count, read[seen_key(member_id)].points
            if visits < min_visits or not last:
                unknown.append(member_id)
                continue
            habit = Habit(member_id, visits, instant(first), instant(last))
            spend = {m: read[spent_key(member_id, month)].points for m, month in enumerate(months)}
            found = drift(
                habit, at, spend, min_visits, factor, drop, recent_months, baseline_months, month_done
            )
            if found.reasons:
                risky.append(found)
        if len(ids) < page:
            return AtRiskReport(at, risky, unknown, checked)
        after = ids[-1]


def announce_at_risk(ctx: Context, report: AtRiskReport, batch: int) -> int:
    """A ``member_at_risk`` event per member in ``report``, once per spell (see
    :meth:`loyalty.Engine.announce_at_risk`)."""
    started = time.perf_counter()
    drifting = sorted(report.at_risk, key=lambda risk: risk.member_id)

    def command(uow: UnitOfWork, chunk: list[AtRisk]) -> int:
        written = 0
        recorded = ctx.now()
        for risk in chunk:
            locks.lock(uow, risk.member_id)
            if uow.member_status(risk.member_id) is MemberStatus.ERASED:
                continue  # gets no more notices (a report made before its erasure names it)
            key = at_risk_key(risk.member_id)
            marked = uow.tallies([key])[key].points
            spell = Decimal(micros(risk.last_visit))
            if marked == spell:
                continue  # announced already, and no visit since
            data = {
                "reasons": list(risk.reasons),
                "last_visit": risk.last_visit.isoformat(),
                "days_since": str(risk.days_since),
                "typical_gap_days": str(risk.typical_gap_days),
                "recent_spend": str(risk.recent_spend),
                "baseline_spend": str(risk.baseline_spend),
            }
            source = f"at-risk:{risk.member_id}:{risk.last_visit.isoformat()}"
            uow.add_event(
                NewEvent(EventKind.MEMBER_AT_RISK, risk.member_id, report.at, recorded, source, data)
            )
            uow.add_tallies({key: Tally(0, spell - marked)})
            written += 1
        uow.commit()
        return written

    written = ctx.runner.in_chunks(drifting, batch, command, "announce_at_risk")
    logger.info(
        "announce_at_risk: %d member_at_risk events written for %d members at risk, in %.3f s",
        written,
        len(drifting),
        time.perf_counter() - started,
    )
    return written


def period_figures(ctx: Context, start: datetime, end: datetime, point_value: Decimal | None) -> Figures:
    """The program's figures for ``[start, end)`` (see :meth:`loyalty.Engine.figures`)."""
    check_aware("start", start)
    check_aware("end", end)
    if end <= start:
        raise InvalidInput("end", f"must be after start ({start.isoformat()}), got {end.isoformat()}")
    if point_value is not None and (
        not isinstance(point_value, Decimal)
        or not point_value.is_finite()
        or not 0 <= point_value <= 1_000_000
    ):
        raise InvalidInput(
            "point_value",
            f"must be None or a Decimal from 0 to 1000000 (money per point), got {point_value!r}",
        )
    try:
        before = _before(in_force(ctx.programs.all(), start, default_first=True).zone, start, end)
    except OverflowError:
        before = datetime.min.replace(tzinfo=UTC)

    def query(uow: UnitOfWork) -> Figures:
        # A rule's name and budget as the latest version that has it says.
        rules = {rule.id: rule for version in ctx.programs.read_in(uow) for rule in version.rules}
        keys = {rule.id: budget_key(rule) for rule in rules.values() if rule.budget is not None}
        spent = uow.tallies(keys.values())
        budgets = {rule: (rules[rule].budget or 0, spent[key].points) for rule, key in keys.items()}
        totals = uow.period_totals(start, end, before)
        names = {rule.id: rule.name for rule in rules.values() if rule.name}
        currency = ctx.programs.latest.currency
        return figures(totals, start, end, currency, point_value=point_value, names=names, budgets=budgets)

    return ctx.runner.read(query)


_MIDNIGHT = datetime.min.time()


def _before(zone: ZoneInfo, start: datetime, end: datetime) -> datetime:
    """Where the period compared with ``[start, end)`` begins: as many whole days before, on the
    program's calendar, for a period of whole days there (the day before a day of 23 hours is
    the whole day before); the same elapsed time before, for any other. The same instants give
    the same answer in whatever zone they are written (the bounds' own zones made it an hour off)."""
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    if local_start.time() == local_end.time() == _MIDNIGHT:
        days = (local_end.date() - local_start.date()).days
        return datetime.combine(local_start.date() - timedelta(days=days), _MIDNIGHT, zone).astimezone(UTC)
    begins = start.astimezone(UTC)
    return begins - (end.astimezone(UTC) - begins)
