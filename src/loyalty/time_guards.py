"""Time guards: how far a till's time may run ahead of the engine's, and activity before enrollment.

A command's ``at`` is the till's time and the engine trusts it for dates (expiry, caps,
tiers), so a till whose clock is a year fast, or a date typed wrong, would earn points
that vest, expire and count in the wrong year. The program's ``time_guards`` table bounds
it (:class:`TimeGuards`):

- ``max_lead_minutes``: the most a command's ``at`` may be ahead of the engine's clock;
  beyond it the command is refused with :class:`~loyalty.errors.TillTimeAhead` naming
  ``at``. Tills drift by seconds to minutes: 15 (:data:`RECOMMENDED_LEAD_MINUTES`) leaves
  room for a till a few minutes fast without letting a wrong day through. Time behind the
  clock is not bounded: a till that was offline syncs late. 15 is the default; ``None``
  (in Python or JSON) bounds nothing.
- ``before_enrollment``: whether a member's purchases, events, redemptions, corrections,
  transfers, holds and reward redemptions may be dated before its enrollment. ``"refuse"``
  (the default) raises :class:`~loyalty.errors.BeforeEnrollment` naming ``at``; ``"accept"``
  records them. An import of old history (:meth:`~loyalty.Engine.import_events`) and a what-if
  replay of one (:func:`loyalty.whatif.simulate`) accept them whatever the program says: its
  members were often enrolled after their first recorded activity.

Neither guard turns a retry into a refusal: a command already recorded under its id returns
its original result (it was recorded by an engine whose clock was later, or under looser
guards); only a new command is refused.

>>> from datetime import UTC, datetime, timedelta
>>> now = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
>>> guards = TimeGuards(max_lead_minutes=15, before_enrollment="refuse")
>>> check_lead(guards, now + timedelta(minutes=15), now)
>>> check_lead(guards, now + timedelta(minutes=16), now)
Traceback (most recent call last):
...
loyalty.errors.TillTimeAhead: at: 2024-03-01T12:16:00+00:00 is 16 minutes ahead of the engine's clock \
(2024-03-01T12:00:00+00:00); time_guards.max_lead_minutes allows 15
>>> check_enrolled(guards, now - timedelta(days=1), now)
Traceback (most recent call last):
...
loyalty.errors.BeforeEnrollment: at: 2024-02-29T12:00:00+00:00 is before the member enrolled \
(2024-03-01T12:00:00+00:00); time_guards.before_enrollment = "accept" allows it
>>> TimeGuards() == guards
True
>>> opened = TimeGuards(max_lead_minutes=None, before_enrollment="accept")
>>> check_enrolled(opened, now - timedelta(days=1), now)
>>> check_lead(opened, now + timedelta(days=400), now)
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs

from loyalty import schema
from loyalty.checks import accepts, one_of
from loyalty.errors import BeforeEnrollment, BeforeItsStart, InvalidInput, TillTimeAhead
from loyalty.rule_fields import as_enum

__all__ = [
    "MAX_LEAD_MINUTES",
    "RECOMMENDED_LEAD_MINUTES",
    "PreEnrollment",
    "TimeGuards",
    "check_enrolled",
    "check_lead",
    "check_started",
]

#: The largest ``max_lead_minutes``: a week (beyond it a wrong date is no longer a drifting clock).
MAX_LEAD_MINUTES = 7 * 24 * 60
#: The lead a program should allow its tills: a few minutes of drift, never a wrong day.
RECOMMENDED_LEAD_MINUTES = 15


class PreEnrollment(enum.Enum):
    """What activity dated before the member's enrollment gets (``time_guards.before_enrollment``)."""

    #: :class:`~loyalty.errors.BeforeEnrollment` naming ``at``.
    REFUSE = "refuse"
    #: Recorded as if dated after it: for imports of old history.
    ACCEPT = "accept"


def _to_pre_enrollment(value: Any) -> Any:
    return as_enum(PreEnrollment, value)


