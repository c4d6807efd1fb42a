"""A clock a test sets and moves, for :class:`~loyalty.Engine`'s ``clock``.

Pending points vest, lots and holds expire and maintenance runs by the
engine's clock, so a merchant's test of a program's lifecycle moves it:

>>> from datetime import datetime, timedelta, timezone
>>> clock = ManualClock(datetime(2024, 1, 31, 9, 0, tzinfo=timezone.utc))
>>> clock.advance(days=30)
>>> clock().isoformat()
'2024-03-01T09:00:00+00:00'

A command dated more than the program's ``time_guards.max_lead_minutes`` (15 by default)
ahead of the engine's clock is refused, as a real till's would be: a test that dates
activity moves the clock to it first, forward only (:meth:`catch_up`), as a till's
clock and the engine's agree in a shop:

>>> _ = clock.catch_up(datetime(2024, 3, 5, 18, 0, tzinfo=timezone.utc))
>>> _ = clock.catch_up(datetime(2024, 3, 2, tzinfo=timezone.utc))  # earlier: the clock stays
>>> clock().isoformat()
'2024-03-05T18:00:00+00:00'
>>> ManualClock(datetime(2024, 1, 31))
Traceback (most recent call last):
...
loyalty.errors.InvalidDatetime: now: must be timezone-aware (naive datetimes are ambiguous)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from loyalty.checks import check_aware

__all__ = ["ManualClock"]


class ManualClock:
    """Returns ``now`` until the test sets it (``clock.now = ...``) or moves it (:meth:`advance`)."""

    def __init__(self, now: datetime) -> None:
        self.now = check_aware("now", now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta | None = None, **parts: float) -> None:
        """Move on by ``delta`` or by ``timedelta(**parts)`` (``days=30``, ``minutes=15``)."""
        self.now = check_aware("now", self.now + (delta if delta is not None else timedelta(**parts)))

    def catch_up(self, at: datetime) -> datetime:
        """Move forward to ``at`` if it is later (never back); returns ``at``, for a command's ``at``."""
        self.now = max(self.now, check_aware("at", at))
        return at
