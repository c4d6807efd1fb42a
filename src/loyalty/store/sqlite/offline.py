"""The SQLite adapter's offline allowances (:class:`loyalty.store.OfflineRole`), a mixin of its
unit of work."""

from __future__ import annotations

import sqlite3

from loyalty.errors import StorageError
from loyalty.offline import OfflineAllowance, OfflineUse
from loyalty.store.rows import ALLOWANCE_COLUMNS, USE_COLUMNS, allowance_from_row, offset_of, use_from_row
from loyalty.store.sqlite.statements import sortable
from loyalty.store.sqlite.transaction import Transaction

__all__ = ["SQLiteOffline"]

INSERT_ALLOWANCE = f"INSERT INTO offline_allowances ({ALLOWANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
TERMINAL_ALLOWANCES = (
    f"SELECT {ALLOWANCE_COLUMNS} FROM offline_allowances WHERE terminal_id = ?"  # noqa: S608
    " ORDER BY opened_at, id"
)
ALLOWANCE_USES = f"SELECT {USE_COLUMNS} FROM offline_uses WHERE allowance_id = ? ORDER BY member_id"  # noqa: S608
MEMBER_USE = f"SELECT {USE_COLUMNS} FROM offline_uses WHERE allowance_id = ? AND member_id = ?"  # noqa: S608
ADD_USE = (
    f"INSERT INTO offline_uses ({USE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
    " ON CONFLICT (allowance_id, member_id) DO UPDATE SET"
    " redemptions = redemptions + excluded.redemptions, points = points + excluded.points,"
    " shortfall = shortfall + excluded.shortfall, declined = declined + excluded.declined"
)


class SQLiteOffline:
    """What :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` does with offline allowances."""

    def add_offline_allowance(self: Transaction, allowance: OfflineAllowance) -> None:
        self._writable()
        try:
            self._conn.execute(
                INSERT_ALLOWANCE,
                (
                    allowance.id,
                    allowance.terminal_id,
                    allowance.per_member,
                    allowance.total,
                    sortable(allowance.opened_at),
                    offset_of(allowance.opened_at),
                    sortable(allowance.until),
                    offset_of(allowance.until),
                    allowance.actor,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError("id", f"offline allowance {allowance.id!r} cannot be recorded: {exc}") from exc

    def offline_allowances(self: Transaction, terminal_id: str) -> list[OfflineAllowance]:
        return [allowance_from_row(row) for row in self._conn.execute(TERMINAL_ALLOWANCES, (terminal_id,))]

    def offline_uses(self: Transaction, allowance_id: str, member_id: str | None = None) -> list[OfflineUse]:
        if member_id is None:
            rows = self._conn.execute(ALLOWANCE_USES, (allowance_id,))
        else:
            rows = self._conn.execute(MEMBER_USE, (allowance_id, member_id))
        return [use_from_row(row) for row in rows]

    def add_offline_use(self: Transaction, use: OfflineUse) -> None:
        self._writable()
        try:
            self._conn.execute(
                ADD_USE,
                (use.allowance_id, use.member_id, use.redemptions, use.points, use.shortfall, use.declined),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError(
                "allowance_id", f"no offline allowance {use.allowance_id!r} or member {use.member_id!r}"
            ) from exc
