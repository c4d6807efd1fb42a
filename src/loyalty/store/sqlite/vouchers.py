"""The SQLite adapter's vouchers (:class:`loyalty.store.VouchersRole`), a mixin of its unit of work."""

from __future__ import annotations

from datetime import datetime

from loyalty.errors import StorageError
from loyalty.store.rows import VOUCHER_COLUMNS, draws_text, offset_of, voucher_from_row
from loyalty.store.sqlite.statements import sortable
from loyalty.store.sqlite.transaction import Transaction
from loyalty.vouchers import Voucher, VoucherStatus

__all__ = ["SQLiteVouchers"]

INSERT_VOUCHER = f"INSERT INTO vouchers ({VOUCHER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
SELECT_VOUCHER = f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE code = ?"  # noqa: S608
MEMBER_VOUCHERS = f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE member_id = ? ORDER BY issued_at, code"  # noqa: S608
DUE_VOUCHERS = (
    f"SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE status = 'issued' AND expires_at <= ?"  # noqa: S608
    " ORDER BY expires_at, code LIMIT ?"
)
BOUGHT_AGAINST = (
    f"SELECT {VOUCHER_COLUMNS} FROM vouchers"  # noqa: S608
    " WHERE status = 'issued' AND purchase_id IS NOT NULL AND purchase_id = ? ORDER BY code"
)
# The status test is the final arbiter: a voucher ends exactly once.
END_VOUCHER = (
    "UPDATE vouchers SET status = ?, ended_at = ?, used_for = ? WHERE code = ? AND status = 'issued'"  # noqa: S608
    f" RETURNING {VOUCHER_COLUMNS}"
)


class SQLiteVouchers:
    """What :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` does with vouchers."""

    def add_voucher(self: Transaction, voucher: Voucher) -> None:
        self._writable()
        if not voucher.open:
            raise StorageError("status", "a voucher is recorded issued")
        self._conn.execute(
            INSERT_VOUCHER,
            (
                voucher.code,
                voucher.member_id,
                voucher.reward_id,
                voucher.points,
                draws_text(voucher.draws) or "[]",
                sortable(voucher.issued_at),
                offset_of(voucher.issued_at),
                sortable(voucher.expires_at),
                voucher.status.value,
                voucher.purchase_id,
                None,
                None,
            ),
        )

    def voucher(self: Transaction, code: str) -> Voucher | None:
        row = self._conn.execute(SELECT_VOUCHER, (code,)).fetchone()
        return None if row is None else voucher_from_row(row)

    def vouchers(self: Transaction, member_id: str) -> list[Voucher]:
        return [voucher_from_row(row) for row in self._conn.execute(MEMBER_VOUCHERS, (member_id,))]

    def end_voucher(
        self: Transaction, code: str, status: VoucherStatus, at: datetime, *, used_for: str | None = None
    ) -> Voucher:
        self._writable()
        if status is VoucherStatus.ISSUED:
            raise StorageError("status", "a voucher ends used, voided, expired or revoked")
        row = self._conn.execute(END_VOUCHER, (status.value, sortable(at), used_for, code)).fetchone()
        if row is None:
            raise StorageError("code", f"no issued voucher {code!r} to end")
        return voucher_from_row(row)

    def due_vouchers(self: Transaction, until: datetime, *, limit: int | None = None) -> list[Voucher]:
        rows = self._conn.execute(DUE_VOUCHERS, (sortable(until), -1 if limit is None else limit))
        return [voucher_from_row(row) for row in rows]

    def vouchers_bought_against(self: Transaction, purchase_id: str) -> list[Voucher]:
        return [voucher_from_row(row) for row in self._conn.execute(BOUGHT_AGAINST, (purchase_id,))]
