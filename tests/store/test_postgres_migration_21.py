"""PostgreSQL schema 21: an erasure's record of its other members' parts among the kinds indexed
for finding half-written commands; schemas of version 20 upgraded to it."""

from __future__ import annotations

import psycopg
import pytest

from loyalty.erasure_parts import KIND
from loyalty.store.postgres import SCHEMA_VERSION, open_postgres
from loyalty.transfers import PARTED_KINDS
from tests import shop
from tests.pg import postgres_dsn, schema_of
from tests.tampering import as_postgres_schema_20

pytestmark = pytest.mark.postgres


def _parts_index(schema: str) -> str:
    with psycopg.connect(postgres_dsn()) as conn:
        query = "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = 'operations_parts'"
        found = conn.execute(query, (schema,)).fetchone()
        assert found is not None
        return str(found[0])


def test_a_version_20_schema_finds_its_half_written_erasures_through_the_index_once_upgraded(
    schema_url: str,
) -> None:
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    expected = shop.keep_half_written(store)
    assert KIND in PARTED_KINDS and expected[KIND]
    store.close()
    schema = schema_of(schema_url)
    fresh = _parts_index(schema)
    as_postgres_schema_20(postgres_dsn(), schema)
    assert KIND in fresh and KIND not in _parts_index(schema)
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    assert _parts_index(schema) == fresh
    store = open_postgres(schema_url)
    try:
        assert shop.half_written(store) == expected
    finally:
        store.close()
