"""The SQLite adapter's erasure (:class:`loyalty.store.ErasureRole`), a mixin of its unit of work.

A record is kept in its entry (a purchase's, schema 11) or in ``operations``; a record of the
latter is packed with its member first only for a purchase, else its request whole at ``$[3]``
(:func:`loyalty.records.pack_operation`): both are searched. Rare, so it scans ``operations``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from loyalty.erasure import MEMBER_FIELDS, Counterpart, ErasedEvent, ErasedText, Erasure, Record, names
from loyalty.errors import StorageError
from loyalty.ledger import Entry
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent
from loyalty.pseudonyms import SECRET_KEY, made_reasons, secret_from
from loyalty.records import EntryFacts, pack_operation, unpack_operation
from loyalty.store.member_tallies import Rows
from loyalty.store.owned_tallies import renamed
from loyalty.store.renaming import drawn_secret, needle, records_mentioning, tallies_renamed
from loyalty.store.rows import ENTRY_COLUMNS, EVENT_COLUMNS, dump_json, entry_from_row, event_from_row
from loyalty.store.sqlite.entries import FACTS, facts
from loyalty.store.sqlite.statements import PUT_ROW_TALLIES
from loyalty.store.sqlite.transaction import Connection
from loyalty.tallies import Tally

__all__ = ["SQLiteErasure"]

_NAMED = " OR ".join(f"json_extract(body, '$[3].{field}') = :m" for field in MEMBER_FIELDS)
# (S608: the fields are our constants; the member is a parameter.)
# A record in its entry comes with what the entry says of it (FACTS), which one of layout 3 leaves out.
_NO_FACTS = ", NULL" * len(FACTS.split(","))
_RECORDS = (
    f"SELECT source_id, 'purchase', record, {FACTS} FROM entries WHERE member_id = :m AND record IS NOT NULL"  # noqa: S608
    f" UNION ALL SELECT key, kind, body{_NO_FACTS} FROM operations"
    f" WHERE json_extract(body, '$[0]') = :m OR {_NAMED}"
)
# The member's events, and the merges into it (whose data lists the keys they carried to it).
_ABOUT = "(member_id = :m OR kind = 'member_merged' AND json_extract(data, '$.survivor') = :m)"
_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events WHERE {_ABOUT} ORDER BY seq"  # noqa: S608
# What holds a member id as JSON text (the id's JSON form, without its quotes: a tally key too).
_MENTIONING_RECORDS = (
    f"SELECT source_id, 'purchase', record, {FACTS} FROM entries"  # noqa: S608
    " WHERE record IS NOT NULL AND instr(record, :m) > 0"
    f" UNION ALL SELECT key, kind, body{_NO_FACTS} FROM operations WHERE instr(body, :m) > 0"
)
_MENTIONING_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events WHERE instr(data, :m) > 0 ORDER BY seq"  # noqa: S608
# The entries whose reason is one the engine wrote a member id into (a scan: an erasure is rare).
_NAMING = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE reason IN ({{}}) ORDER BY seq"  # noqa: S608
# The columns that hold a member id, in any table (those a later schema adds too).
_MEMBER_COLUMNS = frozenset({"member_id", "referee", "referrer"})


class Renaming:
    """Which member an erasure in one connection renames, and into what (``pair``), for the
    entries' guard of schema 19 (the SQL function ``loyalty_erasing``), which lets an entry's
    member and source id change only then."""

    def __init__(self) -> None:
        self.pair: tuple[str, str] | None = None

    def erasing(self, old: str, new: str) -> int:
        """``loyalty_erasing(old, new)``: 1 while an erasure renames member ``old`` to ``new``."""
        return int(self.pair == (old, new))


class ErasingConnection(Connection):
    """The adapter's connection, with its :class:`Renaming` (kept apart from the connection,
    which holds the SQL function: no reference cycle)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renaming = Renaming()


class Transaction(Protocol):
    """An SQLite unit of work, as its erasure sees it."""

    _conn: sqlite3.Connection
    _seen: dict[str, Tally]
    _rows: Rows
    _statuses: dict[str, MemberStatus]
    _enrolled: dict[str, tuple[Any, Any]]

    def _writable(self) -> None: ...

    def _flush(self, record: str | None = None) -> None: ...

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None: ...

    def member_status(self, member_id: str) -> MemberStatus | None: ...

    def update_member(self, member: Member) -> None: ...

    def _erase(self, erasure: Erasure) -> None: ...

    def _rename(self, old: str, new: str, sources: Iterable[tuple[str, str]]) -> None: ...


