"""Where the PostgreSQL tests find their server, shared by every test file that needs one.

``LOYALTY_TEST_POSTGRES_DSN`` names the server (default: a local ``test``
database). Without a reachable server the tests are skipped with the reason,
except under ``CI``, where a missing server is a broken pipeline and fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.sql import Composed

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"

__all__ = [
    "DEFAULT_DSN",
    "admin",
    "drop_spare_schemas",
    "fresh_schema_url",
    "plan_of",
    "postgres_dsn",
    "schema_of",
    "shape",
    "store_schema_url",
]


@cache
def _unreachable(dsn: str) -> str | None:
    """Why ``dsn`` cannot be used, or ``None``; probed once per run so a dead server costs one timeout."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc}): pip install 'loyalty-engine[postgres]'"
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        # libpq's message spans lines; one line reads better in the skip summary.
        return f"PostgreSQL at {dsn} is unreachable: {' '.join(str(exc).split())}"
    return None


def postgres_dsn() -> str:
    """The test server's DSN; skips the calling test if it is unreachable (fails it under ``CI``)."""
    dsn = os.environ.get("LOYALTY_TEST_POSTGRES_DSN") or DEFAULT_DSN
    reason = _unreachable(dsn)
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the PostgreSQL tests must run)")
        pytest.skip(f"{reason} (set LOYALTY_TEST_POSTGRES_DSN)")
    return dsn


def fresh_schema_url(dsn: str) -> tuple[str, Callable[[], None]]:
    """A store URL on a new, uniquely named schema, and a function that drops that schema."""
    from psycopg import connect, sql

    schema = f"test_{uuid.uuid4().hex}"
    url = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"

    def drop() -> None:
        with connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    return url, drop


# What a schema is made of, read from the catalog: its relations (with their owners, grants and
# row security), columns, rules, policies, constraints, indexes, triggers (with whether they
# fire) and functions (with their settings). Two schemas with the same text are interchangeable
# for a test that starts from an empty store.
_SHAPE = """
WITH c AS (SELECT * FROM pg_class WHERE relnamespace = %(schema)s::regnamespace)
SELECT concat_ws(E'\\n',
  (SELECT string_agg(c.relname::text || ':' || c.relkind::text || ':' || c.relrowsecurity::text
                     || ':' || c.relowner::text || ':' || coalesce(c.relacl::text, ''), ','
                     ORDER BY c.relname)
     FROM c),
  (SELECT string_agg(r.rulename::text || ':' || pg_get_ruledef(r.oid), ',' ORDER BY c.relname, r.rulename)
     FROM pg_rewrite r JOIN c ON c.oid = r.ev_class WHERE r.rulename <> '_RETURN'),
  (SELECT string_agg(p.polname::text || ':' || p.polcmd::text || ':'
                     || coalesce(pg_get_expr(p.polqual, p.polrelid), ''), ',' ORDER BY c.relname, p.polname)
     FROM pg_policy p JOIN c ON c.oid = p.polrelid),
  (SELECT string_agg(c.relname::text || '.' || a.attnum::text || '.' || a.attname::text
                     || ':' || format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull::text
                     || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                     ',' ORDER BY c.relname, a.attnum)
     FROM c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum),
  (SELECT string_agg(x.conname::text || ':' || pg_get_constraintdef(x.oid), ',' ORDER BY x.conname)
     FROM pg_constraint x WHERE x.connamespace = %(schema)s::regnamespace),
  (SELECT string_agg(pg_get_indexdef(i.indexrelid), ',' ORDER BY pg_get_indexdef(i.indexrelid))
     FROM pg_index i JOIN c ON c.oid = i.indexrelid),
  (SELECT string_agg(t.tgname::text || ':' || t.tgenabled::text || ':' || pg_get_triggerdef(t.oid), ','
                     ORDER BY t.tgname)
     FROM pg_trigger t JOIN c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal),
  -- The foreign keys' own triggers are named by their oids: only whether they fire counts.
  (SELECT string_agg(t.tgenabled::text, '' ORDER BY t.tgenabled)
     FROM pg_trigger t JOIN c ON c.oid = t.tgrelid WHERE t.tgisinternal),
  (SELECT string_agg(p.proname::text || ':' || p.prosrc || ':' || coalesce(p.proconfig::text, ''), ','
                     ORDER BY p.proname)
     FROM pg_proc p WHERE p.pronamespace = %(schema)s::regnamespace))
"""

# Per process: the shape and rows of a schema just migrated to the current version, and the
# schemas given back clean, ready for the next test.
_reference: dict[str, object] = {}
_spares: list[str] = []


def shape(conn: Connection, schema: str) -> str:
    """``schema``'s shape as text, its own name taken out (index and trigger definitions name it)."""
    row = conn.execute(_SHAPE, {"schema": schema}).fetchone()
    return "" if row is None or row[0] is None else str(row[0]).replace(schema, "{schema}")


