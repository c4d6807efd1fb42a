"""Tiers: levels a member reaches by a qualifying metric, and keeps or loses by a policy.

A program's :class:`Tiers` names its levels (lowest first, the lowest at
threshold 0), the metric that qualifies (points earned, amount spent,
visits, or the balance) and the window it is counted over (lifetime,
calendar year, membership year, or the current month and the ``months - 1``
before it), and the policy that moves members down. Everything here is
pure: the engine reads the member's activity and its :class:`TierState`,
and :mod:`loyalty.tier_moves` decides the moves.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> tiers = Tiers(levels=[Tier(id="member"), Tier(id="silver", threshold=500),
...                       Tier(id="gold", threshold=2000, multiplier=Decimal("1.5"), bonus=100)])
>>> [tier.id for tier in tiers.reached(Decimal(2500))]
['member', 'silver', 'gold']
>>> tiers.levels[tiers.level_for(Decimal(499))].id
'member'
>>> Tiers(levels=[Tier(id="silver", threshold=500)])
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: levels[0].threshold: the lowest tier must have threshold 0, got 500
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from loyalty.checks import EVERY_YEAR_DAY, MAX_NAME_LENGTH, accepts, check_aware, check_text, one_of
from loyalty.errors import InvalidInput
from loyalty.json_form import JsonForm
from loyalty.rule_fields import as_enum, check_rule_id

__all__ = [
    "Downgrade",
    "Metric",
    "ReviewDate",
    "Tier",
    "TierState",
    "TierStatus",
    "Tiers",
    "Upgrade",
    "Window",
    "metric_key",
]

#: The most levels a program may define, and the longest rolling window and grace period.
MAX_LEVELS, MAX_MONTHS, MAX_GRACE_DAYS = 50, 120, 366
#: The longest review cycle in days (ten years).
MAX_REVIEW_DAYS = 3660
#: The member attribute rules filter on to target tiers (``members = {tier = ["gold"]}``).
TIER_ATTRIBUTE = "tier"
_TICK = timedelta(microseconds=1)


class Metric(enum.Enum):
    """What qualifies a member for a tier."""

    #: Points earned on purchases and events, less those returns take back.
    POINTS = "points"
    #: The purchases' total amount, less what was returned.
    SPEND = "spend"
    #: Purchases recorded (a void gives its visit back).
    VISITS = "visits"
    #: The member's balance as the ledger holds it (in points; held points out, pending in),
    #: followed after every write that changes it: spending points can move a member down.
    BALANCE = "balance"


class Window(enum.Enum):
    """Over which stretch of time the metric is counted (in the program's timezone)."""

    LIFETIME = "lifetime"
    #: 1 January to 31 December.
    CALENDAR_YEAR = "calendar_year"
    #: From the member's enrollment anniversary to the next.
    MEMBERSHIP_YEAR = "membership_year"
    #: The current calendar month and the ``months - 1`` whole months before it.
    ROLLING = "rolling"


class Upgrade(enum.Enum):
    """Which rate the purchase that crosses a threshold earns at."""

    #: The old tier's; the new tier applies from the next purchase.
    NEXT_PURCHASE = "next_purchase"
    THIS_PURCHASE = "this_purchase"


class Downgrade(enum.Enum):
    """When a member whose metric no longer meets the tier's threshold loses it."""

    NEVER = "never"
    #: As soon as the metric falls below (a return, or the window moving on).
    IMMEDIATE = "immediate"
    #: At the next review date (plus ``grace_days``), if the window it measures fell short.
    REVIEW = "review"


class ReviewDate(enum.Enum):
    """Where tier reviews fall."""

    #: Each year on the member's enrollment anniversary.
    ANNIVERSARY = "anniversary"
    #: Each year on ``review_on`` ("01-01"), at midnight.
    FIXED = "fixed"
    #: Every ``review_days`` days from the member's enrollment, at its time of day.
    DAYS = "days"


def _to_metric(value: Any) -> Any:
    return as_enum(Metric, value)


def _to_window(value: Any) -> Any:
    return as_enum(Window, value)


def _to_upgrade(value: Any) -> Any:
    return as_enum(Upgrade, value)


def _to_downgrade(value: Any) -> Any:
    return as_enum(Downgrade, value)


def _to_review(value: Any) -> Any:
    return as_enum(ReviewDate, value)


def _to_decimal(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value


def _shown(value: object) -> str:
    return str(value) if isinstance(value, Decimal) else repr(value)


def _check_threshold(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise InvalidInput("threshold", f"must be a number of at least 0, got {_shown(value)}")


def _check_multiplier(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0 or value > 1000:
        raise InvalidInput("multiplier", f"must be positive and at most 1000, got {_shown(value)}")


@accepts(minimum=0, maximum=10**12)
def _check_bonus(_: Any, __: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**12:
        raise InvalidInput("bonus", f"must be an int from 0 to 10**12, got {value!r}")


#: A tier's multiplier is a rule named "<tier name> tier", which must fit a rule's name.
_MAX_TIER_NAME_LENGTH = MAX_NAME_LENGTH - len(" tier")


@accepts(maxLength=_MAX_TIER_NAME_LENGTH)
def _check_name(_: Any, __: Any, value: object) -> None:
    if value is not None:
        check_text("name", value, max_length=_MAX_TIER_NAME_LENGTH, blank=False)


@attrs.frozen(kw_only=True)
class Tier:
    """One level: reached when the metric is at least ``threshold`` (inclusive).

    ``multiplier`` multiplies what the member's purchases earn while in the
    tier (shown as rule ``tier-<id>`` on the receipt); ``bonus`` points are
    paid once, the first time the member reaches the tier.
    """

    id: str = attrs.field(validator=lambda _, __, v: check_rule_id("id", v))
    name: str | None = attrs.field(default=None, validator=_check_name)
    threshold: Decimal = attrs.field(default=Decimal(0), converter=_to_decimal, validator=_check_threshold)
    multiplier: Decimal = attrs.field(default=Decimal(1), converter=_to_decimal, validator=_check_multiplier)
    bonus: int = attrs.field(default=0, validator=_check_bonus)

    @property
    def label(self) -> str:
        """The name to show: ``name``, else the id."""
        return self.name or self.id

    @property
    def rule_id(self) -> str:
        """The id of the multiplier rule the tier adds to the program."""
        return f"tier-{self.id}"

    @property
    def bonus_rule_id(self) -> str:
        """The rule id of the tier's entry bonus, as its ledger entry names it (``tier-gold:bonus``)."""
        return f"{self.rule_id}:bonus"


def _levels(value: Iterable[Tier] | None) -> tuple[Tier, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidInput("levels", f"must be a list of tiers, not {type(value).__name__}")
    return tuple(value)


def _check_levels(_: Any, __: Any, levels: tuple[Tier, ...]) -> None:
    if not levels:
        raise InvalidInput("levels", "at least one tier is needed")
    if len(levels) > MAX_LEVELS:
        raise InvalidInput("levels", f"at most {MAX_LEVELS} tiers, got {len(levels)}")
    seen: dict[str, int] = {}
    for i, tier in enumerate(levels):
        if not isinstance(tier, Tier):
            raise InvalidInput(f"levels[{i}]", f"must be a Tier, got {tier!r}")
        if tier.id in seen:
            raise InvalidInput(f"levels[{i}].id", f"{tier.id!r} is already the id of levels[{seen[tier.id]}]")
        seen[tier.id] = i
        if i == 0 and tier.threshold != 0:
            raise InvalidInput(
                "levels[0].threshold", f"the lowest tier must have threshold 0, got {tier.threshold}"
            )
        if i and tier.threshold <= levels[i - 1].threshold:
            raise InvalidInput(
                f"levels[{i}].threshold",
                f"must be above levels[{i - 1}]'s ({levels[i - 1].threshold}), got {tier.threshold}",
            )


@accepts(minimum=1, maximum=MAX_MONTHS)
def _check_months(_: Any, __: Any, value: object) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MONTHS
    ):
        raise InvalidInput("months", f"must be None or an int from 1 to {MAX_MONTHS}, got {value!r}")


@accepts(minimum=0, maximum=MAX_GRACE_DAYS)
def _check_grace(_: Any, __: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GRACE_DAYS:
        raise InvalidInput("grace_days", f"must be an int from 0 to {MAX_GRACE_DAYS}, got {value!r}")


def _check_flag(_: Any, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput(attribute.name, f"must be true or false, got {value!r}")


@accepts(minimum=1, maximum=MAX_REVIEW_DAYS)
def _check_review_days(_: Any, __: Any, value: object) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REVIEW_DAYS
    ):
        raise InvalidInput(
            "review_days", f"must be None or an int from 1 to {MAX_REVIEW_DAYS}, got {value!r}"
        )


@accepts(pattern=EVERY_YEAR_DAY)
def _check_review_on(_: Any, __: Any, value: object) -> None:
    if value is None:
        return
    try:
        if not isinstance(value, str) or len(value) != 5 or value[2] != "-":
            raise ValueError
        if not (value[:2].isdigit() and value[3:].isdigit() and value.isascii()):
            raise ValueError
        month, day = int(value[:2]), int(value[3:])
        datetime(2023, month, day)  # a year without 29 February: the date must exist every year
    except ValueError:
        raise InvalidInput(
            "review_on", f'must be a date "MM-DD" that exists every year ("01-01"), got {value!r}'
        ) from None


@attrs.frozen(kw_only=True)
class Tiers:
    """A program's tiers and the policy that moves members between them.

    ``upgrade``: a member moves up at once when the metric reaches a
    threshold (several tiers in one jump if it reaches several);
    ``downgrade``: whether and when a member moves down
    (:class:`Downgrade`). Reviews fall on ``review`` dates (``review_on``
    for a fixed date, ``review_days`` for a cycle of days); ``grace_days``
    delays a downgrade a review decides, ``one_step`` limits it to one
    tier per review and ``to_base`` sends the member straight to the lowest
    tier. Each review measures the window as it stood just before the review
    date. ``reset_on_downgrade`` sets the member's progress in the window
    back to zero when a review moves its earned tier down. With ``count_transfers`` points a
    member receives by transfer count toward its ``points`` metric, as earned points do.
    """

    levels: tuple[Tier, ...] = attrs.field(converter=_levels, validator=_check_levels)
    metric: Metric = attrs.field(
        default=Metric.POINTS, converter=_to_metric, validator=one_of(Metric, "metric")
    )
    window: Window = attrs.field(
        default=Window.LIFETIME, converter=_to_window, validator=one_of(Window, "window")
    )
    months: int | None = attrs.field(default=None, validator=_check_months)
    upgrade: Upgrade = attrs.field(
        default=Upgrade.NEXT_PURCHASE,
        converter=_to_upgrade,
        validator=one_of(Upgrade, "upgrade"),
    )
    downgrade: Downgrade = attrs.field(
        default=Downgrade.NEVER,
        converter=_to_downgrade,
        validator=one_of(Downgrade, "downgrade"),
    )
    review: ReviewDate = attrs.field(
        default=ReviewDate.ANNIVERSARY,
        converter=_to_review,
        validator=one_of(ReviewDate, "review"),
    )
    review_on: str | None = attrs.field(default=None, validator=_check_review_on)
    review_days: int | None = attrs.field(default=None, validator=_check_review_days)
    grace_days: int = attrs.field(default=0, validator=_check_grace)
    one_step: bool = attrs.field(default=False, validator=_check_flag)
    to_base: bool = attrs.field(default=False, validator=_check_flag)
    reset_on_downgrade: bool = attrs.field(default=False, validator=_check_flag)
    #: Points received from another member count toward a points metric (by default they do not).
    count_transfers: bool = attrs.field(default=False, validator=_check_flag)

    def __attrs_post_init__(self) -> None:
        if (self.window is Window.ROLLING) != (self.months is not None):
            raise InvalidInput(
                "months", "a rolling window needs months, and only a rolling window takes them"
            )
        if self.metric is Metric.VISITS:
            for i, tier in enumerate(self.levels):
                if tier.threshold != tier.threshold.to_integral_value():
                    raise InvalidInput(f"levels[{i}].threshold", f"visits are whole, got {tier.threshold}")
        if self.levels[0].bonus:
            raise InvalidInput("levels[0].bonus", "members start in the lowest tier: it has no entry bonus")
        if self.review is ReviewDate.FIXED and self.review_on is None:
            raise InvalidInput("review_on", 'a fixed review needs its date, "MM-DD"')
        if self.review is not ReviewDate.FIXED and self.review_on is not None:
            raise InvalidInput("review_on", "only a fixed review takes a date")
        if self.review is ReviewDate.DAYS and self.review_days is None:
            raise InvalidInput("review_days", "a review every so many days needs its number of days")
        if self.review is not ReviewDate.DAYS and self.review_days is not None:
            raise InvalidInput("review_days", 'only a review every so many days (review = "days") takes them')
        if self.to_base and self.one_step:
            raise InvalidInput("to_base", "a downgrade goes one step or straight to the base tier, not both")
        if self.metric is Metric.BALANCE and self.window is not Window.LIFETIME:
            raise InvalidInput("window", "a balance is what the member has now: it has no window")
        if self.metric is Metric.BALANCE and self.to_base:
            # The balance is followed in the review's own unit of work: the member would be told
            # it fell to the base tier and then rose to the tier its balance meets, twice a move.
            raise InvalidInput("to_base", "a balance tier follows the balance: a review does not skip tiers")
        if self.metric is Metric.BALANCE and self.reset_on_downgrade:
            # Setting progress aside would mean taking the member's points.
            raise InvalidInput("reset_on_downgrade", "a balance is not progress: it cannot be reset")
        if self.count_transfers and self.metric is not Metric.POINTS:
            # A transfer is neither spend nor a visit, and a balance follows it whatever is asked.
            raise InvalidInput("count_transfers", "only a points metric counts points received by transfer")
        if self.reset_on_downgrade and self.downgrade is not Downgrade.REVIEW:
            # Under "immediate" the tier follows the metric: progress set to zero would take
            # the member on down to the lowest tier at once.
            raise InvalidInput("reset_on_downgrade", "only a downgrade at review resets progress")
        if self.downgrade is not Downgrade.REVIEW:
            if self.review is not ReviewDate.ANNIVERSARY or self.review_on is not None:
                raise InvalidInput("review", "only a downgrade at review has review dates")
            if self.grace_days:
                raise InvalidInput("grace_days", "only a downgrade at review has a grace period")
            if self.one_step:
                raise InvalidInput("one_step", "only a downgrade at review goes one step at a time")
            if self.to_base:
                # Under "immediate" the tier follows the metric, which may still meet a tier between.
                raise InvalidInput("to_base", "only a downgrade at review goes straight to the base tier")
        elif self.window is Window.CALENDAR_YEAR and self.review is not ReviewDate.FIXED:
            # An anniversary or a cycle of days would measure a calendar year cut short.
            raise InvalidInput(
                "review",
                'a calendar-year window is reviewed on a fixed date (review = "fixed", review_on = "01-01")',
            )
        elif self.window is Window.MEMBERSHIP_YEAR and self.review is not ReviewDate.ANNIVERSARY:
            raise InvalidInput("review", "a membership-year window is reviewed on the anniversary")
        object.__setattr__(self, "_position", {tier.id: i for i, tier in enumerate(self.levels)})

    _position: Mapping[str | None, int] = attrs.field(init=False, eq=False, repr=False, hash=False)

    # -- levels ---------------------------------------------------------------------------

    def level_for(self, value: Decimal) -> int:
        """The index of the highest tier whose threshold ``value`` meets."""
        found = 0
        for i, tier in enumerate(self.levels):
            if value >= tier.threshold:
                found = i
        return found

    def reached(self, value: Decimal) -> list[Tier]:
        """Every tier whose threshold ``value`` meets, lowest first."""
        return list(self.levels[: self.level_for(value) + 1])

    def position(self, tier_id: str | None) -> int:
        """The index of ``tier_id``; a tier a later version dropped counts as the lowest."""
        return self._position.get(tier_id, 0)

    def tier(self, tier_id: str | None) -> Tier:
        return self.levels[self.position(tier_id)]

    # -- the window ---------------------------------------------------------------------------

    def bucket(self, at: datetime, zone: tzinfo, enrolled_at: datetime) -> str:
        """The stretch of time activity at ``at`` counts in (a tally's suffix)."""
        local = at.astimezone(zone)
        if self.window is Window.LIFETIME:
            return "all"
        if self.window is Window.CALENDAR_YEAR:
            return f"{local.year:04d}"
        if self.window is Window.MEMBERSHIP_YEAR:
            return f"y{_membership_year(at, zone, enrolled_at)}"
        return f"{local.year:04d}-{local.month:02d}"

    def buckets(self, at: datetime, zone: tzinfo, enrolled_at: datetime) -> list[str]:
        """The stretches whose activity adds up to the metric at ``at``."""
        if self.window is not Window.ROLLING:
            return [self.bucket(at, zone, enrolled_at)]
        assert self.months is not None
        local = at.astimezone(zone)
        index = local.year * 12 + local.month - 1
        # No check for months before year 1: every instant the engine takes is from 1900 on.
        return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - self.months + 1, index + 1)]

    def next_boundary(self, after: datetime, zone: tzinfo, enrolled_at: datetime) -> datetime | None:
        """The first instant after ``after`` at which the window moves on (``None``: lifetime)."""
        local = after.astimezone(zone)
        try:
            if self.window is Window.LIFETIME:
                return None
            if self.window is Window.CALENDAR_YEAR:
                return _utc(datetime(local.year + 1, 1, 1, tzinfo=zone))
            if self.window is Window.MEMBERSHIP_YEAR:
                return _anniversary(enrolled_at, zone, _membership_year(after, zone, enrolled_at) + 1)
            return _utc(datetime(local.year, local.month, 1, tzinfo=zone) + relativedelta(months=1))
        except (OverflowError, ValueError):
            return None  # past the year 9999

    def next_review(self, after: datetime, zone: tzinfo, enrolled_at: datetime) -> datetime | None:
        """The first review date after ``after`` (``None`` when the policy has no reviews)."""
        if self.downgrade is Downgrade.NEVER:
            return None
        if self.downgrade is Downgrade.IMMEDIATE:
            return self.next_boundary(after, zone, enrolled_at)
        try:
            if self.review is ReviewDate.ANNIVERSARY:
                return _anniversary(enrolled_at, zone, _membership_year(after, zone, enrolled_at) + 1)
            if self.review is ReviewDate.DAYS:
                assert self.review_days is not None
                return _every(enrolled_at, zone, self.review_days, after)
            assert self.review_on is not None
            month, day = int(self.review_on[:2]), int(self.review_on[3:])
            local = after.astimezone(zone)
            review = _utc(datetime(local.year, month, day, tzinfo=zone))
            if review <= after:
                review = _utc(datetime(local.year + 1, month, day, tzinfo=zone))
            return review
        except (OverflowError, ValueError):
            return None

    def measured_at(self, review: datetime) -> datetime:
        """The instant whose window a review on ``review`` measures: the one just before it,
        or, for a downgrade at once, the review's own (the window that has just begun)."""
        return review if self.downgrade is Downgrade.IMMEDIATE else review - _TICK

    def effective_at(self, review: datetime, zone: tzinfo) -> datetime:
        """When what a review decides takes effect: ``grace_days`` after it, on the wall clock."""
        if not self.grace_days:
            return review
        try:
            return _utc(review.astimezone(zone) + relativedelta(days=self.grace_days))
        except (OverflowError, ValueError):
            return datetime.max.replace(tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _anniversary(enrolled_at: datetime, zone: tzinfo, years: int) -> datetime:
    """The start of membership year ``years`` (0 is enrollment), on the program's wall clock.

    A member enrolled on 29 February has anniversaries on 28 February.
    """
    return _utc(enrolled_at.astimezone(zone) + relativedelta(years=years))


def _every(enrolled_at: datetime, zone: tzinfo, days: int, after: datetime) -> datetime:
    """The first of the dates ``days``, ``2 * days``, ... days after enrollment (on the program's
    wall clock, at the enrollment's time of day) that falls after ``after``."""
    start = enrolled_at.astimezone(zone)
    cycles = max((after.astimezone(zone).date() - start.date()).days // days, 1)
    review = _utc(start + relativedelta(days=cycles * days))
    while review <= after:  # at most twice: the same day, later than the enrollment's time
        cycles += 1
        review = _utc(start + relativedelta(days=cycles * days))
    return review


def _membership_year(at: datetime, zone: tzinfo, enrolled_at: datetime) -> int:
    """Which membership year ``at`` falls in (0 is the first); compared as instants, not wall times."""
    if at < enrolled_at:
        return 0
    years = at.astimezone(zone).year - enrolled_at.astimezone(zone).year
    try:
        while _anniversary(enrolled_at, zone, years) > at:
            years -= 1
    except (OverflowError, ValueError):
        years -= 1
    return max(years, 0)


def metric_key(metric: Metric, member_id: str, bucket: str) -> str:
    """The tally that counts the member's qualifying ``metric`` in ``bucket``."""
    return f"tier|{metric.value}|{bucket}|{member_id}"


def _check_id(_: Any, attribute: attrs.Attribute[str], value: object) -> None:
    check_rule_id(attribute.name, value)


def _check_optional_id(_: Any, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None:
        check_rule_id(attribute.name, value)


def _check_utc(_: Any, attribute: attrs.Attribute[datetime], value: object) -> None:
    check_aware(attribute.name, value)


def _check_optional_utc(_: Any, attribute: attrs.Attribute[datetime | None], value: object) -> None:
    if value is not None:
        check_aware(attribute.name, value)


def _ids(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class TierState:
    """What the store keeps of a member's tier (members at the lowest tier need none).

    ``earned`` is the tier the member's activity has earned under the
    policy; ``tier`` is the one in force: ``earned``, or ``floor`` while a
    manually assigned tier lasts (until ``floor_until``). ``review_at`` is
    the next review (or, for a downgrade at once, the next time the window
    moves on); ``due_at`` is when maintenance must next look at the member:
    the earlier of that review's effect and the floor's end. ``reached`` are
    the tiers the member has ever reached, whose entry bonus is paid.
    """

    member_id: str
    tier: str = attrs.field(validator=_check_id)
    earned: str = attrs.field(validator=_check_id)
    since: datetime = attrs.field(validator=_check_utc)
    review_at: datetime | None = attrs.field(default=None, validator=_check_optional_utc)
    due_at: datetime | None = attrs.field(default=None, validator=_check_optional_utc)
    floor: str | None = attrs.field(default=None, validator=_check_optional_id)
    floor_until: datetime | None = attrs.field(default=None, validator=_check_optional_utc)
    reached: tuple[str, ...] = attrs.field(default=(), converter=_ids)

    @classmethod
    def initial(cls, member_id: str, tiers: Tiers, enrolled_at: datetime) -> TierState:
        """A member who has never moved: the lowest tier since enrollment."""
        lowest = tiers.levels[0].id
        return cls(member_id, lowest, lowest, _utc(enrolled_at), reached=(lowest,))


@attrs.frozen
class TierStatus(JsonForm):
    """Where a member stands: :meth:`loyalty.Engine.tier`'s answer.

    ``value`` is the metric over the current window; ``to_next`` what it
    still needs for the next tier (``None`` at the top); ``review_at`` the
    next review date (a downgrade it decides takes effect ``grace_days``
    later; for a downgrade at once, the next time the window moves on) and
    ``to_keep`` what the window that review measures still needs for the
    current tier (0 when it is already met; ``None`` when there is no review).
    """

    member_id: str
    tier: Tier
    since: datetime
    metric: Metric
    value: Decimal
    next: Tier | None
    to_next: Decimal | None
    review_at: datetime | None
    to_keep: Decimal | None
    earned: Tier
    floor: Tier | None = None
    floor_until: datetime | None = None
