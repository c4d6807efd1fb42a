"""The PostgreSQL adapter's tests each get a schema of their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loyalty.store.postgres import PostgresStore, open_postgres
from tests.pg import fresh_schema_url, postgres_dsn


@pytest.fixture
def schema_url() -> Iterator[str]:
    """A store URL on a new, uniquely named schema, dropped after the test."""
    url, drop = fresh_schema_url(postgres_dsn())
    yield url
    drop()


@pytest.fixture
def postgres_store(schema_url: str) -> Iterator[PostgresStore]:
    """A PostgreSQL store on the test's own schema."""
    store = open_postgres(schema_url)
    yield store
    store.close()
