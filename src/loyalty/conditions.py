"""Whether a rule's conditions hold, and if not, why: pure functions over plain values.

Each check returns ``None`` when the condition holds, else the reason as a
short text fit for a receipt ("outside window Tue 14:00-17:00").

>>> from datetime import datetime, timezone
>>> from loyalty.rules import PurchaseBonus
>>> rule = PurchaseBonus(id="happy", points=5, days=("tue",), hours=("14:00-17:00",))
>>> tuesday_noon = datetime(2024, 3, 5, 12, 0, tzinfo=timezone.utc)
>>> when_reason(rule, tuesday_noon)
'outside window Tue 14:00-17:00'
>>> when_reason(rule, tuesday_noon.replace(hour=15)) is None
True
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta

from dateutil.rrule import rrule

from loyalty.members import AttributeValue, Member
from loyalty.purchases import Line
from loyalty.rule_fields import DAYS
from loyalty.rules import Rule

__all__ = [
    "birthday_in",
    "lines_reason",
    "member_reason",
    "place_reason",
    "properties_reason",
    "when_reason",
]


def lines_reason(rule: Rule, lines: Sequence[Line] = ()) -> str:
    """Why no line of a purchase matched ``rule``: none has what it asks for, or each that has
    is one it leaves out (``lines``, the purchase's, tell which)."""
    wanted = []
    if rule.skus:
        wanted.append(f"SKU {_either(rule.skus)}")
    if rule.categories:
        wanted.append(f"category {_either(rule.categories)}")
    for key, values in rule.labels.items():
        wanted.append(f"{key}={_either(values)}")
    if wanted:
        asked = " and ".join(wanted)
        if any(_asked_for(rule, line) for line in lines):
            return f"every line with {asked} is excluded"
        return f"no line with {asked}"
    return "every line is excluded"


def _asked_for(rule: Rule, line: Line) -> bool:
    """Whether ``line`` is in each of the rule's include lists (its exclude lists aside)."""
    if rule.skus and line.sku not in rule.skus:
        return False
    if rule.categories and line.category not in rule.categories:
        return False
    return all(line.labels.get(key) in values for key, values in rule.labels.items())


def _either(values: Sequence[object]) -> str:
    return "/".join(str(value) for value in values)


def place_reason(
    rule: Rule, store_id: str | None, channel: str | None, terminal_id: str | None
) -> str | None:
    """Store, channel and terminal conditions."""
    for what, value, included, excluded in (
        ("store", store_id, rule.stores, rule.exclude_stores),
        ("channel", channel, rule.channels, rule.exclude_channels),
        ("terminal", terminal_id, rule.terminals, rule.exclude_terminals),
    ):
        if included and value not in included:
            if value is None:
                return f"no {what} given; only for {what} {_either(included)}"
            return f"{what} {value} is not {_either(included)}"
        if value is not None and value in excluded:
            return f"{what} {value} is excluded"
    return None


def member_reason(rule: Rule, member: Member | None) -> str | None:
    """Member attribute (segment) conditions."""
    attributes: Mapping[str, AttributeValue] = {} if member is None else member.attributes
    return _attributes_reason("member", attributes, rule.members, rule.exclude_members)


def properties_reason(
    wanted: Mapping[str, tuple[AttributeValue, ...]], properties: Mapping[str, AttributeValue]
) -> str | None:
    """An event's property conditions."""
    return _attributes_reason("event", properties, wanted, {})


def _attributes_reason(
    what: str,
    attributes: Mapping[str, AttributeValue],
    included: Mapping[str, tuple[AttributeValue, ...]],
    excluded: Mapping[str, tuple[AttributeValue, ...]],
) -> str | None:
    for key, values in included.items():
        if key not in attributes:
            return f"{what} has no {key}; only for {key}={_either(values)}"
        # True == 1 in Python; a flag and a number must not match each other.
        if not _contains(values, attributes[key]):
            return f"{what} {key}={attributes[key]} is not {_either(values)}"
    for key, values in excluded.items():
        if key in attributes and _contains(values, attributes[key]):
            return f"{what} {key}={attributes[key]} is excluded"
    return None


def _contains(values: tuple[AttributeValue, ...], value: AttributeValue) -> bool:
    return any(type(item) is type(value) and item == value for item in values)


def when_reason(rule: Rule, local: datetime) -> str | None:
    """Date, weekday, hour and recurrence conditions, on ``local`` (already in the rule's timezone).

    The early hours of a window past midnight (22:00-02:00) belong to the day it started:
    Saturday 01:00 is Friday night, for ``days``, ``starts`` and ``ends`` and ``recurrence``
    alike."""
    today = local.date()
    if not rule.hours:
        return _day_reason(rule, today)
    now = local.time()
    reason = None
    for start, end in rule._windows:
        if not _within(now, start, end):
            continue
        overnight = start is not None and end is not None and end < start and now < end
        why = _day_reason(rule, today - timedelta(days=1) if overnight else today)
        if why is None:
            return None
        reason = reason or why
    # In no window: a rule not yet started, or ended, says so first, as one without hours does.
    return reason or _dates_reason(rule, today) or f"outside {_window_text(rule)}"


def _dates_reason(rule: Rule, day: date) -> str | None:
    if rule.starts is not None and day < rule.starts:
        return f"not started: runs from {rule.starts}"
    if rule.ends is not None and day > rule.ends:
        return f"ended on {rule.ends}"
    return None


def _day_reason(rule: Rule, day: date) -> str | None:
    """Why ``day`` (the day a purchase's window began) is not one of the rule's, or ``None``."""
    why = _dates_reason(rule, day)
    if why is not None:
        return why
    if rule.days and DAYS[day.weekday()] not in rule.days:
        return f"outside {_window_text(rule)}"
    if rule._rrule is not None and not _occurs(rule._rrule, rule.starts, day):
        return f"not a day of {rule.recurrence}"
    return None


def _window_text(rule: Rule) -> str:
    days = "/".join(day.capitalize() for day in rule.days)
    hours = ", ".join(rule.hours)
    zone = f" {rule.timezone}" if rule.timezone else ""
    return f"window {' '.join(part for part in (days, hours) if part)}{zone}"


def _within(now: time, start: time | None, end: time | None) -> bool:
    # Windows include their start and exclude their end; one whose end is
    # before its start runs past midnight (22:00-02:00).
    after_start = start is None or now >= start
    before_end = end is None or now < end
    if start is not None and end is not None and end < start:
        return after_start or before_end
    return after_start and before_end


@functools.lru_cache(maxsize=4096)
def _occurs(rule: rrule, starts: date | None, day: date) -> bool:
    # Cached per rule and day: dateutil walks from the rule's start each
    # time, and every purchase of a day asks the same question. The start is the rule's
    # ``starts``, else the recurrence's own DTSTART, else 1 January 2000 (as parsed:
    # loyalty.rule_fields.recurrence).
    bound = rule if starts is None else rule.replace(dtstart=datetime.combine(starts, time()))
    midnight = datetime.combine(day, time())
    hit = bound.after(midnight - timedelta(microseconds=1), inc=True)
    return hit is not None and hit.date() == day


def birthday_in(year: int, birthday: date) -> date:
    """The member's birthday in ``year``; 29 February falls on 28 February in other years."""
    try:
        return birthday.replace(year=year)
    except ValueError:
        return date(year, 2, 28)
