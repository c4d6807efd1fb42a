"""Earning rules: frozen values that say who earns what, when.

Every rule has an ``id`` (unique in its program, recorded on the ledger
entries it produces), a display ``name``, and the same set of *conditions*:
which lines it looks at (SKU, category, label), where and when it applies
(store, channel, terminal, member attributes, dates, days, hours, a recurring
rrule), minimums and caps. What it gives depends on its kind:

=====================  ==========================================================
:class:`SpendRule`     ``points`` per ``per`` of money on the matching lines
:class:`Multiplier`    multiplies the points matching lines already have
:class:`PurchaseBonus` fixed points once per qualifying purchase
:class:`UnitBonus`     fixed points per unit bought of the matching lines
:class:`ProductBonus`  fixed points for buying a matching product at all
:class:`FirstPurchase` fixed points on a member's first purchase
:class:`StampCard`     fixed points on every ``every``-th qualifying visit
:class:`BirthdayBonus` fixed points once a year around the member's birthday
:class:`EventRule`     fixed points for a non-purchase event (survey completed)
=====================  ==========================================================

Rules are evaluated by pure functions in :mod:`loyalty.earning`.

>>> from decimal import Decimal
>>> bakery = SpendRule(id="bakery-x2", points=2, per=Decimal("1.00"), categories=("bakery",))
>>> bakery.title, bakery.categories
('bakery-x2', ('bakery',))
>>> Multiplier(id="m", factor=Decimal(-1))
Traceback (most recent call last):
...
loyalty.errors.InvalidAmount: factor: must not be negative, got -1
"""

from __future__ import annotations

import decimal
import enum
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from dateutil.rrule import rrule, rrulestr

from loyalty.checks import MAX_POINTS, accepts
from loyalty.errors import InvalidAmount, InvalidInput
from loyalty.members import AttributeValue
from loyalty.purchases import Line

__all__ = [
    "BirthdayBonus",
    "EventRule",
    "FirstPurchase",
    "Multiplier",
    "Period",
    "ProductBonus",
    "PurchaseBonus",
    "Rule",
    "Scope",
    "SpendRule",
    "StampCard",
    "UnitBonus",
    "check_rule_id",
]

_RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")
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


def _check_label_map(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, tuple[Any, ...]]) -> None:
    for key, items in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(attribute.name, f"keys must be non-empty strings, got {key!r}")
        if not items:
            raise InvalidInput(f"{attribute.name}.{key}", "must list at least one value")
        for item in items:
            if not isinstance(item, str):
                raise InvalidInput(f"{attribute.name}.{key}", f"values must be strings, got {item!r}")


def _check_member_map(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, tuple[Any, ...]]) -> None:
    for key, items in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput(attribute.name, f"keys must be non-empty strings, got {key!r}")
        if not items:
            raise InvalidInput(f"{attribute.name}.{key}", "must list at least one value")
        for item in items:
            if not isinstance(item, str | int | bool):
                raise InvalidInput(
                    f"{attribute.name}.{key}", f"values must be str, int or bool, got {item!r}"
                )


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


def recurrence(field: str, text: object) -> rrule:
    """The dateutil rrule of an RFC 5545 ``RRULE`` text such as ``FREQ=MONTHLY;BYDAY=+1TU``."""
    if not isinstance(text, str) or not text.strip() or len(text) > 512:
        raise InvalidInput(field, f"must be an RRULE text such as 'FREQ=MONTHLY;BYDAY=+1TU', got {text!r}")
    try:
        parsed = rrulestr(text, dtstart=datetime(2000, 1, 1), cache=False)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(field, f"not a valid RRULE ({exc}): {text!r}") from None
    if not isinstance(parsed, rrule):
        raise InvalidInput(field, f"must be a single RRULE, got {text!r}")
    return parsed


