"""A purchase's statements prepared on the server once per connection, run by ``EXECUTE``.

A unit of work sends its statements as one simple query (``unit_of_work``: a round trip per
answer it waits for), which the server parses and plans again every time: about half of its
work for a purchase, the entry's statement with its CTEs most. Prepared once per pooled
connection (the pool's ``configure``), each is sent as ``EXECUTE name(values)`` in the same
simple query, so the batches and their round trips stay as they were while the server plans it
once (docs/performance.md, "The PostgreSQL purchase, client and server (issue 12)").
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    Connection = psycopg.Connection[tuple[Any, ...]]

_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s")


class Executed(bytes):
    """``EXECUTE name(%s, ...)``: a statement the connection has prepared, its values bound on
    this side (``EXECUTE`` cannot take the extended protocol's untyped parameters)."""


def prepare(name: str, statement: sql.Composed, types: list[str] | dict[str, str]) -> tuple[bytes, Executed]:
    """``PREPARE`` for ``statement`` (its ``%s`` or ``%(name)s`` placeholders as ``$1``...,
    typed by ``types``: in order, or by name), and the ``EXECUTE`` that binds the same values."""
    text = statement.as_string(None)
    names: list[str] = []
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        named = match.group(1)
        if named is None:
            count += 1
            return f"${count}"
        if named not in names:
            names.append(named)
        return f"${names.index(named) + 1}"

    body = _PLACEHOLDER.sub(number, text)
    if names:
        assert isinstance(types, dict) and set(types) == set(names), (name, names)
        ordered = [types[key] for key in names]
        values = ", ".join(f"%({key})s" for key in names)
    else:
        assert isinstance(types, list) and len(types) == count, name
        ordered, values = types, ", ".join(["%s"] * count)
    declared = f" ({', '.join(ordered)})" if ordered else ""
    call = f"EXECUTE {name}({values})" if values else f"EXECUTE {name}"
    return f"PREPARE {name}{declared} AS {body}".encode(), Executed(call.encode())


class Prepared:
    """The statements a connection prepares: ``text``, their ``PREPARE``s as one simple query.

    Off (the store URL's ``prepare=off``), :meth:`statement` gives each statement back as it is
    and nothing is prepared: a pooler in transaction mode (PgBouncer's) hands each transaction
    whichever server session is free, where a statement prepared on another is not found.
    """

    def __init__(self, *, on: bool) -> None:
        self.on = on
        self.text = b""

    def statement(
        self, name: str, statement: sql.Composed, types: list[str] | dict[str, str]
    ) -> Executed | sql.Composed:
        """``EXECUTE loyalty_name(...)`` for ``statement``, prepared with the others (or ``statement``)."""
        if not self.on:
            return statement
        text, call = prepare(f"loyalty_{name}", statement, types)
        self.text += text + b"; "
        return call


#: The types of an entry's values (``driver.entry_values``), as its columns hold them.
ENTRY_TYPES = {
    "member_id": "text",
    "kind": "text",
    "points": "bigint",
    "occurred_at": "timestamptz",
    "occurred_offset": "integer",
    "recorded_at": "timestamptz",
    "recorded_offset": "integer",
    "source_id": "text",
    "reason": "text",
    "actor": "text",
    "rule": "text",
    "program_version": "text",
    "vests_at": "timestamptz",
    "expires_at": "timestamptz",
    "draws": "text",
    "rolling": "boolean",
    "redates": "text",
    "rule_shares": "text",
    "opens": "bigint",
    "tallies": "text",
    "digest": "bytea",
}


def rollback(conn: Connection) -> None:
    """``ROLLBACK`` sent past psycopg's statement cache, which keeps what it prepared (and so the
    adapter's statements) on the server.

    psycopg prepares a statement run five times on a connection (``prepare_threshold``), and when it
    sees a ``ROLLBACK`` go by after it prepared one, it forgets them all and sends ``DEALLOCATE
    ALL``: that would drop this adapter's statements too, and with a read-only unit of work ending
    in a ``ROLLBACK`` (a balance read), psycopg's own would hardly outlive one. It does so for a
    transaction that created or dropped the objects its statements name; a unit of work changes no
    schema (migrations run on a connection of their own), so its ``ROLLBACK`` can go straight to
    libpq.
    """
    import psycopg
    from psycopg.pq import ExecStatus

    result = conn.pgconn.exec_(b"ROLLBACK")
    if result.status != ExecStatus.COMMAND_OK:
        message = result.error_message.decode(errors="replace") or "ROLLBACK failed"
        raise psycopg.OperationalError(message)
