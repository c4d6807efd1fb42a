"""The in-memory adapter's offline allowances (:class:`loyalty.store.OfflineRole`), a mixin of its
unit of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from loyalty.errors import StorageError
from loyalty.offline import OfflineAllowance, OfflineUse
from loyalty.store.memory.data import Data

__all__ = ["MemoryOffline"]


class Transaction(Protocol):
    """The in-memory unit of work, as its allowances see it: the data, the undo log and the guard."""

    _data: Data
    _undo: list[Callable[[], None]]

    def _writable(self) -> None:
        """Refuse a write in a read-only unit of work (:class:`~loyalty.errors.StorageError`)."""
        ...


class MemoryOffline:
    """What :class:`~loyalty.store.memory.MemoryUnitOfWork` does with offline allowances; its
    methods take ``self: Transaction``, so mypy checks the unit of work has what they use."""

    def add_offline_allowance(self: Transaction, allowance: OfflineAllowance) -> None:
        self._writable()
        data = self._data
        if allowance.id in data.allowances:
            raise StorageError("id", f"offline allowance {allowance.id!r} already exists")
        data.allowances[allowance.id] = allowance
        ids = data.terminals.setdefault(allowance.terminal_id, [])
        ids.append(allowance.id)

        def undo() -> None:
            del data.allowances[allowance.id]
            ids.remove(allowance.id)

        self._undo.append(undo)

    def offline_allowances(self: Transaction, terminal_id: str) -> list[OfflineAllowance]:
        data = self._data
        found = [data.allowances[i] for i in data.terminals.get(terminal_id, ())]
        return sorted(found, key=lambda allowance: (allowance.opened_at, allowance.id))

    def offline_uses(self: Transaction, allowance_id: str, member_id: str | None = None) -> list[OfflineUse]:
        uses = self._data.offline_uses
        if member_id is not None:
            use = uses.get((allowance_id, member_id))
            return [] if use is None else [use]
        return sorted((u for (a, _), u in uses.items() if a == allowance_id), key=lambda u: u.member_id)

    def add_offline_use(self: Transaction, use: OfflineUse) -> None:
        self._writable()
        data = self._data
        if use.allowance_id not in data.allowances:
            raise StorageError("allowance_id", f"no offline allowance {use.allowance_id!r}")
        if use.member_id not in data.members:
            raise StorageError("member_id", f"no member {use.member_id!r}")
        key = (use.allowance_id, use.member_id)
        old = data.offline_uses.get(key)
        data.offline_uses[key] = use if old is None else old + use

        def undo() -> None:
            if old is None:
                del data.offline_uses[key]
            else:
                data.offline_uses[key] = old

        self._undo.append(undo)
