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
import functools
from collections.abc import Callable, Mapping
from datetime import date, time
from decimal import Decimal
from types import MappingProxyType
from typing import ClassVar
from zoneinfo import ZoneInfo

import attrs
from dateutil.rrule import rrule

from loyalty.errors import InvalidInput
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

from loyalty.rule_fields import (
    _EXACT_ONLY,
    Period,
    Scope,
    _check_bool,
    _check_days,
    _check_enum,
    _check_factor,
    _check_factors,
    _check_hours,
    _check_ids,
    _check_label_map,
    _check_member_map,
    _check_optional_date,
    _check_optional_rule_id,
    _check_priority,
    _check_recurrence,
    _check_rule_id,
    _check_text,
    _check_timezone,
    _factor_map,
    _frozen_map,
    _non_negative_int,
    _optional_positive_decimal,
    _optional_positive_int,
    _positive_decimal,
    _positive_int,
    _to_decimal,
    _to_period,
    _to_scope,
    _tuple_of_ids,
    check_rule_id,
    recurrence,
    zone,
)


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
