"""Seeded synthetic point-of-sale traffic: enrollments, sales and redemptions.

:func:`generate` builds a chronological stream of events for demos, benchmarks
and replay tests. It draws from one ``random.Random(seed)`` and nothing else, so
the same arguments give the same events on every machine running the same
Python minor version.

>>> from datetime import date
>>> workload = generate(members=3, purchases=12, seed=7, start=date(2024, 3, 25), days=14)
>>> len(workload.enrollments), len(workload.sales), len(workload.redemptions)
(3, 12, 2)
>>> for event in workload.events[-5:]:
...     print(type(event).__name__, event.id, event.member_id, event.at.isoformat())
Redemption S05-T3-000001 M00002 2024-04-06T12:58:48+02:00
Sale S05-T3-000002 M00002 2024-04-06T12:59:35+02:00
Sale S05-T2-000003 M00003 2024-04-06T14:56:31+02:00
Redemption S08-T1-000001 M00001 2024-04-06T15:14:13+02:00
Sale S08-T1-000002 M00001 2024-04-06T15:14:47+02:00
>>> from_jsonl(to_jsonl(workload.events)) == list(workload.events)
True

The shape of the traffic
------------------------
A few stores, each with one to four terminals ("S03" has "S03-T1".."S03-T4").
Most members joined before the window opens and the rest join during it; a
member never buys before joining, shops mostly at a home store, and some
members shop far more often than others. Sales fall inside store hours
(Monday to Saturday 08:00-21:00, Sunday 12:00-18:00, local time), with more
traffic on Fridays and Saturdays. A basket has one to six distinct products,
each one to three units at the product's fixed shelf price (a ``Decimal`` with
two places, 0.49 to 89.99 EUR).

A redemption takes place at the till a few seconds before one of the member's
sales, and only when the member can afford it under "1 point per whole euro of
each purchase total" (the default :class:`~loyalty.Program`), counting the
redemptions already made: replayed through a default engine it never fails.

POS ids are ``<terminal>-<receipt number>``, the six-digit number counting up
per terminal in chronological order and shared by that terminal's sales and
redemptions; enrollments use ``ENR-<member id>``.

JSON Lines format
-----------------
:func:`to_jsonl` writes the events in the history format of :mod:`loyalty.history`
(one JSON object per line) and :func:`from_jsonl` reads them back; it is also a way
to read POS events from elsewhere, returns, adjustments and custom events too.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from loyalty import history
from loyalty.errors import InvalidInput
from loyalty.history import Enrollment, Redemption, Sale
from loyalty.purchases import Line, Purchase

__all__ = ["Enrollment", "Event", "Redemption", "Sale", "Workload", "from_jsonl", "generate", "to_jsonl"]

CURRENCY = "EUR"
DEFAULT_START = date(2024, 3, 11)  # four weeks from here cross the spring DST change
DEFAULT_DAYS = 28

_STORES = 8
_PRODUCTS = 240
_EARLY_MEMBERS = 0.7  # share of members who joined before the window opens
_HOME_STORE = 0.85
_REDEEM_CHANCE = 0.12  # per sale at which the member could afford a reward
_REWARDS = (50, 100, 150, 250, 500, 1000)
_REWARD_WEIGHTS = (30, 30, 15, 12, 8, 5)
_BASKET_WEIGHTS = (24, 22, 18, 15, 12, 9)  # 1..6 lines
_QUANTITY_WEIGHTS = (78, 16, 6)  # 1..3 units
_WEEKDAY_WEIGHTS = (0.9, 0.9, 1.0, 1.0, 1.25, 1.4, 0.6)  # Monday..Sunday
_HOURS = {day: tuple(range(8, 21)) for day in range(6)} | {6: tuple(range(12, 18))}
# Shelf price range in cents per category: a grocery-heavy assortment.
_CATEGORIES = {
    "bakery": (49, 599),
    "dairy": (59, 899),
    "produce": (49, 699),
    "meat": (199, 2499),
    "frozen": (99, 1199),
    "drinks": (49, 1499),
    "snacks": (49, 499),
    "household": (99, 1999),
    "care": (99, 2499),
    "wine": (399, 4999),
    "home": (299, 8999),
}
# Event kinds that share an instant are ordered so that a member exists
# before anything happens to them.
_ENROLL, _REDEEM, _SALE = 0, 1, 2


#: What :func:`generate` makes (the history format has more: :data:`loyalty.history.Event`).
Event = Enrollment | Sale | Redemption


@attrs.frozen
class Workload:
    """A generated stream: ``events`` in chronological order, and what produced it."""

    events: tuple[Event, ...]
    seed: int
    start: date
    days: int
    tz: str

    @property
    def enrollments(self) -> list[Enrollment]:
        return [event for event in self.events if isinstance(event, Enrollment)]

    @property
    def sales(self) -> list[Purchase]:
        return [event.purchase for event in self.events if isinstance(event, Sale)]

    @property
    def redemptions(self) -> list[Redemption]:
        return [event for event in self.events if isinstance(event, Redemption)]


def _pick(rng: random.Random, cumulative: Sequence[float], n: int | None = None) -> int:
    """An index into the first ``n`` weights, given as running totals."""
    n = len(cumulative) if n is None else n
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[n - 1], 0, n), n - 1)


def _running(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class _Hours:
    """Draws local instants inside store hours on a weighted range of days."""

    def __init__(self, first: date, days: int, zone: ZoneInfo) -> None:
        self._zone = zone
        self._days = [first + timedelta(days=n) for n in range(days)]
        self._cumulative = _running(_WEEKDAY_WEIGHTS[day.weekday()] for day in self._days)

    def draw(self, rng: random.Random) -> datetime:
        day = self._days[_pick(rng, self._cumulative)]
        hour = rng.choice(_HOURS[day.weekday()])
        # Store hours never touch the 02:00-03:00 DST gap, so every local time exists.
        return datetime(
            day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=self._zone
        )


def _catalogue(rng: random.Random) -> list[tuple[str, str, Decimal]]:
    products = []
    categories = list(_CATEGORIES.items())
    for serial in range(1, _PRODUCTS + 1):
        category, (low, high) = categories[serial % len(categories)]
        # Log-uniform: cheap items are common, expensive ones rare within a category.
        cents = round(math.exp(rng.uniform(math.log(low), math.log(high))))
        cents = cents - cents % 10 + 9 if cents >= 100 else cents  # shelf prices end in 9
        cents = min(high, cents)
        products.append((f"P{serial:04d}", category, Decimal(cents).scaleb(-2)))
    return products


def check_count(name: str, value: object, least: int) -> int:
    """``value``, a whole number of at least ``least``, or InvalidInput naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidInput(name, f"must be an int of at least {least}, got {value!r}")
    return value