def _check_optional_date(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
        raise InvalidInput(attribute.name, f"must be a date, not {type(value).__name__}")


def _check_text(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 200):
        raise InvalidInput(
            attribute.name, f"must be a non-empty text of at most 200 characters, got {value!r}"
        )


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


@attrs.frozen(kw_only=True)
class Rule:
    """What every rule has: identity, order, conditions and caps. Not used on its own.

    Conditions on *lines* (``skus``, ``categories``, ``labels`` and their
    ``exclude_`` twins) choose the lines a rule looks at: a line matches when
    it is in every include list given and in no exclude list. Conditions on
    the *purchase* (store, channel, terminal, member attributes, dates, days,
    hours, ``recurrence``) decide whether the rule applies at all; dates,
    days and hours are read in ``timezone`` (default: the program's).
    """

    kind: ClassVar[str] = ""
    #: Evaluation phase: spend rules, then multipliers, then fixed bonuses.
    phase: ClassVar[int] = 2

    id: str = attrs.field(validator=_check_rule_id)
    name: str | None = attrs.field(default=None, validator=_check_text)
    priority: int = attrs.field(default=0, validator=_check_priority)
    stop: bool = attrs.field(default=False, validator=_check_bool)
    group: str | None = attrs.field(default=None, validator=_check_optional_rule_id)

    skus: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple_of_ids, validator=_check_ids)
    exclude_skus: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple_of_ids, validator=_check_ids)
    categories: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple_of_ids, validator=_check_ids)
    exclude_categories: tuple[str, ...] = attrs.field(
        factory=tuple, converter=_tuple_of_ids, validator=_check_ids
    )
    labels: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=dict, converter=_frozen_map, validator=_check_label_map, hash=False
    )
    exclude_labels: Mapping[str, tuple[str, ...]] = attrs.field(
        factory=dict, converter=_frozen_map, validator=_check_label_map, hash=False
    )

    stores: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple_of_ids, validator=_check_ids)
    exclude_stores: tuple[str, ...] = attrs.field(
        factory=tuple, converter=_tuple_of_ids, validator=_check_ids
    )
    channels: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple_of_ids, validator=_check_ids)
    exclude_channels: tuple[str, ...] = attrs.field(
        factory=tuple, converter=_tuple_of_ids, validator=_check_ids
    )
    terminals: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple_of_ids, validator=_check_ids)
    exclude_terminals: tuple[str, ...] = attrs.field(
        factory=tuple, converter=_tuple_of_ids, validator=_check_ids
    )
    members: Mapping[str, tuple[AttributeValue, ...]] = attrs.field(
        factory=dict, converter=_frozen_map, validator=_check_member_map, hash=False
    )
    exclude_members: Mapping[str, tuple[AttributeValue, ...]] = attrs.field(
        factory=dict, converter=_frozen_map, validator=_check_member_map, hash=False
    )

    starts: date | None = attrs.field(default=None, validator=_check_optional_date)
    ends: date | None = attrs.field(default=None, validator=_check_optional_date)
    days: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple_of_ids, validator=_check_days)
    hours: tuple[str, ...] = attrs.field(factory=tuple, converter=_tuple_of_ids, validator=_check_hours)
    timezone: str | None = attrs.field(default=None, validator=_check_timezone)
    recurrence: str | None = attrs.field(default=None, validator=_check_recurrence)

    min_amount: Decimal | None = attrs.field(
        default=None, converter=_to_decimal, validator=_optional_positive_decimal
    )
    min_quantity: Decimal | None = attrs.field(
        default=None, converter=_to_decimal, validator=_optional_positive_decimal
    )
    minimum_scope: Scope = attrs.field(
        default=Scope.BASKET, converter=_to_scope, validator=_check_enum(Scope)
    )

    cap_per_purchase: int | None = attrs.field(default=None, validator=_optional_positive_int)
    cap: int | None = attrs.field(default=None, validator=_optional_positive_int)
    cap_period: Period | None = attrs.field(
        default=None, converter=_to_period, validator=_check_enum(Period, optional=True)
    )
    budget: int | None = attrs.field(default=None, validator=_optional_positive_int)
    #: Only for members who redeemed points within this many days (the likeliest to refer a friend).
    redeemed_within_days: int | None = attrs.field(default=None, validator=_optional_positive_int)
    #: Only for members whose last visit was at least this many days before (a win-back bonus).
    absent_days: int | None = attrs.field(default=None, validator=_optional_positive_int)

    def __attrs_post_init__(self) -> None:
        if self.starts is not None and self.ends is not None and self.ends < self.starts:
            raise InvalidInput("ends", f"must not be before starts ({self.starts}), got {self.ends}")
        if (self.cap is None) != (self.cap_period is None):
            raise InvalidInput("cap_period", "cap and cap_period go together: points per day/week/month/...")
        windows = []
        for text in self.hours:
            start, end = text.split("-")
            windows.append((_clock(start), _clock(end)))
        object.__setattr__(self, "_windows", tuple(windows))
        object.__setattr__(self, "_zone", None if self.timezone is None else zone("timezone", self.timezone))
        object.__setattr__(
            self, "_rrule", None if self.recurrence is None else recurrence("recurrence", self.recurrence)
        )
        # Which groups of conditions the rule uses, worked out once: evaluation
        # skips the groups a rule does not use, and most rules use few.
        timed = bool(self.starts or self.ends or self.days or self.hours or self.recurrence)
        object.__setattr__(self, "_timed", timed)
        object.__setattr__(
            self,
            "_placed",
            bool(
                self.stores
                or self.exclude_stores
                or self.channels
                or self.exclude_channels
                or self.terminals
                or self.exclude_terminals
            ),
        )
        object.__setattr__(
            self,
            "_segmented",
            bool(
                self.members
                or self.exclude_members
                or self.redeemed_within_days is not None
                or self.absent_days is not None
            ),
        )
        object.__setattr__(self, "_lined", self.has_line_filter)
        object.__setattr__(self, "_matches", _line_test(self))
        limited = self.cap_per_purchase is not None or self.cap is not None or self.budget is not None
        object.__setattr__(self, "_limited", limited)
        object.__setattr__(
            self, "_local", timed or self.cap is not None or self.kind in ("birthday", "event")
        )

    _windows: tuple[tuple[time | None, time | None], ...] = attrs.field(
        init=False, eq=False, repr=False, hash=False
    )
    _zone: ZoneInfo | None = attrs.field(init=False, eq=False, repr=False, hash=False)
    _rrule: rrule | None = attrs.field(init=False, eq=False, repr=False, hash=False)
    _timed: bool = attrs.field(init=False, eq=False, repr=False, hash=False)
    _placed: bool = attrs.field(init=False, eq=False, repr=False, hash=False)
    _segmented: bool = attrs.field(init=False, eq=False, repr=False, hash=False)
    _lined: bool = attrs.field(init=False, eq=False, repr=False, hash=False)
    #: Whether a line is one the rule looks at: the line conditions, prepared once.
    _matches: Callable[[Line], bool] = attrs.field(init=False, eq=False, repr=False, hash=False)
    _limited: bool = attrs.field(init=False, eq=False, repr=False, hash=False)
    #: Whether evaluating the rule reads the local date or time (windows, periods, birthdays).
    _local: bool = attrs.field(init=False, eq=False, repr=False, hash=False)

    @property
    def title(self) -> str:
        """The name shown on receipts: ``name``, or the id when there is none."""
        return self.name or self.id

    @property
    def has_line_filter(self) -> bool:
        return bool(
            self.skus
            or self.exclude_skus
            or self.categories
            or self.exclude_categories
            or self.labels
            or self.exclude_labels
        )


