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
from tests.pg import admin

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
