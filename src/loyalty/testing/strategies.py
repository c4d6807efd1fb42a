"""Hypothesis strategies for programs, rules, purchases and members.

Every value they produce passes the classes' own validators, so a merchant
can property-test a configuration tool, a POS integration or a storage
adapter against the whole range of what the engine accepts::

    from hypothesis import given
    from loyalty.earning import earn
    from loyalty.testing.strategies import programs, purchases

    @given(programs(), purchases())
    def test_earning_never_fails(program, purchase):
        assert earn(program, purchase).points >= 0

Rules and purchases draw SKUs, categories, labels, stores, channels and
terminals from the same small vocabularies (:data:`SKUS`,
:data:`CATEGORIES`, :data:`LABELS`, ...), so generated rules often match
generated purchases and the interesting paths of the evaluation run.

For a merchant's own program, :func:`baskets` draws purchases from the
words that program uses (:func:`vocabulary`: the SKUs, categories, labels,
stores, channels and terminals its rules and rewards name, and ``"other"``,
which none names), and :func:`histories` a member's purchases over a few
months; ``docs/testing-your-program.md`` has worked property tests:

>>> from loyalty.program import Program
>>> grocer = Program.from_dict({"name": "Grocer", "currency": "EUR", "rules": [
...     {"kind": "multiplier", "id": "fresh", "factor": "2", "categories": ["fruit-veg"],
...      "exclude_labels": {"brand": ["value"]}}]})
>>> words = vocabulary(grocer)
>>> words.categories, dict(words.labels), words.skus
(('fruit-veg', 'other'), {'brand': ('other', 'value')}, ('other',))
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import attrs
from hypothesis import strategies as st

from loyalty.members import AttributeValue, Member
from loyalty.money import EXACT
from loyalty.offline import MAX_HOURS, OfflineTerms
from loyalty.program import BASE, EarnRate, EventCombination, Program, Rounding, RoundPer, TaxBasis
from loyalty.purchases import Line, Purchase
from loyalty.returns import ReturnPolicy
from loyalty.rewards import MAX_VALID_DAYS, Gives, Reward
from loyalty.rule_fields import DAYS
from loyalty.rules import (
    RULE_KINDS,
    BirthdayBonus,
    EventRule,
    FirstPurchase,
    Multiplier,
    Period,
    ProductBonus,
    PurchaseBonus,
    Rule,
    Scope,
    SpendRule,
    StampCard,
    UnitBonus,
)

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "LABELS",
    "MEMBER_ATTRIBUTES",
    "OTHER",
    "SKUS",
    "STORES",
    "TERMINALS",
    "TIMEZONES",
    "Vocabulary",
    "baskets",
    "histories",
    "lines",
    "members",
    "programs",
    "purchases",
    "rewards",
    "rule_ids",
    "rules",
    "vocabulary",
]

#: The vocabularies rules and purchases share.
SKUS: tuple[str, ...] = ("coffee", "croissant", "tart", "bread", "milk", "8710000001236")
CATEGORIES: tuple[str, ...] = ("bakery", "drinks", "dairy", "cake")
LABELS: Mapping[str, tuple[str, ...]] = {"color": ("red", "blue", "green"), "brand": ("acme", "zenith")}
STORES: tuple[str, ...] = ("S01", "S02", "S03")
CHANNELS: tuple[str, ...] = ("pos", "web", "app")
TERMINALS: tuple[str, ...] = ("T1", "T2", "T3")
MEMBER_ATTRIBUTES: Mapping[str, tuple[AttributeValue, ...]] = {
    "tier": ("gold", "silver", "bronze"),
    "segment": ("student", "staff"),
    "age": (18, 30, 65),
    "vip": (True, False),
}
#: Timezones with DST, half-hour and 45-minute offsets, and both hemispheres.
TIMEZONES: tuple[str, ...] = (
    "UTC",
    "Europe/Amsterdam",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
)
_RECURRENCES = (
    "FREQ=MONTHLY;BYDAY=+1TU",
    "FREQ=WEEKLY;BYDAY=SA,SU",
    "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24",
    "FREQ=DAILY;INTERVAL=2",
    "FREQ=MONTHLY;BYMONTHDAY=1,15",
)
_HOURS = ("07:00-10:00", "11:30-13:45", "14:00-17:00", "22:00-02:00", "00:00-24:00")
_GROUPS = ("g1", "g2", "happy-hour")
_EVENTS = ("survey_completed", "review", "app.install")
_OFFSETS = (
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=12, minutes=45)),
)
_NAME_CHARACTERS = st.characters(exclude_categories=("Cc", "Cf", "Cs"))


@functools.cache
def _decimals(smallest: str, largest: int, max_places: int = 2) -> st.SearchStrategy[Decimal]:
    """Decimals from ``smallest`` to ``largest`` in varied spellings (``2``, ``2.0``, ``2.00``)."""

    @st.composite
    def build(draw: st.DrawFn) -> Decimal:
        places = draw(st.integers(0, max_places))
        lowest = int(Decimal(smallest).scaleb(places).to_integral_value(ROUND_CEILING))
        return Decimal(draw(st.integers(lowest, largest * 10**places))).scaleb(-places)

    return build()


def _sometimes(draw: st.DrawFn, strategy: st.SearchStrategy[Any], one_in: int = 4) -> Any:
    """A value from ``strategy`` about once in ``one_in`` draws, else ``None``."""
    return draw(strategy) if draw(_dice(one_in)) == 1 else None


@functools.cache
def _dice(sides: int) -> st.SearchStrategy[int]:
    return st.integers(1, sides)


@functools.cache
def _subset(values: Sequence[Any], max_size: int = 3) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=max_size, unique=True)


@st.composite
def _pick_filters(
    draw: st.DrawFn, vocabulary: tuple[tuple[str, tuple[Any, ...]], ...]
) -> dict[str, list[Any]]:
    chosen = draw(_subset(tuple(key for key, _ in vocabulary), 2))
    values = dict(vocabulary)
    return {key: draw(_subset(values[key])) for key in chosen}


_LABEL_FILTERS = _pick_filters(tuple(sorted(LABELS.items())))
_MEMBER_FILTERS = _pick_filters(tuple(sorted(MEMBER_ATTRIBUTES.items())))
_RULE_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True).filter(
    lambda text: text != BASE
)
_NAMES = st.text(_NAME_CHARACTERS, min_size=1, max_size=30).filter(lambda text: bool(text.strip()))
_DATES = st.dates(date(2000, 1, 1), date(2100, 1, 1))
_POINTS = st.integers(1, 500)

#: (field, strategy, about one rule in how many has it)
_LINE_CONDITIONS: tuple[tuple[str, st.SearchStrategy[Any], int], ...] = (
    ("skus", _subset(SKUS), 4),
    ("exclude_skus", _subset(SKUS, 1), 8),
    ("categories", _subset(CATEGORIES), 4),
    ("exclude_categories", _subset(CATEGORIES, 1), 8),
    ("labels", _LABEL_FILTERS, 6),
    ("exclude_labels", _LABEL_FILTERS, 10),
)
# A purchase's own: its lines (above), its place and its minimums; an event rule has none of them.
_PLACE_CONDITIONS: tuple[tuple[str, st.SearchStrategy[Any], int], ...] = (
    ("stores", _subset(STORES), 8),
    ("exclude_stores", _subset(STORES, 1), 10),
    ("channels", _subset(CHANNELS), 8),
    ("exclude_channels", _subset(CHANNELS, 1), 10),
    ("terminals", _subset(TERMINALS), 10),
    ("exclude_terminals", _subset(TERMINALS, 1), 10),
)
_MINIMUM_CONDITIONS: tuple[tuple[str, st.SearchStrategy[Any], int], ...] = (
    ("min_amount", _decimals("0.01", 50), 6),
    ("min_quantity", _decimals("0.001", 5, 3), 10),
    ("minimum_scope", st.sampled_from(Scope), 6),
)
_OTHER_CONDITIONS: tuple[tuple[str, st.SearchStrategy[Any], int], ...] = (
    ("members", _MEMBER_FILTERS, 6),
    ("exclude_members", _MEMBER_FILTERS, 10),
    ("days", _subset(DAYS, 4), 6),
    ("hours", _subset(_HOURS, 2), 6),
    ("timezone", st.sampled_from(TIMEZONES), 6),
    ("recurrence", st.sampled_from(_RECURRENCES), 10),
    ("cap_per_purchase", st.integers(1, 500), 6),
    ("budget", st.integers(1, 100_000), 8),
)
_HEAD_CONDITIONS: tuple[tuple[str, st.SearchStrategy[Any], int], ...] = (
    ("name", _NAMES, 2),
    ("priority", st.integers(-1_000_000, 1_000_000), 3),
    ("stop", st.booleans(), 6),
    ("group", st.sampled_from(_GROUPS), 5),
)


def rule_ids() -> st.SearchStrategy[str]:
    """Valid rule ids (``[A-Za-z0-9][A-Za-z0-9_.:-]*``, at most 64), never the base rate's ``base``."""
    return _RULE_IDS


