"""The test kit's reuse of PostgreSQL schemas (tests/pg.py) hands out schemas as good as new."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from loyalty.store import open_store
from tests.pg import admin, postgres_dsn, schema_of, store_schema_url
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
