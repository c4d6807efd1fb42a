"""The SQLite adapter's search for transfers and other commands half written, a mixin of its
unit of work.

The records of the kinds written in parts (:data:`loyalty.transfers.PARTED_KINDS`) have an index
of their own (``operations_parts``, by kind and key): a search names those kinds as the index
does, so that SQLite uses it, and walks the kind's records in key order, each probed for its
second part's record by key. A kind outside them is scanned for.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

from loyalty.store import Operation
from loyalty.transfers import PARTED_KINDS, RECEIVED

__all__ = ["SQLiteTransfers"]

# A transfer's record is kept whole ([member, amount, 0, request, result]), never in an entry.
# The index's own condition (the kinds are constants of this package, never input).
_PARTED = f"kind IN ({', '.join(repr(kind) for kind in PARTED_KINDS)})"
_UNRECEIVED = (
    f"SELECT key FROM operations AS o WHERE kind = 'transfer' AND {_PARTED}"  # noqa: S608
    " AND json_extract(body, '$[4].runs') IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM operations AS r WHERE r.key = o.key || :suffix) ORDER BY key LIMIT :limit"
)
_FIND = (
    "SELECT key FROM operations AS o WHERE kind = :kind{parted}"
    " AND NOT EXISTS (SELECT 1 FROM operations AS r WHERE r.key = o.key || :suffix) ORDER BY key LIMIT :limit"
)
_UNFINISHED = _FIND.format(parted=f" AND {_PARTED}")
_UNFINISHED_SCANNED = _FIND.format(parted="")


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
        query = _UNFINISHED if kind in PARTED_KINDS else _UNFINISHED_SCANNED
        found = self._conn.execute(query, {"kind": kind, "suffix": RECEIVED, "limit": limit})
        return [op for op in map(self.operation, [key for (key,) in found]) if op is not None]