def _line_conditions(rule: Rule, line: Line) -> bool:
    """Whether ``line`` is one the rule looks at (in every include list, in no exclude list)."""
    if rule.skus and line.sku not in rule.skus:
        return False
    if line.sku in rule.exclude_skus:
        return False
    if rule.categories and line.category not in rule.categories:
        return False
    if line.category is not None and line.category in rule.exclude_categories:
        return False
    for key, values in rule.labels.items():
        if line.labels.get(key) not in values:
            return False
    return not any(line.labels.get(key) in values for key, values in rule.exclude_labels.items())


def _line_test(rule: Rule) -> Callable[[Line], bool]:
    """:func:`_line_conditions` for ``rule``, as one set lookup when the rule has one kind of line
    condition (the common case: a category, some SKUs, categories left out)."""
    lists = {
        name: getattr(rule, name)
        for name in ("skus", "exclude_skus", "categories", "exclude_categories", "labels", "exclude_labels")
        if getattr(rule, name)
    }
    if not lists:
        return _every_line
    if len(lists) == 1:
        ((name, values),) = lists.items()
        if name in ("skus", "exclude_skus", "categories", "exclude_categories"):
            wanted = frozenset(values)
            if name == "skus":
                return lambda line: line.sku in wanted
            if name == "exclude_skus":
                return lambda line: line.sku not in wanted
            if name == "categories":
                return lambda line: line.category in wanted
            # A line without a category is never left out: None is in no list.
            return lambda line: line.category not in wanted
    return functools.partial(_line_conditions, rule)


