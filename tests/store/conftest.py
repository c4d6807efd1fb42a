"""The PostgreSQL adapter's tests each get a schema of their own: a new, empty one for the tests
of migrations and of opening, an emptied one at the current version for the rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loyalty.store.postgres import PostgresStore, open_postgres
from tests.pg import fresh_schema_url, postgres_dsn, store_schema_url


@pytest.fixture
def schema_url() -> Iterator[str]:
    """A store URL on a new, uniquely named schema, dropped after the test."""
    url, drop = fresh_schema_url(postgres_dsn())
    yield url
    drop()


@pytest.fixture
def store_url() -> Iterator[str]:
    """A store URL on an empty schema at the current version, no other test's while this one runs."""
    url, give_back = store_schema_url(postgres_dsn())
    yield url
    give_back()


@pytest.fixture
def postgres_store(store_url: str) -> Iterator[PostgresStore]:
    """A PostgreSQL store on the test's own schema."""
    store = open_postgres(store_url)
    yield store
    store.close()
