"""Period figures in the stores: when a purchase was rung up, which end of the ledger to count
from, and the in-memory adapter's indexes by time.

The memory indexes are sorted lists (``sortedcontainers``: a change costs about log n, paid in
batches when figures are asked for), so the figures of a period cost the entries and purchases
in it, as an index range does in SQL. The
points outstanding at an instant add up the day totals kept before its day and the entries of
its day up to it: a day's figures cost a day's entries and one sum a day, not the ledger.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sortedcontainers import SortedList

from loyalty.errors import LoyaltyError
from loyalty.figures import PeriodTotals
from loyalty.ledger import Entry, rule_shares, shares_of
from loyalty.members import Member
from loyalty.money import EXACT
from loyalty.records import unpack_operation
from loyalty.store import Operation

__all__ = [
    "PeriodIndex",
    "PurchaseFacts",
    "count_from_start",
    "instant_of",
    "kept_shares",
    "purchase_facts",
    "purchase_time",
    "utc",
]

#: What the period figures read of a recorded purchase: its till time (the request's ``at`` as
#: given), key, member and amount (the result's, as text). A tuple of strings: the memory store
#: keeps one per purchase, and the garbage collector stops walking such a tuple once it has seen
#: that it holds no containers.
PurchaseFacts = tuple[Any, str, Any, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_Key = tuple[datetime, int, str, int, tuple[tuple[str, int], ...]]
_DAY = timedelta(days=1)


def utc(at: datetime) -> datetime:
    """``at`` in UTC, as the in-memory indexes keep times: two times of one zone compare by their wall
    clocks, fold ignored, so the hour a clock goes back would sort out of order."""
    return at if at.tzinfo is UTC else at.astimezone(UTC)


def instant_of(value: object) -> datetime | None:
    """``value`` read as an aware ISO 8601 instant, or ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    return found if found.utcoffset() is not None else None


def purchase_time(operation: Operation) -> datetime | None:
    """When a recorded purchase was rung up (its request's ``at``), or ``None`` for other operations.

    A purchase recorded without a readable ``at`` (only a hand-made one) counts in no period.
    """
    return instant_of(operation.request.get("at")) if operation.kind == "purchase" else None


def purchase_facts(operation: Operation) -> PurchaseFacts | None:
    """What the period figures read of ``operation``, or ``None`` if it is not a purchase."""
    if operation.kind != "purchase":
        return None
    money = operation.result.get("amount")
    amount = money.get("amount") if isinstance(money, dict) else None
    return (operation.request.get("at"), operation.key, operation.request.get("member_id"), amount)


