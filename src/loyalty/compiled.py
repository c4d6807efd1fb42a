"""A program version compiled once into what evaluating a purchase needs.

A :class:`~loyalty.program.Program` is frozen, so everything about its rules
that does not depend on the purchase is worked out once, when the version is
built, into a :class:`RuleIndex`: the rules in evaluation order, and indexes
that find the rules a purchase can meet without visiting the others one by
one. A purchase's :class:`Selection` then holds what depends on it alone,
worked out once however often it is asked: the candidate rules, the local
time in each timezone the rules read, and the birthday windows.

A rule is indexed under every include condition it has that can be looked up:
its lines (the narrowest of its SKUs, categories or labels), its stores,
channels and terminals, and its dates (``starts``/``ends``, in the rule's
timezone). It is a candidate when the purchase meets all of them, so 5,000
campaigns for other stores, or for other weeks, cost a purchase a lookup,
not a visit each. Candidates are then checked in full, as every rule is; the
index only leaves out rules that could not apply.

Rules in an exclusive group are indexed by their lines only: the group is
decided where its last candidate member comes up, and that place must not
depend on the till or the date. :meth:`RuleIndex.candidates` (lines only)
is what an explanation walks, so that every reason it gives is the one the
rule's own checks give.

>>> from datetime import date, datetime, timezone
>>> from decimal import Decimal
>>> from zoneinfo import ZoneInfo
>>> from loyalty.purchases import Line, Purchase
>>> from loyalty.rules import PurchaseBonus
>>> index = RuleIndex.build(
...     [PurchaseBonus(id="north", points=5, stores=["S1"]),
...      PurchaseBonus(id="spring", points=5, starts=date(2024, 3, 1), ends=date(2024, 5, 31))],
...     ZoneInfo("UTC"), tiered=False)
>>> sale = Purchase("T1", "M1", datetime(2024, 6, 1, 9, tzinfo=timezone.utc),
...                 [Line("bread", 1, Decimal("2.10"))], "EUR", store_id="S2")
>>> index.select(sale).rules
()
>>> [rule.id for rule in index.candidates(sale.lines)]
['north', 'spring']
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from loyalty.purchases import Line, Purchase
from loyalty.rules import BirthdayBonus, EventRule, Rule

__all__ = ["RuleIndex", "Selection"]

#: Date segments whose active rules are remembered per zone; past it the memory starts over.
_SEGMENTS_KEPT = 4096
_NONE: frozenset[int] = frozenset()
_Key = TypeVar("_Key", str, tuple[str, str])
#: A rule's include list of places and the purchase's field it is looked up by.
_PLACES = (("stores", "store_id"), ("channels", "channel"), ("terminals", "terminal_id"))


class Named(Protocol):
    """A subject that is not a purchase: an event, found by its name."""

    @property
    def name(self) -> str: ...

    @property
    def at(self) -> datetime: ...


class _Calendar:
    """The rules with dates in one timezone, found by the local day.

    The boundaries (every ``starts`` and every day after an ``ends``) cut time
    into segments within which the same rules run; a segment's rules are
    worked out the first time a purchase falls in it.
    """

    __slots__ = ("_active", "bounds", "spans", "zone")

    def __init__(self, zone: ZoneInfo, spans: list[tuple[int, date | None, date | None]]) -> None:
        self.zone = zone
        self.spans = tuple(spans)
        cuts: set[date] = set()
        for _, starts, ends in spans:
            if starts is not None:
                cuts.add(starts)
            if ends is not None and ends < date.max:
                cuts.add(ends + timedelta(days=1))
        self.bounds = sorted(cuts)
        self._active: dict[int, frozenset[int]] = {}

    def active(self, day: date) -> frozenset[int]:
        segment = bisect.bisect_right(self.bounds, day)
        found = self._active.get(segment)
        if found is None:
            found = frozenset(
                i
                for i, starts, ends in self.spans
                if (starts is None or starts <= day) and (ends is None or day <= ends)
            )
            if len(self._active) >= _SEGMENTS_KEPT:
                self._active.clear()
            self._active[segment] = found
        return found


class Selection:
    """What evaluating one purchase or event needs that depends on it alone, worked out once.

    ``rules`` are the candidates in evaluation order; :meth:`local` is the
    subject's time in a rule's timezone (converted once per zone);
    ``birthdays`` keeps each birthday window's year as the evaluation finds it.
    """

    __slots__ = ("_locals", "_zone", "birthdays", "rules", "subject")

    #: Set by :meth:`RuleIndex.select`, once the candidates are found.
    rules: tuple[Rule, ...]

    def __init__(self, subject: Purchase | Named, zone: ZoneInfo) -> None:
        self.subject = subject
        self.birthdays: dict[tuple[str, date], int | None] = {}
        self._zone = zone
        self._locals: dict[ZoneInfo, datetime] = {}

    def local(self, rule: Rule) -> datetime:
        """The subject's time where ``rule`` reads dates and hours (its timezone, else the program's)."""
        return self.in_zone(rule._zone or self._zone)

    def in_zone(self, zone: ZoneInfo) -> datetime:
        """The subject's time in ``zone``."""
        found = self._locals.get(zone)
        if found is None:
            at = self.subject.at
            # Converting is the dearest step of a plain rule; an instant already in the zone is kept.
            found = self._locals[zone] = at if at.tzinfo is zone else at.astimezone(zone)
        return found


