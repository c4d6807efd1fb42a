"""The in-memory adapter's erasure (:class:`loyalty.store.ErasureRole`), a mixin of its unit of work."""

from __future__ import annotations

import copy
import secrets
from bisect import bisect_left
from collections.abc import Callable
from enum import Enum
from typing import Any, Protocol

import attrs
from sortedcontainers import SortedKeyList, SortedList

from loyalty.erasure import Counterpart, ErasedEvent, ErasedText, Erasure, Record, names
from loyalty.errors import StorageError
from loyalty.ledger import Entry
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent, EventKind
from loyalty.pseudonyms import (
    SECRET_BYTES,
    SECRET_KEY,
    made_reasons,
    mentions,
    renamed_tally,
    secret_from,
    secret_points,
)
from loyalty.store import check_json
from loyalty.store.memory.data import Data, Kept, pack, unpack
from loyalty.store.memory.spilled import SpilledOperations
from loyalty.tallies import Tally

__all__ = ["MemoryErasure"]


class Transaction(Protocol):
    """The in-memory unit of work, as its erasure sees it: the data, the undo log and the guard."""

    _data: Data
    _undo: list[Callable[[], None]]

    def _writable(self) -> None:
        """Refuse a write in a read-only unit of work (:class:`~loyalty.errors.StorageError`)."""
        ...

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None: ...

    def member_status(self, member_id: str) -> MemberStatus | None: ...


def _about(event: DomainEvent, member_id: str) -> bool:
    """Whether the event is the member's, or a merge into it."""
    if event.member_id == member_id:
        return True
    return event.kind is EventKind.MEMBER_MERGED and event.data.get("survivor") == member_id


class MemoryErasure:
    """What :class:`~loyalty.store.memory.MemoryUnitOfWork` does to erase a member; its methods
    take ``self: Transaction``, so mypy checks the unit of work has what they use."""

    def member_records(self: Transaction, member_id: str) -> list[Record]:
        found = []
        for key, kept in sorted(self._data.operations.items()):
            request, result = unpack(kept.body)
            if names(request, member_id):
                found.append(Record(key, kept.kind, request, result))
        return found

    def member_events(self: Transaction, member_id: str) -> list[DomainEvent]:
        return [event for event in self._data.events if _about(event, member_id)]

    def mentioning(self: Transaction, member_id: str) -> tuple[list[Record], list[DomainEvent]]:
        records = []
        for key, kept in sorted(self._data.operations.items()):
            request, result = unpack(kept.body)
            if mentions(request, member_id) or mentions(result, member_id):
                records.append(Record(key, kept.kind, request, result))
        return records, [event for event in self._data.events if mentions(event.data, member_id)]

    def naming(self: Transaction, member_id: str) -> list[Entry]:
        reasons = set(made_reasons(member_id))
        return [entry for entry in self._data.ledger if entry.reason in reasons]

    def keep_named(self: Transaction, member_id: str) -> bool:
        # Writers take turns here (one unit of work writes at a time): no erasure runs meanwhile.
        return self.member_status(member_id) is not None

    def lock_erasing(self: Transaction, member_id: str) -> int | None:
        return self.balance(member_id, for_update=True)

    def erasure_secret(self: Transaction, create: bool = False) -> bytes | None:
        tallies = self._data.tallies
        kept = tallies.get(SECRET_KEY)
        if kept is not None:
            return secret_from(kept.points)
        if not create:
            return None
        self._writable()
        secret = secrets.token_bytes(SECRET_BYTES)
        tallies[SECRET_KEY] = Tally(0, secret_points(secret))
        self._undo.append(lambda: tallies.__delitem__(SECRET_KEY))
        return secret

    def erase_member(self: Transaction, erasure: Erasure) -> None:
        self._writable()
        data = self._data
        member = erasure.member
        old = data.members.get(member.id)
        if old is None:
            raise StorageError("member_id", f"no member {member.id!r} to erase")
        if erasure.counterparts:
            raise StorageError("counterparts", "another member's rows are written by its own part")
        # Checked first: nothing is changed unless all of it can be.
        owned = [(member.id, text) for text in erasure.texts]
        _check_texts(data, owned)
        for record in [*erasure.records, *erasure.renamed]:
            if record.key not in data.operations:
                raise StorageError("key", f"no record {record.key!r}")
        _check_events(data, member.id, [*erasure.events, *erasure.mentions])
        # Rare, and it may touch every structure (a rename): undone by restoring a copy.
        saved = {name: _copied(value) for name, value in vars(data).items()}
        data.members[member.id] = attrs.evolve(
            old,
            birthday=member.birthday,
            attributes=member.attributes,
            birthday_changed_at=member.birthday_changed_at,
            status=member.status,
        )
        for key in data.keys_of.pop(member.id, set()):
            del data.identifiers[key]
        _write_texts(data, owned)
        for record in [*erasure.records, *erasure.renamed]:
            kept = data.operations[record.key]
            body = pack(dict(record.request), dict(record.result))
            data.operations[record.key] = Kept(kept.kind, body, kept.recorded_at, kept.facts)
        _write_events(data, [*erasure.events, *erasure.mentions])
        if erasure.pseudonym is not None and erasure.pseudonym != member.id:
            _rename(data, member.id, erasure.pseudonym, dict(erasure.sources))

        def undo() -> None:
            vars(data).clear()
            vars(data).update(saved)

        self._undo.append(undo)

    def erase_part(self: Transaction, part: Counterpart) -> None:
        self._writable()
        data = self._data
        owned = [(part.member_id, text) for text in part.texts]
        _check_texts(data, owned)
        _check_events(data, part.member_id, part.events)
        ledger, entries, events = list(data.ledger), dict(data.entries), list(data.events)
        kept = dict(data.kept_texts)
        _write_texts(data, owned)
        _write_events(data, part.events)

        def undo() -> None:
            data.ledger, data.entries, data.events, data.kept_texts = ledger, entries, events, kept

        self._undo.append(undo)