def _read_start(conn: Connection, schema: str) -> tuple[str, dict[str, str], list[str]]:
    """``schema``'s shape, the rows of its tables that are not empty (as JSON), and its sequences."""
    from psycopg import sql

    made = shape(conn, schema)
    rows: dict[str, str] = {}
    tables = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
    ).fetchall()
    for (table,) in tables:
        found = conn.execute(
            sql.SQL("SELECT coalesce(json_agg(t), '[]')::text FROM {}.{} t").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        ).fetchone()
        rows[table] = "[]" if found is None else str(found[0])
    sequences = [
        name
        for (name,) in conn.execute(
            "SELECT sequencename FROM pg_sequences WHERE schemaname = %s ORDER BY 1", (schema,)
        ).fetchall()
    ]
    return made, rows, sequences


def _clean(conn: Connection, schema: str) -> bool:
    """Put ``schema`` back as it was when just migrated; ``False`` if its shape was changed."""
    from psycopg import sql

    if shape(conn, schema) != _reference["shape"]:
        return False
    rows = _reference["rows"]
    assert isinstance(rows, dict)
    s = sql.Identifier(schema)
    conn.execute("BEGIN")
    try:
        # The ledger's triggers refuse deletes, as they should for everyone but this cleaner.
        conn.execute("SET LOCAL session_replication_role = replica")
        for table, start in rows.items():
            t = sql.Identifier(table)
            conn.execute(sql.SQL("DELETE FROM {}.{}").format(s, t))
            if start != "[]":
                restore = "INSERT INTO {}.{} SELECT * FROM json_populate_recordset(NULL::{}.{}, %s)"
                conn.execute(sql.SQL(restore).format(s, t, s, t), (start,))
        sequences = _reference["sequences"]
        assert isinstance(sequences, list)
        for name in sequences:
            conn.execute(sql.SQL("ALTER SEQUENCE {}.{} RESTART").format(s, sql.Identifier(name)))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def store_schema_url(dsn: str) -> tuple[str, Callable[[], None]]:
    """A store URL on an empty schema at the current version, and a function that gives it back.

    Creating a schema runs every migration and costs about half a second, most of a short
    PostgreSQL test; so a schema given back is emptied (its rows deleted, its sequences
    restarted) and handed to the next test of this process instead, unless the test changed
    its shape (a trigger disabled, a column added...), in which case it is dropped. A test that
    needs an empty schema or an old version uses :func:`fresh_schema_url` instead.
    """
    import psycopg

    from loyalty.store.postgres import open_postgres

    if _spares:
        schema = _spares.pop()
    else:
        url, _ = fresh_schema_url(dsn)
        schema = schema_of(url)
        open_postgres(url).close()
        if not _reference:
            with psycopg.connect(dsn, autocommit=True) as conn:
                _reference["shape"], _reference["rows"], _reference["sequences"] = _read_start(conn, schema)
    url = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"

    def give_back() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            if _clean(conn, schema):
                _spares.append(schema)
            else:
                _drop(conn, schema)

    return url, give_back


def _drop(conn: Connection, schema: str) -> None:
    from psycopg import sql

    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def drop_spare_schemas() -> None:
    """Drop the schemas kept for reuse (at the end of the run)."""
    if not _spares:
        return
    import psycopg

    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        while _spares:
            _drop(conn, _spares.pop())


def schema_of(url: str) -> str:
    """The schema a store URL made by :func:`fresh_schema_url` names."""
    return url.rsplit("schema=", 1)[1]


def admin(statement: Composed) -> None:
    """Run one statement on the test server as its owner, outside any store (autocommit)."""
    import psycopg

    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        conn.execute(statement)


def plan_of(query: Any, params: tuple[Any, ...], *, generic: bool) -> list[str]:
    """The plan of ``query`` (a composed statement of the store's) with ``params``: for the
    values given (a custom plan), or for any (the generic plan of a prepared statement, which a
    driver may come to use). With scans of the whole table and bitmaps off, a plan that could
    not walk an index in its order would still scan or sort."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(postgres_dsn()) as conn:
        text = query.as_string(conn)
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        if not generic:
            rows = conn.execute(sql.SQL("EXPLAIN ") + sql.SQL(text), params).fetchall()
        else:
            numbered = text
            for n in range(1, len(params) + 1):
                numbered = numbered.replace("%s", f"${n}", 1)
            conn.execute("SET plan_cache_mode = force_generic_plan")
            conn.execute(sql.SQL("PREPARE planned AS ") + sql.SQL(numbered))
            rows = conn.execute(
                sql.SQL("EXPLAIN EXECUTE planned ({})").format(sql.SQL(", ").join(map(sql.Literal, params)))
            ).fetchall()
    return [str(row[0]) for row in rows]