@st.composite
def _conditions(draw: st.DrawFn, purchase: bool) -> dict[str, Any]:
    """The conditions a rule kind may have, each present now and then: a purchase rule's, or an
    event rule's (no lines, place or minimums)."""
    found: dict[str, Any] = {}
    own = _LINE_CONDITIONS + _PLACE_CONDITIONS + _MINIMUM_CONDITIONS if purchase else ()
    for name, strategy, one_in in _HEAD_CONDITIONS + own + _OTHER_CONDITIONS:
        value = _sometimes(draw, strategy, one_in)
        if value is not None:
            found[name] = value
    starts = _sometimes(draw, _DATES, 6)
    ends = _sometimes(draw, _DATES, 6)
    if starts is not None and ends is not None and ends < starts:
        starts, ends = ends, starts
    found.update({name: day for name, day in (("starts", starts), ("ends", ends)) if day is not None})
    cap = _sometimes(draw, st.integers(1, 1000), 6)
    if cap is not None:
        found["cap"] = cap
        found["cap_period"] = draw(st.sampled_from(Period))
    return found


_PURCHASE_CONDITIONS = _conditions(True)
_EVENT_CONDITIONS = _conditions(False)
_SIMPLE_KINDS: Mapping[str, type[Rule]] = {
    "purchase_bonus": PurchaseBonus,
    "unit_bonus": UnitBonus,
    "product_bonus": ProductBonus,
    "first_purchase": FirstPurchase,
}
_FACTOR_MAPS = {
    label: st.dictionaries(st.sampled_from(values), _decimals("0", 5), min_size=1)
    for label, values in LABELS.items()
}


