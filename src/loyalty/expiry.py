"""How long earned points stay pending and how long they stay valid.

Dates are worked out on the program's wall clock (its ``timezone``), with
:mod:`dateutil.relativedelta` semantics: a month after 31 January is the end
of February, and a day after noon on the eve of a DST change is noon again.
An expiry instant is the first instant at which the points are no longer
valid; rounding up to the end of a day, month, quarter or year moves it to
the start of the next one.

>>> from datetime import datetime
>>> from zoneinfo import ZoneInfo
>>> ams = ZoneInfo("Europe/Amsterdam")
>>> earned = datetime(2024, 1, 31, 15, 0, tzinfo=ams)
>>> print(Expiry(ExpiryPolicy.LIFETIME, months=1).expires_at(earned, ams))
2024-02-29 15:00:00+01:00
>>> print(Expiry(ExpiryPolicy.LIFETIME, months=1, round_up=EndOf.MONTH).expires_at(earned, ams))
2024-03-01 00:00:00+01:00
>>> print(Expiry(ExpiryPolicy.CALENDAR).expires_at(earned, ams))
2026-01-01 00:00:00+01:00
>>> print(Expiry(ExpiryPolicy.LIFETIME, round_up=EndOf.QUARTER).expires_at(earned, ams))
2024-04-01 00:00:00+02:00
>>> print(Expiry(ExpiryPolicy.ANNUAL, on="03-31").expires_at(earned, ams))
2024-04-01 00:00:00+02:00
>>> Expiry(ExpiryPolicy.LIFETIME)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: months: a lifetime needs months or days, or round_up alone (the end ...)
"""

from __future__ import annotations

import enum
from datetime import datetime, tzinfo
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from loyalty.checks import EVERY_YEAR_DAY, accepts, one_of
from loyalty.errors import InvalidInput
from loyalty.lots import DrawOrder
from loyalty.rule_fields import as_enum
from loyalty.tallies import of_member

__all__ = ["EndOf", "Expiry", "ExpiryPolicy", "redated_key", "reminded_key", "vests_at"]

#: The longest lifetime, pending window or calendar delay a program may set (in months, days, years).
MAX_MONTHS, MAX_DAYS, MAX_YEARS = 1200, 36_600, 100


class ExpiryPolicy(enum.Enum):
    """Whether points expire, and how their date is found."""

    #: Points never expire.
    NONE = "none"
    #: A fixed lifetime from the day they were earned (or vested).
    LIFETIME = "lifetime"
    #: Points earned in a calendar year expire at the end of a later year.
    CALENDAR = "calendar"
    #: A member's points expire once a stretch of time passes without qualifying activity
    #: (a purchase or an event); each activity moves the date of all of them on.
    INACTIVITY = "inactivity"
    #: Points expire when a fixed day of the year (``on``, "03-31") has passed ``years`` times
    #: after the day they were earned.
    ANNUAL = "annual"


class EndOf(enum.Enum):
    """Where a lifetime's end is rounded up to."""

    NONE = "none"
    DAY = "day"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


