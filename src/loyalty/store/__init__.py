"""The storage port: what the engine needs from a database, and nothing more.

An adapter provides a :class:`Store` whose :meth:`Store.unit_of_work` yields a
:class:`UnitOfWork`: one atomic transaction that is rolled back unless
:meth:`UnitOfWork.commit` is called, and also when the block raises. The
engine runs every command inside exactly one unit of work.

Adapters are chosen by URL scheme with :func:`open_store`:

>>> store = open_store("memory://")
>>> with store.unit_of_work() as uow:
...     print(uow.balance("nobody"))
None
>>> store.close()

Third-party adapters register a factory under the ``loyalty.stores``
entry-point group (``scheme = "package.module:factory"``); the factory takes
the URL and returns a :class:`Store`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Protocol

import attrs

from loyalty.errors import InvalidInput
from loyalty.ledger import Entry, Posting
from loyalty.members import Member

__all__ = [
    "DEFAULT_URL",
    "Operation",
    "Store",
    "StoreFactory",
    "UnitOfWork",
    "open_store",
]

#: Where :func:`open_store` keeps data when no URL is given and
#: ``LOYALTY_STORE_URL`` is not set: an SQLite file in the working directory.
DEFAULT_URL = "sqlite:///loyalty.db"

JSON = dict[str, Any]


@attrs.frozen
class Operation:
    """A command the engine has decided, kept under the POS's idempotency key.

    ``request`` is the command's canonical form, compared field by field when
    the key comes back; ``result`` is what the command returned (or why it was
    declined), replayed verbatim on a retry.
    """

    key: str
    kind: str
    request: JSON
    result: JSON
    recorded_at: datetime


class UnitOfWork(Protocol):
    """One transaction. Nothing it did is visible to others or kept until :meth:`commit`."""

    def member(self, member_id: str) -> Member | None:
        """The enrolled member, or ``None``."""
        ...

    def add_member(self, member: Member) -> None:
        """Enroll ``member`` with a zero balance (the engine has checked it is new)."""
        ...

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None:
        """The maintained balance, or ``None`` for an unknown member.

        ``for_update=True`` means the caller will decide a write on this value:
        the adapter must make concurrent writers to this member wait (row lock,
        write transaction) so no update is lost.
        """
        ...

    def append(self, posting: Posting) -> Entry:
        """Append an entry, numbering it and moving the maintained balance with it."""
        ...

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        """The member's entries with ``seq > after``, in recording order."""
        ...

    def operation(self, key: str) -> Operation | None:
        """The operation recorded under ``key``, or ``None``."""
        ...

    def add_operation(self, operation: Operation) -> None:
        """Record an operation; a second one with the same key must fail (the final arbiter)."""
        ...

    def commit(self) -> None:
        """Make everything done in this unit of work durable and visible."""
        ...


class Store(Protocol):
    """A storage adapter."""

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        """A new transaction; rolled back on exit unless committed, translating driver errors."""
        ...

    def close(self) -> None:
        """Release connections and files; the store cannot be used afterwards."""
        ...


StoreFactory = Callable[[str], Store]

_BUILTIN: Mapping[str, str] = {
    "memory": "loyalty.store.memory:open_memory",
    "sqlite": "loyalty.store.sqlite:open_sqlite",
    "postgresql": "loyalty.store.postgres:open_postgres",
    "postgres": "loyalty.store.postgres:open_postgres",
}


def _load(target: str) -> StoreFactory:
    module, _, name = target.partition(":")
    factory: StoreFactory = getattr(import_module(module), name)
    return factory


def open_store(url: str | None = None) -> Store:
    """Open the store at ``url``: ``memory://``, ``sqlite:///path.db`` or ``postgresql://...``.

    With no URL, ``LOYALTY_STORE_URL`` is used if set, else :data:`DEFAULT_URL`.
    """
    if url is None:
        url = os.environ.get("LOYALTY_STORE_URL") or DEFAULT_URL
    if not isinstance(url, str) or "://" not in url:
        raise InvalidInput("url", f"expected scheme://..., got {url!r}")
    scheme = url.split("://", 1)[0].lower()
    target = _BUILTIN.get(scheme)
    if target is None:
        for ep in entry_points(group="loyalty.stores"):
            if ep.name == scheme:
                target = ep.value
                break
    if target is None:
        known = ", ".join(sorted({*_BUILTIN, *(ep.name for ep in entry_points(group="loyalty.stores"))}))
        raise InvalidInput("url", f"no storage adapter for scheme {scheme!r} (known: {known})")
    return _load(target)(url)
