"""A year of a shop's members, seeded: who comes, how often, what they spend, who drifts away.

:func:`year` makes the traffic that ``loyalty demo`` replays through an engine: a
chronological list of events drawn from one ``random.Random(seed)`` and nothing
else, so the same arguments give the same year on every machine running the
same Python minor version. Each member follows a :class:`Persona`:

- a **regular** keeps its rhythm all year (a visit every few days);
- an **occasional** member comes every couple of weeks;
- a **drifter** keeps its rhythm until a day in the second half of the year,
  then comes less and less often and buys less each time (by the year's end
  about a third of its old basket, at three times its old gap);
- a **stopper** comes regularly, then stops for good on a day of the year.

A quarter of the members join during the year, half of those through a
friend's referral (:attr:`Join.referred_by` names the friend). Some members
redeem points now and then: a :class:`Redeem` says the member asks for a
reward at the till, which the till grants only if the balance allows (the
traffic does not know what the program pays). A :class:`Night` at 03:00 every
night, program time, is when an operator's scheduler runs maintenance.

>>> from datetime import date
>>> traffic = year(members=12, seed=3, start=date(2024, 1, 1), days=28)
>>> sorted({type(event).__name__ for event in traffic.events})
['Join', 'Night', 'Redeem', 'Sale']
>>> traffic.events == year(members=12, seed=3, start=date(2024, 1, 1), days=28).events
True
>>> sum(isinstance(event, Night) for event in traffic.events)
27
>>> traffic.personas["M00001"], len(traffic.personas)
(<Persona.REGULAR: 'regular'>, 12)
"""

from __future__ import annotations

import enum
import functools
import math
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs

from loyalty.history import Sale
from loyalty.purchases import Line, Purchase
from loyalty.simulation import check_count, check_span

__all__ = ["Join", "Night", "Persona", "Redeem", "Sale", "Traffic", "TrafficEvent", "year"]

CURRENCY = "EUR"
DEFAULT_START = date(2024, 1, 1)
DEFAULT_DAYS = 364  # 52 weeks: every weekday as often as any other

_TILLS = ("S01-T1", "S01-T2", "S01-T3")
_JOIN_DURING = 0.25  # share of members who join during the year
_REFERRED = 0.5  # of those, the share a friend brought
_REWARDS = (100, 250, 500)
# Shares of the members who joined before the year opens; friends who join are regulars or occasional.
_PERSONAS = ((0.45, "regular"), (0.2, "occasional"), (0.2, "drifter"), (0.15, "stopper"))
_OPEN = dict.fromkeys(range(6), (8, 21)) | {6: (12, 18)}  # Monday..Saturday, Sunday
# (sku, category, shelf price, own brand): a small grocery assortment.
_ASSORTMENT = (
    ("apples", "fruit-veg", "2.49", False),
    ("bananas", "fruit-veg", "1.79", False),
    ("tomatoes", "fruit-veg", "2.99", False),
    ("salad", "fruit-veg", "1.49", False),
    ("milk", "dairy", "1.19", True),
    ("yoghurt", "dairy", "1.89", True),
    ("cheese", "dairy", "5.49", False),
    ("bread", "bakery", "2.69", True),
    ("croissants", "bakery", "3.29", False),
    ("chicken", "meat", "7.99", False),
    ("mince", "meat", "5.99", True),
    ("pasta", "pantry", "1.29", True),
    ("coffee", "pantry", "6.99", False),
    ("olive-oil", "pantry", "8.49", False),
    ("wine", "drinks", "7.95", False),
    ("juice", "drinks", "2.79", True),
    ("detergent", "household", "9.99", False),
    ("cigarettes", "tobacco", "9.40", False),
    ("bottle-deposit", "deposits", "0.25", False),
)


class Persona(enum.Enum):
    """How a member shops over the year (see the module's docstring)."""

    REGULAR = "regular"
    OCCASIONAL = "occasional"
    DRIFTER = "drifter"
    STOPPER = "stopper"


@attrs.frozen
class Join:
    """A member enrolls at ``at``; ``referred_by`` is the member whose referral brought it, if any."""

    member_id: str
    at: datetime
    referred_by: str | None = None


