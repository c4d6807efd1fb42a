"""A pooled connection whose server session was reset (``DEALLOCATE ALL`` by another tool,
``DISCARD ALL`` by a pooler's reset query) has lost the statements the store prepared on it:
the unit of work that finds one gone fails as transient, nothing written, and the connection is
replaced by one prepared afresh, so the engine's retry succeeds. So does one whose statements a
change of a table they read made stale ("cached plan must not change result type"). A
statement gone in the first unit of work of a connection that has just prepared it says a pooler
in transaction mode hands each transaction another session: that is an error naming
``prepare=off``, not retried."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from psycopg import errors, sql

from loyalty import Engine, Line, Program, Purchase
from loyalty.errors import ConcurrencyError, StorageError, TransientStorageError
from loyalty.store.postgres import PostgresStore, open_postgres
from tests.pg import admin, schema_of

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[PostgresStore]:
    """A store with one pooled connection, so a reset hits the one the next command gets."""
    opened = open_postgres(f"{store_url}&pool_max=1")
    yield opened
    opened.close()


def _sale(n: int) -> Purchase:
    return Purchase(f"P{n}", "M1", T0, [Line("sku", 1, Decimal("10.00"))], "EUR")


def _behind_its_back(store: PostgresStore, command: bytes) -> int:
    """Run ``command`` on the store's one pooled connection, past psycopg; that session's pid."""
    conn = store._pool.getconn()
    try:
        conn.pgconn.exec_(command)
        return conn.info.backend_pid
    finally:
        store._pool.putconn(conn)


def _session(store: PostgresStore) -> tuple[int, set[str]]:
    """The pooled connection's backend pid and the store's statements prepared on it."""
    with store.unit_of_work(readonly=True) as uow:
        row = uow._execute(b"SELECT pg_backend_pid()").fetchone()
        names = uow._execute(b"SELECT name FROM pg_prepared_statements").fetchall()
    assert row is not None
    return int(row[0]), {str(name) for (name,) in names if str(name).startswith("loyalty_")}


def test_a_purchase_succeeds_after_deallocate_all_and_is_recorded_once(store: PostgresStore) -> None:
    engine = Engine(Program("Shop", "EUR"), store, clock=lambda: T0, max_attempts=2)
    engine.enroll("M1", at=T0)
    engine.record_purchase(_sale(1))
    pid = _behind_its_back(store, b"DEALLOCATE ALL")
    assert _session(store) == (pid, set())  # the reviewer's case: the statements are gone
    assert engine.record_purchase(_sale(2)).balance_after == 20
    assert [entry.source_id for entry in engine.history("M1")] == ["P1", "P2"]
    replaced, prepared = _session(store)
    assert replaced != pid and "loyalty_hold_feed" in prepared
    assert engine.record_purchase(_sale(3)).balance_after == 30  # and it stays usable


def test_discard_all_fails_transiently_writing_nothing_and_the_retry_succeeds(store: PostgresStore) -> None:
    once = Engine(Program("Shop", "EUR"), store, clock=lambda: T0, max_attempts=1)
    once.enroll("M1", at=T0)
    once.record_purchase(_sale(1))
    _behind_its_back(store, b"DISCARD ALL")
    with pytest.raises(ConcurrencyError, match='prepared statement "loyalty_') as info:
        once.record_purchase(_sale(2))  # one attempt allowed: the transient error, given up on
    assert isinstance(info.value.__cause__, TransientStorageError)
    assert once.balance("M1").available == 10
    assert [entry.source_id for entry in once.history("M1")] == ["P1"]
    assert once.record_purchase(_sale(2)).balance_after == 20  # on the connection that replaced it
    _behind_its_back(store, b"DISCARD ALL")
    again = Engine(Program("Shop", "EUR"), store, clock=lambda: T0, max_attempts=2)
    assert again.record_purchase(_sale(3)).balance_after == 30
    assert again.record_purchase(_sale(3)).balance_after == 30  # a retry by the till: kept once
    assert [entry.source_id for entry in again.history("M1")] == ["P1", "P2", "P3"]


def test_statements_gone_from_a_new_connection_name_prepare_off_which_works(
    store_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A pooler in transaction mode runs a connection's PREPAREs on one server session and its
    # first transaction on another, where they are not found: every connection alike, so
    # retrying on a new one would only end in a ConcurrencyError.
    with open_postgres(store_url) as plain:
        Engine(Program("Shop", "EUR"), plain, clock=lambda: T0).enroll("M1", at=T0)
    prepare = PostgresStore._prepare

    def then_another_session(self: PostgresStore, conn: Any) -> None:
        prepare(self, conn)
        conn.pgconn.exec_(b"DEALLOCATE ALL")

    monkeypatch.setattr(PostgresStore, "_prepare", then_another_session)
    caplog.set_level(logging.INFO, logger="loyalty.service.running")
    with open_postgres(store_url) as pooled:
        engine = Engine(Program("Shop", "EUR"), pooled, clock=lambda: T0)
        with pytest.raises(StorageError, match=r"transaction mode.*prepare=off") as info:
            engine.record_purchase(_sale(1))
        assert type(info.value) is StorageError  # not transient, not a ConcurrencyError after retries
        assert isinstance(info.value.__cause__, errors.InvalidSqlStatementName)
        # The engine's read of its versions may have been the first unit of work on the connection
        # the purchase got: then one retry, on a fresh connection, finds out (of 10 attempts).
        retries = [record.getMessage() for record in caplog.records if "retrying" in record.getMessage()]
        assert len(retries) <= 1, retries
        assert (engine.balance("M1").available, engine.history("M1")) == (0, [])
    # prepare=off: nothing to lose, whichever session each transaction runs on.
    with open_postgres(f"{store_url}&prepare=off&pool_max=1") as unprepared:
        once = Engine(Program("Shop", "EUR"), unprepared, clock=lambda: T0, max_attempts=1)
        for n in (1, 2):
            _behind_its_back(unprepared, b"DISCARD ALL")
            assert once.record_purchase(_sale(n)).balance_after == 10 * n
        assert [entry.source_id for entry in once.history("M1")] == ["P1", "P2"]


def test_a_reset_after_a_connection_served_reads_only_is_retried_not_taken_for_a_pooler(
    store: PostgresStore, store_url: str
) -> None:
    Engine(Program("Shop", "EUR"), store, clock=lambda: T0).enroll("M1", at=T0)
    # Another store: its one connection serves reads only, then another tool resets its session.
    with open_postgres(f"{store_url}&pool_max=1") as reading:
        again = Engine(Program("Shop", "EUR"), reading, clock=lambda: T0, max_attempts=2)
        for _ in range(3):
            assert again.balance("M1").available == 0
        _behind_its_back(reading, b"DEALLOCATE ALL")
        assert again.record_purchase(_sale(1)).balance_after == 10
        assert [entry.source_id for entry in again.history("M1")] == ["P1"]


def test_a_purchase_succeeds_after_a_migration_changed_a_column_its_statements_read(
    store: PostgresStore, store_url: str
) -> None:
    engine = Engine(Program("Shop", "EUR"), store, clock=lambda: T0, max_attempts=2)
    engine.enroll("M1", at=T0)
    engine.record_purchase(_sale(1))
    pid, _ = _session(store)
    # Another process's migration, while this one runs: operation_and_lock, prepared on the pooled
    # connection, returns the member's enrolled_offset, whose type changes under it.
    admin(
        sql.SQL("ALTER TABLE {}.members ALTER COLUMN enrolled_offset TYPE bigint").format(
            sql.Identifier(schema_of(store_url))
        )
    )
    assert engine.record_purchase(_sale(2)).balance_after == 20
    assert [entry.source_id for entry in engine.history("M1")] == ["P1", "P2"]
    replaced, prepared = _session(store)
    assert replaced != pid and "loyalty_operation_and_lock" in prepared
    assert engine.record_purchase(_sale(3)).balance_after == 30
