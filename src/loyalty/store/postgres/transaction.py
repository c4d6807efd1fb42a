"""What the parts of :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` kept in
modules of their own (keys, vouchers, lots, holds, referrals, offline uses, erasure, the ledger
feed, a period's figures) need of it: its statements, the call that runs one (after what is
queued) and its guard, and the member read.

Their methods take ``self: Transaction``, so mypy checks that the unit of work composing them
has all of it, and a part declares nothing of the unit of work's itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from loyalty.members import Member
from loyalty.store.postgres.queries import Queries

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = ["Transaction"]


class Transaction(Protocol):
    """A PostgreSQL unit of work, as its parts see it."""

    _q: Queries
    #: A read-only unit of work; one that has sent nothing yet; what goes out with the next statement.
    _readonly: bool
    _fresh: bool
    _queued: list[tuple[sql.Composed | bytes, Any]]

    def _writable(self) -> None:
        """Refuse a write in a read-only unit of work (:class:`~loyalty.errors.StorageError`)."""
        ...

    def _execute(self, query: sql.Composed | bytes, params: Any = None) -> psycopg.Cursor[tuple[Any, ...]]:
        """Run ``query`` (after what is queued, in one round trip) and return its cursor."""
        ...

    def member(self, member_id: str) -> Member | None:
        """The enrolled member, or ``None`` (:class:`loyalty.store.MembersRole`)."""
        ...
