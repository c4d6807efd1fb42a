"""The in-memory adapter's dictionaries and the indexes kept beside them.

A unit of work (:mod:`loyalty.store.memory`) changes them and records how to undo each change.
"""

from __future__ import annotations

import marshal
import pickle
from collections.abc import MutableMapping
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from sortedcontainers import SortedList

from loyalty.holds import Hold
from loyalty.identifiers import Identifier, IdentifierKind
from loyalty.ledger import Entry
from loyalty.lots import Lot
from loyalty.members import Member
from loyalty.offline import OfflineAllowance, OfflineUse
from loyalty.outbox import DomainEvent
from loyalty.referrals import Referral
from loyalty.store import Operation, StoredProgram, check_rules
from loyalty.store.periods import PeriodIndex, PurchaseFacts, purchase_facts, utc
from loyalty.tallies import Tally
from loyalty.tiers import TierState
from loyalty.transfers import PARTED_KINDS
from loyalty.vouchers import Voucher

__all__ = [
    "EMPTY",
    "MAX_CHECKED_RULES",
    "NO_IDS",
    "ZERO",
    "Data",
    "Kept",
    "VoucherData",
    "pack",
    "through",
    "unpack",
    "utc",
]

_T = TypeVar("_T")


class Kept(NamedTuple):
    """An operation as the store keeps it: its request and result packed into one bytes object
    (:func:`pack`).

    As given, a purchase's request and result are about 20 dicts and lists; kept for every
    purchase, each full collection walked all of them (about a quarter of a purchase's time in
    this store went to the collector). A tuple of atoms is walked once and then left alone.
    Packing also copies: what a caller does to its dicts afterwards cannot reach the store.
    """

    kind: str
    body: bytes
    recorded_at: datetime
    facts: PurchaseFacts | None

    @classmethod
    def of(cls, operation: Operation) -> Kept:
        """``operation`` as kept (its key is the dictionary's)."""
        facts = purchase_facts(operation)
        return cls(operation.kind, pack(operation.request, operation.result), operation.recorded_at, facts)

    def operation(self, key: str) -> Operation:
        request, result = unpack(self.body)
        return Operation(key, self.kind, request, result, self.recorded_at)


def _index(indexes: dict[str, SortedList[_T]], member: str) -> SortedList[_T]:
    """The member's index in ``indexes``, made the first time: ``setdefault`` would build (and
    throw away) an empty ``SortedList``, two Python calls, on every lot opened."""
    found = indexes.get(member)
    if found is None:
        found = indexes[member] = SortedList()
    return found


def pack(request: dict[str, Any], result: dict[str, Any]) -> bytes:
    """A request and result as one bytes object, read back as equal fresh copies by :func:`unpack`.

    ``marshal`` where it can: the records are plain dicts, lists, tuples, strings, numbers and
    ``None``, which it writes in about half the instructions pickle takes (and reads back in
    seven eighths). A value it refuses (an instance of a subclass, such as a ``StrEnum``, or a
    ``Decimal``) is pickled instead, which keeps its type as before. A marshalled tuple starts
    with ``(`` or ``)`` (with or without the reference flag, ``0x80``), a pickle with ``0x80``
    itself (its protocol), so :func:`unpack` tells them apart by the first byte.
    """
    try:
        return marshal.dumps((request, result))
    except ValueError:
        return pickle.dumps((request, result), pickle.HIGHEST_PROTOCOL)


