"""The storage port's role for members' cards and keys (:mod:`loyalty.identifiers`).

A part of :class:`loyalty.store.UnitOfWork`, in a module of its own so the port's main
module stays a page one can read through.
"""

from __future__ import annotations

from typing import Protocol

from loyalty.identifiers import Identifier, IdentifierKind

__all__ = ["IdentifiersRole"]


class IdentifiersRole(Protocol):
    """Members' cards and keys: one row per key, ever (a key is unique by kind and value)."""

    def add_identifier(self, identifier: Identifier) -> None:
        """Record a key never recorded before; one already stored under the same kind and value
        (whatever its status) or an unknown member must fail with
        :class:`~loyalty.errors.StorageError` (the unique key is the final arbiter)."""
        ...

    def identifier(self, kind: IdentifierKind, value: str) -> Identifier | None:
        """The key stored under ``kind`` and ``value`` (normal form), whatever its status, or ``None``."""
        ...

    def identifiers(self, member_id: str) -> list[Identifier]:
        """The member's keys, every status, by ``since`` then kind and value (code-point order):
        an index on the member, so it costs the member's keys, not everyone's."""
        ...

    def update_identifier(self, identifier: Identifier) -> None:
        """Replace the stored key of the same kind and value: its member, ``since``, status and
        ``replaced_by`` (a status change, or a removed key given afresh). A key not stored, or an
        unknown member, must fail with :class:`~loyalty.errors.StorageError`."""
        ...
