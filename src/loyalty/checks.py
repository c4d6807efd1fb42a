"""Guards for the scalar inputs every command takes: ids, instants, points and switches.

Each returns the value it was given or raises the matching
:class:`~loyalty.errors.LoyaltyError` subclass naming ``field``; none of them
coerce, because a POS that sends ``"12"`` where it means ``12`` has a bug we
should surface rather than hide.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeVar

from loyalty.errors import InvalidDatetime, InvalidId, InvalidInput, InvalidPoints

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_POINTS",
    "MAX_TEXT_LENGTH",
    "accepts",
    "check_aware",
    "check_distinct",
    "check_flag",
    "check_id",
    "check_points",
    "check_text",
    "keywords_of",
    "marked",
    "one_of",
    "validates",
]

MAX_ID_LENGTH = 128
#: The longest name a program gives a rule, tier or reward (a till prints it on a receipt line or
#: two; every POS we know truncates item and promotion names well below it).
MAX_NAME_LENGTH = 200
#: The longest free text a command carries: a reason, a member's attribute value.
MAX_TEXT_LENGTH = 1024
MIN_YEAR, MAX_YEAR = 1900, 9998
# Every adapter stores points and balances in a signed 64-bit column.
MAX_POINTS = 2**63 - 1


def check_id(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidId(field, f"must be a string, not {type(value).__name__}")
    if not value or value.isspace():
        raise InvalidId(field, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidId(field, f"must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    # Control and format characters (NUL, newlines, bidi overrides) make ids
    # that print alike but differ, and NUL truncates in some drivers. A printable
    # string has none of them (``isprintable`` is false for every Cc, Cf and Cs
    # character), so only the others are looked at character by character.
    if not value.isprintable() and any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in value):
        raise InvalidId(field, "must not contain control characters")
    return value


def check_text(field: str, value: object, *, max_length: int = MAX_TEXT_LENGTH, blank: bool = True) -> str:
    r"""Text a person wrote (a name, a reason, an attribute value): any printable text of at most
    ``max_length`` characters, but no NUL and no lone surrogate; not blank unless ``blank``.

    NUL and lone surrogates cannot be stored by every backend (PostgreSQL refuses NUL in text,
    UTF-8 cannot encode a lone surrogate), so they are refused here, before any adapter sees
    them, for the same behaviour everywhere. Bidi overrides and zero-width characters are
    accepted: every backend stores them as given, and a name may need them to be written at all.

    >>> check_text("rules[0].name", "Double points \u200f")
    'Double points \u200f'
    >>> check_text("reason", "a\x00b")
    Traceback (most recent call last):
    ...
    loyalty.errors.InvalidInput: reason: must not contain NUL characters or lone surrogates
    >>> check_text("name", "x" * 201, max_length=MAX_NAME_LENGTH)
    Traceback (most recent call last):
    ...
    loyalty.errors.InvalidInput: name: must be at most 200 characters, got 201
    """
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, not {type(value).__name__}")
    if len(value) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters, got {len(value)}")
    if not blank and not value.strip():
        raise InvalidInput(field, "must not be empty")
    if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
        raise InvalidInput(field, "must not contain NUL characters or lone surrogates")
    return value


def check_aware(field: str, value: object) -> datetime:
    """A timezone-aware datetime whose UTC offset is whole seconds and whose UTC instant lies in
    years 1900 to 9998.

    The bounds keep every instant representable in every adapter and in
    Python after a conversion to UTC or another offset (year 1 in +01:00 is
    year 0 in UTC, which neither Python nor PostgreSQL can read back). The
    adapters keep an offset in whole seconds: one with a fraction of a second
    (Python allows it) would read back as another wall-clock time.

    >>> from datetime import timedelta, timezone
    >>> try:
    ...     check_aware("at", datetime(2024, 3, 2, 12, tzinfo=timezone(timedelta(microseconds=250_000))))
    ... except InvalidDatetime as refused:
    ...     print(refused.field, "|", refused.args[0].partition(", got")[0])
    at | at: must have a UTC offset of whole seconds
    """
    if not isinstance(value, datetime):
        raise InvalidDatetime(field, f"must be a datetime, not {type(value).__name__}")
    if value.tzinfo is UTC:
        # UTC has an offset, and its year is the instant's: no call to ask either.
        year = value.year
    else:
        offset = None if value.tzinfo is None else value.utcoffset()
        if offset is None:
            raise InvalidDatetime(field, "must be timezone-aware (naive datetimes are ambiguous)")
        if offset.microseconds:
            raise InvalidDatetime(field, f"must have a UTC offset of whole seconds, got {value.isoformat()}")
        year = value.year
        if MIN_YEAR < year < MAX_YEAR:
            # An offset is less than a day: the instant's year is within one of the wall
            # clock's, so inside the bounds too, without the conversion (on every command).
            return value
        try:
            year = value.astimezone(UTC).year
        except (OverflowError, ValueError):
            year = 0
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise InvalidDatetime(
            field, f"must lie in the years {MIN_YEAR} to {MAX_YEAR}, got {value.isoformat()}"
        )
    return value


def check_distinct(field: str, value: str, other_field: str, other: str) -> None:
    """Two members a command moves points between must be two: ``value`` (``field``) must not be
    ``other`` (``other_field``), or :class:`InvalidInput` names ``field``.

    >>> check_distinct("to_member", "A", "from_member", "A")
    Traceback (most recent call last):
    ...
    loyalty.errors.InvalidInput: to_member: must be another member than from_member ('A')
    """
    if value == other:
        raise InvalidInput(field, f"must be another member than {other_field} ({other!r})")


def check_flag(field: str, value: object) -> bool:
    """A switch: ``True`` or ``False``, not ``1`` or ``"yes"`` (which would read as true)."""
    if not isinstance(value, bool):
        raise InvalidInput(field, f"must be True or False, not {type(value).__name__} {value!r}")
    return value


def check_points(field: str, value: object, *, allow_negative: bool = False) -> int:
    """Points must be a non-zero int (bool refused); positive unless ``allow_negative``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPoints(field, f"must be a whole number of points (int), not {type(value).__name__}")
    if value == 0:
        raise InvalidPoints(field, "must not be zero")
    if value < 0 and not allow_negative:
        raise InvalidPoints(field, f"must be positive, got {value}")
    if abs(value) > MAX_POINTS:
        raise InvalidPoints(field, f"must be within the 64-bit range (at most {MAX_POINTS})")
    return value


