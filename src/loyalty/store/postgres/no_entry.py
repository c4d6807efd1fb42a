"""The PostgreSQL adapter's purchases that wrote no entry, a mixin of its unit of work.

This adapter keeps every purchase's record in ``operations`` (never in its entry), so most of
them wrote an entry: each one read is probed for an entry under its key among its member's
entries (``entries_by_member``; its record starts with its member), a page at a time, until a
page of the ones that wrote none is found. No index holds the purchases in the order asked for
(by when they were recorded): each page sorts the purchases after the one before.
"""

from __future__ import annotations

from loyalty.store import Operation
from loyalty.store.no_entry import EARLIEST, order
from loyalty.store.postgres.transfers import Reading

__all__ = ["PostgresNoEntry"]


class PostgresNoEntry:
    """:meth:`loyalty.store.OperationsRole.purchases_without_entry`."""

    def purchases_without_entry(
        self: Reading, *, after: Operation | None = None, limit: int
    ) -> list[Operation]:
        place = (True, EARLIEST, EARLIEST, "") if after is None else (False, *order(after))
        found: list[str] = []
        while len(found) < limit:
            first, recorded, at, key = place
            params = (EARLIEST, first, EARLIEST, recorded, at, key, limit)
            rows = self._execute(self._q.purchases_without_entry, params).fetchall()
            found.extend(key for key, _, _, entered in rows if not entered)
            if len(rows) < limit:
                break
            key, recorded, at, _ = rows[-1]
            place = (False, recorded, at, key)
        return [op for op in map(self.operation, found[:limit]) if op is not None]