@st.composite
def _rule(draw: st.DrawFn, kind: str) -> Rule:
    rule_id = draw(_RULE_IDS)
    if kind == "event":
        conditions = draw(_EVENT_CONDITIONS)
        event: dict[str, Any] = {"event": draw(st.sampled_from(_EVENTS)), "points": draw(_POINTS)}
        properties = _sometimes(draw, _MEMBER_FILTERS, 4)
        if properties is not None:
            event["properties"] = properties
        limit = _sometimes(draw, st.integers(1, 5), 3)
        if limit is not None:
            event["limit"] = limit
            event["limit_period"] = draw(st.sampled_from(Period))
        return EventRule(id=rule_id, **conditions, **event)
    conditions = draw(_PURCHASE_CONDITIONS)
    if kind == "spend":
        per = _sometimes(draw, _decimals("0.01", 100), 2)
        extra = {} if per is None else {"per": per}
        return SpendRule(id=rule_id, points=draw(st.integers(1, 100)), **conditions, **extra)
    if kind == "multiplier":
        if draw(st.booleans()):
            return Multiplier(id=rule_id, factor=draw(_decimals("0", 5)), **conditions)
        label = draw(st.sampled_from(sorted(LABELS)))
        return Multiplier(id=rule_id, label=label, factors=draw(_FACTOR_MAPS[label]), **conditions)
    if kind == "stamp_card":
        return StampCard(id=rule_id, points=draw(_POINTS), every=draw(st.integers(1, 12)), **conditions)
    if kind == "birthday":
        window = {
            name: value
            for name in ("days_before", "days_after", "cooloff_days")
            if (value := _sometimes(draw, st.integers(0, 60), 2)) is not None
        }
        return BirthdayBonus(id=rule_id, points=draw(_POINTS), **conditions, **window)
    return _SIMPLE_KINDS[kind](id=rule_id, points=draw(_POINTS), **conditions)  # type: ignore[call-arg]


