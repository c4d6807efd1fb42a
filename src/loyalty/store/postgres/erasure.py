"""The PostgreSQL adapter's erasure (:class:`loyalty.store.ErasureRole`), a mixin of its unit of work.

A record is packed with its member first only for a purchase, else its request whole at
index 3 (:func:`loyalty.records.pack_operation`): both are searched, scanning ``operations``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from loyalty.erasure import ErasedText, Erasure, Record, names
from loyalty.errors import StorageError
from loyalty.members import Member
from loyalty.outbox import DomainEvent
from loyalty.records import pack_operation, unpack_operation
from loyalty.store.postgres.driver import pg_json
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import event_from_row

__all__ = ["PostgresErasure"]


class Erasing(Transaction, Protocol):
    """A PostgreSQL unit of work, as its erasure sees it: its parts' view and the member update."""

    def update_member(self, member: Member) -> None: ...


class PostgresErasure:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` does to erase a member."""

    def member_records(self: Transaction, member_id: str) -> list[Record]:
        found = []
        for key, kind, body in self._execute(self._q.member_records, {"m": member_id}):
            request, result = unpack_operation(key, body)
            if names(request, member_id):
                found.append(Record(key, kind, request, result))
        return sorted(found, key=lambda record: record.key)

    def member_events(self: Transaction, member_id: str) -> list[DomainEvent]:
        return [event_from_row(row) for row in self._execute(self._q.member_events, {"m": member_id})]

    def erase_member(self: Erasing, erasure: Erasure) -> None:
        self._writable()
        member = erasure.member
        self.update_member(member)  # fails for an unknown member
        self._execute(self._q.erase_keys, (member.id,))
        _erase_texts(self, member.id, erasure.texts)
        for record in erasure.records:
            body = pack_operation(record.kind, record.key, dict(record.request), dict(record.result))
            if self._execute(self._q.erase_record, (body, record.key)).rowcount != 1:
                raise StorageError("key", f"no record {record.key!r}")
        for event in erasure.events:
            data = pg_json("data", dict(event.data))
            found = self._execute(self._q.erase_event, {"data": data, "seq": event.seq, "m": member.id})
            if found.rowcount != 1:
                raise StorageError("seq", f"no event {event.seq} of member {member.id!r}")
        for other in erasure.counterparts:
            _erase_texts(self, other.member_id, other.texts)
            for event in other.events:
                data = pg_json("data", dict(event.data))
                found = self._execute(self._q.erase_shared_event, (data, event.seq, other.member_id))
                if found.rowcount != 1:
                    raise StorageError("seq", f"no event {event.seq} of member {other.member_id!r}")


def _erase_texts(uow: Transaction, member_id: str, texts: Iterable[ErasedText]) -> None:
    for text in texts:
        # The digest first: the trigger of schema 17 lets the text change only then. An entry
        # erased before (by the other member's erasure) keeps the digest of what it first said.
        uow._execute(uow._q.keep_text, (text.kept, text.seq, member_id))
        changed = uow._execute(uow._q.erase_text, (text.reason, text.actor, text.seq, member_id))
        if changed.rowcount != 1:
            raise StorageError("seq", f"no entry {text.seq} of member {member_id!r}")