def _every_line(line: Line) -> bool:
    return True


def _clock(text: str) -> time | None:
    # 24:00 is the end of the day; None stands for it so comparisons stay simple.
    hour, minute = int(text[:2]), int(text[3:])
    return None if hour == 24 else time(hour, minute)


@attrs.frozen(kw_only=True)
class SpendRule(Rule):
    """``points`` for every ``per`` of money paid on the matching lines (after discounts).

    With ``whole_blocks`` only whole blocks of ``per`` earn, counted over the
    matching lines' amount in the basket: the part below a block earns
    nothing (:mod:`loyalty.blocks`).
    """

    kind: ClassVar[str] = "spend"
    phase: ClassVar[int] = 0

    points: int = attrs.field(validator=_positive_int)
    per: Decimal = attrs.field(default=Decimal(1), converter=_to_decimal, validator=_positive_decimal)
    #: Only whole blocks of ``per`` earn, counted over the matching lines' amount in the basket
    #: (two lines of 5.00 make one block of 10.00); the rest earns nothing.
    whole_blocks: bool = attrs.field(default=False, validator=_check_bool)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        try:
            rate: Decimal | None = _EXACT_ONLY.divide(Decimal(self.points), self.per)
        except decimal.Inexact:
            rate = None
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "fractional", rate is not None and rate != rate.to_integral_value())

    #: ``points / per`` when that is an exact decimal (1 per 10.00 is 0.1; 1 per 3 is not):
    #: multiplying by it keeps the spelling of the money (6.80 earns 6.80, not 6.8).
    rate: Decimal | None = attrs.field(init=False, eq=False, repr=False, hash=False)
    #: Whether ``rate`` has decimals (0.5), so the points can have more decimals than the money.
    fractional: bool = attrs.field(init=False, eq=False, repr=False, hash=False)