def _check_whole(field: str, limit: int, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise InvalidInput(field, f"must be an int from 0 to {limit}, got {value!r}")


# A validator per field, each marked with its bounds at the module's top level (the program file
# schema reads the marks): a factory's checks would be made once at import, where no test can
# tell a mistake in them from the limit it was given.
@accepts(minimum=0, maximum=MAX_MONTHS)
def _check_months(_: Any, __: Any, value: object) -> None:
    _check_whole("months", MAX_MONTHS, value)


@accepts(minimum=0, maximum=MAX_DAYS)
def _check_days(_: Any, __: Any, value: object) -> None:
    _check_whole("days", MAX_DAYS, value)


@accepts(minimum=0, maximum=MAX_YEARS)
def _check_years(_: Any, __: Any, value: object) -> None:
    _check_whole("years", MAX_YEARS, value)


def _to_policy(value: Any) -> Any:
    return as_enum(ExpiryPolicy, value)


def _to_end(value: Any) -> Any:
    return as_enum(EndOf, value)


def _to_draw(value: Any) -> Any:
    return as_enum(DrawOrder, value)


def _check_redate(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput("redate_earlier", f"must be true or false, got {value!r}")


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@accepts(pattern=EVERY_YEAR_DAY)
def _check_on(_: Any, __: Any, value: object) -> None:
    if value is None:
        return
    month, day = _month_day(value)
    # 29 February is refused: in three years out of four the points would have no date.
    if not (1 <= month <= 12 and 1 <= day <= _MONTH_DAYS[month - 1]):
        raise InvalidInput("on", f'must be a day every year has, as MM-DD ("03-31"), got {value!r}')


def _month_day(value: object) -> tuple[int, int]:
    # ASCII digits only: str.isdigit() also takes "²" (which int() refuses) and "３" (which it reads).
    if isinstance(value, str) and value.isascii() and len(value) == 5 and value[2] == "-":
        month, day = value[:2], value[3:]
        if (month + day).isdigit():
            return int(month), int(day)
    raise InvalidInput("on", f'must be a day of the year as MM-DD ("03-31"), got {value!r}')


def _check_from_vesting(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput("from_vesting", f"must be true or false, got {value!r}")


@attrs.frozen
class Expiry:
    """A program's expiry policy, applied to each lot as it is earned.

    ``LIFETIME``: ``months`` and/or ``days`` after the points were earned
    (or vested, with ``from_vesting``), optionally rounded up to the end of
    that day, month, quarter or year; with ``round_up`` alone (no months
    or days) they expire at the end of the day, month, quarter or year they
    were earned in. ``CALENDAR``: points earned (or
    vested) in a year expire at the end of the year ``years`` later (1: all
    of 2024's points expire when 2025 ends). ``INACTIVITY``: ``months``
    and/or ``days`` after the member's last purchase or event, for all the
    points earned under it. ``ANNUAL``: at the end of the fixed day of the
    year ``on`` (``"03-31"``), the ``years``-th one after the day they were
    earned (or vested). A lot keeps the date it was given: a later
    program version with another policy applies to the points earned under
    it, unless it says ``redate_earlier``, which gives the points earned
    before it this policy's dates (``Engine.redate`` writes them).

    ``draw`` says which points a debit (a redemption, a hold, a transfer, a
    correction) spends first: the soonest-expiring (the default) or the
    oldest-earned (first in, first out); a return takes points back in the
    same order after the purchase's own.
    """

    policy: ExpiryPolicy = attrs.field(
        default=ExpiryPolicy.NONE,
        converter=_to_policy,
        validator=one_of(ExpiryPolicy, "policy"),
    )
    months: int = attrs.field(default=0, validator=_check_months, kw_only=True)
    days: int = attrs.field(default=0, validator=_check_days, kw_only=True)
    round_up: EndOf = attrs.field(
        default=EndOf.NONE,
        converter=_to_end,
        validator=one_of(EndOf, "round_up"),
        kw_only=True,
    )
    years: int = attrs.field(default=1, validator=_check_years, kw_only=True)
    on: str | None = attrs.field(default=None, validator=_check_on, kw_only=True)
    from_vesting: bool = attrs.field(default=False, validator=_check_from_vesting, kw_only=True)
    redate_earlier: bool = attrs.field(default=False, validator=_check_redate, kw_only=True)
    draw: DrawOrder = attrs.field(
        default=DrawOrder.SOONEST_EXPIRING,
        converter=_to_draw,
        validator=one_of(DrawOrder, "draw"),
        kw_only=True,
    )

    def __attrs_post_init__(self) -> None:
        timed = self.policy in (ExpiryPolicy.LIFETIME, ExpiryPolicy.INACTIVITY)
        if self.policy is ExpiryPolicy.LIFETIME and not (
            self.months or self.days or self.round_up.value != "none"
        ):
            raise InvalidInput(
                "months",
                "a lifetime needs months or days, or round_up alone (the end of the period earned in)",
            )
        if self.policy is ExpiryPolicy.INACTIVITY and not (self.months or self.days):
            raise InvalidInput("months", "inactivity needs months or days, got neither")
        if not timed:
            for name in ("months", "days"):
                if getattr(self, name):
                    raise InvalidInput(name, f"only a lifetime or inactivity policy takes {name}")
            if self.round_up is not EndOf.NONE:
                raise InvalidInput("round_up", "only a lifetime or inactivity policy is rounded up")
        if self.policy is ExpiryPolicy.INACTIVITY and self.from_vesting:
            raise InvalidInput("from_vesting", "inactivity counts from the last activity, not from vesting")
        if self.policy is ExpiryPolicy.INACTIVITY and self.redate_earlier:
            raise InvalidInput(
                "redate_earlier", "an inactivity policy cannot re-date points earned before it"
            )
        yearly = self.policy in (ExpiryPolicy.CALENDAR, ExpiryPolicy.ANNUAL)
        if yearly and self.years < 1:
            raise InvalidInput("years", f"must be at least 1, got {self.years}")
        if not yearly and self.years != 1:
            raise InvalidInput("years", "only a calendar or annual policy takes years")
        if (self.policy is ExpiryPolicy.ANNUAL) != (self.on is not None):
            message = (
                "an annual policy needs the day, as MM-DD"
                if self.on is None
                else "only an annual policy takes on"
            )
            raise InvalidInput("on", message)
        if self.policy is ExpiryPolicy.NONE and self.from_vesting:
            raise InvalidInput("from_vesting", "points that never expire have no date to count from")

    @property
    def rolls(self) -> bool:
        """Whether points roll with the member's activity (inactivity expiry): every credit's lot
        expires with the member's others, or later."""
        return self.policy is ExpiryPolicy.INACTIVITY

    def expires_at(self, start: datetime, zone: tzinfo) -> datetime | None:
        """When points that count from ``start`` (earned or vested) expire; ``None``: never."""
        if self.policy is ExpiryPolicy.NONE:
            return None
        local = start.astimezone(zone)
        if self.policy is ExpiryPolicy.CALENDAR:
            return datetime(local.year + self.years + 1, 1, 1, tzinfo=zone)
        if self.policy is ExpiryPolicy.ANNUAL:
            assert self.on is not None  # checked at construction
            month, day = _month_day(self.on)
            # The first such day strictly after the day earned: points earned on it get a full year.
            first = local.year if (local.month, local.day) < (month, day) else local.year + 1
            last = datetime(first + self.years - 1, month, day, tzinfo=zone)
            return last + relativedelta(days=1)
        if not (self.months or self.days):
            return _period_start(local, self.round_up, zone) + _STEP[self.round_up]
        end = local + relativedelta(months=self.months, days=self.days)
        return _round_up(end, self.round_up, zone)


def _round_up(end: datetime, to: EndOf, zone: tzinfo) -> datetime:
    """``end``, or the start of the day/month/quarter/year after the one it falls in.

    An ``end`` already on such a boundary (midnight on the 1st) stays: the
    points were valid to the end of the period before it.
    """
    if to is EndOf.NONE:
        return end
    start = _period_start(end, to, zone)
    return end if end == start else start + _STEP[to]


_STEP = {
    EndOf.DAY: relativedelta(days=1),
    EndOf.MONTH: relativedelta(months=1),
    EndOf.QUARTER: relativedelta(months=3),
    EndOf.YEAR: relativedelta(years=1),
}


def _period_start(at: datetime, period: EndOf, zone: tzinfo) -> datetime:
    """The midnight that starts the day, month, quarter or year ``at`` (local) falls in."""
    if period is EndOf.DAY:
        return datetime(at.year, at.month, at.day, tzinfo=zone)
    if period is EndOf.MONTH:
        return datetime(at.year, at.month, 1, tzinfo=zone)
    if period is EndOf.QUARTER:
        return datetime(at.year, (at.month - 1) // 3 * 3 + 1, 1, tzinfo=zone)
    return datetime(at.year, 1, 1, tzinfo=zone)


def vests_at(earned_at: datetime, pending_days: int, zone: tzinfo) -> datetime | None:
    """When points earned at ``earned_at`` stop being pending: ``pending_days`` later on the wall clock."""
    if not pending_days:
        return None
    return earned_at.astimezone(zone) + relativedelta(days=pending_days)


# -- tally keys --------------------------------------------------------------------------------
# Stored data is found by these exact strings: a change of spelling loses the marks already kept.


def reminded_key(member_id: str, lot_id: int, expires_at: datetime) -> str:
    r"""The mark (a count of 1) that a ``points_expiring`` event went out for ``member_id``'s lot
    ``lot_id`` expiring at ``expires_at``: the same lot re-dated to another instant is announced
    again. It names the member (:func:`loyalty.tallies.of_member`): a store keeps it with the
    member's rows.

    >>> from datetime import timezone
    >>> reminded_key("M1", 42, datetime(2025, 1, 1, tzinfo=timezone.utc))
    'reminded|42|2025-01-01T00:00:00+00:00\x1fM1'
    """
    return of_member(f"reminded|{lot_id}|{expires_at.isoformat()}", member_id)


def redated_key(version: str) -> str:
    """The mark (a count of 1) that program version ``version``'s ``redate_earlier`` has moved
    every open lot earned before it, so later maintenance runs skip it with one read.

    >>> redated_key("2024-spring")
    'redated|2024-spring'
    """
    return f"redated|{version}"
