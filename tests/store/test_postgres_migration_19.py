"""PostgreSQL schema 19: the records of commands written in parts indexed apart, so that finding
the half-written ones is a probe; schemas of version 18 upgraded to it."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from loyalty.store.postgres import SCHEMA_VERSION, PostgresStore, open_postgres
from loyalty.transfers import PARTED_KINDS, RECEIVED
from tests import shop
from tests.pg import plan_of, postgres_dsn, schema_of
from tests.tampering import as_postgres_schema_18

pytestmark = pytest.mark.postgres


def _indexes(schema: str) -> set[str]:
    with psycopg.connect(postgres_dsn()) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,))
        return {str(name) for (name,) in rows}


def test_a_version_18_schema_finds_its_half_written_commands_through_the_index_once_upgraded(
    schema_url: str,
) -> None:
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    expected = shop.keep_half_written(store)
    assert shop.half_written(store) == expected
    store.close()
    schema = schema_of(schema_url)
    fresh = _indexes(schema)
    as_postgres_schema_18(postgres_dsn(), schema)
    assert fresh - _indexes(schema) == {
        "operations_parts",
        "member_tallies_pkey",
        "operations_purchase_order",
    }
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    assert _indexes(schema) == fresh
    store = open_postgres(schema_url)
    try:
        assert shop.half_written(store) == expected
    finally:
        store.close()


@pytest.mark.parametrize("generic", [False, True])
@pytest.mark.parametrize("kind", [*PARTED_KINDS, "unreceived"])
def test_the_search_for_half_written_commands_probes_their_index(
    postgres_store: PostgresStore, kind: str, generic: bool
) -> None:
    shop.keep_half_written(postgres_store)
    q = postgres_store._q
    params: tuple[Any, ...]
    if kind == "unreceived":
        query, params = q.unreceived_transfers, (RECEIVED, 10)
    else:
        query, params = q.unfinished_parts, (kind, RECEIVED, 10)
    plan = plan_of(query, params, generic=generic)
    # The kind's records in key order through the index (no sort), each probed by its key.
    assert any(
        "Index Only Scan using operations_parts" in step or "Index Scan using operations_parts" in step
        for step in plan
    ), plan
    assert not [step for step in plan if "Seq Scan" in step or "Sort" in step], plan


def _table_rows(schema: str) -> tuple[set[tuple[str, str]], set[str]]:
    """The (member, key) of ``member_tallies`` (none without the table) and the keys of ``tallies``."""
    s = sql.Identifier(schema)
    with psycopg.connect(postgres_dsn()) as conn:
        shared = {str(k) for (k,) in conn.execute(sql.SQL("SELECT key FROM {}.tallies").format(s))}
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,))
        if "member_tallies" not in {str(t) for (t,) in tables}:
            return set(), shared
        query = sql.SQL("SELECT member_id, key FROM {}.member_tallies").format(s)
        return {(str(m), str(k)) for m, k in conn.execute(query)}, shared


def test_a_version_18_schema_keeps_each_members_own_tallies_under_it_once_upgraded(schema_url: str) -> None:
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    expected = shop.keep_tallies(store)
    store.close()
    schema = schema_of(schema_url)
    as_postgres_schema_18(postgres_dsn(), schema)
    owned, held = _table_rows(schema)
    assert not owned
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    shop.check_tallies_moved(open_postgres(schema_url), expected, held, _table_rows(schema))
