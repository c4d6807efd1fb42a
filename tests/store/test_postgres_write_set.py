"""What a purchase costs on PostgreSQL: the round trips it waits for, with the member's tallies
read with its lock and written with its balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import Engine, Line, Program, Purchase
from loyalty.habits import spent_key
from loyalty.store.postgres import PostgresStore, PostgresUnitOfWork
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
        words = " ".join(str(text if isinstance(text, str) else text.decode()).split()[:2])
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
        "WITH locked (2 queued)",
        "COMMIT (2 queued)",  # with the entry (its lot, the balance and tallies) and the record
    ]
    engine.record_purchase(sale(3, T0 + timedelta(days=31)))
    with postgres_store.unit_of_work(readonly=True) as uow:
        assert uow.tallies([spent_key("M1", "2024-03"), spent_key("M1", "2024-04")]) == {
            spent_key("M1", "2024-03"): Tally(2, Decimal("5.00")),
            spent_key("M1", "2024-04"): Tally(1, Decimal("2.50")),
        }
