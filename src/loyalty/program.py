"""A loyalty program: the currency it runs in and how purchases earn points.

This is the value every later capability (rules, tiers, expiry) grows on; it is
frozen, so a running engine can never see it change under its feet.

>>> from decimal import Decimal
>>> club = Program("Bakery Club", "EUR", rate=EarnRate(points=1, per=Decimal("10.00")))
>>> print(club.rate, club.currency, club.rounding.value)
1 point per 10.00 EUR floor
>>> EarnRate(points=0)
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: rate.points: must be a positive int, got 0
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from loyalty import schema
from loyalty.checks import accepts, check_aware, check_id, one_of, validates
from loyalty.compiled import RuleIndex
from loyalty.documents import read_json, read_json_file, read_toml, read_toml_file
from loyalty.earning_settings import EarnRate, EventCombination, Rounding, RoundPer, TaxBasis, _check_bool
from loyalty.errors import ConfigError, InvalidInput
from loyalty.expiry import MAX_DAYS, Expiry, vests_at
from loyalty.identifiers import Identifiers
from loyalty.money import EXACT, check_currency
from loyalty.offline import OfflineTerms
from loyalty.redemption import Redemption
from loyalty.referrals import Referrals
from loyalty.returns import Clawback, ReturnPolicy
from loyalty.rewards import Reward, check_rewards
from loyalty.rule_fields import as_enum, check_rule_id, zone
from loyalty.rules import (
    Multiplier,
    Rule,
    SpendRule,
)
from loyalty.tiers import TIER_ATTRIBUTE, Tiers
from loyalty.time_guards import TimeGuards

__all__ = [
    "BASE",
    "EarnRate",
    "EventCombination",
    "Program",
    "RoundPer",
    "Rounding",
    "RuleIndex",
    "TaxBasis",
    "check_versions",
]


def _check_rate(field: str, value: object) -> None:
    if value is not None and not isinstance(value, EarnRate):
        raise InvalidInput(field, f"must be an EarnRate or None, got {value!r}")


def _check_rounding(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, Rounding):
        raise InvalidInput("rounding", f"must be a Rounding, got {value!r}")


def _to_rounding(value: Any) -> Any:
    return as_enum(Rounding, value)


def _to_round_per(value: Any) -> Any:
    return as_enum(RoundPer, value)


def _to_tax(value: Any) -> Any:
    return as_enum(TaxBasis, value)


def _to_events(value: Any) -> Any:
    return as_enum(EventCombination, value)


def _to_clawback(value: Any) -> Any:
    return as_enum(Clawback, value)


def _to_returns(value: Any) -> Any:
    return as_enum(ReturnPolicy, value)


@accepts(minimum=0, maximum=6)
def _check_scale(_: Any, __: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 6:
        raise InvalidInput("scale", f"must be an int from 0 to 6, got {value!r}")


def _rules(value: Iterable[Rule] | None) -> tuple[Rule, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidInput("rules", f"must be a list of rules, not {type(value).__name__}")
    return tuple(value)


def _check_rules(_: Any, __: Any, rules: tuple[Rule, ...]) -> None:
    if len(rules) > MAX_RULES:
        raise InvalidInput("rules", f"at most {MAX_RULES} rules, got {len(rules)}")
    seen: dict[str, int] = {}
    for i, rule in enumerate(rules):
        if not isinstance(rule, Rule) or type(rule) is Rule:
            raise InvalidInput(f"rules[{i}]", f"must be a rule (SpendRule, Multiplier, ...), got {rule!r}")
        if rule.id in seen:
            raise InvalidInput(f"rules[{i}].id", f"{rule.id!r} is already the id of rules[{seen[rule.id]}]")
        seen[rule.id] = i


def _check_effective_from(_: Any, __: Any, value: object) -> None:
    if value is not None:
        check_aware("effective_from", value)


@accepts(minimum=0, maximum=MAX_DAYS)
def _check_pending_days(_: Any, __: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
        raise InvalidInput("pending_days", f"must be an int from 0 to {MAX_DAYS}, got {value!r}")


def _check_expiry(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, Expiry):
        raise InvalidInput("expiry", f"must be an Expiry, got {value!r}")


@accepts(minimum=0, maximum=366)
def _check_remind_days(_: Any, __: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
        raise InvalidInput("remind_days", f"must be an int from 0 to 366, got {value!r}")


def _check_redemption(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, Redemption):
        raise InvalidInput("redemption", f"must be Redemption, got {value!r}")


def _check_identifiers(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, Identifiers):
        raise InvalidInput("identifiers", f"must be Identifiers, got {value!r}")


def _check_time_guards(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, TimeGuards):
        raise InvalidInput("time_guards", f"must be TimeGuards, got {value!r}")


def _optional(cls: type, field: str) -> Any:
    def check(_: Any, __: Any, value: object) -> None:
        if value is not None and not isinstance(value, cls):
            raise InvalidInput(field, f"must be {cls.__name__} or None, got {value!r}")

    return check


def _rewards(value: Iterable[Reward] | None) -> tuple[Reward, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidInput("rewards", f"must be a list of rewards, not {type(value).__name__}")
    return tuple(value)


def _check_rewards(_: Any, __: Any, value: tuple[Reward, ...]) -> None:
    check_rewards(value)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


#: The most rules one program version may hold.
MAX_RULES = 10_000


@attrs.frozen
class Program:
    """A named program in one currency: a base rate, rules, and how points are rounded.

    ``rate`` is the base spend rule (id ``base``) every eligible purchase
    earns; ``None`` leaves earning entirely to ``rules``. Points are
    integers, in the program and in the API alike; ``scale`` is how many of
    their digits a till shows as decimals (``scale=2`` shows 675 as 6.75,
    and its rules state hundredths: ``EarnRate(100, Decimal("10.00"))`` is
    1.00 shown point per 10.00). ``version`` and
    ``effective_from`` place the program among its versions: a purchase is
    evaluated with the version in force at its own time.

    Points a purchase earns stay pending for ``pending_days`` (the return
    window) before they can be spent; every credit's points then expire
    under ``expiry`` (see :mod:`loyalty.expiry`), with the dates of the
    version it was earned under. ``clawback`` says what a return does when
    the points it takes back were already spent (:class:`~loyalty.returns.Clawback`), and
    what becomes of the points an offline redemption within its terminal's allowance finds
    the balance short of (:mod:`loyalty.offline`);
    ``returns`` how it works out those points: by recomputing the purchase
    without the returned goods, or by the amount returned at the base rate
    (:class:`~loyalty.returns.ReturnPolicy`, :mod:`loyalty.proportional`).
    With ``remind_days``, maintenance writes a ``points_expiring`` event
    (:mod:`loyalty.outbox`) for points that expire within that many days.
    ``referrals`` (:class:`~loyalty.referrals.Referrals`) rewards members
    whose code brings in a friend, and the friend.
    ``tiers`` (:class:`~loyalty.tiers.Tiers`) adds levels members reach and
    keep by a metric: each tier's multiplier becomes a rule ``tier-<id>``, and
    any rule can target tiers with ``members={"tier": [...]}``.
    ``rewards`` is the catalogue members spend points on (:mod:`loyalty.rewards`).
    """

    name: str = attrs.field(validator=validates(check_id, "name"))
    currency: str = attrs.field(validator=validates(check_currency, "currency"))
    rate: EarnRate | None = attrs.field(factory=EarnRate, validator=validates(_check_rate, "rate"))
    rounding: Rounding = attrs.field(
        default=Rounding.FLOOR, converter=_to_rounding, validator=_check_rounding
    )
    rules: tuple[Rule, ...] = attrs.field(factory=tuple, converter=_rules, validator=_check_rules)
    scale: int = attrs.field(default=0, validator=_check_scale, kw_only=True)
    round_per: RoundPer = attrs.field(
        default=RoundPer.PURCHASE,
        converter=_to_round_per,
        validator=one_of(RoundPer, "round_per"),
        kw_only=True,
    )
    carry: bool = attrs.field(default=False, validator=_check_bool("carry"), kw_only=True)
    tax: TaxBasis = attrs.field(
        default=TaxBasis.INCLUSIVE,
        converter=_to_tax,
        validator=one_of(TaxBasis, "tax"),
        kw_only=True,
    )
    events: EventCombination = attrs.field(
        default=EventCombination.SUM,
        converter=_to_events,
        validator=one_of(EventCombination, "events"),
        kw_only=True,
    )
    timezone: str = attrs.field(default="UTC", validator=lambda _, __, v: zone("timezone", v), kw_only=True)
    version: str = attrs.field(default="1", validator=validates(check_rule_id, "version"), kw_only=True)
    effective_from: datetime | None = attrs.field(default=None, validator=_check_effective_from, kw_only=True)
    pending_days: int = attrs.field(default=0, validator=_check_pending_days, kw_only=True)
    expiry: Expiry = attrs.field(factory=Expiry, validator=_check_expiry, kw_only=True)
    clawback: Clawback = attrs.field(
        default=Clawback.CLAMP, converter=_to_clawback, validator=one_of(Clawback, "clawback"), kw_only=True
    )
    #: How a return works out the points it takes back: "recompute" the purchase without the
    #: returned goods, or "proportional": the amount returned at the base rate (needs one).
    returns: ReturnPolicy = attrs.field(
        default=ReturnPolicy.RECOMPUTE,
        converter=_to_returns,
        validator=one_of(ReturnPolicy, "returns"),
        kw_only=True,
    )
    tiers: Tiers | None = attrs.field(default=None, validator=_optional(Tiers, "tiers"), kw_only=True)
    remind_days: int = attrs.field(default=0, validator=_check_remind_days, kw_only=True)
    referrals: Referrals | None = attrs.field(
        default=None, validator=_optional(Referrals, "referrals"), kw_only=True
    )
    #: Limits on redemptions and holds, and what a point is worth as payment (:mod:`loyalty.redemption`).
    redemption: Redemption = attrs.field(factory=Redemption, validator=_check_redemption, kw_only=True)
    #: Members' cards and keys: what a replaced card finds (:mod:`loyalty.identifiers`).
    identifiers: Identifiers = attrs.field(factory=Identifiers, validator=_check_identifiers, kw_only=True)
    #: How far a till's time may lead the engine's clock, and activity before enrollment
    #: (:mod:`loyalty.time_guards`).
    time_guards: TimeGuards = attrs.field(factory=TimeGuards, validator=_check_time_guards, kw_only=True)
    #: The allowance an offline terminal gets for the figures its grant leaves out (:mod:`loyalty.offline`).
    offline: OfflineTerms | None = attrs.field(
        default=None, validator=_optional(OfflineTerms, "offline"), kw_only=True
    )
    #: The rewards catalogue: what members buy with points, each as a voucher (:mod:`loyalty.rewards`).
    rewards: tuple[Reward, ...] = attrs.field(
        factory=tuple, converter=_rewards, validator=_check_rewards, kw_only=True
    )

    def __attrs_post_init__(self) -> None:
        if self.returns is ReturnPolicy.PROPORTIONAL and self.rate is None:
            raise InvalidInput(
                "returns",
                '"proportional" takes back points at the base rate, and this program has none '
                '(rate = false): use "recompute"',
            )
        if self.round_per is RoundPer.LINE:
            _refuse_blocks_per_line(self)
        if self.rate is not None and any(rule.id == BASE for rule in self.rules):
            index = next(i for i, rule in enumerate(self.rules) if rule.id == BASE)
            raise InvalidInput(
                f"rules[{index}].id", f"{BASE!r} is the base rate's id; set rate to None to reuse it"
            )
        if self.tiers is not None:
            taken = {rule.id: i for i, rule in enumerate(self.rules)}
            for j, tier in enumerate(self.tiers.levels):
                if tier.rule_id in taken:
                    raise InvalidInput(
                        f"rules[{taken[tier.rule_id]}].id",
                        f"{tier.rule_id!r} is the id of tiers.levels[{j}]'s multiplier",
                    )
        object.__setattr__(self, "_zone", zone("timezone", self.timezone))
        # Compiled once per version: a program is frozen, so its index never goes stale.
        compiled = RuleIndex.build(_rules_of(self), self._zone, tiered=self.tiers is not None)
        object.__setattr__(self, "_index", compiled)

    _zone: ZoneInfo = attrs.field(init=False, eq=False, repr=False, hash=False)
    _index: RuleIndex = attrs.field(init=False, eq=False, repr=False, hash=False)

    @property
    def zone(self) -> ZoneInfo:
        """The program's timezone, in which days, hours and periods are read."""
        return self._zone

    @property
    def index(self) -> RuleIndex:
        """The rules in evaluation order, indexed by what they can apply to (:mod:`loyalty.compiled`)."""
        return self._index

    def lot_dates(self, earned_at: datetime, *, pending: bool) -> tuple[datetime | None, datetime | None]:
        """When points earned at ``earned_at`` vest and expire; ``pending`` ones wait ``pending_days``.

        Worked out on the program's wall clock, returned in UTC: two instants
        in one zone compare by wall time in Python, which would misplace a
        date in the hour a DST change skips.
        """
        try:
            vests = _utc(vests_at(earned_at, self.pending_days, self._zone)) if pending else None
        except (OverflowError, ValueError):
            # Past the year 9999 no datetime exists: such points are never pending.
            vests = None
        start = vests if vests is not None and self.expiry.from_vesting else earned_at
        try:
            return vests, _utc(self.expiry.expires_at(start, self._zone))
        except (OverflowError, ValueError):
            return vests, None  # nor can they expire

    def reward(self, reward_id: str) -> Reward | None:
        """The catalogue's reward ``reward_id``, or ``None``."""
        return next((reward for reward in self.rewards if reward.id == reward_id), None)

    def format_points(self, points: int | Decimal) -> str:
        """``points`` as a till shows them: with ``scale`` 2, ``675`` is ``6.75``."""
        if not self.scale:
            return str(points)
        return str(Decimal(points).scaleb(-self.scale, context=EXACT))

    # -- configuration as data (formats: loyalty.config; the converter: loyalty.schema) --------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Program:
        """A program from its dict form; every problem is reported at once as ``ConfigError``."""
        return schema.structure(data, Program)

    @classmethod
    def from_json(cls, source: str | os.PathLike[str]) -> Program:
        """A program from JSON text or a path to a ``.json`` file."""
        return cls.from_dict(read_json(source))

    @classmethod
    def from_toml(cls, source: str | os.PathLike[str]) -> Program:
        """A program from TOML text or a path to a TOML file (see :meth:`from_toml_file`)."""
        return cls.from_dict(read_toml(source))

    @classmethod
    def from_toml_file(cls, path: str | os.PathLike[str]) -> Program:
        """A program from the TOML file at ``path``, never read as text; a missing file raises
        :class:`~loyalty.errors.MissingFile` naming it."""
        return cls.from_dict(read_toml_file(path))

    @classmethod
    def from_json_file(cls, path: str | os.PathLike[str]) -> Program:
        """A program from the JSON file at ``path``, never read as text."""
        return cls.from_dict(read_json_file(path))

    def to_dict(self) -> dict[str, Any]:
        """The program as plain data (strings for decimals and datetimes); ``from_dict`` inverts it."""
        return schema.unstructure(self, Program)


