"""What the PostgreSQL database itself refuses: ledger edits, text it cannot hold, writes out of turn."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
from psycopg import sql

from loyalty.engine import Engine
from loyalty.errors import InvalidInput, StorageError
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.program import Program
from loyalty.store import Operation
from loyalty.store.postgres import PostgresStore
from tests.pg import admin, postgres_dsn

pytestmark = pytest.mark.postgres


T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(postgres_store: PostgresStore) -> PostgresStore:
    return postgres_store


@pytest.mark.parametrize(
    "statement", ["UPDATE {}.entries SET points = 0", "DELETE FROM {}.entries", "TRUNCATE {}.entries CASCADE"]
)
def test_the_ledger_is_append_only_in_the_database(store: PostgresStore, statement: str) -> None:
    Engine(Program("PG", "EUR"), store, clock=lambda: T0).enroll("M1", at=T0)
    with store.unit_of_work() as uow:
        uow.append(Posting("M1", EntryKind.ADJUST, 5, T0, T0, "A1", "test", "staff"))
        uow.commit()
    with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
        admin(sql.SQL(statement).format(sql.Identifier(store.schema)))


def test_an_erasure_renames_the_members_entries_and_leaves_the_ledgers_guards_on(
    store: PostgresStore,
) -> None:
    # The erasure disables the guards to rename the member's entries, in its own transaction only.
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    engine.enroll("+31612345678", at=T0)
    engine.adjust("+31612345678", 10, id="A1", at=T0, reason="x", actor="y")
    triggers = sql.SQL(
        "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = {}::regclass AND NOT tgisinternal"
        " ORDER BY 1"
    ).format(sql.Literal(f"{store.schema}.entries"))
    members = sql.SQL("SELECT DISTINCT member_id FROM {}.entries").format(sql.Identifier(store.schema))
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        guards = conn.execute(triggers).fetchall()
        hidden = engine.erase("+31612345678", id="E1", at=T0, reason="r", actor="dpo").pseudonym
        assert conn.execute(triggers).fetchall() == guards and {state for _, state in guards} == {"O"}
        assert conn.execute(members).fetchall() == [(hidden,)]
    with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
        admin(sql.SQL("UPDATE {}.entries SET member_id = 'x'").format(sql.Identifier(store.schema)))


@pytest.mark.parametrize("bad", ["nul\x00inside", "lone \ud800 surrogate"])
def test_text_postgres_cannot_hold_is_refused_naming_the_field(store: PostgresStore, bad: str) -> None:
    Engine(Program("PG", "EUR"), store, clock=lambda: T0).enroll("M1", at=T0)
    with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
        uow.append(Posting("M1", EntryKind.ADJUST, 5, T0, T0, "A1", bad, "staff"))
    assert info.value.field == "reason"
    with store.unit_of_work(readonly=True) as uow:
        assert uow.history("M1") == []
        assert uow.balance("M1") == 0


def test_a_nul_in_json_is_escaped_and_survives(store: PostgresStore) -> None:
    # The domain refuses NUL in member attributes; an operation's JSON may still carry one.
    operation = Operation("K1", "test", {"note": "nul\x00inside"}, {}, T0)
    with store.unit_of_work() as uow:
        uow.add_operation(operation)
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.operation("K1") == operation


def test_a_lone_surrogate_in_json_is_refused_naming_the_field(store: PostgresStore) -> None:
    with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
        uow.add_operation(Operation("K1", "test", {"note": "lone \ud800 surrogate"}, {}, T0))
    assert info.value.field == "request"


def test_a_nul_in_a_lookup_is_a_storage_error_not_a_driver_error(store: PostgresStore) -> None:
    with pytest.raises(StorageError), store.unit_of_work(readonly=True) as uow:
        uow.member("a\x00b")


def test_a_readonly_unit_of_work_cannot_write(store: PostgresStore) -> None:
    with pytest.raises(StorageError, match="read-only"), store.unit_of_work(readonly=True) as uow:
        uow.add_member(Member("M1", T0))


def test_a_closed_store_refuses_work(store: PostgresStore) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"), store.unit_of_work():
        pass
