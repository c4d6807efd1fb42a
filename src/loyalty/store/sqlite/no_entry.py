"""The SQLite adapter's purchases that wrote no entry, a mixin of its unit of work.

A purchase that wrote an entry keeps its record in that entry (schema 11, when
:func:`loyalty.store.entry_records.carries` says it can), so most purchases kept in
``operations`` are the ones that wrote none; but not all: those recorded before schema 11, and
those whose entry could not carry their record (a purchase whose last entry was a tier move, say),
are kept there too. So each one read is probed for an entry under its key, among its member's
entries (``entries_by_member``; its record starts with its member), a page of them at a time,
until a page of the ones that wrote none is found, their records read with them.

No index holds the purchases in the order asked for (by when they were recorded): each page
sorts the purchases after the one before (see docs/import-export.md for what it costs).
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from loyalty.records import unpack_operation
from loyalty.store import Operation
from loyalty.store.no_entry import EARLIEST, order
from loyalty.store.rows import restore_instant
from loyalty.store.sqlite.statements import micros

__all__ = ["SQLiteNoEntry"]

_EARLIEST = micros(EARLIEST)
# A page of the purchases kept as operations after a place (or from the first: :first), each
# with whether an entry has its key as its source.
_PAGE = """SELECT c.key, c.recorded_micros, c.bought, EXISTS (
        SELECT 1 FROM entries AS e WHERE e.member_id = json_extract(c.body, '$[0]') AND e.source_id = c.key),
        c.body, c.recorded_offset
    FROM (
        SELECT key, body, recorded_micros, recorded_offset, COALESCE(purchased_micros, :earliest) AS bought
        FROM operations
        WHERE kind = 'purchase'
          AND (:first OR (recorded_micros, COALESCE(purchased_micros, :earliest), key) > (:r, :p, :k))
        ORDER BY recorded_micros, bought, key LIMIT :limit
    ) AS c
    ORDER BY c.recorded_micros, c.bought, c.key"""


class Transaction(Protocol):
    """An SQLite unit of work, as this search sees it."""

    _conn: sqlite3.Connection

    def _flush(self, record: str | None = None) -> None: ...


class SQLiteNoEntry:
    """:meth:`loyalty.store.OperationsRole.purchases_without_entry`."""

    def purchases_without_entry(
        self: Transaction, *, after: Operation | None = None, limit: int
    ) -> list[Operation]:
        self._flush()
        place: dict[str, object] = {"first": after is None, "r": 0, "p": 0, "k": ""}
        if after is not None:
            recorded, at, key = order(after)
            place.update(first=False, r=micros(recorded), p=micros(at), k=key)
        found: list[Operation] = []
        while len(found) < limit:
            rows = self._conn.execute(_PAGE, {**place, "earliest": _EARLIEST, "limit": limit}).fetchall()
            for key, recorded_micros, _, entered, body, offset in rows:
                if not entered:
                    request, result = unpack_operation(key, body)
                    kept_at = restore_instant(recorded_micros, offset)
                    found.append(Operation(key, "purchase", request, result, kept_at))
            if len(rows) < limit:
                break
            key, recorded_micros, at_micros = rows[-1][:3]
            place.update(first=False, r=recorded_micros, p=at_micros, k=key)
        return found[:limit]
