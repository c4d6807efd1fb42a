"""PostgreSQL connections: a wrong URL fails fast with the server's reason, dead pooled
connections are replaced so reads and writes go on after a restart, and opening without
migrating creates and upgrades nothing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from loyalty import Engine, Line, Program, Purchase
from loyalty.errors import StorageError
from loyalty.store import open_store
from loyalty.store.postgres import SCHEMA_VERSION, open_postgres
from tests.pg import admin, postgres_dsn, schema_of

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("PG", "EUR")


def _with(dsn: str, *, path: str | None = None, user: str | None = None, port: int | None = None) -> str:
    """``dsn`` with another database, role or port."""
    parts = urlsplit(dsn)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{user or parts.username or 'postgres'}@{host}:{port or parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path=path if path is not None else parts.path))


def _schema_exists(schema: str) -> bool:
    with psycopg.connect(postgres_dsn()) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return found is not None


@pytest.mark.parametrize(
    ("wrong", "reason"),
    [
        ({"path": "/no_such_database_here"}, 'database "no_such_database_here" does not exist'),
        ({"user": "no_such_role_here"}, 'role "no_such_role_here" does not exist'),
        ({"port": 1}, "Connection refused"),
    ],
)
def test_a_wrong_url_fails_within_seconds_with_the_servers_reason(
    wrong: dict[str, str | int], reason: str
) -> None:
    url = _with(postgres_dsn(), **wrong)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        open_store(url)
    assert time.monotonic() - started < 5
    assert reason in str(info.value)
    assert info.value.field == "url"


def test_a_mistyped_libpq_option_is_named() -> None:
    started = time.monotonic()
    with pytest.raises(StorageError, match="sslmod") as info:
        open_store(f"{postgres_dsn()}?sslmod=disable")
    assert time.monotonic() - started < 5
    assert info.value.field == "url"


def _terminate(application: str) -> int:
    """End the server side of every connection opened under ``application``; how many."""
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchall()
    return len(rows)


def _pooled(application: str, count: int) -> int:
    """Wait (up to 10 s) until ``count`` connections are open under ``application``; how many are.

    The pool replaces dropped connections in the background, at its own pace under load."""
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application,)
            ).fetchone()
        opened = int(row[0]) if row else 0
        if opened >= count or time.monotonic() > deadline:
            return opened
        time.sleep(0.05)


def test_reads_and_writes_go_on_after_the_server_drops_every_pooled_connection(schema_url: str) -> None:
    application = f"loyalty-drop-{uuid.uuid4().hex[:8]}"
    # More idle connections than the engine has attempts: each would otherwise be tried in turn.
    store = open_store(f"{schema_url}&pool_min=5&pool_max=5&application_name={application}")
    try:
        engine = Engine(PROGRAM, store, clock=lambda: T0, max_attempts=2)
        engine.enroll("M1", at=T0)
        sale = Purchase("P1", "M1", T0, [Line("x", 1, Decimal("12.00"))], "EUR")
        assert engine.record_purchase(sale).points == 12
        assert _terminate(application) >= 5
        assert engine.balance("M1").available == 12  # a read first
        assert _pooled(application, 5) >= 5
        assert _terminate(application) >= 5
        second = Purchase("P2", "M1", T0, [Line("x", 1, Decimal("3.00"))], "EUR")
        assert engine.record_purchase(second).balance_after == 15  # and a write
        assert [entry.source_id for entry in engine.history("M1")] == ["P1", "P2"]
    finally:
        store.close()


def test_opening_without_migrating_refuses_an_absent_schema_and_creates_nothing() -> None:
    schema = f"test_{uuid.uuid4().hex}"
    url = f"{postgres_dsn()}?schema={schema}"
    with pytest.raises(StorageError, match="no loyalty store") as info:
        open_store(url, migrate=False)
    assert info.value.field == "url"
    assert not _schema_exists(schema)


def test_opening_without_migrating_refuses_an_older_schema_and_leaves_it(schema_url: str) -> None:
    open_postgres(schema_url).close()
    s = sql.Identifier(schema_of(schema_url))
    admin(sql.SQL("UPDATE {}.schema_version SET version = {}").format(s, sql.Literal(SCHEMA_VERSION - 1)))
    with pytest.raises(StorageError, match=f"schema version {SCHEMA_VERSION - 1}"):
        open_postgres(schema_url, migrate=False)
    with psycopg.connect(postgres_dsn()) as conn:
        row = conn.execute(sql.SQL("SELECT version FROM {}.schema_version").format(s)).fetchone()
    assert row == (SCHEMA_VERSION - 1,)


def test_opening_without_migrating_serves_a_current_schema(schema_url: str) -> None:
    open_postgres(schema_url).close()
    with open_store(schema_url, migrate=False) as store:
        Engine(PROGRAM, store).enroll("M1", at=T0)
        assert Engine(PROGRAM, store).balance("M1").available == 0
