"""The building blocks of rule fields (:mod:`loyalty.rules`): the periods and scopes rules
count in, and the converters and validators that check each field once, naming it."""

from __future__ import annotations

import decimal
import enum
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from dateutil.rrule import rrule, rrulestr

from loyalty.checks import MAX_NAME_LENGTH, MAX_POINTS, accepts, check_text
from loyalty.errors import InvalidAmount, InvalidInput

_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
# The end may be 24:00 (midnight at the end of the day), and no other time in hour 24.
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):([0-5]\d)|24:00)")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_MAX_MULTIPLIER = Decimal(10_000)
_EXACT_ONLY = decimal.Context(prec=40, traps=[decimal.Inexact, decimal.InvalidOperation])


class Period(enum.Enum):
    """A calendar period in the program's timezone, for caps and frequency limits."""

    DAY = "day"
    WEEK = "week"  # ISO weeks, Monday to Sunday
    MONTH = "month"
    YEAR = "year"
    EVER = "ever"

    def key(self, local: datetime) -> str:
        """The period ``local`` falls in, as a short stable text (``2024-03``)."""
        if self is Period.DAY:
            return local.date().isoformat()
        if self is Period.WEEK:
            year, week, _ = local.isocalendar()
            return f"{year}-W{week:02d}"
        if self is Period.MONTH:
            return f"{local.year}-{local.month:02d}"
        if self is Period.YEAR:
            return str(local.year)
        return "ever"


class Scope(enum.Enum):
    """What a minimum is measured on: the whole basket or the rule's matching lines."""

    BASKET = "basket"
    LINES = "lines"


def check_rule_id(field: str, value: object) -> str:
    """A rule id: letters, digits and ``_.:-``, at most 64 characters (no spaces)."""
    if not isinstance(value, str) or not _RULE_ID.fullmatch(value):
        raise InvalidInput(
            field, f"must be 1-64 letters, digits or _.:- starting with a letter or digit, got {value!r}"
        )
    return value


# -- validators and converters --------------------------------------------------------------


def _tuple_of_ids(value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        # A bare string would otherwise become a tuple of its characters.
        return (value,)
    return tuple(value)


def _check_ids(_: Any, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item or len(item) > 128:
            raise InvalidInput(f"{attribute.name}[{i}]", f"must be a non-empty string, got {item!r}")


def _frozen_map(value: Mapping[str, Iterable[Any] | Any] | None) -> Mapping[str, tuple[Any, ...]]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidInput("labels", f"must be a mapping, not {type(value).__name__}")
    return MappingProxyType(
        {
            key: (items,) if isinstance(items, str | int | bool) else tuple(items)
            for key, items in sorted(value.items())
        }
    )


def _check_map(
    attribute: attrs.Attribute[Any], value: Mapping[str, tuple[Any, ...]], kinds: Any, what: str
) -> None:
    """Keys that are non-empty strings, each with at least one value, every value of ``kinds``."""
    for key, items in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(attribute.name, f"keys must be non-empty strings, got {key!r}")
        if not items:
            raise InvalidInput(f"{attribute.name}.{key}", "must list at least one value")
        for item in items:
            if not isinstance(item, kinds):
                raise InvalidInput(f"{attribute.name}.{key}", f"values must be {what}, got {item!r}")


def _check_label_map(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, tuple[Any, ...]]) -> None:
    _check_map(attribute, value, str, "strings")


def _check_member_map(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, tuple[Any, ...]]) -> None:
    _check_map(attribute, value, str | int | bool, "str, int or bool")


