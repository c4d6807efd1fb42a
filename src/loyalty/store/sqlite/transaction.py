"""What the parts of :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` kept in
modules of their own (keys, vouchers, lots, holds) need of it: its connection and its guard;
the connection the store pools, and the unit of work's transaction on it.

Their methods take ``self: Transaction``, so mypy checks that the unit of work composing them
has both, and a part declares nothing of the unit of work's itself.
"""

from __future__ import annotations

import sqlite3
from types import TracebackType
from typing import Protocol, Self

from loyalty.errors import StorageError
from loyalty.store.sqlite.statements import translate

__all__ = ["Connection", "Pool", "Transaction", "Transactional"]


class Connection(sqlite3.Connection):
    """A pooled connection with a cursor of its own, ``own``, for the statements that return no
    row or one, read at once (``BEGIN``, ``COMMIT``, ``ROLLBACK``, a balance): ``execute`` on
    the connection makes a new cursor each time, about 1,300 instructions of the 27,000 a key
    read costs. A statement whose rows are read later needs a cursor of its own."""

    own: sqlite3.Cursor


class Transaction(Protocol):
    """An SQLite unit of work, as its parts see it."""

    _conn: Connection

    def _writable(self) -> None:
        """Refuse a write in a read-only unit of work (:class:`~loyalty.errors.StorageError`)."""
        ...

    def _flush(self) -> None:
        """Insert the entry appended last, if it is not in yet (with the lot it keeps)."""
        ...


class Pool(Protocol):
    """Where a unit of work borrows its connection (:class:`~loyalty.store.sqlite.SQLiteStore`)."""

    def _borrow(self) -> Connection: ...

    def _give_back(self, conn: Connection) -> None: ...


class Transactional:
    """A unit of work's transaction on a borrowed connection: ``BEGIN`` (``BEGIN IMMEDIATE`` to
    write) on entry; on exit, ``ROLLBACK`` unless committed, driver errors translated, and the
    connection back in the pool.

    The unit of work is its own context manager, with ``__enter__`` and ``__exit__`` rather
    than a generator's: a read such as a balance is a handful of statements, and the generator
    machinery, then a transaction object of its own, cost a fair part of it.
    """

    _pool: Pool
    _readonly: bool
    _conn: Connection
    _entered = False

    def __enter__(self) -> Self:
        if self._entered:
            # Entered again, its first connection would be lost mid-transaction and the second
            # given back to the pool twice, to be handed to two borrowers at once.
            raise StorageError(None, "a unit of work is entered once: ask the store for another")
        conn = self._pool._borrow()
        try:
            conn.own.execute("BEGIN" if self._readonly else "BEGIN IMMEDIATE")
        except BaseException as exc:
            self._pool._give_back(conn)
            if isinstance(exc, sqlite3.Error):
                raise translate(exc) from exc
            raise
        self._entered = True
        self._conn = conn
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        try:
            if conn.in_transaction:
                # Not committed, or the block raised: nothing it did is kept.
                conn.own.execute("ROLLBACK")
        finally:
            self._pool._give_back(conn)
        if isinstance(exc, sqlite3.Error):
            raise translate(exc) from exc
