"""PostgreSQL schema 20: a purchase's own tallies and a lot's expiry reminder kept with their
member in ``member_tallies`` (on a cluster, the member's shard), so that a return, a redemption
against a purchase and a reminder write no row of ``tallies`` (the coordinator's); schemas of
version 19 upgraded to it."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from loyalty.store.postgres import SCHEMA_VERSION, open_postgres
from tests import purchase_tallies, shop
from tests.pg import postgres_dsn, schema_of
from tests.tampering import as_postgres_schema_19

pytestmark = pytest.mark.postgres


def _rows(schema: str) -> tuple[set[tuple[str, str]], set[str]]:
    """The (member, key) of ``member_tallies`` and the keys of ``tallies``."""
    s = sql.Identifier(schema)
    with psycopg.connect(postgres_dsn()) as conn:
        owned = conn.execute(sql.SQL("SELECT member_id, key FROM {}.member_tallies").format(s)).fetchall()
        shared = conn.execute(sql.SQL("SELECT key FROM {}.tallies").format(s)).fetchall()
    return {(str(m), str(k)) for m, k in owned}, {str(k) for (k,) in shared}


@pytest.mark.parametrize("scenario", list(purchase_tallies.SCENARIOS))
def test_a_purchases_and_a_lots_own_tallies_are_written_with_the_member_not_to_tallies(
    schema_url: str, scenario: str
) -> None:
    store = open_postgres(schema_url)
    families = purchase_tallies.SCENARIOS[scenario](store)
    store.close()
    owned, shared = _rows(schema_of(schema_url))
    assert shared == set()  # under these programs nothing else is kept there either
    mine = [(member, key) for member, key in owned if purchase_tallies.of_family(key)]
    assert {key.partition("|")[0] for _, key in mine} == families
    assert all(member == "M1" and key.endswith("\x1fM1") for member, key in mine)


def test_a_version_19_schema_keeps_a_purchases_and_a_lots_tallies_under_the_member_once_upgraded(
    schema_url: str,
) -> None:
    store = open_postgres(schema_url)
    purchase_tallies.history(store)
    expected = shop.keep_tallies(store)  # keys of no purchase stay where they are
    store.close()
    schema = schema_of(schema_url)
    moved = {key for _, key in _rows(schema)[0] if purchase_tallies.of_family(key)}
    assert {key.partition("|")[0] for key in moved} == set(purchase_tallies.FAMILIES)
    as_postgres_schema_19(postgres_dsn(), schema)
    assert {key.partition("\x1f")[0] for key in moved} <= _rows(schema)[1]
    reopened = open_postgres(schema_url)
    try:
        assert reopened.schema_version() == SCHEMA_VERSION
        with reopened.unit_of_work(readonly=True) as uow:
            assert uow.tallies(list(shop.TABLE_TALLIES)) == expected
    finally:
        reopened.close()
    owned, shared = _rows(schema)
    assert {key for _, key in owned if purchase_tallies.of_family(key)} == moved
    assert not [key for key in shared if purchase_tallies.of_family(key) and key != "taken|P404"]
    purchase_tallies.check_history_migrated(open_postgres(schema_url))
