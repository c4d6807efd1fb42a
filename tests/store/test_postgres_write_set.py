"""What a purchase costs on PostgreSQL: the round trips it waits for, with the member's tallies
read with its lock and written with its balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import Engine, Line, Program, Purchase, UnknownMember
from loyalty.habits import spent_key
from loyalty.store.postgres import PostgresStore, PostgresUnitOfWork, open_postgres
from loyalty.tallies import Tally
from loyalty.time_guards import PreEnrollment

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The first words of what each round trip ends with (the statement that is answered), and
    how many statements go before it in the same round trip."""
    trips: list[str] = []
    execute = PostgresUnitOfWork._execute

    def counted(self: PostgresUnitOfWork, query: Any, params: Any = None) -> Any:
        text = query if isinstance(query, bytes) else query.as_string(self._conn)
        words = " ".join(str(text if isinstance(text, str) else text.decode()).replace("(", " (").split()[:2])
        trips.append(f"{words} ({len(self._queued)} queued)")
        return execute(self, query, params)

    monkeypatch.setattr(PostgresUnitOfWork, "_execute", counted)
    return trips


def test_a_purchase_waits_for_two_round_trips(postgres_store: PostgresStore, sent: list[str]) -> None:
    program = Program("Shop", "EUR")
    assert program.time_guards.before_enrollment is PreEnrollment.REFUSE
    engine = Engine(program, postgres_store, clock=lambda: T0 + timedelta(days=60))
    engine.enroll("M1", at=T0)

    def sale(n: int, at: datetime) -> Purchase:
        return Purchase(f"P{n}", "M1", at, [Line("sku", 1, Decimal("2.50"))], "EUR")

    engine.record_purchase(sale(1, T0))
    sent.clear()
    engine.record_purchase(sale(2, T0 + timedelta(days=1)))
    assert sent == [
        # With BEGIN and the ledger feed's lock (loyalty.store.postgres.feed) only: in one
        # statement, so that the member it finds is the one it locked, the member's lock, the
        # idempotency record (if this is a retry), the member's balance and tallies, its
        # enrollment (the default time guards refuse a purchase dated before it), and the
        # number of its entry.
        "EXECUTE loyalty_operation_and_lock (2 queued)",
        "COMMIT (2 queued)",  # with the entry (its lot, the balance and tallies) and the record
    ]
    engine.record_purchase(sale(3, T0 + timedelta(days=31)))
    with postgres_store.unit_of_work(readonly=True) as uow:
        assert uow.tallies([spent_key("M1", "2024-03"), spent_key("M1", "2024-04")]) == {
            spent_key("M1", "2024-03"): Tally(2, Decimal("5.00")),
            spent_key("M1", "2024-04"): Tally(1, Decimal("2.50")),
        }


def test_a_purchase_s_statements_are_planned_once_per_connection(store_url: str) -> None:
    """Prepared when the pool opens the connection, and still there after units of work that
    rolled back (psycopg's own preparing, of statements run five times, would DEALLOCATE ALL after
    a ROLLBACK)."""
    store = open_postgres(f"{store_url}&pool_max=1")
    try:
        engine = Engine(Program("Shop", "EUR"), store, clock=lambda: T0 + timedelta(days=60))
        for member in range(1, 7):
            engine.enroll(f"M{member}", at=T0)

        def sale(n: int, member: str = "M1") -> Purchase:
            at = T0 + timedelta(hours=n)
            return Purchase(f"P{n}", member, at, [Line("sku", 1, Decimal("2.50"))], "EUR")

        for n in range(3):
            engine.record_purchase(sale(n))
        assert engine.balance("M1").available == 6  # a read-only unit of work, which rolls back
        with pytest.raises(UnknownMember):
            engine.record_purchase(sale(3, "nobody"))  # a write unit of work rolled back
        for n in range(4, 11):
            engine.record_purchase(sale(n))
        with store.unit_of_work(readonly=True) as uow:
            rows = uow._execute(
                b"SELECT name, generic_plans + custom_plans FROM pg_prepared_statements"
                b" WHERE name LIKE 'loyalty%'"
            ).fetchall()
        runs = {str(name): int(count) for name, count in rows}
        assert runs["loyalty_append_numbered"] == runs["loyalty_add_operation"] == 10
        assert runs["loyalty_operation_and_lock"] == 11
    finally:
        store.close()


def test_with_prepare_off_nothing_is_prepared(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``prepare=off`` (PgBouncer's transaction mode): the same statements sent as they are, no
    ``EXECUTE``, and nothing prepared on the connection, by the adapter or by psycopg (which would
    prepare a statement run five times)."""
    texts: list[str] = []
    execute = PostgresUnitOfWork._execute

    def recorded(self: PostgresUnitOfWork, query: Any, params: Any = None) -> Any:
        for each in [*(queued for queued, _ in self._queued), query]:
            text = each if isinstance(each, bytes) else each.as_string(self._conn)
            texts.append(text.decode() if isinstance(text, bytes) else text)
        return execute(self, query, params)

    monkeypatch.setattr(PostgresUnitOfWork, "_execute", recorded)
    store = open_postgres(f"{store_url}&pool_max=1&prepare=off")
    try:
        engine = Engine(Program("Shop", "EUR"), store, clock=lambda: T0 + timedelta(days=60))
        engine.enroll("M1", at=T0)
        for n in range(7):
            at = T0 + timedelta(hours=n)
            engine.record_purchase(Purchase(f"P{n}", "M1", at, [Line("sku", 1, Decimal("2.50"))], "EUR"))
        assert engine.balance("M1").available == 14
        assert any(text.startswith("WITH locked") for text in texts)  # operation_and_lock, as it is
        assert not [text for text in texts if text.lstrip().upper().startswith(("EXECUTE", "PREPARE"))]
        with store.unit_of_work(readonly=True) as uow:
            row = uow._execute(b"SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert row is not None and row[0] == 0
    finally:
        store.close()


def test_the_other_statements_psycopg_prepares_outlive_rolled_back_units_of_work(store_url: str) -> None:
    """A redemption's reads of lots are prepared by psycopg (run five times on the connection), and
    are still prepared after units of work that rolled back (their ROLLBACK goes past psycopg,
    which would DEALLOCATE ALL), the adapter's own statements with them."""
    store = open_postgres(f"{store_url}&pool_max=1")
    try:
        engine = Engine(Program("Shop", "EUR"), store, clock=lambda: T0 + timedelta(days=60))
        engine.enroll("M1", at=T0)
        engine.record_purchase(Purchase("P0", "M1", T0, [Line("sku", 1, Decimal("20.00"))], "EUR"))
        for n in range(10):
            engine.redeem("M1", 1, id=f"R{n}", at=T0 + timedelta(hours=n + 1))
            assert engine.balance("M1").available == 20 - n - 1  # a read-only unit of work: ROLLBACK
        with pytest.raises(UnknownMember):
            engine.redeem("nobody", 1, id="R-nobody", at=T0 + timedelta(days=1))  # a write rolled back
        assert engine.balance("M1").available == 10
        with store.unit_of_work(readonly=True) as uow:
            rows = uow._execute(b"SELECT name, statement FROM pg_prepared_statements").fetchall()
        psycopg_s = [str(statement) for name, statement in rows if str(name).startswith("_pg3_")]
        assert any(".lots" in statement for statement in psycopg_s), psycopg_s
        assert {"loyalty_operation_and_lock", "loyalty_append"} <= {str(name) for name, _ in rows}
    finally:
        store.close()
