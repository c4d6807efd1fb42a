"""The statements that move an erased member's rows to its pseudonym (PostgreSQL schema 23:
:mod:`loyalty.store.postgres.moved_entries`), composed from the live catalog so that a table a
later schema adds moves too.

A row moves as a copy under the new value followed by a delete of the old row, never as an
``UPDATE`` of the column a cluster distributes its table by (docs/scaling.md): the member's id
for the member's tables, the key for ``operations``. Every other value is copied as it is, an
identity column's (an entry's ``seq``) too, so that the ledger's chain, lots and links read the
same under the pseudonym. The statements take the parameters ``old``, ``new`` and the ids the
engine made from the member's id, as two arrays ``sources`` and ``made`` (old and new, pairwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg import sql

__all__ = ["compare_records", "compare_rows", "copy_records", "copy_rows", "delete_records", "delete_rows"]

#: The ids the engine made from the member's, as rows (source, made).
_PAIRS = "unnest(%(sources)s::text[], %(made)s::text[]) AS r(source, made)"


def _insert(schema: str, table: str, columns: Sequence[str], values: list[sql.Composable]) -> sql.Composed:
    from psycopg import sql

    return sql.SQL("INSERT INTO {s}.{t} ({c}) OVERRIDING SYSTEM VALUE SELECT {v} FROM {s}.{t} AS o ").format(
        s=sql.Identifier(schema),
        t=sql.Identifier(table),
        c=sql.SQL(", ").join(map(sql.Identifier, columns)),
        v=sql.SQL(", ").join(values),
    )


def copy_rows(schema: str, table: str, columns: Sequence[str], member: str) -> sql.Composed:
    """A copy of the rows of ``table`` whose ``member`` column is ``old``, under ``new``: with
    their ``source_id`` (an entry's, an event's) renamed where the engine made it from the id."""
    from psycopg import sql

    values: list[sql.Composable] = [
        sql.SQL("%(new)s")
        if column == member
        else sql.SQL("COALESCE(r.made, o.source_id)")
        if column == "source_id"
        else sql.SQL("o.{}").format(sql.Identifier(column))
        for column in columns
    ]
    joined = sql.SQL("LEFT JOIN " + _PAIRS + " ON r.source = o.source_id " if "source_id" in columns else "")
    where = sql.SQL("WHERE o.{} = %(old)s").format(sql.Identifier(member))
    return _insert(schema, table, columns, values) + joined + where


def compare_rows(schema: str, table: str, columns: Sequence[str], member: str) -> sql.Composed:
    """For the rows of ``table`` whose ``member`` column is ``old`` and for their copy under
    ``new``, a row each: whether it is the copy's, how many rows, and a digest of their values but
    the member (an old row's ``source_id`` as the copy must have it: renamed where the engine
    made it from the id), in an order that does not depend on where the rows are. The erasure
    compares the two before it deletes the old rows: the entries' guard on ``DELETE`` reads only
    the entry's own member's rows (on a cluster, its shard), so the check that nothing was lost
    or changed on the way is this one. Each side reads one member's rows."""
    from psycopg import sql

    m, s, t = sql.Identifier(member), sql.Identifier(schema), sql.Identifier(table)
    copied = sql.SQL("to_jsonb(o) - {}").format(sql.Literal(member))
    if "source_id" in columns:
        old = sql.SQL(
            "({} || jsonb_build_object('source_id', COALESCE(r.made, o.source_id)))::text AS v"
            " FROM {}.{} AS o LEFT JOIN " + _PAIRS + " ON r.source = o.source_id"
        ).format(copied, s, t)
    else:
        old = sql.SQL("({})::text AS v FROM {}.{} AS o").format(copied, s, t)
    new = sql.SQL("({})::text AS v FROM {}.{} AS o").format(copied, s, t)
    side = (
        "SELECT {copy}, count(*), md5(string_agg(v, ',' ORDER BY v))"
        " FROM (SELECT {rows} WHERE o.{m} = {who}) AS x"
    )
    return sql.SQL(" UNION ALL ").join(
        sql.SQL(side).format(copy=sql.SQL(copy), rows=rows, m=m, who=sql.SQL(who))
        for copy, rows, who in (("false", old, "%(old)s"), ("true", new, "%(new)s"))
    )


def compare_records(schema: str) -> sql.Composed:
    """As :func:`compare_rows` for the records of ``operations`` keyed by an id the engine made
    and their copies under the new keys: the old ones with the key the copy must have."""
    from psycopg import sql

    side = (
        "SELECT {copy}, count(*), md5(string_agg(v, ',' ORDER BY v)) FROM (SELECT {v}::text AS v"
        " FROM {s}.operations AS o {join}) AS x"
    )
    old = {
        "v": sql.SQL("to_jsonb(o) || jsonb_build_object('key', r.made)"),
        "join": sql.SQL("JOIN " + _PAIRS + " ON o.key = r.source"),
    }
    new = {"v": sql.SQL("to_jsonb(o)"), "join": sql.SQL("WHERE o.key = ANY(%(made)s::text[])")}
    return sql.SQL(" UNION ALL ").join(
        sql.SQL(side).format(copy=sql.SQL(copy), s=sql.Identifier(schema), **parts)
        for copy, parts in (("false", old), ("true", new))
    )


def delete_rows(schema: str, table: str, member: str) -> sql.Composed:
    """The delete of the rows of ``table`` whose ``member`` column is ``old``."""
    from psycopg import sql

    return sql.SQL("DELETE FROM {}.{} WHERE {} = %(old)s").format(
        sql.Identifier(schema), sql.Identifier(table), sql.Identifier(member)
    )


def copy_records(schema: str, columns: Sequence[str]) -> sql.Composed:
    """A copy of the records of ``operations`` keyed by an id the engine made, under its new key."""
    from psycopg import sql

    values: list[sql.Composable] = [
        sql.SQL("r.made") if column == "key" else sql.SQL("o.{}").format(sql.Identifier(column))
        for column in columns
    ]
    return _insert(schema, "operations", columns, values) + sql.SQL("JOIN " + _PAIRS + " ON o.key = r.source")


def delete_records(schema: str) -> sql.Composed:
    """The delete of the records of ``operations`` keyed by an id the engine made."""
    from psycopg import sql

    return sql.SQL("DELETE FROM {}.operations WHERE key = ANY(%(sources)s::text[])").format(
        sql.Identifier(schema)
    )