class SQLiteErasure:
    """What :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` does to erase a member."""

    def member_records(self: Transaction, member_id: str) -> list[Record]:
        self._flush()
        found = []
        for key, kind, body, *row in self._conn.execute(_RECORDS, {"m": member_id}):
            request, result = unpack_operation(key, body, _facts(row))
            if names(request, member_id):
                found.append(Record(key, kind, request, result))
        return sorted(found, key=lambda record: record.key)

    def member_events(self: Transaction, member_id: str) -> list[DomainEvent]:
        return [event_from_row(row) for row in self._conn.execute(_EVENTS, {"m": member_id})]

    def mentioning(self: Transaction, member_id: str) -> tuple[list[Record], list[DomainEvent]]:
        self._flush()
        text = {"m": needle(member_id)}
        events = [event_from_row(row) for row in self._conn.execute(_MENTIONING_EVENTS, text)]
        rows = self._conn.execute(_MENTIONING_RECORDS, text)
        return records_mentioning(
            ((key, kind, body, _facts(row)) for key, kind, body, *row in rows), events, member_id
        )

    def naming(self: Transaction, member_id: str) -> list[Entry]:
        self._flush()
        reasons = made_reasons(member_id)
        found = self._conn.execute(_NAMING.format(", ".join("?" for _ in reasons)), reasons)
        return [entry_from_row(row) for row in found]

    def keep_named(self: Transaction, member_id: str) -> bool:
        # Writers take turns here (one unit of work writes at a time): no erasure runs meanwhile.
        return self.member_status(member_id) is not None

    def lock_erasing(self: Transaction, member_id: str) -> int | None:
        return self.balance(member_id, for_update=True)

    def erasure_secret(self: Transaction, create: bool = False) -> bytes | None:
        found = self._conn.execute("SELECT points FROM tallies WHERE key = ?", (SECRET_KEY,)).fetchone()
        if found is not None:
            return secret_from(found[0])
        if not create:
            return None
        self._writable()
        points = drawn_secret()
        self._conn.execute(
            "INSERT INTO tallies (key, count, points) VALUES (?, 0, ?)", (SECRET_KEY, str(points))
        )
        return secret_from(points)

    def erase_member(self: Transaction, erasure: Erasure) -> None:
        self._writable()
        self._flush()
        with _secure(self._conn):
            self._erase(erasure)

    def erase_part(self: Transaction, part: Counterpart) -> None:
        self._writable()
        self._flush()
        with _secure(self._conn):
            _erase_texts(self._conn, part.member_id, part.texts)
            _erase_events(self._conn, part.member_id, part.events)

    def _erase(self: Transaction, erasure: Erasure) -> None:
        conn = self._conn
        member = erasure.member
        if erasure.counterparts:
            raise StorageError("counterparts", "another member's rows are written by its own part")
        self.update_member(member)  # fails for an unknown member
        conn.execute("DELETE FROM identifiers WHERE member_id = ?", (member.id,))
        _erase_texts(conn, member.id, erasure.texts)
        for record in erasure.records:
            _put_record(conn, record)
        _erase_events(conn, member.id, [*erasure.events, *erasure.mentions])
        for record in erasure.renamed:
            _put_record(conn, record)
        if erasure.pseudonym is not None and erasure.pseudonym != member.id:
            self._rename(member.id, erasure.pseudonym, erasure.sources)

    def _rename(self: Transaction, old: str, new: str, sources: Iterable[tuple[str, str]]) -> None:
        """Replace member id ``old`` by ``new`` in every row and tally key that holds it."""
        conn = self._conn
        # What this unit of work holds about members goes to the database first, then is forgotten.
        changed = [(row.text(), row.member_id) for row in self._rows.changed()]
        conn.executemany(PUT_ROW_TALLIES, changed)
        self._rows = Rows()
        self._seen.clear()
        self._statuses.clear()
        self._enrolled.clear()
        # The member's row first, under its new id (the other rows' keys refer to it), and the old
        # one last, when nothing refers to it any more.
        columns = [str(row[1]) for row in conn.execute("PRAGMA table_info(members)")]
        values = ", ".join("?" if column == "member_id" else column for column in columns)
        conn.execute(
            f"INSERT INTO members ({', '.join(columns)}) SELECT {values} FROM members WHERE member_id = ?",  # noqa: S608
            (new, old),
        )
        # The ledger's guard lets an entry's member and source id change only while this
        # connection says it renames ``old`` to ``new`` (schema 19: loyalty_erasing()), and only
        # of an entry whose text digest is kept (the erasure kept every one of the member's).
        if not isinstance(conn, ErasingConnection):
            raise StorageError(None, "an erasure needs the store's own connection")
        conn.renaming.pair = (old, new)
        try:
            for source, made in sources:
                conn.execute(
                    "UPDATE entries SET member_id = ?, source_id = ? WHERE member_id = ? AND source_id = ?",
                    (new, made, old, source),
                )
                conn.execute(
                    "UPDATE events SET source_id = ? WHERE member_id = ? AND source_id = ?",
                    (made, old, source),
                )
                conn.execute("UPDATE operations SET key = ? WHERE key = ?", (made, source))
            for table, column in _member_columns(conn):
                if (table, column) == ("referrals", "referrer"):
                    continue  # the referees' rows: each referee's part renames its own
                conn.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE "{column}" = ?', (new, old))  # noqa: S608
        finally:
            conn.renaming.pair = None
        # The open holds' points in the row (schema 20) are kept by triggers on ``holds``: the row
        # copied above already had them, and renaming the holds added them again.
        conn.execute(
            "UPDATE members SET held = (SELECT COALESCE(SUM(points), 0) FROM holds"
            " WHERE member_id = :new AND status = 'open') WHERE member_id = :new",
            {"new": new},
        )
        conn.execute("DELETE FROM members WHERE member_id = ?", (old,))
        found = conn.execute("SELECT key FROM tallies WHERE instr(key, ?) > 0", (needle(old),)).fetchall()
        for key, other in tallies_renamed((key for (key,) in found), old, new):
            conn.execute("UPDATE tallies SET key = ? WHERE key = ?", (other, key))
        # The member's own tallies are under new already (a member id column), their keys not yet.
        owned = conn.execute("SELECT key FROM member_tallies WHERE member_id = ?", (new,)).fetchall()
        for key, other in renamed((key for (key,) in owned), old, new):
            conn.execute(
                "UPDATE member_tallies SET key = ? WHERE member_id = ? AND key = ?", (other, new, key)
            )


