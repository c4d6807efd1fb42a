"""The PostgreSQL adapter's holds (:class:`loyalty.store.HoldsRole`), a mixin of its unit of work."""

from __future__ import annotations

from datetime import datetime

from loyalty.errors import StorageError
from loyalty.holds import Hold, HoldStatus
from loyalty.store.postgres.driver import pg_text
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import draws_text, hold_from_row, offset_of

__all__ = ["PostgresHolds"]


class PostgresHolds:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` does with holds."""

    def add_hold(self: Transaction, hold: Hold) -> None:
        self._writable()
        if not hold.open:
            raise StorageError("status", "a hold is recorded open")
        self._execute(
            self._q.add_hold,
            (
                pg_text("id", hold.id),
                pg_text("member_id", hold.member_id),
                hold.points,
                draws_text(hold.draws) or "[]",
                hold.held_at,
                offset_of(hold.held_at),
                hold.expires_at,
                hold.status.value,
                hold.captured,
                None,
            ),
        )

    def hold(self: Transaction, hold_id: str) -> Hold | None:
        row = self._execute(self._q.hold, (hold_id,)).fetchone()
        return None if row is None else hold_from_row(row)

    def open_holds(self: Transaction, member_id: str) -> list[Hold]:
        return [hold_from_row(row) for row in self._execute(self._q.open_holds, (member_id,)).fetchall()]

    def due_holds(self: Transaction, until: datetime, *, limit: int | None = None) -> list[Hold]:
        return [hold_from_row(row) for row in self._execute(self._q.due_holds, (until, limit)).fetchall()]

    def end_hold(self: Transaction, hold_id: str, status: HoldStatus, captured: int, at: datetime) -> Hold:
        self._writable()
        if status is HoldStatus.OPEN:
            raise StorageError("status", "a hold ends captured, released or expired")
        row = self._execute(self._q.end_hold, (status.value, captured, at, hold_id)).fetchone()
        if row is None:
            raise StorageError("hold_id", f"no open hold {hold_id!r} to end")
        return hold_from_row(row)
