"""The port's role for offline allowances (:mod:`loyalty.offline`): granted per terminal, used per member.

A role of its own, composed into :class:`loyalty.store.UnitOfWork`, so an adapter author
can read, implement and test it alone (:mod:`loyalty.testing.contract.offline`). What all
members used under an allowance is not here: it is a tally (:func:`loyalty.offline.total_key`),
so the one counter every offline redemption of a terminal writes is locked as budgets are.
"""

from __future__ import annotations

from typing import Protocol

from loyalty.offline import OfflineAllowance, OfflineUse

__all__ = ["OfflineRole"]


class OfflineRole(Protocol):
    """Offline allowances of terminals, and each member's use of each."""

    def add_offline_allowance(self, allowance: OfflineAllowance) -> None:
        """Record a granted allowance; an id already recorded must fail with
        :class:`~loyalty.errors.StorageError` and change nothing."""
        ...

    def offline_allowances(self, terminal_id: str) -> list[OfflineAllowance]:
        """The terminal's allowances, by ``opened_at`` then id (an index on the terminal)."""
        ...

    def offline_uses(self, allowance_id: str, member_id: str | None = None) -> list[OfflineUse]:
        """Members' use of the allowance, by member id (only ``member_id``'s, when given); a
        member who never used it has no row."""
        ...

    def add_offline_use(self, use: OfflineUse) -> None:
        """Add ``use``'s counts to the member's row for its allowance (creating it); an unknown
        allowance or member must fail with :class:`~loyalty.errors.StorageError`."""
        ...