def rules(kinds: Iterable[str] | None = None) -> st.SearchStrategy[Rule]:
    """Rules of every kind (or of ``kinds``), with a spread of filters, windows, caps and groups."""
    chosen = list(RULE_KINDS) if kinds is None else list(kinds)
    for kind in chosen:
        if kind not in RULE_KINDS:
            raise ValueError(f"unknown rule kind {kind!r}; the kinds are {', '.join(RULE_KINDS)}")
    return st.one_of([_rule(kind) for kind in chosen])


_RATES = st.none() | st.just(EarnRate()) | st.builds(EarnRate, st.integers(1, 100), _decimals("0.01", 100))
_EFFECTIVE = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.sampled_from(_OFFSETS))
_RULE_LISTS = st.lists(rules(), max_size=8, unique_by=lambda rule: rule.id)


@st.composite
def rewards(draw: st.DrawFn) -> Reward:
    """Rewards of a catalogue: each kind of gift with what it needs, sometimes a season."""
    gives = draw(st.sampled_from(Gives))
    start = _sometimes(draw, _DATES, 3)
    end = _sometimes(draw, st.integers(0, 400), 2)
    return Reward(
        id=draw(_RULE_IDS),
        name=draw(_NAMES),
        cost=draw(st.integers(1, 10**6)),
        gives=gives,
        amount=draw(_decimals("0.01", 100)) if gives is Gives.AMOUNT_OFF else None,
        sku=draw(st.sampled_from(SKUS)) if gives is Gives.PRODUCT else None,
        valid_for_days=draw(st.integers(1, MAX_VALID_DAYS)),
        available_from=start,
        available_until=None if start is None or end is None else start + timedelta(days=end),
    )


_REWARD_LISTS = st.lists(rewards(), max_size=3, unique_by=lambda reward: reward.id)


@st.composite
def _offline_terms(draw: st.DrawFn) -> OfflineTerms:
    per_member = draw(st.integers(1, 5_000))
    return OfflineTerms(
        per_member=per_member,
        total=draw(st.integers(per_member, 50_000)),
        hours=draw(st.integers(1, MAX_HOURS)),
    )


_OFFLINE = _offline_terms()
_VERSIONS = st.sampled_from(("1", "2", "2024-05", "v3.1")) | _RULE_IDS


@st.composite
def programs(draw: st.DrawFn, currency: str = "EUR") -> Program:
    """Programs in ``currency`` with 0-8 rules (unique ids), scale 0-2, every rounding option,
    0-3 rewards in the catalogue and, about one in three, an ``[offline]`` allowance table."""
    name = draw(_NAMES)
    rate = draw(_RATES)
    effective_from = _sometimes(draw, _EFFECTIVE, 2)
    rules = draw(_RULE_LISTS)
    round_per = draw(st.sampled_from(RoundPer))
    if round_per is RoundPer.PURCHASE:
        # Whole blocks are refused with per-line rounding; about one rate and spend rule in four has them.
        if rate is not None and draw(_dice(4)) == 1:
            rate = attrs.evolve(rate, whole_blocks=True)
        rules = [
            attrs.evolve(rule, whole_blocks=True)
            if isinstance(rule, SpendRule) and draw(_dice(4)) == 1
            else rule
            for rule in rules
        ]
    proportional = rate is not None and draw(_dice(4)) == 1
    return Program(
        name,
        currency,
        rate=rate,
        rounding=draw(st.sampled_from(Rounding)),
        rules=rules,
        scale=draw(st.integers(0, 2)),
        round_per=round_per,
        returns=ReturnPolicy.PROPORTIONAL if proportional else ReturnPolicy.RECOMPUTE,
        carry=draw(st.booleans()),
        tax=draw(st.sampled_from(TaxBasis)),
        events=draw(st.sampled_from(EventCombination)),
        timezone=draw(st.sampled_from(TIMEZONES)),
        version=draw(_VERSIONS),
        effective_from=effective_from,
        rewards=draw(_REWARD_LISTS),
        offline=_sometimes(draw, _OFFLINE, 3),
    )


