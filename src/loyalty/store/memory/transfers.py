"""The in-memory adapter's search for transfers and other commands half written, a mixin of its
unit of work."""

from __future__ import annotations

from typing import Protocol

from loyalty.store import Operation
from loyalty.store.memory.data import Data, unpack
from loyalty.transfers import RECEIVED

__all__ = ["MemoryTransfers"]


class Transaction(Protocol):
    """The in-memory unit of work, as this search sees it."""

    _data: Data


class MemoryTransfers:
    """:meth:`loyalty.store.OperationsRole.unreceived_transfers` and
    :meth:`~loyalty.store.OperationsRole.unfinished_parts` by a scan of the records."""

    def unreceived_transfers(self: Transaction, *, limit: int) -> list[Operation]:
        ops = self._data.operations
        found = []
        for key in sorted(ops):
            kept = ops[key]
            if kept.kind != "transfer" or key + RECEIVED in ops:
                continue
            _, result = unpack(kept.body)
            if "runs" in result:
                found.append(kept.operation(key))
                if len(found) >= limit:
                    break
        return found

    def unfinished_parts(self: Transaction, kind: str, *, limit: int) -> list[Operation]:
        ops = self._data.operations
        found = [key for key in sorted(ops) if ops[key].kind == kind and key + RECEIVED not in ops]
        return [ops[key].operation(key) for key in found[:limit]]
