"""The SQLite adapter's lots (:class:`loyalty.store.ledger_role.LedgerRole`'s reads of them),
a mixin of its unit of work: the lots are written with the entries that open and draw them
(``SQLiteUnitOfWork.append``; from schema 18 in the row of the entry that opens them), and read
here, from both places, once the entry appended last is in."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from loyalty.lots import DrawOrder, Lot
from loyalty.store.rows import LOT_COLUMNS, lot_from_row
from loyalty.store.spending import Segment, collect
from loyalty.store.sqlite.statements import (
    ALL_OPEN_LOTS,
    DUE_LOTS,
    ENTRY_LOT_COLUMNS,
    KEYS_PER_QUERY,
    MEMBER_DUE_LOTS,
    OPEN_LOTS,
    PENDING_LOTS,
    ROLL_OUT,
    ROLLS,
    SPENDABLE_DATED,
    SPENDABLE_EARNED,
    SPENDABLE_UNDATED,
    earned_key,
    sortable,
)
from loyalty.store.sqlite.transaction import Transaction

__all__ = ["SQLiteLots", "find_lots", "lots_by_id", "roll"]


def lots_by_id(conn: sqlite3.Connection, member_id: str, ids: list[int]) -> dict[int, Lot]:
    """The member's lots among ``ids``, open or closed, by id (a statement per chunk of ids)."""
    return find_lots(conn, member_id, ids)[0]


def find_lots(conn: sqlite3.Connection, member_id: str, ids: list[int]) -> tuple[dict[int, Lot], set[int]]:
    """:func:`lots_by_id`, and which of them their entries keep (schema 18) rather than ``lots``."""
    found: dict[int, Lot] = {}
    kept: set[int] = set()
    for start in range(0, len(ids), KEYS_PER_QUERY):
        chunk = ids[start : start + KEYS_PER_QUERY]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            # Only "?" placeholders are formatted in; the ids are bound.
            f"SELECT {LOT_COLUMNS}, 0 FROM lots WHERE member_id = ? AND lot IN ({marks}) UNION ALL"  # noqa: S608
            f" SELECT {ENTRY_LOT_COLUMNS}, 1 FROM entries"
            f" WHERE member_id = ? AND seq IN ({marks}) AND remaining IS NOT NULL",
            [member_id, *chunk, member_id, *chunk],
        ).fetchall()
        for row in rows:
            lot = lot_from_row(row)
            found[lot.id] = lot
            if row[-1]:
                kept.add(lot.id)
    return found, kept


class SQLiteLots:
    """What :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` reads of lots."""

    #: Its append applies a roll (loyalty.lots.roll_of), which lists no lot: see docs/storage.md.
    applies_rolls = True

    def lots(self: Transaction, member_id: str) -> list[Lot]:
        self._flush()
        return [lot_from_row(row) for row in self._conn.execute(OPEN_LOTS, {"m": member_id})]

    def lot(self: Transaction, member_id: str, lot_id: int) -> Lot | None:
        self._flush()
        return lots_by_id(self._conn, member_id, [lot_id]).get(lot_id)

    def open_lots(self: Transaction, *, after: int = 0, limit: int) -> list[Lot]:
        self._flush()
        rows = self._conn.execute(ALL_OPEN_LOTS, {"after": after, "n": limit})
        return [lot_from_row(row) for row in rows]

    def pending_lots(self: Transaction, member_id: str, at: datetime) -> list[Lot]:
        self._flush()
        rows = self._conn.execute(PENDING_LOTS, {"m": member_id, "at": sortable(at)})
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

        self._flush()
        return collect(now, pending=pending, after=after, limit=limit, read=read, order=order)

    def due_lots(
        self: Transaction, until: datetime, *, member_id: str | None = None, limit: int | None = None
    ) -> list[Lot]:
        self._flush()
        bounds = {"until": sortable(until), "n": -1 if limit is None else limit}
        if member_id is None:
            rows = self._conn.execute(DUE_LOTS, bounds)
        else:
            rows = self._conn.execute(MEMBER_DUE_LOTS, {**bounds, "m": member_id})
        return [lot_from_row(row) for row in rows]


def roll(conn: sqlite3.Connection, member_id: str, until: datetime) -> None:
    """Move the member's open rolling lots of points dated before ``until`` to it (a roll:
    :func:`loyalty.lots.roll_of`), in three statements whatever their number: those their
    entries keep move to ``lots`` first, as a redated lot does."""
    values = {"m": member_id, "until": sortable(until)}
    conn.execute(ROLL_OUT, values)
    conn.execute(f"UPDATE entries SET remaining = NULL WHERE {ROLLS}", values)  # noqa: S608
    conn.execute(f"UPDATE lots SET expires_at = :until WHERE {ROLLS}", values)  # noqa: S608
