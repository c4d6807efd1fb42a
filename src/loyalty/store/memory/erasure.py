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

from loyalty.erasure import Erasure, Record, names
from loyalty.errors import StorageError
from loyalty.outbox import DomainEvent, EventKind
from loyalty.pseudonyms import SECRET_BYTES, SECRET_KEY, mentions, renamed_tally, secret_from, secret_points
from loyalty.store import check_json
from loyalty.store.memory.data import Data, Kept, pack, unpack
from loyalty.tallies import Tally

__all__ = ["MemoryErasure"]


class Transaction(Protocol):
    """The in-memory unit of work, as its erasure sees it: the data, the undo log and the guard."""

    _data: Data
    _undo: list[Callable[[], None]]

    def _writable(self) -> None:
        """Refuse a write in a read-only unit of work (:class:`~loyalty.errors.StorageError`)."""
        ...


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
        # Checked first: nothing is changed unless all of it can be.
        owned = [(member.id, text) for text in erasure.texts]
        owned += [(other.member_id, text) for other in erasure.counterparts for text in other.texts]
        for owner, text in owned:
            if not 0 < text.seq <= len(data.ledger) or data.ledger[text.seq - 1].member_id != owner:
                raise StorageError("seq", f"no entry {text.seq} of member {owner!r}")
        for record in erasure.records:
            if record.key not in data.operations:
                raise StorageError("key", f"no record {record.key!r}")
        for event in erasure.events:
            if not 0 < event.seq <= len(data.events) or not _about(data.events[event.seq - 1], member.id):
                raise StorageError("seq", f"no event {event.seq} of member {member.id!r}")
        for record in erasure.renamed:
            if record.key not in data.operations:
                raise StorageError("key", f"no record {record.key!r}")
        for event in erasure.mentions:
            if not 0 < event.seq <= len(data.events):
                raise StorageError("seq", f"no event {event.seq}")
        shared = [event for other in erasure.counterparts for event in other.events]
        for other in erasure.counterparts:
            for event in other.events:
                if (
                    not 0 < event.seq <= len(data.events)
                    or data.events[event.seq - 1].member_id != other.member_id
                ):
                    raise StorageError("seq", f"no event {event.seq} of member {other.member_id!r}")
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
        for owner, text in owned:
            new = attrs.evolve(data.ledger[text.seq - 1], reason=text.reason, actor=text.actor)
            data.ledger[text.seq - 1] = new
            theirs = data.entries[owner]
            theirs[bisect_left(theirs, text.seq, key=lambda e: e.seq)] = new
            # An entry erased twice keeps the digest of what it first said.
            data.kept_texts.setdefault(text.seq, text.kept)
        for record in [*erasure.records, *erasure.renamed]:
            kept = data.operations[record.key]
            body = pack(dict(record.request), dict(record.result))
            data.operations[record.key] = Kept(kept.kind, body, kept.recorded_at, kept.facts)
        for event in [*erasure.events, *shared, *erasure.mentions]:
            found = data.events[event.seq - 1]
            data.events[event.seq - 1] = attrs.evolve(found, data=check_json("data", event.data))
        if erasure.pseudonym is not None and erasure.pseudonym != member.id:
            _rename(data, member.id, erasure.pseudonym)

        def undo() -> None:
            vars(data).clear()
            vars(data).update(saved)

        self._undo.append(undo)


# What holds no member id: the programs, the checked rule lists, the tallies (renamed by key),
# the kept texts and links (by seq), the keys (the member's are deleted) and the records (the
# erasure gives their new text).
_NOT_NAMING = frozenset(
    {"programs", "checked_rules", "tallies", "kept_texts", "links", "identifiers", "keys_of", "operations"}
)


def _rename(data: Data, old: str, new: str) -> None:
    """Replace member id ``old`` by ``new`` in every structure ``data`` keeps."""
    for name, value in vars(data).items():
        if name not in _NOT_NAMING:
            setattr(data, name, _swapped(value, old, new))
    for key in [key for key in data.tallies if key.endswith(old)]:
        other = renamed_tally(key, old, new)
        if other is not None:
            data.tallies[other] = data.tallies.pop(key)
    for key, kept in data.operations.items():
        if kept.facts is not None:
            data.operations[key] = kept._replace(facts=_swapped(kept.facts, old, new))


def _copied(value: Any) -> Any:
    """A copy of ``value``'s containers, to any depth, sharing what they hold (frozen values)."""
    if isinstance(value, dict):
        return type(value)((key, _copied(item)) for key, item in value.items())
    if isinstance(value, SortedKeyList):
        return SortedKeyList(value, key=value.key)
    if isinstance(value, list | set | SortedList):
        return type(value)(_copied(item) for item in value)
    if hasattr(value, "__dict__") and not attrs.has(type(value)) and not isinstance(value, type | Enum):
        holder = copy.copy(value)
        vars(holder).update({name: _copied(item) for name, item in vars(value).items()})
        return holder
    return value


def _swapped(value: Any, old: str, new: str) -> Any:
    """``value`` with every string equal to ``old`` replaced by ``new``, at any depth, through
    the containers and attrs classes the in-memory store keeps (the same object where none is)."""
    if isinstance(value, str):
        return new if value == old else value
    if attrs.has(type(value)):
        changes = {}
        for field in attrs.fields(type(value)):
            item = getattr(value, field.name)
            other = _swapped(item, old, new)
            if other is not item:
                changes[field.alias or field.name] = other
        return attrs.evolve(value, **changes) if changes else value
    if isinstance(value, dict):
        pairs = [(_swapped(k, old, new), _swapped(v, old, new)) for k, v in value.items()]
        if all(k is a and v is b for (k, v), (a, b) in zip(pairs, value.items(), strict=True)):
            return value
        return type(value)(pairs)
    if isinstance(value, list | tuple | set | frozenset | SortedList):
        items = [_swapped(item, old, new) for item in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        if isinstance(value, SortedKeyList):
            return SortedKeyList(items, key=value.key)
        if isinstance(value, tuple) and hasattr(value, "_fields"):
            return type(value)._make(items)  # type: ignore[attr-defined]
        return type(value)(items)
    if hasattr(value, "__dict__") and not isinstance(value, type | Enum):
        # A plain holder of indexes (the vouchers'): its attributes, in place.
        for name, item in vars(value).items():
            setattr(value, name, _swapped(item, old, new))
    return value
