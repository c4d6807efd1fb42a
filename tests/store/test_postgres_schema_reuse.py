"""The test kit's reuse of PostgreSQL schemas (tests/pg.py) hands out schemas as good as new."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from loyalty.store import open_store
from loyalty.store.postgres import open_postgres
from tests.pg import admin, fresh_schema_url, postgres_dsn, schema_of, shape, store_schema_url
from tests.service.helpers import PROGRAM, engine_for, sale

pytestmark = pytest.mark.postgres


def _buy(url: str) -> int:
    """Enroll M1, record one purchase; the sequence number of its entry."""
    with engine_for(open_store(url), PROGRAM) as engine:
        engine.record_purchase(sale("P1"))
        return engine.history("M1")[-1].seq


def test_a_schema_given_back_is_handed_out_again_empty_with_its_sequences_restarted() -> None:
    url, give_back = store_schema_url(postgres_dsn())
    first = _buy(url)
    give_back()
    again, give_back = store_schema_url(postgres_dsn())
    try:
        assert schema_of(again) == schema_of(url)
        with psycopg.connect(postgres_dsn()) as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT (SELECT count(*) FROM {s}.entries) + (SELECT count(*) FROM {s}.members)"
                ).format(s=sql.Identifier(schema_of(again)))
            ).fetchone()
        assert rows == (0,)
        # The same member and purchase ids are new again, and numbered from the start.
        assert _buy(again) == first
    finally:
        give_back()


def test_a_schema_whose_shape_a_test_changed_is_dropped_not_reused() -> None:
    url, give_back = store_schema_url(postgres_dsn())
    schema = sql.Identifier(schema_of(url))
    admin(sql.SQL("ALTER TABLE {}.entries DISABLE TRIGGER USER").format(schema))
    give_back()
    again, give_back = store_schema_url(postgres_dsn())
    try:
        assert schema_of(again) != schema_of(url)
        with pytest.raises(Exception, match="does not exist"):
            admin(sql.SQL("SELECT 1 FROM {}.entries").format(schema))
    finally:
        give_back()


@pytest.mark.parametrize(
    "change",
    [
        "CREATE RULE quiet AS ON INSERT TO {s}.events DO INSTEAD NOTHING",
        "ALTER TABLE {s}.members ENABLE ROW LEVEL SECURITY",
        "REVOKE ALL ON {s}.entries FROM PUBLIC; GRANT SELECT ON {s}.entries TO PUBLIC",
        "ALTER TABLE {s}.entries ADD COLUMN note text",
        "ALTER TABLE {s}.lots DISABLE TRIGGER ALL",
    ],
)
def test_any_change_of_shape_is_seen(change: str) -> None:
    url, give_back = store_schema_url(postgres_dsn())
    admin(sql.SQL(change).format(s=sql.Identifier(schema_of(url))))
    give_back()
    with psycopg.connect(postgres_dsn()) as conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema_of(url),)).fetchone()
    assert found is None


def test_two_schemas_the_store_creates_have_the_same_shape() -> None:
    # Else every schema but the first would be dropped rather than reused (names the server
    # makes up, such as a foreign key's triggers', must not count).
    made = [fresh_schema_url(postgres_dsn()) for _ in range(2)]
    try:
        for url, _ in made:
            open_postgres(url).close()
        with psycopg.connect(postgres_dsn()) as conn:
            first, second = (shape(conn, schema_of(url)) for url, _ in made)
        assert first == second
    finally:
        for _, drop in made:
            drop()
