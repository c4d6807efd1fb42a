"""PostgreSQL schema 18: the entries' guard lets an erasure rename its member (member and source
id, named by settings local to its transaction) without DDL; schemas of version 17 upgraded."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from loyalty import Engine, Program
from loyalty.store.postgres import SCHEMA_VERSION, open_postgres
from loyalty.testing.contract import T0
from tests import shop
from tests.old_erasures import erase_again, erase_keeping_the_id
from tests.pg import postgres_dsn, schema_of
from tests.tampering import as_postgres_schema_17

pytestmark = pytest.mark.postgres


def _guard_of(schema: str) -> tuple[str, set[str]]:
    """The body of the entries' guard function, and the entries' triggers."""
    query = (
        "SELECT prosrc FROM pg_proc WHERE proname = 'entries_text_only' AND pronamespace = %s::regnamespace"
    )
    triggers = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = %s::regclass"
    with psycopg.connect(postgres_dsn()) as conn:
        row = conn.execute(query, (f'"{schema}"',)).fetchone()
        names = {str(name) for (name,) in conn.execute(triggers, (f'"{schema}".entries',))}
    assert row is not None
    return str(row[0]), names


def test_a_version_17_schema_lets_an_erasure_rename_its_member_once_upgraded(schema_url: str) -> None:
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    store.close()
    schema = schema_of(schema_url)
    fresh = _guard_of(schema)
    as_postgres_schema_17(postgres_dsn(), schema)
    old = _guard_of(schema)
    assert "loyalty.erasing" not in old[0] and old[1] == fresh[1]
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    assert _guard_of(schema) == fresh and "loyalty.erasing" in fresh[0] and SCHEMA_VERSION == 22
    with Engine(shop.PROGRAM, open_postgres(schema_url), clock=lambda: shop.AT) as engine:
        balance, report = engine.balance("a"), engine.verify()
        hidden = engine.erase("a", id="E1", at=shop.AT, reason="GDPR request 7", actor="dpo").pseudonym
        assert (engine.balance(hidden), engine.verify()) == (balance, report)
    with psycopg.connect(postgres_dsn()) as conn:
        query = sql.SQL("SELECT DISTINCT member_id FROM {}.entries WHERE member_id IN ('a', %s)")
        assert conn.execute(query.format(sql.Identifier(schema)), (hidden,)).fetchall() == [(hidden,)]


def test_a_member_erased_by_version_17_keeping_its_id_takes_its_pseudonym_when_erased_again(
    schema_url: str,
) -> None:
    with Engine(Program("Club", "EUR"), open_postgres(schema_url), clock=lambda: T0) as engine:
        erase_keeping_the_id(engine)
    as_postgres_schema_17(postgres_dsn(), schema_of(schema_url))
    with Engine(Program("Club", "EUR"), open_postgres(schema_url), clock=lambda: T0) as engine:
        erase_again(engine)