def one_of(kind: type[enum.Enum], field: str) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: the value must be a member of ``kind``; the error lists the choices."""

    def validator(_: Any, __: Any, value: Any) -> None:
        if not isinstance(value, kind):
            names = ", ".join(repr(member.value) for member in kind)
            raise InvalidInput(field, f"must be one of {names}, got {value!r}")

    return validator


def validates(check: Callable[[str, Any], object], field: str) -> Callable[[Any, Any, Any], None]:
    """An attrs validator running ``check(field, value)``, so errors name the caller's field."""

    def validator(_: Any, __: Any, value: Any) -> None:
        check(field, value)

    return validator


#: A JSON Schema pattern of the "MM-DD" days every year has: 31-day months, 30-day months, and
#: February to the 28th (an expiry's ``on``, a tier review's ``review_on``).
EVERY_YEAR_DAY = (
    "^((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"  # 31-day months
    "|(0[469]|11)-(0[1-9]|[12][0-9]|30)"  # 30-day months
    "|02-(0[1-9]|1[0-9]|2[0-8]))$"  # February, to the 28th
)


V = TypeVar("V", bound=Callable[..., Any])
_KEYWORDS: dict[object, Mapping[str, Any]] = {}


def accepts(**keywords: Any) -> Callable[[V], V]:
    """Mark an attrs validator with the JSON Schema keywords (``minimum``, ``maximum``,
    ``pattern``) that say what it accepts, for the program file schema (:mod:`loyalty.json_schema`).

    Only the bounds a schema can state go here; the validator stays the rule, and the tests
    hold every mark to its validator (the bounds pass, one step past them is refused).
    """

    def mark(validator: V) -> V:
        _KEYWORDS[validator] = MappingProxyType(keywords)
        return validator

    return mark


def keywords_of(validator: object) -> Mapping[str, Any]:
    """The keywords :func:`accepts` gave ``validator``; empty when it has none."""
    return _KEYWORDS.get(validator, MappingProxyType({}))


def marked() -> Mapping[object, Mapping[str, Any]]:
    """Every validator :func:`accepts` marked, with its keywords (for the tests that check them)."""
    return MappingProxyType(_KEYWORDS)
