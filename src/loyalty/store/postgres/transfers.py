"""The PostgreSQL adapter's search for transfers and other commands half written, a mixin of
its unit of work.

The records of the kinds written in parts (:data:`loyalty.transfers.PARTED_KINDS`) have an index
of their own (``operations_parts``, by kind and key, partial): a search walks the kind's records
in key order through it, each probed for its second part's record by key. A kind outside them
is scanned for.
"""

from __future__ import annotations

from typing import Protocol

from loyalty.store import Operation
from loyalty.store.postgres.transaction import Transaction
from loyalty.transfers import PARTED_KINDS, RECEIVED

__all__ = ["PostgresTransfers"]


class Reading(Transaction, Protocol):
    """A PostgreSQL unit of work, as this search sees it."""

    def operation(self, key: str) -> Operation | None: ...


class PostgresTransfers:
    """:meth:`loyalty.store.OperationsRole.unreceived_transfers` and
    :meth:`~loyalty.store.OperationsRole.unfinished_parts`."""

    def unreceived_transfers(self: Reading, *, limit: int) -> list[Operation]:
        keys = [key for (key,) in self._execute(self._q.unreceived_transfers, (RECEIVED, limit))]
        return [op for op in map(self.operation, keys) if op is not None]

    def unfinished_parts(self: Reading, kind: str, *, limit: int) -> list[Operation]:
        query = self._q.unfinished_parts if kind in PARTED_KINDS else self._q.unfinished_parts_scanned
        keys = [key for (key,) in self._execute(query, (kind, RECEIVED, limit))]
        return [op for op in map(self.operation, keys) if op is not None]
