"""PostgreSQL schema 23: an erasure moves its member's entries to the pseudonym (a copy, then a
delete the entries' guard lets through for exactly that move) and no longer renames them in place,
the update a cluster distributed by member refuses; schemas of version 22 upgraded to it."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
import pytest
from psycopg import sql

from loyalty import Engine
from loyalty.store.postgres import SCHEMA_VERSION, open_postgres
from tests import shop
from tests.pg import postgres_dsn, schema_of
from tests.tampering import as_postgres_schema_22

pytestmark = pytest.mark.postgres


def guards(schema: str) -> tuple[dict[str, str], set[str]]:
    """The entries' guard functions (name: body), and the entries' triggers."""
    functions = "SELECT proname, prosrc FROM pg_proc WHERE pronamespace = %s::regnamespace"
    triggers = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = %s::regclass"
    with psycopg.connect(postgres_dsn()) as conn:
        bodies = {str(name): str(body) for name, body in conn.execute(functions, (f'"{schema}"',))}
        names = {str(name) for (name,) in conn.execute(triggers, (f'"{schema}".entries',))}
    return bodies, names


Guards = tuple[dict[str, str], set[str]]


def erased_once_upgraded(schema_url: str, as_old: Callable[[str, str], None]) -> tuple[Guards, Guards]:
    """The guards of a current schema taken back by ``as_old`` and of the fresh one; checks that the
    old one, reopened, is upgraded to them and lets an erasure move its member's entries to the
    pseudonym, the balance, history and ``verify`` read the same."""
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    store.close()
    schema = schema_of(schema_url)
    fresh = guards(schema)
    as_old(postgres_dsn(), schema)
    old = guards(schema)
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    assert guards(schema) == fresh
    with Engine(shop.PROGRAM, open_postgres(schema_url), clock=lambda: shop.AT) as engine:
        balance, history, report = engine.balance("a"), engine.history("a"), engine.verify()
        hidden = engine.erase("a", id="E1", at=shop.AT, reason="GDPR request 7", actor="dpo").pseudonym
        assert (engine.balance(hidden), engine.verify()) == (balance, report)
        figures = [(e.seq, e.points, e.balance_after, e.occurred_at) for e in history]
        assert [(e.seq, e.points, e.balance_after, e.occurred_at) for e in engine.history(hidden)] == figures
    with psycopg.connect(postgres_dsn()) as conn:
        query = sql.SQL("SELECT DISTINCT member_id FROM {}.entries WHERE member_id IN ('a', %s)")
        assert conn.execute(query.format(sql.Identifier(schema)), (hidden,)).fetchall() == [(hidden,)]
    return old, fresh


def test_a_version_22_schema_moves_an_erased_members_entries_once_upgraded(schema_url: str) -> None:
    old, fresh = erased_once_upgraded(schema_url, as_postgres_schema_22)
    # Schema 22: the rename in place let through, no delete at all; 23: the move alone.
    assert "loyalty.erasing" in old[0]["entries_text_only"] and "entries_moved_only" not in old[0]
    assert old[1] == {"entries_no_delete", "entries_no_truncate", "entries_text_only"}
    assert "loyalty.erasing" not in fresh[0]["entries_text_only"]
    assert fresh[1] == {"entries_moved_only", "entries_no_truncate", "entries_text_only"}
    assert SCHEMA_VERSION == 23
