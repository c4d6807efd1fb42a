"""The SQLite adapter's lots (:class:`loyalty.store.ledger_role.LedgerRole`'s reads of them),
a mixin of its unit of work: the lots are written with the entries that open and draw them
(``SQLiteUnitOfWork.append``), and read here."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from loyalty.lots import DrawOrder, Lot
from loyalty.store.rows import LOT_COLUMNS, lot_from_row
from loyalty.store.spending import Segment, collect
from loyalty.store.sqlite.statements import (
    ALL_OPEN_LOTS,
    DUE_LOTS,
    KEYS_PER_QUERY,
    MEMBER_DUE_LOTS,
    OPEN_LOTS,
    PENDING_LOTS,
    SPENDABLE_DATED,
    SPENDABLE_EARNED,
    SPENDABLE_UNDATED,
    earned_key,
    sortable,
)
from loyalty.store.sqlite.transaction import Transaction

__all__ = ["SQLiteLots", "lots_by_id"]


def lots_by_id(conn: sqlite3.Connection, member_id: str, ids: list[int]) -> dict[int, Lot]:
    """The member's lots among ``ids``, open or closed, by id (a statement per chunk of ids)."""
    found: dict[int, Lot] = {}
    for start in range(0, len(ids), KEYS_PER_QUERY):
        chunk = ids[start : start + KEYS_PER_QUERY]
        rows = conn.execute(
            # Only "?" placeholders are formatted in; the ids are bound.
            f"SELECT {LOT_COLUMNS} FROM lots"  # noqa: S608
            f" WHERE member_id = ? AND lot IN ({', '.join('?' * len(chunk))})",
            [member_id, *chunk],
        ).fetchall()
        found.update((lot.id, lot) for lot in map(lot_from_row, rows))
    return found


class SQLiteLots:
    """What :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` reads of lots."""

    def lots(self: Transaction, member_id: str) -> list[Lot]:
        return [lot_from_row(row) for row in self._conn.execute(OPEN_LOTS, {"m": member_id})]

    def lot(self: Transaction, member_id: str, lot_id: int) -> Lot | None:
        return lots_by_id(self._conn, member_id, [lot_id]).get(lot_id)

    def open_lots(self: Transaction, *, after: int = 0, limit: int) -> list[Lot]:
        rows = self._conn.execute(ALL_OPEN_LOTS, (after, limit))
        return [lot_from_row(row) for row in rows]

    def pending_lots(self: Transaction, member_id: str, at: datetime) -> list[Lot]:
        rows = self._conn.execute(PENDING_LOTS, (member_id, sortable(at)))
        return [lot_from_row(row) for row in rows]

    def spendable_lots(
        self: Transaction,
        member_id: str,
        now: datetime,
        *,
        pending: bool = False,
        after: Lot | None = None,
        limit: int,
        order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
    ) -> list[Lot]:
        def read(segment: Segment, n: int) -> list[Lot]:
            bounds = {"m": member_id, "lot": segment.after_id, "now": sortable(now), "n": n}
            bounds["pending"] = segment.pending
            if segment.after_earned is not None:
                bounds["earned"] = earned_key(segment.after_earned)
                query = SPENDABLE_EARNED
            elif segment.dated:
                bounds["expires"] = sortable(segment.after_expires)
                query = SPENDABLE_DATED
            else:
                query = SPENDABLE_UNDATED
            return [lot_from_row(row) for row in self._conn.execute(query, bounds)]

        return collect(now, pending=pending, after=after, limit=limit, read=read, order=order)

    def due_lots(
        self: Transaction, until: datetime, *, member_id: str | None = None, limit: int | None = None
    ) -> list[Lot]:
        bound = -1 if limit is None else limit
        if member_id is None:
            rows = self._conn.execute(DUE_LOTS, (sortable(until), bound))
        else:
            rows = self._conn.execute(MEMBER_DUE_LOTS, (member_id, sortable(until), bound))
        return [lot_from_row(row) for row in rows]
