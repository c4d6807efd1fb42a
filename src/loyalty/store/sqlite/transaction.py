"""What the parts of :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` kept in
modules of their own (keys, vouchers, lots, holds) need of it: its connection and its guard.

Their methods take ``self: Transaction``, so mypy checks that the unit of work composing them
has both, and a part declares nothing of the unit of work's itself.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

__all__ = ["Transaction"]


class Transaction(Protocol):
    """An SQLite unit of work, as its parts see it."""

    _conn: sqlite3.Connection

    def _writable(self) -> None:
        """Refuse a write in a read-only unit of work (:class:`~loyalty.errors.StorageError`)."""
        ...

    def _flush(self) -> None:
        """Insert the entry appended last, if it is not in yet (with the lot it keeps)."""
        ...
