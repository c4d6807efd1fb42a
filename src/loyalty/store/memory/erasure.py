"""The in-memory adapter's erasure (:class:`loyalty.store.ErasureRole`), a mixin of its unit of work."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Protocol

import attrs

from loyalty.erasure import Erasure, Record, names
from loyalty.errors import StorageError
from loyalty.outbox import DomainEvent, EventKind
from loyalty.store import check_json
from loyalty.store.memory.data import Data, Kept, pack, unpack

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
        shared = [event for other in erasure.counterparts for event in other.events]
        for other in erasure.counterparts:
            for event in other.events:
                if (
                    not 0 < event.seq <= len(data.events)
                    or data.events[event.seq - 1].member_id != other.member_id
                ):
                    raise StorageError("seq", f"no event {event.seq} of member {other.member_id!r}")
        data.members[member.id] = attrs.evolve(
            old,
            birthday=member.birthday,
            attributes=member.attributes,
            birthday_changed_at=member.birthday_changed_at,
            status=member.status,
        )
        keys = data.keys_of.pop(member.id, set())
        gone = {key: data.identifiers.pop(key) for key in keys}
        entries = {}
        texts = {}
        for owner, text in owned:
            entry = data.ledger[text.seq - 1]
            entries[text.seq] = entry
            texts[text.seq] = data.kept_texts.get(text.seq)
            new = attrs.evolve(entry, reason=text.reason, actor=text.actor)
            data.ledger[text.seq - 1] = new
            theirs = data.entries[owner]
            theirs[bisect_left(theirs, text.seq, key=lambda e: e.seq)] = new
            # An entry erased twice keeps the digest of what it first said.
            data.kept_texts.setdefault(text.seq, text.kept)
        records = {}
        for record in erasure.records:
            kept = data.operations[record.key]
            records[record.key] = kept
            body = pack(dict(record.request), dict(record.result))
            data.operations[record.key] = Kept(kept.kind, body, kept.recorded_at, kept.facts)
        events = {}
        for event in [*erasure.events, *shared]:
            found = data.events[event.seq - 1]
            events[event.seq] = found
            data.events[event.seq - 1] = attrs.evolve(found, data=check_json("data", event.data))

        def undo() -> None:
            data.members[member.id] = old
            data.keys_of[member.id] = keys
            data.identifiers.update(gone)
            for seq, entry in entries.items():
                data.ledger[seq - 1] = entry
                theirs = data.entries[entry.member_id]
                theirs[bisect_left(theirs, seq, key=lambda e: e.seq)] = entry
                if texts[seq] is None:
                    del data.kept_texts[seq]
            data.operations.update(records)
            for seq, found in events.items():
                data.events[seq - 1] = found

        self._undo.append(undo)
