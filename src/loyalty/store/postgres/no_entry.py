"""The PostgreSQL adapter's purchases that wrote no entry, a mixin of its unit of work.

This adapter keeps every purchase's record in ``operations`` (never in its entry), so most of
them wrote an entry: each one read is probed for an entry under its key among its member's
entries (``entries_by_member``; its record starts with its member), a page at a time, until a
page of the ones that wrote none is found, their records read with them (one round trip a
page). An index holds the purchases in the order asked for (schema 21, operations_purchase_order:
by when they were recorded, then their time and key), so each page is a walk of it from the
place the last one ended, not a sort of every purchase after it.
"""

from __future__ import annotations

from loyalty.store import Operation
from loyalty.store.no_entry import order
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import without_entry

__all__ = ["PostgresNoEntry"]


class PostgresNoEntry:
    """:meth:`loyalty.store.OperationsRole.purchases_without_entry`."""

    def purchases_without_entry(
        self: Transaction, *, after: Operation | None = None, limit: int
    ) -> list[Operation]:
        place = None if after is None else order(after)
        found: list[Operation] = []
        while len(found) < limit:
            if place is None:
                rows = self._execute(self._q.purchases_without_entry_first, (limit,)).fetchall()
            else:
                rows = self._execute(self._q.purchases_without_entry, (*place, limit)).fetchall()
            found.extend(without_entry(rows))
            if len(rows) < limit:
                break
            key, recorded, at = rows[-1][:3]
            place = (recorded, at, key)
        return found[:limit]
