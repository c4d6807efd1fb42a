"""Members' cards and keys in SQLite (schema 12): the unit of work's part for
:class:`loyalty.store.identifier_role.IdentifiersRole`, apart so its module stays readable."""

from __future__ import annotations

import sqlite3

from loyalty.errors import StorageError
from loyalty.identifiers import Identifier, IdentifierKind
from loyalty.store.rows import IDENTIFIER_COLUMNS, identifier_from_row, offset_of
from loyalty.store.sqlite.statements import sortable
from loyalty.store.sqlite.transaction import Transaction

__all__ = ["IdentifierRows"]

_INSERT = f"INSERT INTO identifiers ({IDENTIFIER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_SELECT = f"SELECT {IDENTIFIER_COLUMNS} FROM identifiers WHERE kind = ? AND value = ?"  # noqa: S608
# ``since`` is fixed-width UTC text (statements.sortable): its order is the instants' order.
_OF_MEMBER = (
    f"SELECT {IDENTIFIER_COLUMNS} FROM identifiers WHERE member_id = ?"  # noqa: S608
    " ORDER BY since, kind, value"
)
_UPDATE = (
    "UPDATE identifiers SET member_id = ?, since = ?, since_offset = ?, status = ?, replaced_by = ?"
    " WHERE kind = ? AND value = ?"
)


def _known(conn: sqlite3.Connection, member_id: str) -> None:
    if conn.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,)).fetchone() is None:
        raise StorageError("member_id", f"no member {member_id!r}")


class IdentifierRows:
    """What :class:`~loyalty.store.sqlite.unit_of_work.SQLiteUnitOfWork` does with keys."""

    def add_identifier(self: Transaction, identifier: Identifier) -> None:
        self._writable()
        _known(self._conn, identifier.member_id)
        try:
            self._conn.execute(
                _INSERT,
                (
                    identifier.kind.value,
                    identifier.value,
                    identifier.member_id,
                    sortable(identifier.since),
                    offset_of(identifier.since),
                    identifier.status.value,
                    identifier.replaced_by,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError("key", f"{identifier.key} is already recorded") from exc

    def identifier(self: Transaction, kind: IdentifierKind, value: str) -> Identifier | None:
        row = self._conn.execute(_SELECT, (kind.value, value)).fetchone()
        return None if row is None else identifier_from_row(row)

    def identifiers(self: Transaction, member_id: str) -> list[Identifier]:
        return [identifier_from_row(row) for row in self._conn.execute(_OF_MEMBER, (member_id,))]

    def update_identifier(self: Transaction, identifier: Identifier) -> None:
        self._writable()
        _known(self._conn, identifier.member_id)
        cursor = self._conn.execute(
            _UPDATE,
            (
                identifier.member_id,
                sortable(identifier.since),
                offset_of(identifier.since),
                identifier.status.value,
                identifier.replaced_by,
                identifier.kind.value,
                identifier.value,
            ),
        )
        if cursor.rowcount != 1:
            raise StorageError("key", f"no {identifier.key} to update")
