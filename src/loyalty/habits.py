"""A member's buying habits, kept as they happen, and the signs that the member is drifting away.

Every recorded purchase keeps, in the member's own tallies: the first and
the last visit (to the microsecond, in one tally) and what was spent in each calendar
month (the program's timezone). The visit count is the engine's own. From
these, :func:`drift` tells whether a member is drifting: the time since the
last visit is ``factor`` times the member's own typical gap between visits
(the span from first to last visit over the gaps in it), or the spend per
month of the recent months fell by more than ``drop`` against the months
before. Members with fewer than ``min_visits`` visits have no baseline, and
are not guessed at.

>>> from datetime import datetime, timedelta, timezone
>>> from decimal import Decimal
>>> t = datetime(2024, 6, 1, tzinfo=timezone.utc)
>>> weekly = Habit("M1", visits=9, first=t - timedelta(weeks=11), last=t - timedelta(weeks=3))
>>> [reason.split(":")[0] for reason in drift(weekly, t, {}, 3, Decimal(2), Decimal("0.5"), 3, 12).reasons]
['no visit for 21 days']
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from loyalty.json_form import JsonForm
from loyalty.tallies import Tally

__all__ = [
    "AtRisk",
    "AtRiskReport",
    "Habit",
    "at_risk_key",
    "drift",
    "month_key",
    "purchase_changes",
    "seen_key",
    "spent_key",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_MONTHS = ("", *(f"{month:02d}" for month in range(1, 13)))


def micros(at: datetime) -> int:
    """``at`` as whole microseconds since 1970 (UTC), exactly."""
    # ``(at - _EPOCH) // timedelta(microseconds=1)`` in int arithmetic (a timedelta's seconds
    # and microseconds are never negative): a quarter of the division's cost, on every purchase.
    since = at - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def instant(value: Decimal | int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(value))


def seen_key(member_id: str) -> str:
    """The tally of the member's first visit (``count``) and last visit (``points``), in
    microseconds since 1970: one row, so a purchase writes one more tally, not two."""
    return f"seen|{member_id}"


def month_key(local: datetime) -> str:
    year = local.year
    # The month from a table and a year of four digits as it is: two format calls fewer per
    # purchase than ``f"{year:04d}-{month:02d}"``, the same text.
    return f"{year}-{_MONTHS[local.month]}" if year >= 1000 else f"{year:04d}-{_MONTHS[local.month]}"


def spent_key(member_id: str, month: str) -> str:
    """The member's visits (count) and spend (points) in ``month`` (``2024-03``)."""
    return f"spent|{month}|{member_id}"


def purchase_changes(
    member_id: str, at: datetime, amount: Decimal, month: str, seen: Tally
) -> dict[str, Tally]:
    """What a purchase at ``at`` of ``amount``, in local ``month``, adds to the member's habits,
    given the first and last visit ``seen`` so far: the first or last visit moved, the month's
    visit and spend.

    >>> t = datetime(2024, 3, 5, tzinfo=UTC)
    >>> first = purchase_changes("M1", t, Decimal("12.50"), "2024-03", Tally())
    >>> first["seen|M1"] == Tally(micros(t), Decimal(micros(t))), first["spent|2024-03|M1"]
    (True, Tally(count=1, points=Decimal('12.50')))
    >>> later = Tally(micros(t), Decimal(micros(t)))
    >>> "seen|M1" in purchase_changes("M1", t - timedelta(days=1), Decimal(1), "2024-03", later)
    True
    """
    when = micros(at)
    changes: dict[str, Tally] = {}
    # Deltas that make the count the earliest visit and the points the latest (a late
    # offline sale may be either, or neither).
    earlier = when - seen.count if not seen.count or when < seen.count else 0
    later = Decimal(when) - seen.points if when > seen.points else Decimal(0)
    if earlier or later:
        changes[seen_key(member_id)] = Tally.of(earlier, later)
    changes[spent_key(member_id, month)] = Tally.of(1, amount)
    return changes


def at_risk_key(member_id: str) -> str:
    """The last visit (``points``, in microseconds since 1970) of the spell for which the
    member was last announced at risk: announced once per spell, again only after a new visit."""
    return f"atrisk|{member_id}"


@attrs.frozen
class Habit:
    """What the tallies say of a member's visits."""

    member_id: str
    visits: int
    first: datetime | None
    last: datetime | None

    @property
    def typical_gap(self) -> timedelta | None:
        """The mean gap between visits; ``None`` with fewer than two."""
        if self.visits < 2 or self.first is None or self.last is None:
            return None
        return (self.last - self.first) / (self.visits - 1)


@attrs.frozen
class AtRisk(JsonForm):
    """A member drifting away, with why and the figures."""

    member_id: str
    reasons: tuple[str, ...]
    last_visit: datetime
    days_since: Decimal
    typical_gap_days: Decimal
    recent_spend: Decimal
    baseline_spend: Decimal


@attrs.frozen
class AtRiskReport:
    """:meth:`loyalty.Engine.at_risk`: members drifting, and those with too few visits to judge."""

    at: datetime
    at_risk: list[AtRisk]
    no_baseline: list[str]
    checked: int


def _days(delta: timedelta) -> Decimal:
    return (Decimal(delta // timedelta(microseconds=1)) / Decimal(86_400_000_000)).quantize(Decimal("0.1"))


def _shown(delta: timedelta) -> str:
    return f"{_days(delta).normalize():f}"


def drift(
    habit: Habit,
    now: datetime,
    spend: Mapping[int, Decimal],
    min_visits: int,
    factor: Decimal,
    drop: Decimal,
    recent_months: int,
    baseline_months: int,
    month_done: Decimal = Decimal(1),
) -> AtRisk:
    """Why ``habit`` is drifting at ``now`` (``reasons`` empty if it is not).

    ``spend`` maps months back from now (0 is the current month) to what was
    spent in it; ``month_done`` is the share of the current month that has
    passed, so a month under way is not read as a fall.
    """
    assert habit.last is not None and habit.visits >= min_visits
    reasons: list[str] = []
    since = now - habit.last
    gap = habit.typical_gap or timedelta(0)
    if gap > timedelta(0) and since > gap * float(factor):
        times = Decimal(since / gap).quantize(Decimal("0.1"))
        reasons.append(f"no visit for {_shown(since)} days: {times} times the usual {_shown(gap)}")
    elapsed = Decimal(recent_months - 1) + month_done
    spent = sum((spend.get(m, Decimal(0)) for m in range(recent_months)), Decimal(0))
    # A single recent month that has only just begun says nothing yet.
    recent = spent / elapsed if elapsed else Decimal(0)
    back = range(recent_months, recent_months + baseline_months)
    baseline = sum((spend.get(m, Decimal(0)) for m in back), Decimal(0)) / Decimal(baseline_months)
    if elapsed and baseline > 0 and recent < baseline * (1 - drop):
        fall = ((1 - recent / baseline) * 100).quantize(Decimal(1))
        reasons.append(
            f"spends {recent.quantize(Decimal('0.01'))} a month lately: {fall}% below "
            f"the usual {baseline.quantize(Decimal('0.01'))}"
        )
    return AtRisk(
        habit.member_id,
        tuple(reasons),
        habit.last,
        _days(since),
        _days(gap),
        recent.quantize(Decimal("0.01")),
        baseline.quantize(Decimal("0.01")),
    )
