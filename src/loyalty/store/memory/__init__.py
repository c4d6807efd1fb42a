"""The in-memory adapter: the reference every other adapter is tested against.

Writers are serialized by one lock held for the whole unit of work, and every
change records how to undo itself, so a unit of work that is not committed
leaves the dictionaries exactly as they were.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import datetime
from functools import partial
from itertools import islice

import attrs

from loyalty.chains import GENESIS, Head, Link, link_of
from loyalty.checks import MAX_POINTS
from loyalty.errors import StorageError
from loyalty.figures import PeriodTotals
from loyalty.holds import Hold, HoldStatus
from loyalty.identifiers import Identifier, IdentifierKind
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Balance, DrawOrder, Lot, check_draws, check_redates, opens, redates_of
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent, NewEvent
from loyalty.referrals import Referral
from loyalty.store import (
    Closing,
    StoredProgram,
    check_deltas,
    check_json,
    check_shares,
    check_tally_key,
    program_order,
)
from loyalty.store.memory.data import EMPTY, NO_IDS, ZERO, Data, through, utc
from loyalty.store.memory.erasure import MemoryErasure
from loyalty.store.memory.no_entry import MemoryNoEntry
from loyalty.store.memory.offline import MemoryOffline
from loyalty.store.memory.spilled import SpilledOperations
from loyalty.store.memory.transfers import MemoryTransfers
from loyalty.store.memory.vouchers import MemoryVouchers
from loyalty.store.spending import LAST_ID, Segment, collect
from loyalty.tallies import Tally
from loyalty.tiers import TierState

__all__ = ["MemoryStore", "open_memory"]


class MemoryUnitOfWork(MemoryVouchers, MemoryOffline, MemoryErasure, MemoryTransfers, MemoryNoEntry):
    """Its own context manager (no generator): this is the hot path of every in-memory command."""

    #: Its append applies a roll (loyalty.lots.roll_of), which lists no lot: see docs/storage.md.
    applies_rolls = True

    def __init__(self, data: Data, readonly: bool, lock: threading.RLock) -> None:
        self._data = data
        self._readonly = readonly
        self._lock = lock
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> MemoryUnitOfWork:
        self._lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            # Rolled back unless committed, whether the block raised or not.
            self.rollback()
        finally:
            self._lock.release()

    def _writable(self) -> None:
        if self._readonly:
            raise StorageError(None, "write in a read-only unit of work")

    def member(self, member_id: str) -> Member | None:
        return self._data.members.get(member_id)

    def member_ids(self, *, after: str = "", limit: int) -> list[str]:
        index = self._data.member_ids
        start = index.bisect_right(after)
        return list(index.islice(start, start + limit))

    def add_member(self, member: Member) -> None:
        self._writable()
        data = self._data
        if member.id in data.members:
            raise StorageError("member_id", f"member {member.id!r} already exists")
        data.members[member.id] = member
        data.balances[member.id] = 0
        data.entries[member.id] = []
        data.member_ids.add(member.id)
        data.periods.add_member(member)

        def undo() -> None:
            del data.members[member.id], data.balances[member.id], data.entries[member.id]
            data.member_ids.remove(member.id)
            data.periods.remove_member(member)

        self._undo.append(undo)

    def update_member(self, member: Member) -> None:
        self._writable()
        members = self._data.members
        old = members.get(member.id)
        if old is None:
            raise StorageError("member_id", f"no member {member.id!r} to update")
        members[member.id] = attrs.evolve(
            old,
            birthday=member.birthday,
            attributes=member.attributes,
            birthday_changed_at=member.birthday_changed_at,
            status=member.status,
        )
        self._undo.append(lambda: members.__setitem__(member.id, old))

    def member_status(self, member_id: str) -> MemberStatus | None:
        member = self._data.members.get(member_id)
        return None if member is None else member.status

    def enrolled_at(self, member_id: str) -> datetime | None:
        member = self._data.members.get(member_id)
        return None if member is None else member.enrolled_at

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None:
        return self._data.balances.get(member_id)

    def balance_by_state(self, member_id: str, now: datetime) -> Balance | None:
        data = self._data
        total = data.balances.get(member_id)
        if total is None:
            return None
        lots = data.lots.get(member_id, {})
        late = data.expiring.get(member_id, EMPTY).irange(maximum=(now, LAST_ID))
        overdue = sum(lots[lot_id].remaining for _, lot_id in late)
        vesting = data.vesting.get(member_id, EMPTY).irange(minimum=(now, LAST_ID))
        pending = sum(lots[lot_id].remaining for _, lot_id in vesting if not lots[lot_id].expired_at(now))
        held = sum(hold.points for hold in data.open_holds.get(member_id, {}).values())
        return Balance(total - pending - overdue, pending, overdue, held)

    def append(self, posting: Posting) -> Entry:
        self._writable()
        data = self._data
        if posting.rules:
            data.check_rules(posting.rules)
        if posting.shares:
            check_shares(posting.rules, posting.points, posting.shares)
        mid = posting.member_id
        before = data.balances[mid]
        if not -MAX_POINTS <= before + posting.points <= MAX_POINTS:  # as a 64-bit column, before any change
            raise StorageError("points", "the balance would leave the 64-bit range")
        entry = posting.recorded(data.next_seq, before + posting.points)
        if posting.draws or posting.points < 0:
            check_draws(posting, {lot: found for lot, _ in posting.draws if (found := data.lot(mid, lot))})
        moves = posting.redates
        if moves or posting.kind is EntryKind.REDATE:
            check_redates(posting, {lot: found for lot, _ in moves if (found := data.lot(mid, lot))})
            moves = redates_of(posting, lambda: data.lots.get(mid, {}).values())  # a roll's: its own
        data.next_seq += 1
        data.balances[mid] = entry.balance_after
        data.entries[mid].append(entry)
        data.ledger.append(entry)
        head = data.heads.get(mid, (0, GENESIS))
        data.links[entry.seq] = chained = link_of(head[1], entry)
        data.heads[mid] = (entry.seq, chained)
        data.periods.add_entry(entry, posting.shares)
        moved: list[tuple[Lot, Lot]] = []
        for lot_id, points in posting.draws:
            old = data.lot(mid, lot_id)
            assert old is not None  # check_draws found it
            new = attrs.evolve(old, remaining=old.remaining + points)
            data.replace_lot(old, new)
            moved.append((old, new))
        redated: list[tuple[Lot, Lot]] = []
        for lot_id, expires in moves:
            old = data.lot(mid, lot_id)
            assert old is not None  # check_redates found it
            new = attrs.evolve(old, expires_at=expires, rolling=posting.rolling)
            data.relabel(old, new)
            redated.append((old, new))
        rest = opens(posting) if posting.draws else posting.points
        opened = Lot.opened_by(entry, entry.seq, rest) if rest else None
        if opened is not None:
            data.open_lot(opened)
        # A partial, not a closure: on every entry, and a closure's ten cells cost more than it.
        self._undo.append(partial(_unappend, data, posting, entry, head, before, opened, moved, redated))
        return entry

    def lots(self, member_id: str) -> list[Lot]:
        return sorted(self._data.lots.get(member_id, {}).values(), key=lambda lot: lot.id)

    def lot(self, member_id: str, lot_id: int) -> Lot | None:
        return self._data.lot(member_id, lot_id)

    def open_lots(self, *, after: int = 0, limit: int) -> list[Lot]:
        found = [lot for lots in self._data.lots.values() for lot in lots.values() if lot.id > after]
        return sorted(found, key=lambda lot: lot.id)[:limit]

    def pending_lots(self, member_id: str, at: datetime) -> list[Lot]:
        index = self._data.vesting.get(member_id, EMPTY)
        open_lots = self._data.lots.get(member_id, {})
        return sorted(
            (open_lots[lot_id] for _, lot_id in index.irange(minimum=(at, LAST_ID))), key=lambda lot: lot.id
        )

    def spendable_lots(
        self,
        member_id: str,
        now: datetime,
        *,
        pending: bool = False,
        after: Lot | None = None,
        limit: int,
        order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
    ) -> list[Lot]:
        def read(segment: Segment, n: int) -> list[Lot]:
            if segment.after_earned is not None:
                return self._earned(member_id, now, segment)[:n]
            kept = (
                lot
                for lot in self._segment(member_id, segment)
                if lot.remaining > 0 and lot.pending_at(now) == segment.pending
            )
            return list(islice(kept, n))

        return collect(now, pending=pending, after=after, limit=limit, read=read, order=order)

    def _earned(self, member_id: str, now: datetime, segment: Segment) -> list[Lot]:
        """The lots of an oldest-earned ``segment``, sorted from the member's open lots: no index
        keeps that order, which only programs that choose it would use."""
        assert segment.after_earned is not None
        key = (segment.after_earned, segment.after_id)
        kept = [
            lot
            for lot in self._data.lots.get(member_id, {}).values()
            if lot.remaining > 0
            and not lot.expired_at(now)
            and lot.pending_at(now) == segment.pending
            and (utc(lot.earned_at), lot.id) > key
        ]
        return sorted(kept, key=lambda lot: (utc(lot.earned_at), lot.id))

    def _segment(self, member_id: str, segment: Segment) -> Iterator[Lot]:
        """The member's open lots of ``segment``'s kind after its key, pending or not, debts too."""
        data = self._data
        lots = data.lots.get(member_id, {})
        if segment.dated:
            dated = data.expiring.get(member_id, EMPTY)
            key = (segment.after_expires, segment.after_id)
            return (lots[lot_id] for _, lot_id in dated.irange(minimum=key, inclusive=(False, True)))
        undated = data.undated.get(member_id, NO_IDS)
        return (lots[lot_id] for lot_id in undated.irange(minimum=segment.after_id, inclusive=(False, True)))

    def due_lots(
        self, until: datetime, *, member_id: str | None = None, limit: int | None = None
    ) -> list[Lot]:
        data = self._data
        # Cut the index to ``limit`` before building lots: maintenance pages through it.
        if member_id is None:
            index = data.due
            end = index.bisect_right((until, LAST_ID, ""))
            end = end if limit is None else min(end, limit)
            return [data.lots[mid][lot_id] for _, lot_id, mid in index.islice(0, end)]
        own = data.expiring.get(member_id, EMPTY)
        end = own.bisect_right((until, LAST_ID))
        end = end if limit is None else min(end, limit)
        return [data.lots[member_id][lot_id] for _, lot_id in own.islice(0, end)]

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        # A member's entries are kept by seq: a page after a seq (a merge's entry) is a slice.
        entries = self._data.entries.get(member_id, [])
        start = bisect_right(entries, after, key=lambda entry: entry.seq)
        return entries[start:] if limit is None else entries[start : start + limit]

    def last_seq(self) -> int:
        return self._data.ledger[-1].seq if self._data.ledger else 0

    def entries(self, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        # Writers hold the store's lock for the whole unit of work: seq order is commit order.
        found = self._data.ledger[max(after, 0) :]
        return found if limit is None else found[:limit]

    def chain_links(self, *, after: int = 0, limit: int) -> list[Link]:
        ledger, links, texts = self._data.ledger, self._data.links, self._data.kept_texts
        start = bisect_right(ledger, after, key=lambda entry: entry.seq)
        return [Link(e, links.get(e.seq), texts.get(e.seq)) for e in ledger[start : start + limit]]

    def chain_heads(self, *, after: str = "", limit: int) -> list[Head]:
        heads, balances = self._data.heads, self._data.balances
        return [
            Head(mid, *heads.get(mid, (0, GENESIS)), balances[mid])
            for mid in self.member_ids(after=after, limit=limit)
        ]

    def add_hold(self, hold: Hold) -> None:
        self._writable()
        data = self._data
        if hold.id in data.holds:
            raise StorageError("id", f"hold {hold.id!r} already exists")
        if not hold.open:
            raise StorageError("status", "a hold is recorded open")
        data.holds[hold.id] = hold
        data.open_holds.setdefault(hold.member_id, {})[hold.id] = hold
        data.due_holds.add((utc(hold.expires_at), hold.id))

        def undo() -> None:
            del data.holds[hold.id], data.open_holds[hold.member_id][hold.id]
            data.due_holds.remove((utc(hold.expires_at), hold.id))

        self._undo.append(undo)

    def hold(self, hold_id: str) -> Hold | None:
        return self._data.holds.get(hold_id)

    def open_holds(self, member_id: str) -> list[Hold]:
        return sorted(self._data.open_holds.get(member_id, {}).values(), key=lambda hold: hold.id)

    def due_holds(self, until: datetime, *, limit: int | None = None) -> list[Hold]:
        data = self._data
        end = through(data.due_holds, until)
        end = end if limit is None else min(end, limit)
        return [data.holds[hold_id] for _, hold_id in data.due_holds.islice(0, end)]

    def end_hold(self, hold_id: str, status: HoldStatus, captured: int, at: datetime) -> Hold:
        self._writable()
        data = self._data
        old = data.holds.get(hold_id)
        if old is None or not old.open or status is HoldStatus.OPEN:
            raise StorageError("hold_id", f"no open hold {hold_id!r} to end")
        new = old.ended(status, captured, at)
        data.holds[hold_id] = new
        del data.open_holds[old.member_id][hold_id]
        data.due_holds.remove((utc(old.expires_at), hold_id))

        def undo() -> None:
            data.holds[hold_id] = old
            data.open_holds[old.member_id][hold_id] = old
            data.due_holds.add((utc(old.expires_at), hold_id))

        self._undo.append(undo)
        return new

    def referral_code(self, member_id: str) -> str | None:
        return self._data.code_of.get(member_id)

    def code_owner(self, code: str) -> str | None:
        return self._data.codes.get(code)

    def add_referral_code(self, member_id: str, code: str) -> None:
        self._writable()
        data = self._data
        if member_id not in data.members:
            raise StorageError("member_id", f"no member {member_id!r}")
        if code in data.codes or member_id in data.code_of:
            raise StorageError("code", f"code {code!r} or member {member_id!r} already has a code")
        data.codes[code] = member_id
        data.code_of[member_id] = code

        def undo() -> None:
            del data.codes[code], data.code_of[member_id]

        self._undo.append(undo)

    def referral(self, referee: str) -> Referral | None:
        return self._data.referrals.get(referee)

    def referrals_by(self, referrer: str) -> list[Referral]:
        found = [r for r in self._data.referrals.values() if r.referrer == referrer]
        return sorted(found, key=lambda r: r.referee)

    def put_referral(self, referral: Referral) -> None:
        self._writable()
        data = self._data
        for member_id in (referral.referee, referral.referrer):
            if member_id not in data.members:
                raise StorageError("member_id", f"no member {member_id!r}")
        old = data.referrals.get(referral.referee)
        data.referrals[referral.referee] = referral

        def undo() -> None:
            if old is None:
                del data.referrals[referral.referee]
            else:
                data.referrals[referral.referee] = old

        self._undo.append(undo)

    def add_identifier(self, identifier: Identifier) -> None:
        self._writable()
        data = self._data
        key = (identifier.kind, identifier.value)
        if identifier.member_id not in data.members:
            raise StorageError("member_id", f"no member {identifier.member_id!r}")
        if key in data.identifiers:
            raise StorageError("key", f"{identifier.key} is already recorded")
        data.identifiers[key] = identifier
        data.keys_of.setdefault(identifier.member_id, set()).add(key)

        def undo() -> None:
            del data.identifiers[key]
            data.keys_of[identifier.member_id].discard(key)

        self._undo.append(undo)

    def identifier(self, kind: IdentifierKind, value: str) -> Identifier | None:
        return self._data.identifiers.get((kind, value))

    def identifiers(self, member_id: str) -> list[Identifier]:
        data = self._data
        found = [data.identifiers[key] for key in data.keys_of.get(member_id, ())]
        return sorted(found, key=lambda i: (i.since, i.kind.value, i.value))

    def update_identifier(self, identifier: Identifier) -> None:
        self._writable()
        data = self._data
        key = (identifier.kind, identifier.value)
        old = data.identifiers.get(key)
        if old is None:
            raise StorageError("key", f"no {identifier.key} to update")
        if identifier.member_id not in data.members:
            raise StorageError("member_id", f"no member {identifier.member_id!r}")
        data.identifiers[key] = identifier
        data.keys_of[old.member_id].discard(key)
        data.keys_of.setdefault(identifier.member_id, set()).add(key)

        def undo() -> None:
            data.identifiers[key] = old
            data.keys_of[identifier.member_id].discard(key)
            data.keys_of[old.member_id].add(key)

        self._undo.append(undo)

    def period_totals(self, start: datetime, end: datetime, before: datetime) -> PeriodTotals:
        return self._data.periods.totals(start, end, before)

    def add_event(self, event: NewEvent) -> None:
        self._writable()
        data = self._data
        # As the SQL adapters give it back: JSON, read back.
        event = attrs.evolve(event, data=check_json("data", event.data))
        # Writers hold the store's lock for the whole unit of work: seq order is commit order.
        data.events.append(event.recorded(len(data.events) + 1))

        def undo() -> None:
            data.events.pop()

        self._undo.append(undo)

    def events(self, *, after: int = 0, limit: int | None = None) -> list[DomainEvent]:
        found = self._data.events[max(after, 0) :]
        return found if limit is None else found[:limit]

    def tier_state(self, member_id: str) -> TierState | None:
        return self._data.tier_states.get(member_id)

    def put_tier_state(self, state: TierState) -> None:
        self._writable()
        data = self._data
        if state.member_id not in data.members:
            raise StorageError("member_id", f"no member {state.member_id!r}")
        old = data.tier_states.get(state.member_id)
        if old is not None and old.due_at is not None:
            data.due_tiers.remove((utc(old.due_at), old.member_id))
        data.tier_states[state.member_id] = state
        if state.due_at is not None:
            data.due_tiers.add((utc(state.due_at), state.member_id))

        def undo() -> None:
            if state.due_at is not None:
                data.due_tiers.remove((utc(state.due_at), state.member_id))
            if old is None:
                del data.tier_states[state.member_id]
            else:
                data.tier_states[state.member_id] = old
                if old.due_at is not None:
                    data.due_tiers.add((utc(old.due_at), old.member_id))

        self._undo.append(undo)

    def due_tier_states(self, until: datetime, *, limit: int | None = None) -> list[TierState]:
        data = self._data
        end = through(data.due_tiers, until)
        end = end if limit is None else min(end, limit)
        return [data.tier_states[member_id] for _, member_id in data.due_tiers.islice(0, end)]

    def tallies(self, keys: Collection[str], *, for_update: bool = False) -> dict[str, Tally]:
        # The store's lock is held for the whole unit of work: nothing more to lock.
        stored = self._data.tallies
        found: dict[str, Tally] = {}
        for key in keys:
            value = stored.get(key)
            if value is None:
                # A stored key was checked when it was first added: only a new one is checked.
                check_tally_key(key)
                value = ZERO
            found[key] = value
        return found

    def add_tallies(self, deltas: Mapping[str, Tally]) -> None:
        self._writable()
        stored = self._data.tallies
        for key, delta in deltas.items():
            # Keys already stored were checked when they were first added.
            if key not in stored or not isinstance(delta, Tally):
                check_deltas(deltas)
                break
        # Compute every sum first, so a sum that fails leaves nothing half added.
        new: dict[str, Tally] = {}
        old: dict[str, Tally | None] = {}
        for key, delta in deltas.items():
            before = old[key] = stored.get(key)
            new[key] = (ZERO if before is None else before) + delta
        stored.update(new)
        self._undo.append(partial(_restore_tallies, stored, old))  # (no closure's cells: see append)

    def program_versions(self) -> list[StoredProgram]:
        return sorted(self._data.programs.values(), key=program_order)

    def add_program_version(self, program: StoredProgram) -> None:
        self._writable()
        programs = self._data.programs
        if program.version in programs:
            raise StorageError("version", f"program version {program.version!r} already exists")
        programs[program.version] = program
        self._undo.append(lambda: programs.__delitem__(program.version))

    def commit(self) -> None:
        self._undo.clear()

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


def _unappend(
    data: Data,
    posting: Posting,
    entry: Entry,
    head: tuple[int, bytes],
    before: int,
    opened: Lot | None,
    moved: list[tuple[Lot, Lot]],
    redated: list[tuple[Lot, Lot]],
) -> None:
    """Undo :meth:`MemoryUnitOfWork.append` of ``posting`` as ``entry``: the member's chain
    ``head``, balance ``before``, the lot it ``opened``, those it drew on and those it re-dated."""
    mid = entry.member_id
    for old, new in reversed(redated):
        data.relabel(new, old)
    for old, new in reversed(moved):
        data.replace_lot(new, old)
    if opened is not None:
        data.close_lot(opened)
    data.periods.remove_entry(data.entries[mid].pop(), posting.shares)
    data.ledger.pop()
    del data.links[entry.seq]
    data.heads[mid] = head
    data.balances[mid] = before
    data.next_seq -= 1


def _restore_tallies(stored: dict[str, Tally], old: dict[str, Tally | None]) -> None:
    """Undo ``add_tallies``: each key back to its ``old`` value, or gone if it had none."""
    for key, value in old.items():
        if value is None:
            del stored[key]
        else:
            stored[key] = value


class MemoryStore(Closing):
    """A store that lives as long as the object does. ``memory://`` in :func:`~loyalty.open_store`."""

    def __init__(self, *, spill: int = 0) -> None:
        """``spill`` (a replay's): keep operation records in a temporary SQLite file
        (:mod:`.spilled`), written ``spill`` at a time, not in memory; 0 keeps them all here."""
        self._spilled = SpilledOperations(spill) if spill else None
        self._data = Data(self._spilled)
        self._lock = threading.RLock()
        self._closed = False

    def unit_of_work(self, *, readonly: bool = False) -> MemoryUnitOfWork:
        if self._closed:
            raise StorageError(None, "the store is closed")
        return MemoryUnitOfWork(self._data, readonly, self._lock)

    def close(self) -> None:
        self._closed = True
        if self._spilled is not None:
            self._spilled.close()


def open_memory(url: str = "memory://", *, migrate: bool = True) -> MemoryStore:
    """A new, empty store (``migrate`` has nothing to create or upgrade here)."""
    return MemoryStore()