class RuleIndex:
    """The program's purchase and event rules, ordered and indexed for evaluation.

    Order: spend rules, then multipliers, then fixed bonuses; within each,
    higher ``priority`` first, then as listed. Built once per program version
    (:meth:`build`); :meth:`select` gives a purchase its candidates.
    """

    __slots__ = (
        "_calendars",
        "_last",
        "_line_indexed",
        "_multi",
        "_need",
        "_places",
        "_plain",
        "_zone",
        "by_category",
        "by_channel",
        "by_event",
        "by_label",
        "by_sku",
        "by_store",
        "by_terminal",
        "line_unfiltered",
        "needs_member",
        "ordered",
        "ordered_events",
        "position",
        "unfiltered",
    )

    ordered: tuple[Rule, ...]
    position: Mapping[str, int]
    #: Rules with no include list on lines: every purchase's lines may meet them.
    line_unfiltered: frozenset[int]
    #: Rules with no include condition the index can look up: every purchase may meet them.
    unfiltered: frozenset[int]
    by_sku: Mapping[str, frozenset[int]]
    by_category: Mapping[str, frozenset[int]]
    by_label: Mapping[tuple[str, str], frozenset[int]]
    by_store: Mapping[str, frozenset[int]]
    by_channel: Mapping[str, frozenset[int]]
    by_terminal: Mapping[str, frozenset[int]]
    by_event: Mapping[str, tuple[EventRule, ...]]
    ordered_events: tuple[EventRule, ...]
    needs_member: bool

    def candidates(self, lines: Iterable[Line]) -> tuple[Rule, ...]:
        """The purchase rules that can apply to a basket of ``lines``, whatever the till and the date."""
        if not self._line_indexed:
            return self.ordered
        found = set(self.line_unfiltered)
        found.update(self._line_hits(lines))
        ordered = self.ordered
        return tuple(ordered[i] for i in sorted(found))

    def select(self, subject: Purchase | Named) -> Selection:
        """``subject``'s selection: its candidate rules (all conditions the index covers met).

        The last one is kept, so the tallies a purchase reads and its
        evaluation share one.
        """
        last = self._last
        if last is not None and last.subject is subject:
            return last
        selection = Selection(subject, self._zone)
        if isinstance(subject, Purchase):
            selection.rules = self.ordered if self._plain else self._find(subject, selection)
        else:
            selection.rules = self.by_event.get(subject.name, ())
        self._last = selection
        return selection

    def _line_hits(self, lines: Iterable[Line]) -> set[int]:
        found: set[int] = set()
        by_sku, by_category, by_label = self.by_sku, self.by_category, self.by_label
        for line in lines:
            found.update(by_sku.get(line.sku, _NONE))
            if line.category is not None:
                found.update(by_category.get(line.category, _NONE))
            if by_label:
                for pair in line.labels.items():
                    found.update(by_label.get(pair, _NONE))
        return found

    def _find(self, purchase: Purchase, selection: Selection) -> tuple[Rule, ...]:
        hits: list[Iterable[int]] = []
        if self._line_indexed:
            hits.append(self._line_hits(purchase.lines))
        for table, field in self._places:
            value = getattr(purchase, field)
            if value is not None:
                hits.append(table.get(value, _NONE))
        for calendar in self._calendars:
            hits.append(calendar.active(selection.in_zone(calendar.zone).date()))
        found = set(self.unfiltered)
        multi = self._multi
        met: dict[int, int] = {}
        for hit in hits:
            if multi.isdisjoint(hit):
                found.update(hit)
                continue
            # A rule indexed under several conditions is a candidate when the purchase meets them all.
            for i in hit:
                if i in multi:
                    met[i] = met.get(i, 0) + 1
                else:
                    found.add(i)
        if met:
            need = self._need
            found.update(i for i, n in met.items() if n == need[i])
        ordered = self.ordered
        return tuple([ordered[i] for i in sorted(found)])

    @classmethod
    def build(cls, rules: Sequence[Rule], zone: ZoneInfo, *, tiered: bool) -> RuleIndex:
        """The index of ``rules`` (in declaration order) for a program whose timezone is ``zone``."""
        declared = {rule.id: i for i, rule in enumerate(rules)}
        purchase = sorted(
            (rule for rule in rules if not isinstance(rule, EventRule)),
            key=lambda rule: (rule.phase, -rule.priority, declared[rule.id]),
        )
        line_unfiltered: set[int] = set()
        unfiltered: set[int] = set()
        by_sku: dict[str, set[int]] = {}
        by_category: dict[str, set[int]] = {}
        by_label: dict[tuple[str, str], set[int]] = {}
        places: dict[str, dict[str, set[int]]] = {field: {} for _, field in _PLACES}
        spans: dict[ZoneInfo, list[tuple[int, date | None, date | None]]] = {}
        need: dict[int, int] = {}
        for i, rule in enumerate(purchase):
            # Indexed by the narrowest include list; any line that can match is found through it.
            if rule.skus:
                for sku in rule.skus:
                    by_sku.setdefault(sku, set()).add(i)
            elif rule.categories:
                for category in rule.categories:
                    by_category.setdefault(category, set()).add(i)
            elif rule.labels:
                key, values = next(iter(rule.labels.items()))
                for value in values:
                    by_label.setdefault((key, value), set()).add(i)
            else:
                line_unfiltered.add(i)
            conditions = 0 if i in line_unfiltered else 1
            if rule.group is None:
                for attribute, field in _PLACES:
                    included = getattr(rule, attribute)
                    if included:
                        conditions += 1
                        for value in included:
                            places[field].setdefault(value, set()).add(i)
                if rule.starts is not None or rule.ends is not None:
                    conditions += 1
                    ends = rule.ends
                    if ends is not None and ends < date.max and _overnight(rule):
                        # The early hours of the day after its end are still its last night.
                        ends += timedelta(days=1)
                    spans.setdefault(rule._zone or zone, []).append((i, rule.starts, ends))
            if conditions:
                need[i] = conditions
            else:
                unfiltered.add(i)
        by_event: dict[str, list[EventRule]] = {}
        for rule in rules:
            if isinstance(rule, EventRule):
                by_event.setdefault(rule.event, []).append(rule)
        for event_rules in by_event.values():
            event_rules.sort(key=lambda rule: (-rule.priority, declared[rule.id]))
        events = sorted(
            (rule for rule in rules if isinstance(rule, EventRule)),
            key=lambda rule: (-rule.priority, declared[rule.id]),
        )
        index = cls.__new__(cls)
        index.ordered = tuple(purchase)
        index.position = MappingProxyType({rule.id: i for i, rule in enumerate(purchase)})
        index.line_unfiltered = frozenset(line_unfiltered)
        index.unfiltered = frozenset(unfiltered)
        index.by_sku = _frozen(by_sku)
        index.by_category = _frozen(by_category)
        index.by_label = _frozen(by_label)
        tables = {field: _frozen(table) for field, table in places.items()}
        index.by_store, index.by_channel, index.by_terminal = (tables[field] for _, field in _PLACES)
        index._places = tuple((table, field) for field, table in tables.items() if table)
        index.by_event = MappingProxyType({k: tuple(v) for k, v in by_event.items()})
        index.ordered_events = tuple(events)
        index.needs_member = tiered or any(
            rule.members or rule.exclude_members or isinstance(rule, BirthdayBonus) for rule in rules
        )
        index._zone = zone
        index._line_indexed = bool(by_sku or by_category or by_label)
        index._calendars = tuple(_Calendar(z, s) for z, s in spans.items())
        index._need = MappingProxyType(need)
        index._multi = frozenset(i for i, n in need.items() if n > 1)
        index._plain = not need
        index._last = None
        return index

    _zone: ZoneInfo
    _places: tuple[tuple[Mapping[str, frozenset[int]], str], ...]
    _line_indexed: bool
    _calendars: tuple[_Calendar, ...]
    _need: Mapping[int, int]
    _multi: frozenset[int]
    _plain: bool
    _last: Selection | None


def _frozen(table: Mapping[_Key, set[int]]) -> Mapping[_Key, frozenset[int]]:
    return MappingProxyType({key: frozenset(value) for key, value in table.items()})


def _overnight(rule: Rule) -> bool:
    """Whether one of the rule's hour windows runs past midnight (22:00-02:00)."""
    return any(start is not None and end is not None and end < start for start, end in rule._windows)