def _check_texts(data: Data, owned: list[tuple[str, ErasedText]]) -> None:
    for owner, text in owned:
        if not 0 < text.seq <= len(data.ledger) or data.ledger[text.seq - 1].member_id != owner:
            raise StorageError("seq", f"no entry {text.seq} of member {owner!r}")


def _check_events(data: Data, member_id: str, events: list[ErasedEvent] | tuple[ErasedEvent, ...]) -> None:
    for event in events:
        if not 0 < event.seq <= len(data.events) or data.events[event.seq - 1].member_id != member_id:
            raise StorageError("seq", f"no event {event.seq} of member {member_id!r}")


def _write_texts(data: Data, owned: list[tuple[str, ErasedText]]) -> None:
    for owner, text in owned:
        new = attrs.evolve(data.ledger[text.seq - 1], reason=text.reason, actor=text.actor)
        data.ledger[text.seq - 1] = new
        theirs = data.entries[owner] = list(data.entries[owner])
        theirs[bisect_left(theirs, text.seq, key=lambda e: e.seq)] = new
        # An entry erased twice keeps the digest of what it first said.
        data.kept_texts.setdefault(text.seq, text.kept)


def _write_events(data: Data, events: list[ErasedEvent] | tuple[ErasedEvent, ...]) -> None:
    for event in events:
        found = data.events[event.seq - 1]
        data.events[event.seq - 1] = attrs.evolve(found, data=check_json("data", event.data))


