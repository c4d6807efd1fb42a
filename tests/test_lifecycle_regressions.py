"""Regressions from the independent review of lots, expiry and holds, on every adapter."""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from loyalty import Balance, Engine, EntryKind, Expiry, ExpiryPolicy, HoldExpired, Program, open_store
from loyalty.store import Store, UnitOfWork
from loyalty.testing.clock import ManualClock
from tests.pg import fresh_schema_url, postgres_dsn

AMS = ZoneInfo("Europe/Amsterdam")
ADAPTERS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def daily(store: Store, clock: ManualClock) -> Engine:
    program = Program(
        "Club", "EUR", timezone="Europe/Amsterdam", expiry=Expiry(ExpiryPolicy.LIFETIME, days=1)
    )
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=datetime(2024, 3, 1, tzinfo=UTC))
    return engine


def test_a_date_in_the_skipped_dst_hour_sorts_as_its_instant(store: Store) -> None:
    # 2024-03-31 02:30 does not exist in Amsterdam: it is read as 01:30Z. A lot earned
    # at 03:15 the day before expires at 03:15 CEST, 01:15Z: earlier, though "later" on the wall.
    clock = ManualClock(datetime(2024, 3, 30, 3, 30, tzinfo=AMS))
    engine = daily(store, clock)
    engine.adjust("M1", 10, id="A1", at=datetime(2024, 3, 30, 2, 30, tzinfo=AMS), reason="a", actor="s")
    engine.adjust("M1", 10, id="A2", at=datetime(2024, 3, 30, 3, 15, tzinfo=AMS), reason="b", actor="s")
    first, second = engine.lots("M1")
    assert (first.expires_at, second.expires_at) == (
        datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
        datetime(2024, 3, 31, 1, 15, tzinfo=UTC),
    )
    clock.now = datetime(2024, 3, 31, 1, 20, tzinfo=UTC).astimezone(AMS)
    assert engine.balance("M1") == Balance(available=10, overdue=10)
    report = engine.run_due(batch=1)
    assert (report.expired_lots, report.expired_points) == (1, 10)
    assert [lot.id for lot in engine.lots("M1")] == [first.id]


def test_spending_in_the_skipped_hour_takes_the_soonest_expiring_instant(store: Store) -> None:
    clock = ManualClock(datetime(2024, 3, 30, 3, 30, tzinfo=AMS))
    engine = daily(store, clock)
    engine.adjust("M1", 10, id="A1", at=datetime(2024, 3, 30, 2, 30, tzinfo=AMS), reason="a", actor="s")
    engine.adjust("M1", 10, id="A2", at=datetime(2024, 3, 30, 3, 15, tzinfo=AMS), reason="b", actor="s")
    _, second = engine.lots("M1")
    assert engine.redeem("M1", 5, id="R1", at=clock.now).draws == ((second.id, -5),)


def test_expiry_entries_read_back_alike_on_every_adapter(store: Store) -> None:
    clock = ManualClock(datetime(2024, 2, 17, 10, 0, tzinfo=AMS))
    engine = daily(store, clock)
    engine.adjust("M1", 10, id="A1", at=clock.now, reason="a", actor="s")
    clock.advance(days=2)
    engine.run_due()
    (expired,) = [e for e in engine.history("M1") if e.kind is EntryKind.EXPIRE]
    assert expired.occurred_at.isoformat() == "2024-02-18T09:00:00+00:00"


def test_a_hold_s_ttl_is_elapsed_time_across_a_dst_change(store: Store) -> None:
    # The clock answers in Amsterdam time; 02:50 CEST + 15 minutes is 02:05 CET, after the change.
    clock = ManualClock(datetime(2024, 10, 27, 2, 50, tzinfo=AMS))
    engine = daily(store, clock)
    engine.adjust("M1", 100, id="A1", at=clock.now, reason="a", actor="s")
    hold = engine.hold("M1", 50, id="H1", at=clock.now, ttl=timedelta(minutes=15))
    assert hold.expires_at == clock.now.astimezone(UTC) + timedelta(minutes=15)
    clock.now = (clock.now.astimezone(UTC) + timedelta(minutes=30)).astimezone(AMS)
    with pytest.raises(HoldExpired):
        engine.capture("H1", id="C1", at=clock.now)


def test_capturing_a_hold_maintenance_expired_raises_hold_expired(store: Store) -> None:
    clock = ManualClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    engine = daily(store, clock)
    engine.adjust("M1", 100, id="A1", at=clock.now, reason="a", actor="s")
    engine.hold("M1", 50, id="H1", at=clock.now, ttl=timedelta(minutes=15))
    clock.advance(minutes=15)
    engine.run_due()
    with pytest.raises(HoldExpired) as info:
        engine.capture("H1", id="C1", at=clock.now)
    assert info.value.status == "expired"


def test_expiring_at_the_end_of_the_calendar_is_no_raw_error(store: Store) -> None:
    west = timezone(timedelta(hours=-5))
    clock = ManualClock(datetime(2024, 5, 1, 12, 0, tzinfo=west))
    engine = daily(store, clock)
    limit = datetime.max.replace(tzinfo=west) - clock.now.replace(tzinfo=west)
    assert engine.expiring("M1", within=limit) == []


class _CountingStore:
    """Counts the write units of work a store opens."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.writes = 0

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        self.writes += 0 if readonly else 1
        return self.inner.unit_of_work(readonly=readonly)

    def close(self) -> None:
        self.inner.close()


def test_run_due_writes_at_most_batch_items_per_unit_of_work(store: Store) -> None:
    counting = _CountingStore(store)
    clock = ManualClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    engine = daily(counting, clock)
    for n in range(25):
        engine.adjust("M1", 1, id=f"A{n}", at=clock.now, reason="a", actor="s")
    clock.advance(days=2)
    before = counting.writes
    assert engine.run_due(batch=10).expired_lots == 25
    # 10 + 10 + 5, and one more that finds nothing.
    assert counting.writes - before == 4


@pytest.mark.postgres
def test_a_capture_retried_while_the_original_is_in_flight_gets_the_original() -> None:
    url, drop = fresh_schema_url(postgres_dsn())
    store = open_store(url)
    try:
        t = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        slow = threading.Event()

        def slow_clock() -> datetime:
            # The original's clock stalls once inside its unit of work, holding the member's lock.
            if slow.is_set():
                slow.clear()
                time.sleep(1.0)
            return t

        original = Engine(Program("Club", "EUR"), store, clock=slow_clock)
        retry = Engine(Program("Club", "EUR"), store, clock=lambda: t)
        original.enroll("M1", at=t)
        original.adjust("M1", 200, id="A1", at=t, reason="welcome", actor="staff")
        original.hold("M1", 150, id="H1", at=t, ttl=timedelta(minutes=15))
        results: dict[str, object] = {}

        def run(name: str, engine: Engine) -> None:
            try:
                results[name] = engine.capture("H1", id="C1", at=t, points=100)
            except Exception as exc:  # the outcome, whatever it is, is what is compared
                results[name] = exc

        slow.set()
        first = threading.Thread(target=run, args=("original", original))
        first.start()
        time.sleep(0.3)
        second = threading.Thread(target=run, args=("retry", retry))
        second.start()
        first.join()
        second.join()
        assert results["retry"] == results["original"]
    finally:
        store.close()
        drop()
