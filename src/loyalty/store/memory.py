"""The in-memory adapter: the reference every other adapter is tested against.

Writers are serialized by one lock held for the whole unit of work, and every
change records how to undo itself, so a unit of work that is not committed
leaves the dictionaries exactly as they were.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from loyalty.errors import StorageError
from loyalty.ledger import Entry, Posting
from loyalty.members import Member
from loyalty.store import Operation

__all__ = ["MemoryStore", "open_memory"]


class _Data:
    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.balances: dict[str, int] = {}
        self.entries: dict[str, list[Entry]] = {}
        self.operations: dict[str, Operation] = {}
        self.next_seq = 1


class MemoryUnitOfWork:
    """Its own context manager (no generator): this is the hot path of every in-memory command."""

    def __init__(self, data: _Data, readonly: bool, lock: threading.RLock) -> None:
        self._data = data
        self._readonly = readonly
        self._lock = lock
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> MemoryUnitOfWork:
        self._lock.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            # Rolled back unless committed, whether the block raised or not.
            self.rollback()
        finally:
            self._lock.release()

    def _writable(self) -> None:
        if self._readonly:
            raise StorageError(None, "write in a read-only unit of work")

    def member(self, member_id: str) -> Member | None:
        return self._data.members.get(member_id)

    def add_member(self, member: Member) -> None:
        self._writable()
        data = self._data
        if member.id in data.members:
            raise StorageError("member_id", f"member {member.id!r} already exists")
        data.members[member.id] = member
        data.balances[member.id] = 0
        data.entries[member.id] = []

        def undo() -> None:
            del data.members[member.id], data.balances[member.id], data.entries[member.id]

        self._undo.append(undo)

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None:
        return self._data.balances.get(member_id)

    def append(self, posting: Posting) -> Entry:
        self._writable()
        data = self._data
        mid = posting.member_id
        before = data.balances[mid]
        entry = posting.recorded(data.next_seq, before + posting.points)
        data.next_seq += 1
        data.balances[mid] = entry.balance_after
        data.entries[mid].append(entry)

        def undo() -> None:
            data.entries[mid].pop()
            data.balances[mid] = before
            data.next_seq -= 1

        self._undo.append(undo)
        return entry

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        entries = [e for e in self._data.entries.get(member_id, ()) if e.seq > after]
        return entries if limit is None else entries[:limit]

    def operation(self, key: str) -> Operation | None:
        return self._data.operations.get(key)

    def add_operation(self, operation: Operation) -> None:
        self._writable()
        ops = self._data.operations
        if operation.key in ops:
            raise StorageError("id", f"operation {operation.key!r} already exists")
        ops[operation.key] = operation
        self._undo.append(lambda: ops.__delitem__(operation.key))

    def commit(self) -> None:
        self._undo.clear()

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()


class MemoryStore:
    """A store that lives as long as the object does. ``memory://`` in :func:`~loyalty.open_store`."""

    def __init__(self) -> None:
        self._data = _Data()
        self._lock = threading.RLock()
        self._closed = False

    def unit_of_work(self, *, readonly: bool = False) -> MemoryUnitOfWork:
        if self._closed:
            raise StorageError(None, "the store is closed")
        return MemoryUnitOfWork(self._data, readonly, self._lock)

    def close(self) -> None:
        self._closed = True


def open_memory(url: str = "memory://") -> MemoryStore:
    return MemoryStore()