#: The id of the base rate's rule.
BASE = "base"


def check_versions(programs: Sequence[Program]) -> tuple[Program, ...]:
    """Several versions of one program, checked together and ordered by ``effective_from``.

    They must share name, currency and scale, have distinct ``version`` labels and
    distinct ``effective_from`` instants (at most one without); every problem
    is reported in one :class:`~loyalty.errors.ConfigError`.

    >>> from datetime import datetime, timezone
    >>> jan = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> spring = Program("Club", "EUR", version="2", effective_from=jan)
    >>> check_versions([spring, Program("Club", "EUR", version="2")])
    Traceback (most recent call last):
    ...
    loyalty.errors.ConfigError: 1 problem in the program:
      versions[1].version: '2' is already the version of versions[0]
    """
    problems: list[tuple[str, str]] = []
    if not programs:
        raise ConfigError([("versions", "at least one program version is needed")])
    for i, program in enumerate(programs):
        if not isinstance(program, Program):
            problems.append((f"versions[{i}]", f"must be a Program, not {type(program).__name__}"))
    if problems:
        raise ConfigError(problems)
    first = programs[0]
    versions: dict[str, int] = {}
    starts: dict[datetime | None, int] = {}
    for i, program in enumerate(programs):
        where = f"versions[{i}]"
        if program.name != first.name:
            problems.append(
                (f"{where}.name", f"must be {first.name!r} like versions[0], got {program.name!r}")
            )
        if program.currency != first.currency:
            problems.append(
                (f"{where}.currency", f"must be {first.currency} like versions[0], got {program.currency}")
            )
        if program.scale != first.scale:
            # Another scale would show every stored entry, lot and balance differently,
            # and the version's figures (stated in the same unit) would mean other points.
            problems.append(
                (f"{where}.scale", f"must be {first.scale} like versions[0], got {program.scale}")
            )
        if program.version in versions:
            j = versions[program.version]
            problems.append(
                (f"{where}.version", f"{program.version!r} is already the version of versions[{j}]")
            )
        versions.setdefault(program.version, i)
        start = program.effective_from
        if start in starts:
            j = starts[start]
            if start is None:
                problems.append(
                    (f"{where}.effective_from", f"missing, like versions[{j}]: only one may omit it")
                )
            else:
                problems.append((f"{where}.effective_from", f"same as versions[{j}] ({start.isoformat()})"))
        starts.setdefault(start, i)
    if problems:
        raise ConfigError(problems)
    # Compared as datetimes: a float timestamp loses microseconds far in the future.
    earliest = datetime.min.replace(tzinfo=UTC)
    return tuple(sorted(programs, key=lambda p: (p.effective_from is not None, p.effective_from or earliest)))