def _facts(row: list[Any]) -> EntryFacts | None:
    """What the entry that keeps a record says of it, from its :data:`FACTS` (``None``: an operation's)."""
    return None if row[0] is None else facts(*row)


@contextmanager
def _secure(conn: sqlite3.Connection) -> Iterator[None]:
    """The cells an erasure frees overwritten with zeros, not left in the pages' free space (what
    a build's default may not do) while it writes; cells freed before need a VACUUM."""
    secure = conn.execute("PRAGMA secure_delete").fetchone()[0]
    conn.execute("PRAGMA secure_delete = 1")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA secure_delete = {int(secure)}")


def _put_record(conn: sqlite3.Connection, record: Record) -> None:
    # Rewritten whole (layout 2, which says its member and times itself): an erasure is rare.
    body = pack_operation(record.kind, record.key, dict(record.request), dict(record.result))
    changed = conn.execute(
        "UPDATE entries SET record = ? WHERE source_id = ? AND record IS NOT NULL", (body, record.key)
    )
    if changed.rowcount == 0:
        changed = conn.execute("UPDATE operations SET body = ? WHERE key = ?", (body, record.key))
    if changed.rowcount != 1:
        raise StorageError("key", f"no record {record.key!r}")


def _member_columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every table and column but the members' own that holds a member id."""
    tables = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('members', 'sqlite_sequence')"
    ).fetchall()
    return [
        (table, str(column[1]))
        for (table,) in tables
        for column in conn.execute(f'PRAGMA table_info("{table}")')
        if column[1] in _MEMBER_COLUMNS
    ]


def _erase_events(conn: sqlite3.Connection, member_id: str, events: Iterable[ErasedEvent]) -> None:
    for event in events:
        changed = conn.execute(
            "UPDATE events SET data = ? WHERE seq = ? AND member_id = ?",
            (dump_json(dict(event.data)), event.seq, member_id),
        )
        if changed.rowcount != 1:
            raise StorageError("seq", f"no event {event.seq} of member {member_id!r}")


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
