"""The in-memory adapter's vouchers (:class:`loyalty.store.VouchersRole`), a mixin of its unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from loyalty.errors import StorageError
from loyalty.store.memory.data import Data, through, utc
from loyalty.vouchers import Voucher, VoucherStatus

__all__ = ["MemoryVouchers"]


class Transaction(Protocol):
    """The in-memory unit of work, as its vouchers see it: the data, the undo log and the guard."""

    _data: Data
    _undo: list[Callable[[], None]]

    def _writable(self) -> None:
        """Refuse a write in a read-only unit of work (:class:`~loyalty.errors.StorageError`)."""
        ...


class MemoryVouchers:
    """What :class:`~loyalty.store.memory.MemoryUnitOfWork` does with vouchers; its methods take
    ``self: Transaction``, so mypy checks the unit of work has what they use."""

    def add_voucher(self: Transaction, voucher: Voucher) -> None:
        self._writable()
        data = self._data
        kept = data.vouchers
        if voucher.code in kept.by_code:
            raise StorageError("code", f"voucher {voucher.code!r} already exists")
        if not voucher.open:
            raise StorageError("status", "a voucher is recorded issued")
        if voucher.member_id not in data.members:
            raise StorageError("member_id", f"no member {voucher.member_id!r}")
        kept.by_code[voucher.code] = voucher
        kept.by_member.setdefault(voucher.member_id, set()).add(voucher.code)
        kept.index(voucher)

        def undo() -> None:
            del kept.by_code[voucher.code]
            kept.by_member[voucher.member_id].discard(voucher.code)
            kept.unindex(voucher)

        self._undo.append(undo)

    def voucher(self: Transaction, code: str) -> Voucher | None:
        return self._data.vouchers.by_code.get(code)

    def vouchers(self: Transaction, member_id: str) -> list[Voucher]:
        kept = self._data.vouchers
        found = [kept.by_code[code] for code in kept.by_member.get(member_id, ())]
        return sorted(found, key=lambda voucher: (utc(voucher.issued_at), voucher.code))

    def end_voucher(
        self: Transaction, code: str, status: VoucherStatus, at: datetime, *, used_for: str | None = None
    ) -> Voucher:
        self._writable()
        kept = self._data.vouchers
        old = kept.by_code.get(code)
        if old is None or not old.open or status is VoucherStatus.ISSUED:
            raise StorageError("code", f"no issued voucher {code!r} to end")
        new = old.ended(status, at, used_for)
        kept.by_code[code] = new
        kept.unindex(old)

        def undo() -> None:
            kept.by_code[code] = old
            kept.index(old)

        self._undo.append(undo)
        return new

    def due_vouchers(self: Transaction, until: datetime, *, limit: int | None = None) -> list[Voucher]:
        kept = self._data.vouchers
        end = through(kept.due, until)
        end = end if limit is None else min(end, limit)
        return [kept.by_code[code] for _, code in kept.due.islice(0, end)]

    def vouchers_bought_against(self: Transaction, purchase_id: str) -> list[Voucher]:
        kept = self._data.vouchers
        return [kept.by_code[code] for code in sorted(kept.against.get(purchase_id, ()))]
