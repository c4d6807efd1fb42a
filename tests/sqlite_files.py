"""SQLite files as an older loyalty-engine left them, for the tests that open or upgrade one."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from loyalty.store.sqlite import SCHEMA_VERSION
from loyalty.store.sqlite.migrations import MIGRATIONS

__all__ = ["has_shape_of_schema", "previous_schema_file", "schema_version_of", "shape_of"]


def previous_schema_file(path: Path, version: int = SCHEMA_VERSION - 1) -> None:
    """A new file at ``path`` as schema ``version`` (the previous one unless said) made it (no rows)."""
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.create_function("loyalty_instant", 1, lambda text: None)  # no rows to read
        conn.create_function("loyalty_pack", 4, lambda *row: None)
        conn.create_function("loyalty_shares", 4, lambda *row: None)
        for step in MIGRATIONS[:version]:
            for statement in step:
                conn.execute(statement)
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (?)", (version,))


def schema_version_of(path: Path) -> int:
    """The schema version the file at ``path`` records."""
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])


def shape_of(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Every table's columns and every index's name, by table."""
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        table: [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        + sorted(row[1] for row in conn.execute(f"PRAGMA index_list({table})"))
        for table in tables
    }


def has_shape_of_schema(conn: sqlite3.Connection, version: int, folder: Path) -> bool:
    """Whether the file ``conn`` is open on has the tables, columns and indexes of a new file of
    schema ``version`` (made in ``folder``)."""
    fresh = folder / f"fresh-v{version}.db"
    previous_schema_file(fresh, version)
    with closing(sqlite3.connect(fresh)) as made:
        return shape_of(conn) == shape_of(made)
