"""The PostgreSQL adapter's erasure (:class:`loyalty.store.ErasureRole`), a mixin of its unit of work.

A record is packed with its member first only for a purchase, else its request whole at
index 3 (:func:`loyalty.records.pack_operation`): both are searched, scanning ``operations``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from loyalty.erasure import Counterpart, ErasedEvent, ErasedText, Erasure, Record, names
from loyalty.errors import StorageError
from loyalty.ledger import Entry
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent
from loyalty.pseudonyms import SECRET_KEY, made_reasons, secret_from
from loyalty.records import pack_operation, unpack_operation
from loyalty.store.member_tallies import Rows
from loyalty.store.owned_tallies import renamed
from loyalty.store.postgres.driver import pg_json
from loyalty.store.postgres.moves import (
    compare_records,
    compare_rows,
    copy_records,
    copy_rows,
    delete_records,
    delete_rows,
)
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.renaming import drawn_secret, needle, records_mentioning, tallies_renamed
from loyalty.store.rows import entry_from_row, event_from_row

__all__ = ["PostgresErasure"]


class Erasing(Transaction, Protocol):
    """A PostgreSQL unit of work, as its erasure sees it: its parts' view and the member update."""

    _rows: Rows
    _statuses: dict[str, MemberStatus]
    _enrolled: dict[str, tuple[Any, Any]]
    _unenrolled: set[str]
    _balances: dict[str, int]
    _locked: set[str]

    def update_member(self, member: Member) -> None: ...

    def _rename(self, old: str, new: str, sources: Iterable[tuple[str, str]]) -> None: ...


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

    def mentioning(self: Transaction, member_id: str) -> tuple[list[Record], list[DomainEvent]]:
        text = (needle(member_id),)
        events = [event_from_row(row) for row in self._execute(self._q.mentioning_events, text)]
        return records_mentioning(self._execute(self._q.mentioning_records, text), events, member_id)

    def naming(self: Transaction, member_id: str) -> list[Entry]:
        return [
            entry_from_row(row) for row in self._execute(self._q.naming, (list(made_reasons(member_id)),))
        ]

    def erasure_secret(self: Transaction, create: bool = False) -> bytes | None:
        found = self._execute(self._q.erasure_secret, (SECRET_KEY,)).fetchone()
        if found is None and create:
            self._writable()
            # Two first erasures at once: the second waits on the key, then takes the first's.
            points = drawn_secret()
            self._execute(self._q.add_erasure_secret, (SECRET_KEY, points))
            found = self._execute(self._q.erasure_secret, (SECRET_KEY,)).fetchone()
        return None if found is None else secret_from(found[0])

    def erase_member(self: Erasing, erasure: Erasure) -> None:
        self._writable()
        member = erasure.member
        if erasure.counterparts:
            raise StorageError("counterparts", "another member's rows are written by its own part")
        self.update_member(member)  # fails for an unknown member
        self._execute(self._q.erase_keys, (member.id,))
        _erase_texts(self, member.id, erasure.texts)
        for record in erasure.records:
            body = pack_operation(record.kind, record.key, dict(record.request), dict(record.result))
            if self._execute(self._q.erase_record, (body, record.key)).rowcount != 1:
                raise StorageError("key", f"no record {record.key!r}")
        _erase_events(self, member.id, [*erasure.events, *erasure.mentions])
        for record in erasure.renamed:
            body = pack_operation(record.kind, record.key, dict(record.request), dict(record.result))
            if self._execute(self._q.erase_record, (body, record.key)).rowcount != 1:
                raise StorageError("key", f"no record {record.key!r}")
        if erasure.pseudonym is not None and erasure.pseudonym != member.id:
            self._rename(member.id, erasure.pseudonym, erasure.sources)

    def erase_part(self: Erasing, part: Counterpart) -> None:
        self._writable()
        _erase_texts(self, part.member_id, part.texts)
        _erase_events(self, part.member_id, part.events)

    def _rename(self: Erasing, old: str, new: str, sources: Iterable[tuple[str, str]]) -> None:
        """Replace member id ``old`` by ``new`` in every row and tally key that holds it.

        The member's rows move (schema 23): each table whose key holds the member (its rows,
        distributed by it on a cluster: docs/scaling.md) gets a copy of them under ``new``, the
        ids the engine made from ``old`` renamed (``sources``), and then loses the old ones;
        ``members`` first in, last out, as the other rows' keys refer to it. An ``UPDATE`` of the
        member id would be an update of the distribution column, which Citus refuses. A column
        that merely names the member (a card's, a referral code's) is updated in place, and the
        records keyed by a renamed id move too (``operations`` is distributed by its key).
        """
        from psycopg import sql

        q = self._q
        # What this unit of work holds about members goes to the database first, then is forgotten.
        changed = self._rows.changed()
        if changed:
            self._execute(
                q.put_row_tallies, ([row.member_id for row in changed], [row.text() for row in changed])
            )
        self._rows = Rows()
        for held in (self._statuses, self._enrolled, self._balances):
            held.pop(old, None)
        self._unenrolled.discard(old)
        self._locked.add(new)  # a row it inserts is its own until it commits
        schema = sql.Identifier(q.schema)
        tables: dict[str, list[str]] = {}
        keyed: set[tuple[str, str]] = set()  # (table, column) in the table's primary key
        for table, column, in_key in self._execute(q.table_columns, (q.schema,)):
            tables.setdefault(str(table), []).append(str(column))
            if in_key:
                keyed.add((str(table), str(column)))
        made = dict(sources)
        given = {"old": old, "new": new, "sources": list(made), "made": list(made.values())}
        # The member's tables: those whose key holds a member id (distributed by it). Members first.
        moved = sorted(
            ((table, column) for table, column in keyed if column in _MEMBER_COLUMNS),
            key=lambda pair: (pair[0] != "members", pair),
        )
        # The ledger's guard lets an entry be deleted only while this transaction says it moves
        # ``old`` to ``new`` (settings local to it, which the trigger reads) and the entry's text
        # digest is kept (schema 23). No DDL: a lock on the whole table would make two erasures at
        # once deadlock.
        self._execute(q.renaming, (old, new))
        copied = {
            table: self._execute(copy_rows(q.schema, table, tables[table], column), given).rowcount
            for table, column in moved
        }
        records = self._execute(copy_records(q.schema, tables["operations"]), given).rowcount
        # The guard reads no other member's rows (on a cluster, no other shard): whether each copy
        # holds every value of what it replaces is checked here, before anything is deleted.
        compared = [(table, compare_rows(q.schema, table, tables[table], column)) for table, column in moved]
        for table, statement in [*compared, ("operations", compare_records(q.schema))]:
            sides = {bool(copy): (count, digest) for copy, count, digest in self._execute(statement, given)}
            if sides.get(True) != sides.get(False):
                raise StorageError("member_id", f"{table}: the copy of the member's rows differs from them")
        if self._execute(delete_records(q.schema), given).rowcount != records:
            raise StorageError("member_id", f"operations: records of {old!r} changed while they moved")
        for table, columns in sorted(tables.items()):
            # A column naming the member outside a key (a card's, a code's: reference tables) is
            # updated; not the referees' rows naming it as referrer: each referee's part renames its own.
            for column in columns:
                named = column in _MEMBER_COLUMNS and (table, column) not in keyed
                if named and (table, column) != ("referrals", "referrer"):
                    update = sql.SQL("UPDATE {}.{} SET {} = %(new)s WHERE {} = %(old)s").format(
                        schema, sql.Identifier(table), sql.Identifier(column), sql.Identifier(column)
                    )
                    self._execute(update, given)
        # The entries out first (their guard compares the kept texts), members last.
        for table, column in sorted(moved, key=lambda pair: {"entries": 0, "members": 2}.get(pair[0], 1)):
            if self._execute(delete_rows(q.schema, table, column), given).rowcount != copied[table]:
                raise StorageError("member_id", f"{table}: rows of {old!r} changed while they moved")
        self._execute(q.renaming, ("", ""))
        found = self._execute(q.tallies_mentioning, (needle(old),)).fetchall()
        for key, other in tallies_renamed((key for (key,) in found), old, new):
            self._execute(q.rename_tally, (other, key))
        # The member's own tallies are under new already (a member id column), their keys not yet.
        owned = self._execute(q.member_tally_keys, (new,)).fetchall()
        for key, other in renamed((key for (key,) in owned), old, new):
            self._execute(q.rename_member_tally, (other, new, key))


#: The columns that hold a member id.
_MEMBER_COLUMNS = ("member_id", "referee", "referrer")


def _erase_events(uow: Transaction, member_id: str, events: Iterable[ErasedEvent]) -> None:
    for event in events:
        data = pg_json("data", dict(event.data))
        if uow._execute(uow._q.erase_shared_event, (data, event.seq, member_id)).rowcount != 1:
            raise StorageError("seq", f"no event {event.seq} of member {member_id!r}")


def _erase_texts(uow: Transaction, member_id: str, texts: Iterable[ErasedText]) -> None:
    for text in texts:
        # The digest first: the trigger of schema 17 lets the text change only then. An entry
        # erased before (by the other member's erasure) keeps the digest of what it first said.
        uow._execute(uow._q.keep_text, (text.kept, text.seq, member_id))
        changed = uow._execute(uow._q.erase_text, (text.reason, text.actor, text.seq, member_id))
        if changed.rowcount != 1:
            raise StorageError("seq", f"no entry {text.seq} of member {member_id!r}")
