"""The SQLite adapter's erasure (:class:`loyalty.store.ErasureRole`), a mixin of its unit of work.

A record is kept in its entry (a purchase's, schema 11) or in ``operations``; a record of the
latter is packed with its member first only for a purchase, else its request whole at ``$[3]``
(:func:`loyalty.records.pack_operation`): both are searched. Rare, so it scans ``operations``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Protocol

from loyalty.erasure import MEMBER_FIELDS, ErasedText, Erasure, Record, names
from loyalty.errors import StorageError
from loyalty.members import Member
from loyalty.outbox import DomainEvent
from loyalty.records import pack_operation, unpack_operation
from loyalty.store.rows import EVENT_COLUMNS, dump_json, event_from_row

__all__ = ["SQLiteErasure"]

_NAMED = " OR ".join(f"json_extract(body, '$[3].{field}') = :m" for field in MEMBER_FIELDS)
# (S608: the fields are our constants; the member is a parameter.)
_RECORDS = (
    "SELECT source_id, 'purchase', record FROM entries WHERE member_id = :m AND record IS NOT NULL"  # noqa: S608
    f" UNION ALL SELECT key, kind, body FROM operations WHERE json_extract(body, '$[0]') = :m OR {_NAMED}"
)
# The member's events, and the merges into it (whose data lists the keys they carried to it).
_ABOUT = "(member_id = :m OR kind = 'member_merged' AND json_extract(data, '$.survivor') = :m)"
_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events WHERE {_ABOUT} ORDER BY seq"  # noqa: S608


class Transaction(Protocol):
    """An SQLite unit of work, as its erasure sees it."""

    _conn: sqlite3.Connection

    def _writable(self) -> None: ...

    def _flush(self, record: str | None = None) -> None: ...

    def update_member(self, member: Member) -> None: ...

    def _erase(self, erasure: Erasure) -> None: ...


class SQLiteErasure:
    """What :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` does to erase a member."""

    def member_records(self: Transaction, member_id: str) -> list[Record]:
        self._flush()
        found = []
        for key, kind, body in self._conn.execute(_RECORDS, {"m": member_id}):
            request, result = unpack_operation(key, body)
            if names(request, member_id):
                found.append(Record(key, kind, request, result))
        return sorted(found, key=lambda record: record.key)

    def member_events(self: Transaction, member_id: str) -> list[DomainEvent]:
        return [event_from_row(row) for row in self._conn.execute(_EVENTS, {"m": member_id})]

    def erase_member(self: Transaction, erasure: Erasure) -> None:
        self._writable()
        self._flush()
        conn = self._conn
        # The cells the erasure frees are overwritten with zeros, not left in the pages' free
        # space (what a build's default may not do); cells freed before need a VACUUM.
        secure = conn.execute("PRAGMA secure_delete").fetchone()[0]
        conn.execute("PRAGMA secure_delete = 1")
        try:
            self._erase(erasure)
        finally:
            conn.execute(f"PRAGMA secure_delete = {int(secure)}")

    def _erase(self: Transaction, erasure: Erasure) -> None:
        conn = self._conn
        member = erasure.member
        self.update_member(member)  # fails for an unknown member
        conn.execute("DELETE FROM identifiers WHERE member_id = ?", (member.id,))
        _erase_texts(conn, member.id, erasure.texts)
        for record in erasure.records:
            body = pack_operation(record.kind, record.key, dict(record.request), dict(record.result))
            changed = conn.execute(
                "UPDATE entries SET record = ? WHERE source_id = ? AND record IS NOT NULL", (body, record.key)
            )
            if changed.rowcount == 0:
                changed = conn.execute("UPDATE operations SET body = ? WHERE key = ?", (body, record.key))
            if changed.rowcount != 1:
                raise StorageError("key", f"no record {record.key!r}")
        for event in erasure.events:
            changed = conn.execute(
                f"UPDATE events SET data = :data WHERE seq = :seq AND {_ABOUT}",  # noqa: S608
                {"data": dump_json(dict(event.data)), "seq": event.seq, "m": member.id},
            )
            if changed.rowcount != 1:
                raise StorageError("seq", f"no event {event.seq} of member {member.id!r}")
        for other in erasure.counterparts:
            _erase_texts(conn, other.member_id, other.texts)
            for event in other.events:
                changed = conn.execute(
                    "UPDATE events SET data = ? WHERE seq = ? AND member_id = ?",
                    (dump_json(dict(event.data)), event.seq, other.member_id),
                )
                if changed.rowcount != 1:
                    raise StorageError("seq", f"no event {event.seq} of member {other.member_id!r}")


def _erase_texts(conn: sqlite3.Connection, member_id: str, texts: Iterable[ErasedText]) -> None:
    for text in texts:
        # The digest first: the trigger of schema 17 lets the text change only then. An entry
        # erased before (by the other member's erasure) keeps the digest of what it first said.
        conn.execute(
            "INSERT INTO kept_texts (seq, digest) SELECT seq, ? FROM entries"
            " WHERE seq = ? AND member_id = ? ON CONFLICT (seq) DO NOTHING",
            (text.kept, text.seq, member_id),
        )
        changed = conn.execute(
            "UPDATE entries SET reason = ?, actor = ? WHERE seq = ? AND member_id = ?",
            (text.reason, text.actor, text.seq, member_id),
        )
        if changed.rowcount != 1:
            raise StorageError("seq", f"no entry {text.seq} of member {member_id!r}")
