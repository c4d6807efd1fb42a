"""The PostgreSQL adapter's offline allowances (:class:`loyalty.store.OfflineRole`), a mixin of its
unit of work."""

from __future__ import annotations

from loyalty.errors import StorageError
from loyalty.offline import OfflineAllowance, OfflineUse
from loyalty.store.postgres.driver import pg_text
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import allowance_from_row, offset_of, use_from_row

__all__ = ["PostgresOffline"]


class PostgresOffline:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` does with offline
    allowances."""

    def add_offline_allowance(self: Transaction, allowance: OfflineAllowance) -> None:
        self._writable()
        # An id taken (by another writer meanwhile, too) is a unique violation: a StorageError.
        self._execute(
            self._q.add_offline_allowance,
            (
                pg_text("id", allowance.id),
                pg_text("terminal_id", allowance.terminal_id),
                allowance.per_member,
                allowance.total,
                allowance.opened_at,
                offset_of(allowance.opened_at),
                allowance.until,
                offset_of(allowance.until),
                pg_text("actor", allowance.actor),
            ),
        )

    def offline_allowances(self: Transaction, terminal_id: str) -> list[OfflineAllowance]:
        rows = self._execute(self._q.offline_allowances, (pg_text("terminal_id", terminal_id),)).fetchall()
        return [allowance_from_row(row) for row in rows]

    def offline_uses(self: Transaction, allowance_id: str, member_id: str | None = None) -> list[OfflineUse]:
        allowance = pg_text("allowance_id", allowance_id)
        if member_id is None:
            rows = self._execute(self._q.offline_uses, (allowance,)).fetchall()
        else:
            rows = self._execute(
                self._q.member_offline_use, (allowance, pg_text("member_id", member_id))
            ).fetchall()
        return [use_from_row(row) for row in rows]

    def add_offline_use(self: Transaction, use: OfflineUse) -> None:
        self._writable()
        if self.member(use.member_id) is None:
            raise StorageError("member_id", f"no member {use.member_id!r}")
        self._execute(
            self._q.add_offline_use,
            (
                pg_text("allowance_id", use.allowance_id),
                pg_text("member_id", use.member_id),
                use.redemptions,
                use.points,
                use.shortfall,
                use.declined,
            ),
        )
