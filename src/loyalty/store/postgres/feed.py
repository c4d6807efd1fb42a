"""The PostgreSQL adapter's ledger feed (:meth:`loyalty.store.LedgerRole.entries`), a mixin of its
unit of work.

Entries draw their ``seq`` while their transaction runs, and transactions overlap: entry 10 may
commit after entry 11, and a reader that took 11 and went on from it would never see 10. The
outbox numbers its events at commit under one row's lock instead; entries cannot wait for their
commit to be numbered (a credit's lot is its ``seq``), and a lock every purchase takes at commit
would make the tills commit one at a time. So the reader does the waiting: every writing unit of
work holds an advisory lock of its own (the schema's feed key and its backend's pid) from its
``BEGIN``, before it can draw a number; a page notes the last number drawn, waits for each
writer holding such a lock then, and reads up to that number in a snapshot taken after the wait.
Each wait is for one writer's transaction, so the tills never queue behind the reader (a
backend's next transaction at most waits for the reader to take and drop its lock).
"""

from __future__ import annotations

from loyalty.chains import Head, Link
from loyalty.errors import StorageError
from loyalty.ledger import Entry
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import entry_from_row

__all__ = ["PostgresFeed"]


class PostgresFeed:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` reads of the whole ledger: the
    feed, its horizon and the hash chain's links and heads."""

    def entries(self: Transaction, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        # REPEATABLE READ: the first read takes the snapshot, which must follow the waits; and
        # a writer holds its own feed lock, which another writer reading would wait for.
        if not (self._readonly and self._fresh):
            raise StorageError(None, "read the ledger feed first in a read-only unit of work")
        # The waits go out before BEGIN, so the transaction's snapshot follows them.
        begin, self._queued = self._queued, []
        try:
            horizon = _wait_for_writers(self)
        finally:
            self._queued = begin + self._queued
        # LIMIT NULL is no limit.
        rows = self._execute(self._q.entries, (after, horizon, limit)).fetchall()
        return [entry_from_row(row) for row in rows]

    def last_seq(self: Transaction) -> int:
        # The sequence's last number drawn, by any transaction: what the ledger feed waits up to.
        return _horizon(self)

    def chain_links(self: Transaction, *, after: int = 0, limit: int) -> list[Link]:
        rows = self._execute(self._q.chain_links, (after, limit)).fetchall()
        return [
            Link(entry_from_row(row), *(None if value is None else bytes(value) for value in row[-2:]))
            for row in rows
        ]

    def chain_heads(self: Transaction, *, after: str = "", limit: int) -> list[Head]:
        rows = self._execute(self._q.chain_heads, (after, limit)).fetchall()
        return [Head(str(member), int(seq), bytes(link), int(balance)) for member, seq, link, balance in rows]


def _horizon(uow: Transaction) -> int:
    """The last entry number drawn by any transaction, committed or not."""
    row = uow._execute(uow._q.feed_horizon, (uow._q.entries_table,)).fetchone()
    return int(row[0]) if row is not None else 0


def _wait_for_writers(uow: Transaction) -> int:
    """The last entry number drawn, once every transaction that may have drawn one has ended.

    A writer takes its feed lock before it draws a number; so one that drew a number at or below
    the horizon (read first) either holds its lock when the locks are listed, or has ended.
    """
    horizon = _horizon(uow)
    for (pid,) in uow._execute(uow._q.feed_writers).fetchall():
        uow._execute(uow._q.feed_wait, (pid,))
    return horizon
