"""The SQLite adapter's holds (:class:`loyalty.store.HoldsRole`), a mixin of its unit of work."""

from __future__ import annotations

from datetime import datetime

from loyalty.errors import StorageError
from loyalty.holds import Hold, HoldStatus
from loyalty.store.rows import HOLD_COLUMNS, draws_text, hold_from_row, offset_of
from loyalty.store.sqlite.statements import (
    DUE_HOLDS,
    INSERT_HOLD,
    OPEN_HOLDS,
    SELECT_HOLD,
    sortable,
    utc_text,
)
from loyalty.store.sqlite.transaction import Transaction

__all__ = ["SQLiteHolds"]


class SQLiteHolds:
    """What :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` does with holds."""

    def add_hold(self: Transaction, hold: Hold) -> None:
        self._writable()
        if not hold.open:
            raise StorageError("status", "a hold is recorded open")
        self._conn.execute(
            INSERT_HOLD,
            (
                hold.id,
                hold.member_id,
                hold.points,
                draws_text(hold.draws) or "[]",
                utc_text(hold.held_at),
                offset_of(hold.held_at),
                sortable(hold.expires_at),
                hold.status.value,
                hold.captured,
                None,
            ),
        )

    def hold(self: Transaction, hold_id: str) -> Hold | None:
        row = self._conn.execute(SELECT_HOLD, (hold_id,)).fetchone()
        return None if row is None else hold_from_row(row)

    def open_holds(self: Transaction, member_id: str) -> list[Hold]:
        return [hold_from_row(row) for row in self._conn.execute(OPEN_HOLDS, (member_id,))]

    def due_holds(self: Transaction, until: datetime, *, limit: int | None = None) -> list[Hold]:
        rows = self._conn.execute(DUE_HOLDS, (sortable(until), -1 if limit is None else limit))
        return [hold_from_row(row) for row in rows]

    def end_hold(self: Transaction, hold_id: str, status: HoldStatus, captured: int, at: datetime) -> Hold:
        self._writable()
        if status is HoldStatus.OPEN:
            raise StorageError("status", "a hold ends captured, released or expired")
        # The status test is the final arbiter: a hold ends exactly once.
        row = self._conn.execute(
            f"UPDATE holds SET status = ?, captured = ?, ended_at = ? WHERE hold_id = ? AND status = 'open'"  # noqa: S608
            f" RETURNING {HOLD_COLUMNS}",
            (status.value, captured, sortable(at), hold_id),
        ).fetchone()
        if row is None:
            raise StorageError("hold_id", f"no open hold {hold_id!r} to end")
        return hold_from_row(row)