@accepts(minimum=1, maximum=MAX_POINTS)
def _positive_int(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_POINTS:
        raise InvalidInput(attribute.name, f"must be a positive int, got {value!r}")


@accepts(minimum=1, maximum=MAX_POINTS)
def _optional_positive_int(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _positive_int(_, attribute, value)


@accepts(minimum=0, maximum=366)
def _non_negative_int(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
        raise InvalidInput(attribute.name, f"must be an int from 0 to 366, got {value!r}")


def _decimal(attribute: str, value: object, *, positive: bool, limit: Decimal | None = None) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise InvalidAmount(attribute, f"must be a Decimal, not {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite():
        raise InvalidAmount(attribute, f"must be finite, got {value}")
    if number < 0 or (positive and number == 0):
        raise InvalidAmount(
            attribute, f"must {'be positive' if positive else 'not be negative'}, got {value}"
        )
    if limit is not None and number > limit:
        raise InvalidAmount(attribute, f"must be at most {limit}, got {value}")
    if number.as_tuple().exponent < -12:  # type: ignore[operator]
        raise InvalidAmount(attribute, f"must have at most 12 decimal places, got {value}")
    return number


def _to_decimal(value: Any) -> Any:
    # ints are exact; everything else is left for the validator to refuse.
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _positive_decimal(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    _decimal(attribute.name, value, positive=True)


def _optional_positive_decimal(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _decimal(attribute.name, value, positive=True)


def _check_factor(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _decimal(attribute.name, value, positive=False, limit=_MAX_MULTIPLIER)


def _check_factors(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    for key, factor in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(attribute.name, f"keys must be non-empty strings, got {key!r}")
        _decimal(f"{attribute.name}.{key}", factor, positive=False, limit=_MAX_MULTIPLIER)


def _factor_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidInput("factors", f"must be a mapping, not {type(value).__name__}")
    return MappingProxyType({key: _to_decimal(item) for key, item in sorted(value.items())})


def _check_days(_: Any, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
    for i, day in enumerate(value):
        if day not in DAYS:
            raise InvalidInput(f"{attribute.name}[{i}]", f"must be one of {', '.join(DAYS)}, got {day!r}")


def _check_hours(_: Any, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
    for i, window in enumerate(value):
        if not isinstance(window, str) or not _HOURS.fullmatch(window):
            raise InvalidInput(f"{attribute.name}[{i}]", f"must be HH:MM-HH:MM, got {window!r}")
        start, end = window.split("-")
        if start == end:
            raise InvalidInput(f"{attribute.name}[{i}]", f"an empty window: {window!r}")


def _check_timezone(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        zone(attribute.name, value)


def zone(field: str, name: object) -> ZoneInfo:
    """The IANA timezone ``name``; an unknown one raises naming ``field``."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidInput(field, f"must be an IANA timezone name such as 'Europe/Amsterdam', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, f"unknown timezone {name!r}") from None


def _check_recurrence(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        recurrence(attribute.name, value)


#: Where a recurrence with no start of its own counts from (its COUNT, its INTERVAL, the weekday
#: of a FREQ=WEEKLY with no BYDAY): a Saturday.
RECURRENCE_START = datetime(2000, 1, 1)
_DTSTART_PARAMETERS = re.compile(r"(DTSTART);[^:\s]*:", re.IGNORECASE)


def recurrence(field: str, text: object) -> rrule:
    """The dateutil rrule of an RFC 5545 ``RRULE`` text such as ``FREQ=MONTHLY;BYDAY=+1TU``,
    counted from its ``DTSTART`` (its wall clock: the rule's timezone applies) or else from
    :data:`RECURRENCE_START` (a rule's ``starts``, if it has one, comes first:
    :func:`loyalty.conditions.when_reason`)."""
    if not isinstance(text, str) or not text.strip() or len(text) > 512:
        raise InvalidInput(field, f"must be an RRULE text such as 'FREQ=MONTHLY;BYDAY=+1TU', got {text!r}")
    try:
        # A DTSTART's parameters (TZID, VALUE) are not read: its wall clock is the rule's timezone's.
        # Kept, a TZID made the start zoned, which an UNTIL read without its zone then refused.
        plain = _DTSTART_PARAMETERS.sub(r"\1:", text)
        parsed = rrulestr(plain, dtstart=RECURRENCE_START, cache=False, ignoretz=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(field, f"not a valid RRULE ({exc}): {text!r}") from None
    if not isinstance(parsed, rrule):
        raise InvalidInput(field, f"must be a single RRULE, got {text!r}")
    # A DTSTART with a TZID keeps its zone whatever ignoretz says: its wall clock is kept, in the
    # rule's timezone, as for any other (a zoned start would not compare with the days asked).
    start = getattr(parsed, "_dtstart", None)
    if isinstance(start, datetime) and start.tzinfo is not None:
        parsed = parsed.replace(dtstart=start.replace(tzinfo=None))
    return parsed


def _check_optional_date(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
        raise InvalidInput(attribute.name, f"must be a date, not {type(value).__name__}")


@accepts(maxLength=MAX_NAME_LENGTH)
def _check_text(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_text(attribute.name, value, max_length=MAX_NAME_LENGTH, blank=False)


@accepts(minimum=-1_000_000, maximum=1_000_000)
def _check_priority(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not -1_000_000 <= value <= 1_000_000:
        raise InvalidInput(attribute.name, f"must be an int from -1000000 to 1000000, got {value!r}")


def _check_bool(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(attribute.name, f"must be true or false, got {value!r}")


@accepts(pattern=f"^(?:{_RULE_ID.pattern})$")
def _check_rule_id(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    check_rule_id(attribute.name, value)


def _check_optional_rule_id(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        check_rule_id(attribute.name, value)


def as_enum(kind: type[enum.Enum], value: Any) -> Any:
    """``value`` as a member of ``kind`` when it is one's value; else as it is, for the validator."""
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _to_scope(value: Any) -> Any:
    return as_enum(Scope, value)


def _to_period(value: Any) -> Any:
    return as_enum(Period, value)


def _check_enum(kind: type[enum.Enum], optional: bool = False) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        if optional and value is None:
            return
        if not isinstance(value, kind):
            names = ", ".join(repr(member.value) for member in kind)
            raise InvalidInput(attribute.name, f"must be one of {names}, got {value!r}")

    return check
