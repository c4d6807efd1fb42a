"""A pooled connection whose server session was reset (``DEALLOCATE ALL`` by another tool,
``DISCARD ALL`` by a pooler's reset query) has lost the statements the store prepared on it:
the unit of work that finds one gone fails as transient, nothing written, and the connection is
replaced by one prepared afresh, so the engine's retry succeeds."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty import Engine, Line, Program, Purchase
from loyalty.errors import ConcurrencyError, TransientStorageError
from loyalty.store.postgres import PostgresStore, open_postgres

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
