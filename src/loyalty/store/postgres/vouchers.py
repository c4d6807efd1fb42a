"""The PostgreSQL adapter's vouchers (:class:`loyalty.store.VouchersRole`), a mixin of its unit of work."""

from __future__ import annotations

from datetime import datetime

from loyalty.errors import StorageError
from loyalty.store.postgres.driver import pg_text
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import draws_text, offset_of, voucher_from_row
from loyalty.vouchers import Voucher, VoucherStatus

__all__ = ["PostgresVouchers"]


class PostgresVouchers:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` does with vouchers."""

    def add_voucher(self: Transaction, voucher: Voucher) -> None:
        self._writable()
        if not voucher.open:
            raise StorageError("status", "a voucher is recorded issued")
        purchase_id = voucher.purchase_id
        self._execute(
            self._q.add_voucher,
            (
                pg_text("code", voucher.code),
                pg_text("member_id", voucher.member_id),
                pg_text("reward_id", voucher.reward_id),
                voucher.points,
                draws_text(voucher.draws) or "[]",
                voucher.issued_at,
                offset_of(voucher.issued_at),
                voucher.expires_at,
                voucher.status.value,
                None if purchase_id is None else pg_text("purchase_id", purchase_id),
                None,
                None,
            ),
        )

    def voucher(self: Transaction, code: str) -> Voucher | None:
        row = self._execute(self._q.voucher, (pg_text("code", code),)).fetchone()
        return None if row is None else voucher_from_row(row)

    def vouchers(self: Transaction, member_id: str) -> list[Voucher]:
        rows = self._execute(self._q.member_vouchers, (pg_text("member_id", member_id),)).fetchall()
        return [voucher_from_row(row) for row in rows]

    def end_voucher(
        self: Transaction, code: str, status: VoucherStatus, at: datetime, *, used_for: str | None = None
    ) -> Voucher:
        self._writable()
        if status is VoucherStatus.ISSUED:
            raise StorageError("status", "a voucher ends used, voided, expired or revoked")
        used = None if used_for is None else pg_text("used_for", used_for)
        row = self._execute(self._q.end_voucher, (status.value, at, used, pg_text("code", code))).fetchone()
        if row is None:
            raise StorageError("code", f"no issued voucher {code!r} to end")
        return voucher_from_row(row)

    def due_vouchers(self: Transaction, until: datetime, *, limit: int | None = None) -> list[Voucher]:
        return [
            voucher_from_row(row) for row in self._execute(self._q.due_vouchers, (until, limit)).fetchall()
        ]

    def vouchers_bought_against(self: Transaction, purchase_id: str) -> list[Voucher]:
        rows = self._execute(self._q.vouchers_bought_against, (pg_text("purchase_id", purchase_id),))
        return [voucher_from_row(row) for row in rows.fetchall()]