@attrs.frozen(kw_only=True)
class Multiplier(Rule):
    """Multiplies the points matching lines already have: ``factor``, or per label value.

    With ``label`` and ``factors`` (``label="color", factors={"red": 3}``) the
    factor comes from the line's value of that label; lines without one of
    the listed values keep their points. A factor of 0 zeroes the line.
    """

    kind: ClassVar[str] = "multiplier"
    phase: ClassVar[int] = 1

    factor: Decimal | None = attrs.field(default=None, converter=_to_decimal, validator=_check_factor)
    label: str | None = attrs.field(default=None, validator=_check_text)
    factors: Mapping[str, Decimal] = attrs.field(
        factory=dict, converter=_factor_map, validator=_check_factors, hash=False
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if (self.factor is None) == (self.label is None):
            raise InvalidInput("factor", "give either factor, or label with factors")
        if (self.label is None) != (not self.factors):
            raise InvalidInput("factors", "label and factors go together: {value: factor, ...}")


@attrs.frozen(kw_only=True)
class _Fixed(Rule):
    """A rule that gives a fixed number of ``points`` when it applies."""

    points: int = attrs.field(validator=_positive_int)


@attrs.frozen(kw_only=True)
class PurchaseBonus(_Fixed):
    """``points`` once for a qualifying purchase (use ``min_amount`` for a minimum spend)."""

    kind: ClassVar[str] = "purchase_bonus"


@attrs.frozen(kw_only=True)
class UnitBonus(_Fixed):
    """``points`` per whole unit bought of the matching lines (10 per unit of SKU X)."""

    kind: ClassVar[str] = "unit_bonus"


@attrs.frozen(kw_only=True)
class ProductBonus(_Fixed):
    """``points`` once when the purchase has any matching line ("buy X, get 50")."""

    kind: ClassVar[str] = "product_bonus"


@attrs.frozen(kw_only=True)
class FirstPurchase(_Fixed):
    """``points`` on the member's first recorded purchase."""

    kind: ClassVar[str] = "first_purchase"


@attrs.frozen(kw_only=True)
class StampCard(_Fixed):
    """``points`` on every ``every``-th qualifying visit (the 10th coffee is on us)."""

    kind: ClassVar[str] = "stamp_card"
    every: int = attrs.field(validator=_positive_int)


@attrs.frozen(kw_only=True)
class BirthdayBonus(_Fixed):
    """``points`` once a year on a purchase from ``days_before`` to ``days_after`` the birthday.

    ``cooloff_days``: no bonus while a birthday changed, or the member
    enrolled with it, less than that many days ago, so neither moving one's
    birthday nor joining the week before it pays.
    """

    kind: ClassVar[str] = "birthday"
    days_before: int = attrs.field(default=0, validator=_non_negative_int)
    days_after: int = attrs.field(default=0, validator=_non_negative_int)
    cooloff_days: int = attrs.field(default=0, validator=_non_negative_int)


_NO_LINES = "an event has no lines: SKU, category and label filters do not apply"
_NO_PLACE = "an event has no store, channel or terminal: it is recorded for the member, not at a till"
_NO_AMOUNT = "an event has no amount or quantity: minimums apply to purchases only"
#: The conditions only a purchase can meet, and why an event rule may not have them: accepted,
#: they would either never let the rule fire or (the minimums) be silently ignored.
_PURCHASE_ONLY: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(
            ("skus", "exclude_skus", "categories", "exclude_categories", "labels", "exclude_labels"),
            _NO_LINES,
        ),
        **dict.fromkeys(
            ("stores", "exclude_stores", "channels", "exclude_channels", "terminals", "exclude_terminals"),
            _NO_PLACE,
        ),
        **dict.fromkeys(("min_amount", "min_quantity"), _NO_AMOUNT),
    }
)
#: The fields an event rule may not set (``minimum_scope`` only at its default): what a program
#: file's schema leaves out of an event rule (:mod:`loyalty.json_schema`).
PURCHASE_ONLY_FIELDS: frozenset[str] = frozenset({*_PURCHASE_ONLY, "minimum_scope"})


@attrs.frozen(kw_only=True)
class EventRule(Rule):
    """``points`` when a member's ``event`` is recorded (``survey_completed``).

    ``properties`` filters on the event's properties like ``members`` does on
    member attributes. ``limit`` events per ``limit_period`` earn per member.
    """

    kind: ClassVar[str] = "event"
    phase: ClassVar[int] = 3

    event: str = attrs.field(validator=_check_rule_id)
    points: int = attrs.field(validator=_positive_int)
    properties: Mapping[str, tuple[AttributeValue, ...]] = attrs.field(
        factory=dict, converter=_frozen_map, validator=_check_member_map, hash=False
    )
    limit: int | None = attrs.field(default=None, validator=_optional_positive_int)
    limit_period: Period | None = attrs.field(
        default=None, converter=_to_period, validator=_check_enum(Period, optional=True)
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if (self.limit is None) != (self.limit_period is None):
            raise InvalidInput("limit_period", "limit and limit_period go together: 1 per day/week/.../ever")
        for name in _PURCHASE_ONLY:
            if getattr(self, name):
                raise InvalidInput(name, _PURCHASE_ONLY[name])
        if self.minimum_scope is not Scope.BASKET:
            raise InvalidInput("minimum_scope", _PURCHASE_ONLY["min_amount"])


#: Every rule kind by its ``kind`` name, as written in configuration files.
RULE_KINDS: Mapping[str, type[Rule]] = MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            SpendRule,
            Multiplier,
            PurchaseBonus,
            UnitBonus,
            ProductBonus,
            FirstPurchase,
            StampCard,
            BirthdayBonus,
            EventRule,
        )
    }
)