@attrs.frozen
class Redeem:
    """A member asks for a reward of ``points`` at the till, just before a purchase."""

    id: str
    member_id: str
    points: int
    at: datetime


@attrs.frozen
class Night:
    """03:00 program time: when an operator's scheduler runs the engine's maintenance."""

    at: datetime


TrafficEvent = Join | Sale | Redeem | Night


@attrs.frozen
class Traffic:
    """:func:`year`'s events in chronological order, and who follows which persona."""

    events: tuple[TrafficEvent, ...]
    personas: dict[str, Persona] = attrs.field(hash=False)
    start: datetime
    end: datetime


@attrs.frozen
class _Member:
    id: str
    persona: Persona
    joined: datetime
    gap: float  # days between visits, on average, before any drift
    basket: float  # euros a visit, on average, before any drift
    change: float  # day of the year the drift starts or the visits stop (drifter, stopper)
    redeems: float  # chance of asking for a reward at a visit


def year(
    *,
    members: int,
    seed: int = 1,
    start: date = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    tz: str = "Europe/Amsterdam",
) -> Traffic:
    """``members`` members' traffic over the ``days`` days from ``start`` (local time of ``tz``)."""
    check_count("members", members, 1)
    check_count("days", days, 1)
    zone = check_span(start, tz)
    rng = random.Random(seed)
    opens = datetime.combine(start, time(), zone)
    width = max(5, len(str(members)))
    cast = _cast(rng, members, days, opens, zone, width)
    raw: list[tuple[datetime, int, TrafficEvent | tuple[str, datetime, list[Line], int]]] = []
    for member in cast:
        raw.append((member.joined, 0, Join(member.id, member.joined, None)))
        for at, lines, reward in _visits(rng, member, opens, days, zone):
            raw.append((at, 2, (member.id, at, lines, reward)))
    friends = _referrals(rng, cast, opens)
    for index, (at, order, event) in enumerate(raw):
        if isinstance(event, Join) and event.member_id in friends:
            raw[index] = (at, order, Join(event.member_id, at, friends[event.member_id]))
    # Every night inside the span: the one after its last day belongs to the next.
    for day in range(1, days):
        night = datetime.combine(start + timedelta(days=day), time(3), zone)
        raw.append((night, 1, Night(night)))
    raw.sort(key=lambda item: (item[0], item[1], _member_of(item[2])))
    return Traffic(
        tuple(_numbered(raw)),
        {member.id: member.persona for member in cast},
        opens,
        datetime.combine(start + timedelta(days=days), time(), zone),
    )


def _member_of(event: object) -> str:
    if isinstance(event, tuple):
        return str(event[0])
    return getattr(event, "member_id", "")


def _cast(
    rng: random.Random, members: int, days: int, opens: datetime, zone: ZoneInfo, width: int
) -> list[_Member]:
    cast = []
    weights = [share for share, _ in _PERSONAS]
    for n in range(1, members + 1):
        during = rng.random() < _JOIN_DURING
        persona = Persona(rng.choices([name for _, name in _PERSONAS], weights)[0])
        if during:
            persona = Persona.REGULAR if rng.random() < 0.6 else Persona.OCCASIONAL
            joined = _in_hours(rng, opens + timedelta(days=math.floor(rng.uniform(0, days * 0.7))), zone)
        else:
            joined = opens - timedelta(
                days=rng.randrange(30, 700), seconds=rng.randrange(8 * 3600, 20 * 3600)
            )
        gap = rng.uniform(10, 21) if persona is Persona.OCCASIONAL else rng.uniform(4, 9)
        change = (
            rng.uniform(0.55, 0.8) * days if persona is Persona.DRIFTER else rng.uniform(0.25, 0.8) * days
        )
        cast.append(
            _Member(
                f"M{n:0{width}d}",
                persona,
                joined,
                gap,
                rng.uniform(18, 70),
                change,
                rng.choice((0.0, 0.05, 0.1, 0.2)),
            )
        )
    # Members are numbered in the order they join, as a card counter would.
    cast.sort(key=lambda member: member.joined)
    return [attrs.evolve(member, id=f"M{n:0{width}d}") for n, member in enumerate(cast, 1)]