def _rename(data: Data, old: str, new: str, sources: dict[str, str]) -> None:
    """Replace member id ``old`` by ``new`` wherever ``data`` keeps it as a member id, structure
    by structure and field by field (a SKU, code or label equal to ``old`` stays), and the ids
    the engine made from it by their new form (``sources``: of ``old``'s entries, events and
    records)."""
    ours = _Renamer(old, new)
    for name in _KEYED_BY_MEMBER:
        setattr(data, name, ours.keyed(getattr(data, name)))
    data.ledger = [ours.entry(entry, sources) for entry in data.ledger]
    data.entries = {
        ours.id(member): [data.ledger[entry.seq - 1] for entry in kept]
        for member, kept in data.entries.items()
    }
    data.lots = {ours.id(m): {i: ours.value(lot) for i, lot in lots.items()} for m, lots in data.lots.items()}
    data.closed = {
        ours.id(m): {i: ours.value(lot) for i, lot in lots.items()} for m, lots in data.closed.items()
    }
    data.due = SortedList((at, lot, ours.id(member)) for at, lot, member in data.due)
    data.holds = {hold_id: ours.value(hold) for hold_id, hold in data.holds.items()}
    data.open_holds = {
        ours.id(m): {hold_id: data.holds[hold_id] for hold_id in held} for m, held in data.open_holds.items()
    }
    vouchers = data.vouchers
    vouchers.by_code = {code: ours.value(voucher) for code, voucher in vouchers.by_code.items()}
    vouchers.by_member = ours.keyed(vouchers.by_member)
    data.offline_uses = {
        (allowance, ours.id(member)): ours.value(use)
        for (allowance, member), use in data.offline_uses.items()
    }
    data.events = [
        attrs.evolve(ours.value(event), source_id=sources.get(event.source_id, event.source_id))
        if event.member_id == old
        else event
        for event in data.events
    ]
    data.codes = {code: ours.id(member) for code, member in data.codes.items()}
    # Its own referral as referee; another member's naming it as referrer is that referee's row,
    # which the referee's part of the erasure renames (loyalty.service.erasure_parts).
    data.referrals = {
        ours.id(referee): attrs.evolve(referral, referee=ours.id(referral.referee))
        for referee, referral in data.referrals.items()
    }
    data.due_tiers = SortedList((at, ours.id(member)) for at, member in data.due_tiers)
    data.member_ids = SortedList(ours.id(member) for member in data.member_ids)
    data.periods.rename_member(old, new)
    for key in [key for key in data.tallies if key.endswith(old)]:
        other = renamed_tally(key, old, new)
        if other is not None:
            data.tallies[other] = data.tallies.pop(key)
    for key in [key for key in data.operations if key in sources]:
        data.operations[sources[key]] = data.operations.pop(key)
    for key, kept in data.operations.items():
        if kept.facts is not None and kept.facts[2] == old:
            data.operations[key] = kept._replace(facts=(*kept.facts[:2], new, *kept.facts[3:]))
    data.index_parts()


# The structures of Data keyed by member id whose values hold no member id, or one in a field
# _Renamer.value renames (a member's row, balance, chain head, lot indexes, tier, keys, code).
_KEYED_BY_MEMBER = (
    "members",
    "balances",
    "heads",
    "vesting",
    "expiring",
    "undated",
    "code_of",
    "tier_states",
)


@attrs.frozen
class _Renamer:
    """Renames member id ``old`` to ``new`` in one field at a time."""

    old: str
    new: str

    def id(self, member_id: str) -> str:
        return self.new if member_id == self.old else member_id

    def keyed(self, by_member: dict[str, Any]) -> dict[str, Any]:
        return {self.id(member): self.value(value) for member, value in by_member.items()}

    def value(self, value: Any) -> Any:
        """An attrs value with each of its member-id fields (:data:`_ID_FIELDS`) renamed; any
        other value as it is."""
        if not attrs.has(type(value)):
            return value
        changes = {
            name: self.new
            for name in _ID_FIELDS.get(type(value), _MEMBER_FIELDS)
            if getattr(value, name, None) == self.old
        }
        return attrs.evolve(value, **changes) if changes else value

    def entry(self, entry: Entry, sources: dict[str, str]) -> Entry:
        if entry.member_id != self.old:
            return entry
        return attrs.evolve(
            entry, member_id=self.new, source_id=sources.get(entry.source_id, entry.source_id)
        )


# The fields of the store's values that hold a member id: a member's own ``id``, and elsewhere
# the fields so named (a lot's, hold's, voucher's, tier's, event's, offline use's owner; a
# referral's two sides).
_MEMBER_FIELDS = ("member_id", "referee", "referrer")
_ID_FIELDS: dict[type, tuple[str, ...]] = {Member: ("id",)}


def _copied(value: Any) -> Any:
    """A copy of ``value``'s containers, to any depth, sharing what they hold (frozen values)."""
    if isinstance(value, dict):
        return type(value)((key, _copied(item)) for key, item in value.items())
    if isinstance(value, SpilledOperations):
        # Restored as a dict: what an erasure undoes is rare, and must be exact.
        return dict(value.items())
    if isinstance(value, SortedKeyList):
        return SortedKeyList(value, key=value.key)
    if isinstance(value, list | set | SortedList):
        return type(value)(_copied(item) for item in value)
    if hasattr(value, "__dict__") and not attrs.has(type(value)) and not isinstance(value, type | Enum):
        holder = copy.copy(value)
        vars(holder).update({name: _copied(item) for name, item in vars(value).items()})
        return holder
    return value