@accepts(minimum=0, maximum=MAX_LEAD_MINUTES)
def _check_lead(_: Any, __: Any, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LEAD_MINUTES:
        raise InvalidInput(
            "max_lead_minutes", f"must be None or an int from 0 to {MAX_LEAD_MINUTES}, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class TimeGuards:
    """A program's bounds on the till's time (its ``time_guards`` table)."""

    #: The most minutes a command's ``at`` may be ahead of the engine's clock (15 by default);
    #: ``None``, no bound.
    max_lead_minutes: int | None = attrs.field(default=RECOMMENDED_LEAD_MINUTES, validator=_check_lead)
    #: "refuse" (the default) or "accept" activity dated before the member's enrollment.
    before_enrollment: PreEnrollment = attrs.field(
        default=PreEnrollment.REFUSE,
        converter=_to_pre_enrollment,
        validator=one_of(PreEnrollment, "before_enrollment"),
    )


#: The bounds made so far, by their minutes: a ``timedelta`` made from keywords costs more than
#: the comparison, and every purchase compares.
_LEADS: dict[int, timedelta] = {}


def _lead(minutes: int) -> timedelta:
    made = timedelta(minutes=minutes)
    if len(_LEADS) < 64:  # (a few programs' bounds: the dict stays small whatever they are)
        _LEADS[minutes] = made
    return made


#: Wider than any change of a zone's offset.
_DAY = timedelta(days=1)


def check_lead(guards: TimeGuards, at: datetime, now: datetime, field: str = "at") -> None:
    """Refuse ``at`` further ahead of the engine's clock ``now`` than ``guards`` allow."""
    minutes = guards.max_lead_minutes
    lead = at - now
    if at.tzinfo is now.tzinfo and not isinstance(at.tzinfo, timezone):
        # Two times of one zone subtract as wall clocks, fold ignored (the hour a clock goes
        # back): measured between instants. (Of different zones, or a fixed offset, they already are.)
        lead = at.astimezone(UTC) - now.astimezone(UTC)
    if minutes is not None and lead > (_LEADS.get(minutes) or _lead(minutes)):
        ahead = lead / timedelta(minutes=1)
        shown = f"{ahead:.0f}" if ahead == int(ahead) else f"{ahead:.1f}"
        raise TillTimeAhead(
            field,
            f"{at.isoformat()} is {shown} minutes ahead of the engine's clock ({now.isoformat()}); "
            f"time_guards.max_lead_minutes allows {guards.max_lead_minutes}",
        )


def check_enrolled(guards: TimeGuards, at: datetime, enrolled_at: datetime, field: str = "at") -> None:
    """Refuse activity at ``at`` before the member's ``enrolled_at``, unless ``guards`` accept it."""
    if guards.before_enrollment is not PreEnrollment.REFUSE:
        return
    if at.tzinfo is enrolled_at.tzinfo and at.tzinfo is not UTC:
        # Two times of one zone compare by their wall clocks, which a DST change repeats. A day
        # or more later by the wall clock is later by the instants too (a zone's offset changes
        # by less), so most purchases need no offsets worked out; the others compare instants.
        if at - enrolled_at >= _DAY:
            return
        at, enrolled_at = at.astimezone(UTC), enrolled_at.astimezone(UTC)
    if at < enrolled_at:
        raise BeforeEnrollment(
            field,
            f"{at.isoformat()} is before the member enrolled ({enrolled_at.isoformat()}); "
            'time_guards.before_enrollment = "accept" allows it',
        )


def check_started(guards: TimeGuards, at: datetime, start: datetime, what: str, field: str = "at") -> None:
    """Refuse ``at`` earlier than ``start``, when the voucher or hold it acts on began (``what``
    says which), by more than the lead ``guards`` allow a till: the two times may come from two
    tills, whose clocks differ by up to that lead; with no bound on the lead, nothing is refused.

    >>> start = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    >>> check_started(TimeGuards(), start - timedelta(minutes=15), start, "its hold was placed")
    >>> check_started(TimeGuards(), start - timedelta(minutes=16), start, "its hold was placed")
    Traceback (most recent call last):
    ...
    loyalty.errors.BeforeItsStart: at: 2024-03-01T11:44:00+00:00 is 16 minutes before its hold was \
placed (2024-03-01T12:00:00+00:00); time_guards.max_lead_minutes allows 15
    """
    minutes = guards.max_lead_minutes
    # In UTC: two times of one zone subtract by their wall clocks, which a DST change repeats.
    before = start.astimezone(UTC) - at.astimezone(UTC)
    if minutes is not None and before > (_LEADS.get(minutes) or _lead(minutes)):
        minutes_before = before / timedelta(minutes=1)
        shown = f"{minutes_before:.0f}" if minutes_before == int(minutes_before) else f"{minutes_before:.1f}"
        raise BeforeItsStart(
            field,
            f"{at.isoformat()} is {shown} minutes before {what} ({start.isoformat()}); "
            f"time_guards.max_lead_minutes allows {minutes}",
        )


attrs.resolve_types(TimeGuards)
schema.register(TimeGuards)