@st.composite
def lines(
    draw: st.DrawFn,
    skus: Sequence[str] = SKUS,
    categories: Sequence[str] = CATEGORIES,
    labels: Mapping[str, Sequence[str]] = LABELS,
) -> Line:
    """Basket lines: whole or weighed quantities, prices up to 100, sometimes a category, labels,
    a discount and included tax (never more than the line costs)."""
    quantity: int | Decimal = draw(st.integers(1, 10) | _decimals("0.001", 5, 3))
    unit_price = draw(_decimals("0", 100))
    gross = EXACT.multiply(unit_price, quantity)
    cent = Decimal("0.01")
    discount = Decimal(0)
    if draw(st.integers(1, 4)) == 1:
        discount = (gross * draw(st.integers(0, 100)) / 100).quantize(
            cent, rounding=ROUND_FLOOR, context=EXACT
        )
    tax = Decimal(0)
    if draw(st.booleans()):
        net = EXACT.subtract(gross, discount)
        tax = (net * draw(st.integers(0, 25)) / 100).quantize(cent, rounding=ROUND_FLOOR, context=EXACT)
    keys = draw(st.lists(st.sampled_from(sorted(labels)), max_size=2, unique=True)) if labels else []
    chosen = {key: draw(st.sampled_from(labels[key])) for key in keys} or None
    return Line(
        draw(st.sampled_from(skus)),
        quantity,
        unit_price,
        category=_sometimes(draw, st.sampled_from(categories), 2) if categories else None,
        labels=chosen,
        discount=discount,
        tax=tax,
    )


_TILL_TIMES = st.datetimes(
    datetime(2000, 1, 1),
    datetime(2100, 1, 1),
    timezones=st.sampled_from(_OFFSETS) | st.timezones(),
)


@st.composite
def purchases(
    draw: st.DrawFn,
    member_ids: Sequence[str] = ("M1", "M2", "M3"),
    currency: str = "EUR",
    skus: Sequence[str] = SKUS,
    categories: Sequence[str] = CATEGORIES,
) -> Purchase:
    """Purchases of 1-5 :func:`lines` by one of ``member_ids``, some with a store, terminal and channel."""
    return Purchase(
        draw(st.from_regex(r"S0[1-3]-T[1-3]-[0-9]{6}", fullmatch=True)),
        draw(st.sampled_from(member_ids)),
        draw(_TILL_TIMES),
        draw(st.lists(lines(skus, categories), min_size=1, max_size=5)),
        currency,
        store_id=_sometimes(draw, st.sampled_from(STORES), 2),
        terminal_id=_sometimes(draw, st.sampled_from(TERMINALS), 2),
        channel=_sometimes(draw, st.sampled_from(CHANNELS), 2),
    )


