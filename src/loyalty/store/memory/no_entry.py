"""The in-memory adapter's purchases that wrote no entry, a mixin of its unit of work."""

from __future__ import annotations

from typing import Protocol

from loyalty.store import Operation
from loyalty.store.memory.data import Data
from loyalty.store.no_entry import order

__all__ = ["MemoryNoEntry"]


class Transaction(Protocol):
    """The in-memory unit of work, as this search sees it."""

    _data: Data


class MemoryNoEntry:
    """:meth:`loyalty.store.OperationsRole.purchases_without_entry` by a scan of the records and
    the ledger (a test store: each page costs them all)."""

    def purchases_without_entry(
        self: Transaction, *, after: Operation | None = None, limit: int
    ) -> list[Operation]:
        data = self._data
        entered = {entry.source_id for entry in data.ledger}
        found = [
            kept.operation(key)
            for key, kept in data.operations.items()
            if kept.kind == "purchase" and key not in entered
        ]
        found.sort(key=order)
        if after is not None:
            last = order(after)
            found = [operation for operation in found if order(operation) > last]
        return found[:limit]
