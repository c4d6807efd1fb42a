"""Members' cards and keys in PostgreSQL (schema 11): the unit of work's part for
:class:`loyalty.store.identifier_role.IdentifiersRole`, apart so its module stays readable."""

from __future__ import annotations

from loyalty.errors import StorageError
from loyalty.identifiers import Identifier, IdentifierKind
from loyalty.store.postgres.driver import pg_text
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import identifier_from_row, offset_of

__all__ = ["IdentifierRows"]


def _known(uow: Transaction, member_id: str) -> None:
    if uow.member(member_id) is None:
        raise StorageError("member_id", f"no member {member_id!r}")


class IdentifierRows:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` does with keys."""

    def add_identifier(self: Transaction, identifier: Identifier) -> None:
        self._writable()
        _known(self, identifier.member_id)
        # A key taken meanwhile by another writer is a unique violation the engine retries, and
        # the retry finds the key taken.
        self._execute(
            self._q.add_identifier,
            (
                identifier.kind.value,
                pg_text("key", identifier.value),
                identifier.member_id,
                identifier.since,
                offset_of(identifier.since),
                identifier.status.value,
                identifier.replaced_by,
            ),
        )

    def identifier(self: Transaction, kind: IdentifierKind, value: str) -> Identifier | None:
        row = self._execute(self._q.identifier, (kind.value, pg_text("key", value))).fetchone()
        return None if row is None else identifier_from_row(row)

    def identifiers(self: Transaction, member_id: str) -> list[Identifier]:
        return [
            identifier_from_row(row) for row in self._execute(self._q.identifiers, (member_id,)).fetchall()
        ]

    def update_identifier(self: Transaction, identifier: Identifier) -> None:
        self._writable()
        _known(self, identifier.member_id)
        cursor = self._execute(
            self._q.update_identifier,
            (
                identifier.member_id,
                identifier.since,
                offset_of(identifier.since),
                identifier.status.value,
                identifier.replaced_by,
                identifier.kind.value,
                identifier.value,
            ),
        )
        if cursor.rowcount != 1:
            raise StorageError("key", f"no {identifier.key} to update")
