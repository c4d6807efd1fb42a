"""The SQLite adapter's search for transfers and other commands half written, a mixin of its
unit of work.

No index leads to them (one would need a migration): the records of the kind are scanned, each
probed for its second part's record by key.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from loyalty.store import Operation
from loyalty.transfers import RECEIVED

__all__ = ["SQLiteTransfers"]

# A transfer's record is kept whole ([member, amount, 0, request, result]), never in an entry.
_UNRECEIVED = (
    "SELECT key FROM operations AS o WHERE kind = 'transfer' AND json_extract(body, '$[4].runs') IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM operations AS r WHERE r.key = o.key || :suffix) ORDER BY key LIMIT :limit"
)

_UNFINISHED = (
    "SELECT key FROM operations AS o WHERE kind = :kind"
    " AND NOT EXISTS (SELECT 1 FROM operations AS r WHERE r.key = o.key || :suffix) ORDER BY key LIMIT :limit"
)


class Transaction(Protocol):
    """An SQLite unit of work, as this search sees it."""

    _conn: sqlite3.Connection

    def _flush(self, record: str | None = None) -> None: ...

    def operation(self, key: str) -> Operation | None: ...


class SQLiteTransfers:
    """:meth:`loyalty.store.OperationsRole.unreceived_transfers` and
    :meth:`~loyalty.store.OperationsRole.unfinished_parts`."""

    def unreceived_transfers(self: Transaction, *, limit: int) -> list[Operation]:
        self._flush()
        keys = [key for (key,) in self._conn.execute(_UNRECEIVED, {"suffix": RECEIVED, "limit": limit})]
        return [op for op in map(self.operation, keys) if op is not None]

    def unfinished_parts(self: Transaction, kind: str, *, limit: int) -> list[Operation]:
        self._flush()
        found = self._conn.execute(_UNFINISHED, {"kind": kind, "suffix": RECEIVED, "limit": limit})
        return [op for op in map(self.operation, [key for (key,) in found]) if op is not None]
