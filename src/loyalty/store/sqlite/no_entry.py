"""The SQLite adapter's purchases that wrote no entry, a mixin of its unit of work.

A purchase that wrote an entry keeps its record in that entry (schema 11, when
:func:`loyalty.store.entry_records.carries` says it can), so most purchases kept in
``operations`` are the ones that wrote none; but not all: those recorded before schema 11, and
those whose entry could not carry their record (a purchase whose last entry was a tier move, say),
are kept there too. So each one read is probed for an entry under its key, among its member's
entries (``entries_by_member``; its record starts with its member), a page of them at a time,
until a page of the ones that wrote none is found, their records read with them.

An index holds the purchases in the order asked for (schema 24: by when they were recorded, then
their time and key), so each page seeks it to the place the last one ended, and reads on from
there (see docs/import-export.md for what it costs).
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from loyalty.store import Operation
from loyalty.store.no_entry import order
from loyalty.store.rows import without_entry
from loyalty.store.sqlite.no_entry_index import BOUGHT
from loyalty.store.sqlite.statements import micros

__all__ = ["SQLiteNoEntry"]

# A page of the purchases kept as operations from the first, or after a place, each with whether
# an entry has its key as its source. Two statements, not one with a flag: ``:first OR ...``
# would keep the planner from seeking the index (schema 25, loyalty.store.sqlite.no_entry_index)
# to the place, and every page would walk it from the start.
_PAGE = """SELECT c.key, c.recorded_micros, c.bought, EXISTS (
        SELECT 1 FROM entries AS e WHERE e.member_id = json_extract(c.body, '$[0]') AND e.source_id = c.key),
        c.body, c.recorded_offset
    FROM (
        SELECT key, body, recorded_micros, recorded_offset, {bought} AS bought
        FROM operations
        WHERE kind = 'purchase'{after}
        ORDER BY recorded_micros, {bought}, key LIMIT :limit
    ) AS c
    ORDER BY c.recorded_micros, c.bought, c.key"""
_FIRST = _PAGE.format(bought=BOUGHT, after="")
_AFTER = _PAGE.format(bought=BOUGHT, after=f" AND (recorded_micros, {BOUGHT}, key) > (:r, :p, :k)")


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
        place: dict[str, object] | None = None
        if after is not None:
            recorded, at, key = order(after)
            place = {"r": micros(recorded), "p": micros(at), "k": key}
        found: list[Operation] = []
        while len(found) < limit:
            query, params = (_FIRST, {}) if place is None else (_AFTER, place)
            rows = self._conn.execute(query, {**params, "limit": limit}).fetchall()
            found.extend(without_entry(rows))
            if len(rows) < limit:
                break
            key, recorded_micros, at_micros = rows[-1][:3]
            place = {"r": recorded_micros, "p": at_micros, "k": key}
        return found[:limit]