def _referrals(rng: random.Random, cast: list[_Member], opens: datetime) -> dict[str, str]:
    """Who brought whom: half the members who join during the year, each by a member who shops
    regularly and joined before the year opened (a few keen members bring most friends)."""
    keen = [m.id for m in cast if m.joined < opens and m.persona in (Persona.REGULAR, Persona.OCCASIONAL)]
    friends = {}
    for member in cast:
        if keen and member.joined >= opens and rng.random() < _REFERRED:
            friends[member.id] = keen[min(len(keen) - 1, int(rng.expovariate(0.4)))]
    return friends


def _visits(
    rng: random.Random, member: _Member, opens: datetime, days: int, zone: ZoneInfo
) -> list[tuple[datetime, list[Line], int]]:
    visits: list[tuple[datetime, list[Line], int]] = []
    if member.joined >= opens:
        # Joined at the till, and bought there and then.
        visits.append((member.joined + timedelta(minutes=1), _basket(rng, member.basket), 0))
        day = (member.joined - opens).total_seconds() / 86_400 + rng.gammavariate(6, member.gap / 6)
    else:
        day = rng.uniform(0, member.gap)
    while day < days:
        if member.persona is Persona.STOPPER and day >= member.change:
            break
        gap, basket = member.gap, member.basket
        if member.persona is Persona.DRIFTER and day >= member.change:
            # Linear drift from the change to the year's end: 3x the gap, a third of the basket.
            done = (day - member.change) / max(1.0, days - member.change)
            gap, basket = gap * (1 + 2 * done), basket * (1 - 0.65 * done)
        at = _in_hours(rng, opens + timedelta(days=math.floor(day)), zone)
        reward = _REWARDS[rng.randrange(len(_REWARDS))] if rng.random() < member.redeems else 0
        visits.append((at, _basket(rng, basket), reward))
        day += max(1.0, rng.gammavariate(6, gap / 6))
    return visits


def _in_hours(rng: random.Random, midnight: datetime, zone: ZoneInfo) -> datetime:
    local = midnight.astimezone(zone)
    first, last = _OPEN[local.weekday()]
    # Store hours never touch the 02:00-03:00 DST gap, so every local time exists.
    return datetime(
        local.year,
        local.month,
        local.day,
        rng.randrange(first, last),
        rng.randrange(60),
        rng.randrange(60),
        tzinfo=zone,
    )


def _basket(rng: random.Random, target: float) -> list[Line]:
    chosen: dict[int, int] = {}
    total = 0.0
    while total < target or not chosen:
        pick = rng.randrange(len(_ASSORTMENT))
        chosen[pick] = chosen.get(pick, 0) + 1
        total += float(_ASSORTMENT[pick][2])
    return [_line(pick, quantity) for pick, quantity in sorted(chosen.items())]


@functools.cache
def _line(pick: int, quantity: int) -> Line:
    # Lines are frozen and checked when made: made once, most of the year's time is otherwise spent here.
    sku, category, price, own = _ASSORTMENT[pick]
    return Line(sku, quantity, Decimal(price), category, {"brand": "freshway"} if own else None)


def _numbered(
    raw: list[tuple[datetime, int, TrafficEvent | tuple[str, datetime, list[Line], int]]],
) -> list[TrafficEvent]:
    """The events with the tills' receipt numbers, counted up in chronological order."""
    events: list[TrafficEvent] = []
    for number, (_, _, event) in enumerate(raw, 1):
        if not isinstance(event, tuple):
            events.append(event)
            continue
        member_id, at, lines, reward = event
        till = _TILLS[number % len(_TILLS)]
        if reward:
            # At the same till a moment before the sale: the same instant, ordered first.
            events.append(Redeem(f"{till}-{number:06d}-R", member_id, reward, at))
        purchase = Purchase(f"{till}-{number:06d}", member_id, at, lines, CURRENCY, till[:3], till)
        events.append(Sale(purchase))
    return events