def check_span(start: object, tz: str) -> ZoneInfo:
    """The time zone ``tz`` of a synthetic span of days from ``start``, once both are checked: a
    date (not a datetime), and a zone name the zoneinfo database knows."""
    if isinstance(start, datetime) or not isinstance(start, date):
        raise InvalidInput("start", f"must be a date, got {start!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("tz", f"unknown time zone {tz!r}") from exc


def generate(
    *,
    members: int,
    purchases: int,
    seed: int = 1,
    start: date = DEFAULT_START,
    days: int = DEFAULT_DAYS,
    tz: str = "Europe/Amsterdam",
) -> Workload:
    """A chronological stream of ``members`` enrollments, ``purchases`` sales and some redemptions.

    Sales fall on the ``days`` days from ``start``, in local time of ``tz``.
    """
    for name, value, least in (("members", members, 1), ("purchases", purchases, 0), ("days", days, 1)):
        check_count(name, value, least)
    zone = check_span(start, tz)
    rng = random.Random(seed)

    store_weights = [rng.lognormvariate(0.0, 0.4) for _ in range(_STORES)]
    stores = [f"S{n:02d}" for n in range(1, _STORES + 1)]
    terminals = {store: [f"{store}-T{t}" for t in range(1, rng.randint(1, 4) + 1)] for store in stores}
    store_cumulative = _running(store_weights)
    products = _catalogue(rng)
    # Zipf-like popularity: a few products are in most baskets.
    product_cumulative = _running(1.0 / (rank + 1) ** 0.8 for rank in range(len(products)))
    basket_cumulative = _running(_BASKET_WEIGHTS)
    quantity_cumulative = _running(_QUANTITY_WEIGHTS)
    reward_cumulative = _running(_REWARD_WEIGHTS)

    # Members are numbered in the order they join.
    window = _Hours(start, days, zone)
    history_days = 2 * 365
    before = _Hours(start - timedelta(days=history_days), history_days, zone)
    early = max(1, round(members * _EARLY_MEMBERS))
    joined = sorted(
        [before.draw(rng) for _ in range(early)] + [window.draw(rng) for _ in range(members - early)],
        key=datetime.timestamp,
    )
    joined_epochs = [at.timestamp() for at in joined]
    width = max(5, len(str(members)))
    member_ids = [f"M{n:0{width}d}" for n in range(1, members + 1)]
    home = [stores[_pick(rng, store_cumulative)] for _ in range(members)]
    # Heavy-tailed: a few members visit every other day, many only now and then.
    activity_cumulative = _running(rng.paretovariate(2.5) for _ in range(members))

    # Each entry: (epoch, kind, order, member index, terminal, payload); ids come last.
    order = itertools.count()
    raw: list[tuple[float, int, int, int, str | None, Any]] = []
    for index, at in enumerate(joined):
        age = timedelta(days=rng.randint(18 * 365, 80 * 365))
        birthday = None if rng.random() < 0.1 else (at - age).date()
        raw.append((joined_epochs[index], _ENROLL, next(order), index, None, (at, birthday)))

    sale_times = sorted((window.draw(rng) for _ in range(purchases)), key=datetime.timestamp)
    available: dict[int, int] = {}
    last_sale: dict[int, float] = {}
    for at in sale_times:
        epoch = at.timestamp()
        eligible = bisect.bisect_right(joined_epochs, epoch)
        member = _pick(rng, activity_cumulative, eligible)
        store = home[member] if rng.random() < _HOME_STORE else stores[_pick(rng, store_cumulative)]
        terminal = rng.choice(terminals[store])
        chosen: dict[int, int] = {}
        size = _pick(rng, basket_cumulative) + 1
        while len(chosen) < size:
            chosen.setdefault(_pick(rng, product_cumulative), _pick(rng, quantity_cumulative) + 1)
        basket = list(chosen.items())

        balance = available.get(member, 0)
        previous = last_sale.get(member, -math.inf)
        if balance >= _REWARDS[0] and rng.random() < _REDEEM_CHANCE:
            points = _REWARDS[_pick(rng, reward_cumulative)]
            # A reward the member cannot afford yet becomes the largest one they can.
            points = max((r for r in _REWARDS if r <= min(points, balance)), default=0)
            redeemed_at = epoch - rng.randint(5, 90)
            # The redemption must come after the member's previous sale, whose points it may spend.
            if redeemed_at > previous:
                raw.append((redeemed_at, _REDEEM, next(order), member, terminal, points))
                balance -= points
        total = sum((products[p][2] * quantity for p, quantity in basket), Decimal(0))
        available[member] = balance + int(total)  # 1 point per whole euro, rounded down
        last_sale[member] = epoch
        raw.append((epoch, _SALE, next(order), member, terminal, (at, store, basket)))

    raw.sort(key=lambda item: item[:3])
    receipt_numbers: dict[str, int] = {}
    # Lines are frozen, so baskets can share them: most of the generation time otherwise goes on
    # validating the same few hundred product/quantity pairs again and again.
    line_of: dict[tuple[int, int], Line] = {}
    events: list[Event] = []
    for epoch, kind, _, member, till, payload in raw:
        member_id = member_ids[member]
        if till is None:
            at, birthday = payload
            events.append(Enrollment(f"ENR-{member_id}", member_id, at, birthday))
            continue
        receipt_numbers[till] = number = receipt_numbers.get(till, 0) + 1
        event_id = f"{till}-{number:06d}"
        if kind == _REDEEM:
            events.append(Redemption(event_id, member_id, payload, datetime.fromtimestamp(epoch, zone)))
        else:
            at, store, basket = payload
            lines = []
            for pair in basket:
                line = line_of.get(pair)
                if line is None:
                    sku, category, price = products[pair[0]]
                    line = line_of[pair] = Line(sku, pair[1], price, category)
                lines.append(line)
            events.append(Sale(Purchase(event_id, member_id, at, lines, CURRENCY, store, till)))
    return Workload(tuple(events), seed, start, days, tz)


# -- JSON Lines -------------------------------------------------------------------------------


def to_jsonl(events: Iterable[history.Event]) -> Iterator[str]:
    """``events`` as JSON Lines, one ``"\\n"``-terminated string each: ``fp.writelines(to_jsonl(events))``."""
    return history.write(events)


def from_jsonl(lines: Iterable[str]) -> list[history.Event]:
    """Read events written by :func:`to_jsonl` (a file or any iterable of lines); blank lines are skipped.

    A malformed line raises :class:`~loyalty.InvalidInput` naming the line number and key. Ids,
    points and times are checked when the events reach an engine, as they would be from a till.
    To read a long file one event at a time, use :func:`loyalty.history.read`.
    """
    return list(history.read(lines))
