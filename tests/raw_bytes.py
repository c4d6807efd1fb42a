"""What a store keeps, as bytes, for the erasure tests that look for a value in it: the byte
forms a value may be kept in, a data dump of a PostgreSQL schema, a SQLite file checkpointed and
vacuumed, and the in-memory store's structures written out."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from loyalty.store import Store

__all__ = ["forms", "memory_bytes", "pg_dump", "sqlite_bytes", "store_bytes"]


def forms(value: str) -> Iterator[bytes]:
    """The byte forms a value may be kept in: UTF-8, and inside JSON escaped or not."""
    yield value.encode()
    yield json.dumps(value)[1:-1].encode()
    yield json.dumps(value, ensure_ascii=False)[1:-1].encode()


def pg_dump(dsn: str, schema: str) -> bytes:
    """Every row of ``schema`` (``pg_dump --data-only``, or ``COPY`` of each table without it)."""
    if shutil.which("pg_dump") is not None:
        done = subprocess.run(
            ["pg_dump", "--dbname", dsn, "--schema", schema, "--data-only"],
            check=True,
            capture_output=True,
        )
        return done.stdout
    import psycopg
    from psycopg import sql

    out = bytearray()
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        for (table,) in tables:
            copy = sql.SQL("COPY {}.{} TO STDOUT").format(sql.Identifier(schema), sql.Identifier(table))
            with conn.cursor().copy(copy) as stream:
                for block in stream:
                    out += block
    return bytes(out)


def sqlite_bytes(path: Path) -> bytes:
    """The bytes of the (closed) SQLite database ``path`` and its side files, checkpointed and
    vacuumed: no free page keeps an old row."""
    # closing(): a connection's own `with` commits but leaves it open (3.13 warns when collected).
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


def store_bytes(adapter: str, store: Store, path: Path, dsn: str, schema: str) -> bytes:
    """The bytes of ``store`` of ``adapter`` (closed first): a SQLite file at ``path``, a
    PostgreSQL ``schema`` at ``dsn``, or the in-memory store's structures (kept open)."""
    if adapter == "memory":
        return memory_bytes(store)
    store.close()
    return sqlite_bytes(path) if adapter == "sqlite" else pg_dump(dsn, schema)


def memory_bytes(store: Store) -> bytes:
    """Everything the in-memory ``store`` keeps, written out (each structure's ``repr``)."""
    data = store._data  # type: ignore[attr-defined]  # the in-memory store's own structures
    return repr(sorted(vars(data).items())).encode()
