"""The PostgreSQL adapter's lots (:class:`loyalty.store.ledger_role.LedgerRole`'s reads of
them), a mixin of its unit of work: the lots are written with the entries that open and draw
them (``PostgresUnitOfWork.append``), and read here."""

from __future__ import annotations

from datetime import datetime

from loyalty.lots import DrawOrder, Lot
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import lot_from_row
from loyalty.store.spending import Segment, collect

__all__ = ["PostgresLots"]


class PostgresLots:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` reads of lots."""

    #: Its append applies a roll (loyalty.lots.roll_of), which lists no lot: see docs/storage.md.
    applies_rolls = True

    def lots(self: Transaction, member_id: str) -> list[Lot]:
        return [lot_from_row(row) for row in self._execute(self._q.lots, {"m": member_id}).fetchall()]

    def lot(self: Transaction, member_id: str, lot_id: int) -> Lot | None:
        row = self._execute(self._q.lot, (member_id, lot_id)).fetchone()
        return None if row is None else lot_from_row(row)

    def open_lots(self: Transaction, *, after: int = 0, limit: int) -> list[Lot]:
        rows = self._execute(self._q.open_lots, (after, limit)).fetchall()
        return [lot_from_row(row) for row in rows]

    def pending_lots(self: Transaction, member_id: str, at: datetime) -> list[Lot]:
        rows = self._execute(self._q.pending_lots, (member_id, at)).fetchall()
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
            bounds = {"m": member_id, "now": now, "pending": segment.pending, "lot": segment.after_id, "n": n}
            if segment.after_earned is not None:
                bounds["earned"] = segment.after_earned
                query = self._q.spendable_earned
            elif segment.dated:
                bounds["expires"] = segment.after_expires
                query = self._q.spendable_dated
            else:
                query = self._q.spendable_undated
            return [lot_from_row(row) for row in self._execute(query, bounds).fetchall()]

        return collect(now, pending=pending, after=after, limit=limit, read=read, order=order)

    def due_lots(
        self: Transaction, until: datetime, *, member_id: str | None = None, limit: int | None = None
    ) -> list[Lot]:
        if member_id is None:
            rows = self._execute(self._q.due_lots, (until, limit)).fetchall()
        else:
            rows = self._execute(self._q.member_due_lots, (member_id, until, limit)).fetchall()
        return [lot_from_row(row) for row in rows]