def _refuse_blocks_per_line(program: Program) -> None:
    """Whole blocks are counted over the basket and their points shared over the lines in
    fractions: rounding each line would round those shares away."""
    why = 'whole blocks are counted over the basket: they cannot be rounded per line (round_per = "line")'
    if program.rate is not None and program.rate.whole_blocks:
        raise InvalidInput("rate.whole_blocks", why)
    for i, rule in enumerate(program.rules):
        if isinstance(rule, SpendRule) and rule.whole_blocks:
            raise InvalidInput(f"rules[{i}].whole_blocks", why)


def _rules_of(program: Program) -> list[Rule]:
    """The program's rules as evaluation sees them: the base rate, the rules, the tiers' multipliers."""
    rules: list[Rule] = []
    if program.rate is not None:
        rate = program.rate
        rules.append(SpendRule(id=BASE, points=rate.points, per=rate.per, whole_blocks=rate.whole_blocks))
    rules += program.rules
    if program.tiers is not None:
        # A tier's multiplier is a rule like any other, so the receipt shows it and
        # explain says why another tier's did not apply.
        rules += [
            Multiplier(
                id=tier.rule_id,
                name=f"{tier.label} tier",
                factor=tier.multiplier,
                members={TIER_ATTRIBUTE: (tier.id,)},
            )
            for tier in program.tiers.levels
            if tier.multiplier != 1
        ]
    return rules


# -- the program's own tables in the configuration schema ----------------------------------------
# Registered here, where Program is defined (EarnRate in loyalty.earning_settings, imported
# above, so registered first), so that loyalty.schema needs nothing from this module and
# loyalty.config can build on both.


def _structure_rate(value: object, _: object) -> EarnRate | None:
    if value is False:
        return None
    if isinstance(value, Mapping):
        rate: EarnRate = schema.converter.structure(value, EarnRate)
        return rate
    if value is None:
        raise schema.Problem(
            "null is not a rate: leave rate out for 1 point per 1, or write false for no base rate"
        )
    raise schema.Problem(
        f'must be a table {{points = 1, per = "1.00"}}, or false for no base rate, '
        f"not {schema.describe(value)}"
    )


def _unstructure_rate(value: EarnRate | None) -> Any:
    return False if value is None else schema.unstructure(value, EarnRate)


attrs.resolve_types(Program)
schema.register(
    Program,
    refuse={"versions": "this holds several versions of a program: read it with load_programs"},
    struct_rate=_structure_rate,
    unstruct_rate=_unstructure_rate,
    struct_rules=schema.structure_rules,
)
