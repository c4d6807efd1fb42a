"""PostgreSQL schema 22: the purchases indexed in the order of their listing without an entry
(operations_purchase_order), so that a page of it walks the index from where the last one
ended instead of sorting every purchase after it; schemas of version 21 upgraded to it list the
same purchases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from loyalty.store.no_entry import EARLIEST
from loyalty.store.postgres import SCHEMA_VERSION, PostgresStore, open_postgres
from tests.pg import plan_of, postgres_dsn, schema_of
from tests.shop import gum_at_standstill, listed_without_entry
from tests.tampering import as_postgres_schema_21

pytestmark = pytest.mark.postgres
T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)


def _indexes(schema: str) -> set[str]:
    with psycopg.connect(postgres_dsn()) as conn:
        rows = conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (schema,))
        return {str(name) for (name,) in rows}


@pytest.mark.parametrize("generic", [False, True])
@pytest.mark.parametrize("first", [True, False])
def test_a_page_of_the_purchases_without_an_entry_walks_their_index(
    postgres_store: PostgresStore, first: bool, generic: bool
) -> None:
    gum_at_standstill(postgres_store)
    q = postgres_store._q
    params: tuple[Any, ...]
    if first:
        query, params = q.purchases_without_entry_first, (5,)
    else:
        query, params = q.purchases_without_entry, (T0, EARLIEST, "", 5)
    plan = plan_of(query, params, generic=generic)
    walk = [n for n, step in enumerate(plan) if "Index Scan using operations_purchase_order" in step]
    assert walk, plan
    if not first:
        assert "Index Cond: (ROW(recorded_at" in plan[walk[0] + 1], plan  # sought to the place
    # Read in the index's order, each purchase probed for an entry among its member's: nothing
    # sorted, nothing scanned whole, no entry hashed.
    assert not [step for step in plan if "Sort" in step or "Seq Scan" in step or "Hash" in step], plan
    assert any("entries_by_member" in step for step in plan), plan


def test_a_version_20_schema_lists_the_same_purchases_through_the_index_once_upgraded(
    schema_url: str,
) -> None:
    store = open_postgres(schema_url)
    expected = gum_at_standstill(store)
    store.close()
    schema = schema_of(schema_url)
    fresh = _indexes(schema)
    as_postgres_schema_21(postgres_dsn(), schema)
    assert fresh - _indexes(schema) == {"operations_purchase_order"}
    store = open_postgres(schema_url)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 23
        assert _indexes(schema) == fresh
        assert listed_without_entry(store, 3) == listed_without_entry(store, 100) == expected
    finally:
        store.close()