def unpack(body: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request and result :func:`pack` packed into ``body``."""
    unpacked: tuple[dict[str, Any], dict[str, Any]]
    unpacked = pickle.loads(body) if body[0] == _PICKLE_PROTO else marshal.loads(body)
    return unpacked


_PICKLE_PROTO = pickle.PROTO[0]


class VoucherData:
    """Vouchers by code, with the indexes of the issued ones (by date, by purchase)."""

    def __init__(self) -> None:
        self.by_code: dict[str, Voucher] = {}
        self.by_member: dict[str, set[str]] = {}
        self.due: SortedList[tuple[datetime, str]] = SortedList()
        self.against: dict[str, set[str]] = {}

    def index(self, voucher: Voucher) -> None:
        self.due.add((utc(voucher.expires_at), voucher.code))
        if voucher.purchase_id is not None:
            self.against.setdefault(voucher.purchase_id, set()).add(voucher.code)

    def unindex(self, voucher: Voucher) -> None:
        self.due.remove((utc(voucher.expires_at), voucher.code))
        if voucher.purchase_id is not None:
            self.against[voucher.purchase_id].discard(voucher.code)


class Data:
    def __init__(self, operations: MutableMapping[str, Kept] | None = None) -> None:
        self.members: dict[str, Member] = {}
        self.balances: dict[str, int] = {}
        self.entries: dict[str, list[Entry]] = {}
        # A dict, or records kept in a file (loyalty.store.memory.spilled: a long replay's).
        self.operations: MutableMapping[str, Kept] = {} if operations is None else operations
        # The keys of the records of each of PARTED_KINDS, which maintenance looks for as each
        # day begins: a probe of these few, not a sort of every record (as the SQL adapters'
        # ``operations_parts`` index).
        self.parted: dict[str, SortedList[str]] = {}
        self.tallies: dict[str, Tally] = {}
        self.programs: dict[str, StoredProgram] = {}
        self.next_seq = 1
        # Every member's entries by seq (ledger[i].seq == i + 1: an undo gives its number back).
        self.ledger: list[Entry] = []
        # Each entry's link hash by seq, and each member's chain head (loyalty.chains).
        self.links: dict[int, bytes] = {}
        self.heads: dict[str, tuple[int, bytes]] = {}
        # The text digests an erasure kept of the entries whose text it rewrote (loyalty.erasure).
        self.kept_texts: dict[int, bytes] = {}
        # Open lots (remaining not zero) per member, and sorted indexes of the dated
        # ones, so reads cost what is pending or due, not every lot ever earned. The lots
        # of points that never expire are indexed too: spending reaches them in id order.
        # Sorted lists (sortedcontainers) keep every change to an index about log n.
        self.lots: dict[str, dict[int, Lot]] = {}
        self.vesting: dict[str, SortedList[tuple[datetime, int]]] = {}
        self.expiring: dict[str, SortedList[tuple[datetime, int]]] = {}
        self.undated: dict[str, SortedList[int]] = {}
        self.due: SortedList[tuple[datetime, int, str]] = SortedList()
        # Spent or expired lots, which a released hold may give points back to.
        self.closed: dict[str, dict[int, Lot]] = {}
        self.holds: dict[str, Hold] = {}
        self.open_holds: dict[str, dict[str, Hold]] = {}
        self.due_holds: SortedList[tuple[datetime, str]] = SortedList()
        self.vouchers = VoucherData()
        # Offline allowances by id, each terminal's ids, and members' use by (allowance, member).
        self.allowances: dict[str, OfflineAllowance] = {}
        self.terminals: dict[str, list[str]] = {}
        self.offline_uses: dict[tuple[str, str], OfflineUse] = {}
        self.events: list[DomainEvent] = []
        self.codes: dict[str, str] = {}  # code -> member
        self.code_of: dict[str, str] = {}  # member -> code
        self.referrals: dict[str, Referral] = {}
        # Members' keys by kind and value, and each member's keys (the index identifiers() reads).
        self.identifiers: dict[tuple[IdentifierKind, str], Identifier] = {}
        self.keys_of: dict[str, set[tuple[IdentifierKind, str]]] = {}
        self.tier_states: dict[str, TierState] = {}
        self.due_tiers: SortedList[tuple[datetime, str]] = SortedList()
        self.member_ids: SortedList[str] = SortedList()
        self.periods = PeriodIndex()
        # The rule lists appended so far that passed check_rules: a program's few lists come
        # back on every purchase, and need checking once.
        self.checked_rules: set[tuple[str, ...]] = set()

    def index_parts(self) -> None:
        """Build :attr:`parted` again from every record (after an erasure renamed keys)."""
        self.parted = {}
        for key, kept in self.operations.items():
            if kept.kind in PARTED_KINDS:
                self.parted.setdefault(kept.kind, SortedList()).add(key)

    def check_rules(self, rules: tuple[str, ...]) -> None:
        try:
            if rules in self.checked_rules:
                return
        except TypeError:  # unhashable: not a tuple of ids, which check_rules says
            pass
        check_rules(rules)
        # Passed: a tuple of them is a tuple of strings now.
        if type(rules) is tuple and len(self.checked_rules) < MAX_CHECKED_RULES:
            self.checked_rules.add(rules)

    def open_lot(self, lot: Lot) -> None:
        member = lot.member_id
        self.lots.setdefault(member, {})[lot.id] = lot
        if lot.vests_at is not None:
            _index(self.vesting, member).add((utc(lot.vests_at), lot.id))
        if lot.expires_at is not None:
            expires = utc(lot.expires_at)
            _index(self.expiring, member).add((expires, lot.id))
            self.due.add((expires, lot.id, member))
        elif lot.points > 0:
            _index(self.undated, member).add(lot.id)

    def close_lot(self, lot: Lot) -> None:
        member = lot.member_id
        del self.lots[member][lot.id]
        if lot.vests_at is not None:
            self.vesting[member].remove((utc(lot.vests_at), lot.id))
        if lot.expires_at is not None:
            expires = utc(lot.expires_at)
            self.expiring[member].remove((expires, lot.id))
            self.due.remove((expires, lot.id, member))
        elif lot.points > 0:
            self.undated[member].remove(lot.id)

    def lot(self, member_id: str, lot_id: int) -> Lot | None:
        found = self.lots.get(member_id, {}).get(lot_id)
        return found if found is not None else self.closed.get(member_id, {}).get(lot_id)

    def relabel(self, old: Lot, new: Lot) -> None:
        """Put ``new`` (the same points, other dates) where ``old`` was, open or closed."""
        if old.remaining:
            self.close_lot(old)
            self.open_lot(new)
        else:
            self.closed[old.member_id][old.id] = new

    def replace_lot(self, old: Lot, new: Lot) -> None:
        """Put ``new`` where ``old`` was: a draw or a give-back, closing or reopening the lot."""
        closed = self.closed.setdefault(old.member_id, {})
        if old.remaining and new.remaining:
            self.lots[new.member_id][new.id] = new
        elif old.remaining:
            self.close_lot(old)
            closed[new.id] = new
        elif new.remaining:
            del closed[old.id]
            self.open_lot(new)
        else:
            closed[new.id] = new


ZERO = Tally()
MAX_CHECKED_RULES = 4096
EMPTY: SortedList[tuple[datetime, int]] = SortedList()
NO_IDS: SortedList[int] = SortedList()
TICK = timedelta(microseconds=1)


def through(index: SortedList[tuple[datetime, str]], until: datetime) -> int:
    """How many items of ``index`` are dated ``until`` or before: those before the first of the
    next microsecond ("" sorts before every id), the finest step a datetime takes."""
    try:
        # In UTC, as the keys are: a zone's time of the hour a clock goes back, plus a tick,
        # would lose its fold and stand an hour earlier.
        return index.bisect_left((utc(until) + TICK, ""))
    except OverflowError:
        return len(index)
