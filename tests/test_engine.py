"""The service layer: units of work, retries, idempotency and time, over the memory and SQLite stores."""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty import (
    ConcurrencyError,
    EarnRate,
    Engine,
    EntryKind,
    IdempotencyConflict,
    InvalidDatetime,
    Line,
    Operation,
    Program,
    Purchase,
    TransientStorageError,
    UnitOfWork,
    balance_of,
)
from loyalty.store import Store
from loyalty.store.memory import MemoryStore
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.snapshots import snapshot

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Engine", "EUR")


def sale(pid: str, euros: str, *, at: datetime = T0, member: str = "M1") -> Purchase:
    return Purchase(pid, member, at, [Line("sku", 1, Decimal(euros))], "EUR")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    store: Store = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "engine.db")
    yield store
    store.close()


@pytest.fixture
def engine(store: Store) -> Engine:
    engine = Engine(PROGRAM, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    return engine


class _CrashingUnitOfWork:
    """Delegates to a real unit of work but crashes when the operation is recorded."""

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def add_operation(self, operation: Operation) -> None:
        raise RuntimeError("power cut between the ledger entry and the idempotency record")


class _Crashing:
    def __init__(self, inner: Store) -> None:
        self.inner = inner

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[Any]:
        with self.inner.unit_of_work(readonly=readonly) as uow:
            yield _CrashingUnitOfWork(uow)

    def close(self) -> None:
        self.inner.close()


class _Flaky:
    """A store whose first ``failures`` write units of work lose a race."""

    def __init__(self, inner: Store, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.attempts = 0

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[UnitOfWork]:
        with self.inner.unit_of_work(readonly=readonly) as uow:
            if not readonly:
                self.attempts += 1
                if self.attempts <= self.failures:
                    raise TransientStorageError(None, "serialization failure (simulated)")
            yield uow

    def close(self) -> None:
        self.inner.close()


def test_a_crash_inside_a_command_leaves_nothing_behind(engine: Engine, store: Store) -> None:
    engine.record_purchase(sale("P1", "10.00"))
    before = snapshot(store, ["M1"], ["P2", "R1"])
    crashing = Engine(PROGRAM, _Crashing(store), clock=lambda: T0)
    with pytest.raises(RuntimeError):
        crashing.record_purchase(sale("P2", "25.00"))
    with pytest.raises(RuntimeError):
        crashing.redeem("M1", 5, id="R1", at=T0)
    assert snapshot(store, ["M1"], ["P2", "R1"]) == before
    assert engine.balance("M1").available == 10


def test_lost_races_are_retried(store: Store) -> None:
    flaky = _Flaky(store, failures=3)
    engine = Engine(PROGRAM, flaky, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    assert engine.record_purchase(sale("P1", "7.00")).points == 7
    assert flaky.attempts == 5  # three lost races, the enrollment's win and the purchase's win


def test_retries_are_bounded(store: Store) -> None:
    Engine(PROGRAM, store).enroll("M1", at=T0)
    engine = Engine(PROGRAM, _Flaky(store, failures=100), clock=lambda: T0, max_attempts=3)
    with pytest.raises(ConcurrencyError):
        engine.record_purchase(sale("P1", "7.00"))
    assert snapshot(store, ["M1"], ["P1"])["operations"] == {"P1": None}


def test_quote_writes_nothing_and_matches_the_recorded_receipt(engine: Engine, store: Store) -> None:
    purchase = sale("P1", "12.34")
    before = snapshot(store, ["M1"], ["P1"])
    quote = engine.quote(purchase)
    assert snapshot(store, ["M1"], ["P1"]) == before
    recorded = engine.record_purchase(purchase)
    assert quote.balance_after is None
    assert recorded.balance_after == 12
    assert recorded.points == quote.points
    assert recorded.breakdown == quote.breakdown


def test_a_purchase_earning_nothing_writes_no_entry_but_is_idempotent(engine: Engine) -> None:
    receipt = engine.record_purchase(sale("P1", "0.99"))
    assert receipt.points == 0
    assert engine.history("M1") == []
    assert engine.record_purchase(sale("P1", "0.99")) == receipt


def test_retry_is_recognised_across_representations(engine: Engine) -> None:
    receipt = engine.record_purchase(sale("P1", "5.50"))
    same_instant = T0.astimezone(timezone(timedelta(hours=-5)))
    assert engine.record_purchase(sale("P1", "5.500", at=same_instant)) == receipt
    assert len(engine.history("M1")) == 1


def test_late_offline_sales_keep_their_till_time(engine: Engine, store: Store) -> None:
    now = [T0]
    engine = Engine(PROGRAM, store, clock=lambda: now[0])
    engine.record_purchase(sale("today", "10.00", at=T0))
    now[0] = T0 + timedelta(minutes=5)
    engine.record_purchase(sale("last-week", "3.00", at=T0 - timedelta(days=7)))
    first, second = engine.history("M1")
    assert [e.source_id for e in (first, second)] == ["today", "last-week"]
    assert second.occurred_at == T0 - timedelta(days=7)
    assert second.recorded_at == T0 + timedelta(minutes=5)
    assert second.balance_after == 13


def test_entries_say_why(engine: Engine) -> None:
    engine.record_purchase(sale("P1", "20.00"))
    engine.redeem("M1", 5, id="R1", at=T0)
    engine.adjust("M1", -3, id="A1", at=T0, reason="double scan on P1", actor="manager-7")
    earn, redeem, adjust = engine.history("M1")
    assert (earn.kind, earn.source_id, earn.reason, earn.rules) == (
        EntryKind.EARN,
        "P1",
        "purchase",
        ("base",),
    )
    assert (redeem.kind, redeem.source_id, redeem.reason) == (EntryKind.REDEEM, "R1", "redemption")
    assert (adjust.kind, adjust.reason, adjust.actor, adjust.points) == (
        EntryKind.ADJUST,
        "double scan on P1",
        "manager-7",
        -3,
    )
    assert engine.balance("M1").available == 12 == balance_of([earn, redeem, adjust])


def test_history_pages(engine: Engine) -> None:
    for i in range(5):
        engine.record_purchase(sale(f"P{i}", "1.00"))
    page = engine.history("M1", limit=2)
    rest = engine.history("M1", after=page[-1].seq)
    assert [e.source_id for e in page + rest] == [f"P{i}" for i in range(5)]


def test_enrollment_retry_returns_the_member(engine: Engine) -> None:
    again = engine.enroll("M1", at=T0)
    assert again == engine.member("M1")


def test_a_naive_engine_clock_is_refused(store: Store) -> None:
    engine = Engine(PROGRAM, store, clock=lambda: datetime(2024, 1, 1))
    engine.enroll("M1", at=T0)
    with pytest.raises(InvalidDatetime) as info:
        engine.record_purchase(sale("P1", "1.00"))
    assert info.value.field == "clock"
    assert engine.history("M1") == []


def test_program_rate_applies(store: Store) -> None:
    engine = Engine(Program("Ten", "EUR", rate=EarnRate(1, Decimal("10.00"))), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    assert engine.record_purchase(sale("P1", "99.99")).points == 9


def test_sqlite_balance_reads_no_entries_and_only_indexed_lots(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "balance.db", synchronous="normal")
    engine = Engine(PROGRAM, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    for i in range(300):
        engine.record_purchase(sale(f"P{i}", "1.00"))
    statements: list[str] = []
    with store._connection() as conn:  # the idle connection the next unit of work reuses
        conn.set_trace_callback(statements.append)
    try:
        assert engine.balance("M1").available == 300
    finally:
        conn.set_trace_callback(None)
    reads = [s for s in statements if s.startswith("SELECT")]
    # One statement: the maintained total, the pending and past-due lots through their date
    # indexes, the open holds.
    assert len(reads) == 1
    assert not any("entries" in read for read in reads)
    for read in reads:
        plan = " ".join(str(row) for row in conn.execute(f"EXPLAIN QUERY PLAN {read}"))
        assert "USING INDEX" in plan or "PRIMARY KEY" in plan, plan
        assert "SCAN" not in plan, plan
    assert balance_of(engine.history("M1")) == 300
    store.close()


def test_retries_are_judged_exactly_whatever_the_callers_decimal_context(engine: Engine) -> None:
    receipt = engine.record_purchase(sale("P1", "123.41"))
    with decimal.localcontext() as ctx:
        # A host application with a coarse context that traps inexact results.
        ctx.prec = 4
        ctx.traps[decimal.Inexact] = True
        ctx.traps[decimal.Rounded] = True
        assert engine.record_purchase(sale("P1", "123.410")) == receipt
        with pytest.raises(IdempotencyConflict) as info:
            engine.record_purchase(sale("P1", "123.44"))
        assert info.value.field == "lines[0].unit_price"
        assert engine.record_purchase(sale("P2", "1.000000000001")).points == 1
    with pytest.raises(IdempotencyConflict):
        engine.record_purchase(sale("P2", "1.000000000009"))
    assert engine.balance("M1").available == 124


def test_a_retry_returns_the_original_receipt_after_the_program_changed(store: Store) -> None:
    Engine(PROGRAM, store, clock=lambda: T0).enroll("M1", at=T0)
    receipt = Engine(PROGRAM, store, clock=lambda: T0).record_purchase(sale("P1", "50.00"))
    richer_program = Program(
        "Engine", "EUR", rate=EarnRate(10, Decimal(1)), version="2", effective_from=T0 - timedelta(days=1)
    )
    richer = Engine(richer_program, store, clock=lambda: T0)
    assert richer.record_purchase(sale("P1", "50.00")) == receipt
    assert richer.balance("M1").available == 50