@st.composite
def members(draw: st.DrawFn, member_ids: Sequence[str] = ("M1", "M2", "M3")) -> Member:
    """Members with sometimes a birthday (29 February included), a recent birthday change and attributes."""
    enrolled_at = draw(_TILL_TIMES)
    attributes = draw(
        st.dictionaries(st.sampled_from(sorted(MEMBER_ATTRIBUTES)), st.just(None), max_size=3).flatmap(
            lambda keys: st.fixed_dictionaries({key: st.sampled_from(MEMBER_ATTRIBUTES[key]) for key in keys})
        )
    )
    return Member(
        draw(st.sampled_from(member_ids)),
        enrolled_at=enrolled_at,
        birthday=_sometimes(
            draw, st.dates(date(1920, 1, 1), date(2020, 12, 31)) | st.just(date(2000, 2, 29)), 2
        ),
        attributes=attributes,
        birthday_changed_at=_sometimes(draw, _TILL_TIMES, 4),
    )


# -- a merchant's own program --------------------------------------------------------------------


@attrs.frozen
class Vocabulary:
    """What a program's rules and rewards name: the words of :func:`baskets` for that program."""

    skus: tuple[str, ...]
    categories: tuple[str, ...]
    labels: Mapping[str, tuple[str, ...]]
    stores: tuple[str, ...]
    channels: tuple[str, ...]
    terminals: tuple[str, ...]


#: What no rule names: a line of it earns the base rate at most, a visit from it matches no store rule.
OTHER = "other"


def vocabulary(program: Program) -> Vocabulary:
    """The SKUs, categories, labels, stores, channels and terminals ``program`` names (included or
    excluded, by its rules and its rewards), each with ``"other"``, which it does not name."""
    found: dict[str, set[str]] = {
        name: {OTHER} for name in ("skus", "categories", "stores", "channels", "terminals")
    }
    labels: dict[str, set[str]] = {}
    for rule in program.rules:
        for name, values in found.items():
            values.update(getattr(rule, name, None) or ())
            values.update(getattr(rule, f"exclude_{name}", None) or ())
        for key in ("labels", "exclude_labels"):
            for label, values in (getattr(rule, key, None) or {}).items():
                labels.setdefault(label, {OTHER}).update(values)
        label = getattr(rule, "label", None)
        if label is not None:
            labels.setdefault(label, {OTHER}).update(getattr(rule, "factors", None) or ())
    found["skus"].update(reward.sku for reward in program.rewards if reward.sku is not None)
    ordered = {name: tuple(sorted(values)) for name, values in found.items()}
    return Vocabulary(
        labels={key: tuple(sorted(values)) for key, values in sorted(labels.items())}, **ordered
    )


@st.composite
def baskets(
    draw: st.DrawFn,
    program: Program,
    member_ids: Sequence[str] = ("M1",),
    at: st.SearchStrategy[datetime] = _TILL_TIMES,
) -> Purchase:
    """Purchases in ``program``'s currency whose lines, stores, channels and terminals are drawn
    from what the program names (:func:`vocabulary`), so its rules match often: 1-5 :func:`lines`
    by one of ``member_ids`` at a time drawn from ``at``."""
    words = vocabulary(program)
    return Purchase(
        draw(st.from_regex(r"B[0-9]{8}", fullmatch=True)),
        draw(st.sampled_from(member_ids)),
        draw(at),
        draw(st.lists(lines(words.skus, words.categories, words.labels), min_size=1, max_size=5)),
        program.currency,
        store_id=_sometimes(draw, st.sampled_from(words.stores), 2),
        terminal_id=_sometimes(draw, st.sampled_from(words.terminals), 2),
        channel=_sometimes(draw, st.sampled_from(words.channels), 2),
    )


@st.composite
def histories(
    draw: st.DrawFn,
    program: Program,
    member_id: str = "M1",
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    max_size: int = 6,
) -> list[Purchase]:
    """A member's purchases under ``program`` (:func:`baskets`), in order from ``start``, hours to
    weeks apart, each with an id of its own: what a member does over a few months."""
    history: list[Purchase] = []
    when = start
    for i in range(draw(st.integers(1, max_size))):
        when += timedelta(hours=draw(st.integers(1, 24 * 21)))
        basket = draw(baskets(program, (member_id,), st.just(when)))
        history.append(attrs.evolve(basket, id=f"H{i:03d}"))
    return history