def kept_shares(rule: str, points: int, key: str, record: str | None) -> str | None:
    """The ``rule_shares`` text of an entry of several rules kept before entries had shares, from
    the record its command kept (the result's breakdown), or ``None`` if no record says.

    The SQL adapters' migrations call it once per such entry (SQLite as ``loyalty_shares()``).
    """
    if record is None:
        return None
    rules = rule.split()
    exact = dict.fromkeys(rules, Decimal(0))
    try:
        _, result = unpack_operation(key, record)
        for row in result.get("breakdown") or ():
            if row.get("rule") in exact:
                exact[row["rule"]] = EXACT.add(exact[row["rule"]], Decimal(row["points"]))
    except (LoyaltyError, InvalidOperation, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None  # not a record this version can read: the entry counts for no rule
    shares = shares_of(list(exact.values()), points)
    return json.dumps(dict(zip(rules, shares, strict=True)), separators=(",", ":"))


def count_from_start(first: datetime, last: datetime, end: datetime) -> bool:
    """Whether the points of the entries before ``end`` are cheaper to add up from the ledger's
    ``first`` entry than back from the total (all points less those from ``end`` on), for a
    ledger that runs from ``first`` to ``last``: whichever side of ``end`` spans less time.
    Either way gives the same sum; only the rows read differ."""
    return end - first <= last - end


class PeriodIndex:
    """Entries by ``occurred_at``, purchases by their till time, members by enrolment; undo is the
    caller's (each ``add_*`` has its ``remove_*``).

    Entries and purchases added are kept aside and sorted into the indexes when figures are
    next asked for: a purchase pays an append, not two sorted inserts and a parse of its time,
    and a batch settles in ``k log n``. (The store's lock covers reads too: settling is safe.)
    """

    def __init__(self) -> None:
        # (occurred_at, seq, kind, points, each rule's points): seq is unique, so nothing after
        # it is ever compared.
        self._entries: SortedList[_Key] = SortedList()
        # The points of the entries of each UTC day (days since 1970), and the days in order.
        self._daily: dict[int, int] = {}
        self._days: SortedList[int] = SortedList()
        # (till time, key, member, amount): the key is unique, so neither of the others is compared.
        self._purchases: SortedList[tuple[datetime, str, Any, Any]] = SortedList()
        self._enrolled: SortedList[tuple[datetime, str]] = SortedList()
        # With the shares of each (a second list: a pair per purchase would be one more object
        # for the collector to walk, where a purchase's shares are mostly the one empty tuple).
        self._new_entries: list[Entry] = []
        self._new_shares: list[tuple[int, ...]] = []
        self._new_purchases: list[PurchaseFacts] = []

    def add_entry(self, entry: Entry, shares: tuple[int, ...]) -> None:
        """Index ``entry``, with its posting's ``shares`` (:func:`loyalty.ledger.rule_shares`)."""
        self._new_entries.append(entry)
        self._new_shares.append(shares)

    def remove_entry(self, entry: Entry, shares: tuple[int, ...]) -> None:
        new = self._new_entries
        if new and new[-1] is entry:  # an undo, the last change first
            new.pop()
            self._new_shares.pop()
            return
        self._settle()
        self._entries.remove(_entry_key(entry, shares))
        # The day stays, perhaps at zero: an undo need not know whether it was the day's last.
        self._daily[_day_of(entry.occurred_at)] -= entry.points

    def add_purchase(self, facts: PurchaseFacts) -> None:
        self._new_purchases.append(facts)

    def remove_purchase(self, facts: PurchaseFacts) -> None:
        new = self._new_purchases
        if new and new[-1] is facts:
            new.pop()
            return
        self._settle()
        at = instant_of(facts[0])
        if at is not None:
            self._purchases.remove((at, *facts[1:]))

    def _settle(self) -> None:
        """Sort what was added since the last figures into the indexes."""
        if self._new_entries:
            daily = self._daily
            for entry in self._new_entries:
                day = _day_of(entry.occurred_at)
                if day not in daily:
                    self._days.add(day)
                    daily[day] = 0
                daily[day] += entry.points
            self._entries.update(map(_entry_key, self._new_entries, self._new_shares))
            self._new_entries, self._new_shares = [], []
        if self._new_purchases:
            timed = ((instant_of(facts[0]), *facts[1:]) for facts in self._new_purchases)
            self._purchases.update((at, *rest) for at, *rest in timed if at is not None)
            self._new_purchases = []

    def add_member(self, member: Member) -> None:
        self._enrolled.add((utc(member.enrolled_at), member.id))

    def rename_member(self, old: str, new: str) -> None:
        """Index member ``old``'s purchases and enrolment under ``new`` (an erasure's pseudonym)."""
        self._settle()
        self._purchases = SortedList(
            (at, key, new if m == old else m, amount) for at, key, m, amount in self._purchases
        )
        self._enrolled = SortedList((at, new if m == old else m) for at, m in self._enrolled)

    def remove_member(self, member: Member) -> None:
        self._enrolled.remove((utc(member.enrolled_at), member.id))

    def totals(self, start: datetime, end: datetime, before: datetime) -> PeriodTotals:
        """:meth:`~loyalty.store.UnitOfWork.period_totals`."""
        self._settle()
        entries = self._entries
        start, end, before = utc(start), utc(end), utc(before)
        # Seq 0 and "" sort before every entry and key of the same instant: these are the
        # positions of the first ones at or after the instant.
        first, cut = entries.bisect_left((start, 0, "", 0, ())), entries.bisect_left((end, 0, "", 0, ()))
        by_kind: dict[str, int] = {}
        by_rule: dict[str, int] = {}
        transferred = 0
        for _, _, kind, points, shares in entries.islice(first, cut):
            by_kind[kind] = by_kind.get(kind, 0) + points
            if kind == "transfer" and points > 0:
                transferred += points
            for rule, share in shares:
                by_rule[rule] = by_rule.get(rule, 0) + share
        outstanding = self._points_before(end, cut)
        now = self._buyers(start, end)
        then = {member for member, _ in self._buyers(before, start)}
        members = {member for member, _ in now}
        spend = sum((amount for _, amount in now), Decimal(0))
        enrolled = self._enrolled.bisect_left((end, ""))
        return PeriodTotals(
            by_kind,
            outstanding,
            enrolled,
            len(members),
            len(then),
            len(members & then),
            len(now),
            spend,
            transferred,
            by_rule,
        )

    def _points_before(self, end: datetime, cut: int) -> int:
        """The points of the entries before ``end``, the first ``cut`` of them: whole days from
        their totals, ``end``'s own day entry by entry."""
        entries = self._entries
        day = _day_of(end)
        try:
            midnight = _EPOCH + day * _DAY
        except OverflowError:  # an instant at the edge of the calendar: add up every entry
            return sum(key[3] for key in entries.islice(0, cut))
        whole = sum(self._daily[d] for d in self._days.irange(maximum=day, inclusive=(True, False)))
        today = entries.islice(entries.bisect_left((midnight, 0, "", 0, ())), cut)
        return whole + sum(key[3] for key in today)

    def _buyers(self, start: datetime, end: datetime) -> list[tuple[str, Decimal]]:
        """The member and amount of every purchase rung up in ``[start, end)``."""
        index = self._purchases
        # Keys are never empty: "" sorts before every purchase of the same instant.
        found = index.islice(index.bisect_left((start, "", "", "")), index.bisect_left((end, "", "", "")))
        return [(member, Decimal(amount)) for _, _, member, amount in found]


def _day_of(at: datetime) -> int:
    """The UTC day ``at`` falls on, as days since 1970."""
    return (at - _EPOCH) // _DAY


def _entry_key(entry: Entry, shares: tuple[int, ...]) -> _Key:
    found = tuple(rule_shares(entry.rules, entry.points, shares)) if entry.rules else ()
    return (utc(entry.occurred_at), entry.seq, entry.kind.value, entry.points, found)
