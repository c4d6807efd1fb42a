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
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from psycopg.sql import Composed

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"

__all__ = ["DEFAULT_DSN", "admin", "fresh_schema_url", "postgres_dsn", "schema_of"]


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


def schema_of(url: str) -> str:
    """The schema a store URL made by :func:`fresh_schema_url` names."""
    return url.rsplit("schema=", 1)[1]


def admin(statement: Composed) -> None:
    """Run one statement on the test server as its owner, outside any store (autocommit)."""
    import psycopg

    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        conn.execute(statement)
