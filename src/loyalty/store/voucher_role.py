"""The port's role for vouchers (:mod:`loyalty.vouchers`): kept by code, found by member and by date.

A role of its own, composed into :class:`loyalty.store.UnitOfWork`, so an adapter author
can read, implement and test it alone (:mod:`loyalty.testing.contract.vouchers`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from loyalty.vouchers import Voucher, VoucherStatus

__all__ = ["VouchersRole"]


class VouchersRole(Protocol):
    """Vouchers for rewards bought with points, each ended exactly once."""

    def add_voucher(self, voucher: Voucher) -> None:
        """Record an issued voucher (its ``redeem`` entry is appended separately); a code already
        recorded, an ended voucher or an unknown member must fail with
        :class:`~loyalty.errors.StorageError` and change nothing."""
        ...

    def voucher(self, code: str) -> Voucher | None:
        """The voucher recorded under ``code``, issued or ended, or ``None``."""
        ...

    def vouchers(self, member_id: str) -> list[Voucher]:
        """The member's vouchers, issued and ended, by ``issued_at`` then code (an index on the member)."""
        ...

    def end_voucher(
        self, code: str, status: VoucherStatus, at: datetime, *, used_for: str | None = None
    ) -> Voucher:
        """End an issued voucher as ``status`` at ``at`` (``used_for``: the purchase a used one went
        to), returning it ended. A voucher ends exactly once: ending one that is not issued (or
        unknown), or ending as ``issued``, fails with :class:`~loyalty.errors.StorageError` and
        changes nothing."""
        ...

    def due_vouchers(self, until: datetime, *, limit: int | None = None) -> list[Voucher]:
        """Issued vouchers whose ``expires_at <= until``, soonest first, ties by code (an index on
        the date of the issued ones: maintenance's cost grows with what is due)."""
        ...

    def vouchers_bought_against(self, purchase_id: str) -> list[Voucher]:
        """The issued vouchers bought against ``purchase_id``, by code (a full return revokes them)."""
        ...
