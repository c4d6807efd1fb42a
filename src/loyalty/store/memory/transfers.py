"""The in-memory adapter's operation records: kept, found by key, and searched for transfers and
other commands half written; a mixin of its unit of work."""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from functools import partial
from itertools import islice
from typing import Protocol

from sortedcontainers import SortedList

from loyalty.errors import StorageError
from loyalty.store import Operation
from loyalty.store.memory.data import Data, Kept, unpack
from loyalty.store.periods import PeriodIndex, PurchaseFacts
from loyalty.transfers import PARTED_KINDS, RECEIVED

__all__ = ["MemoryTransfers"]


def _unadd(
    ops: MutableMapping[str, Kept],
    key: str,
    periods: PeriodIndex,
    facts: PurchaseFacts | None,
    parted: SortedList[str] | None,
) -> None:
    """Undo ``add_operation`` of the record under ``key``: its purchase's ``facts`` and its place
    among the records of its kind (``parted``), if it had them."""
    del ops[key]
    if facts is not None:
        periods.remove_purchase(facts)
    if parted is not None:
        parted.remove(key)


class Transaction(Protocol):
    """The in-memory unit of work, as this search sees it."""

    _data: Data
    _undo: list[Callable[[], None]]

    def _writable(self) -> None: ...


class MemoryTransfers:
    """:meth:`loyalty.store.OperationsRole.operation`, ``add_operation`` and the searches for what
    maintenance finishes (``unreceived_transfers``, ``unfinished_parts``)."""

    def operation(self: Transaction, key: str) -> Operation | None:
        kept = self._data.operations.get(key)
        return None if kept is None else kept.operation(key)

    def operation_and_lock(
        self: Transaction, key: str, member_id: str
    ) -> tuple[Operation | None, int | None]:
        kept = self._data.operations.get(key)
        return None if kept is None else kept.operation(key), self._data.balances.get(member_id)

    def add_operation(self: Transaction, operation: Operation) -> None:
        self._writable()
        data = self._data
        ops = data.operations
        key = operation.key
        if key in ops:
            raise StorageError("id", f"operation {key!r} already exists")
        ops[key] = kept = Kept.of(operation)
        facts = kept.facts
        periods = data.periods
        if facts is not None:
            periods.add_purchase(facts)
        parted = data.parted.setdefault(kept.kind, SortedList()) if kept.kind in PARTED_KINDS else None
        if parted is not None:
            parted.add(key)
        # A partial, not a closure: on every command, and a closure's cells cost more than it.
        self._undo.append(partial(_unadd, ops, key, periods, facts, parted))

    def unreceived_transfers(self: Transaction, *, limit: int) -> list[Operation]:
        ops = self._data.operations
        found = []
        # The records of kind "transfer" alone, by key (maintenance asks as each day begins).
        for key in self._data.parted.get("transfer", ()):
            if key + RECEIVED in ops:
                continue
            kept = ops[key]
            _, result = unpack(kept.body)
            if "runs" in result:
                found.append(kept.operation(key))
                if len(found) >= limit:
                    break
        return found

    def unfinished_parts(self: Transaction, kind: str, *, limit: int) -> list[Operation]:
        ops = self._data.operations
        if kind in PARTED_KINDS:
            keys: Iterable[str] = self._data.parted.get(kind, ())
        else:  # not indexed: every record, by key
            keys = (key for key in sorted(ops) if ops[key].kind == kind)
        found = list(islice((key for key in keys if key + RECEIVED not in ops), limit))
        return [ops[key].operation(key) for key in found]
