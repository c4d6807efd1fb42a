"""Holds at the till (two-phase redemption), with a fixed clock and exact numbers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty import (
    Balance,
    Engine,
    EntryKind,
    Expiry,
    ExpiryPolicy,
    HoldEnded,
    HoldExpired,
    InsufficientPoints,
    LoyaltyError,
    Maintenance,
    Program,
    open_store,
)
from loyalty.holds import HoldStatus
from loyalty.lots import lots_of
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from tests.pg import postgres_dsn, store_schema_url

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=AMS)
TTL = timedelta(minutes=15)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def engine(store: Store, clock: ManualClock) -> Engine:
    """A member enrolled a week ago with two lots: 100 points valid for 30 days, then 50 that never
    expire."""
    program = Program(
        "Club", "EUR", timezone="Europe/Amsterdam", expiry=Expiry(ExpiryPolicy.LIFETIME, days=30)
    )
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=T0 - timedelta(days=7))
    engine.adjust("M1", 100, id="A1", at=T0, reason="welcome", actor="staff")
    forever = Engine(Program("Club", "EUR", timezone="Europe/Amsterdam"), store, clock=clock)
    forever.adjust("M1", 50, id="A2", at=T0, reason="goodwill", actor="staff")
    return engine


def lots(engine: Engine) -> list[tuple[int, int]]:
    return [(lot.id, lot.remaining) for lot in engine.lots("M1")]


def daily(store: Store, clock: ManualClock) -> Engine:
    """An engine on ``store`` whose points last a day (Amsterdam time), M1 enrolled."""
    program = Program(
        "Club", "EUR", timezone="Europe/Amsterdam", expiry=Expiry(ExpiryPolicy.LIFETIME, days=1)
    )
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=datetime(2024, 3, 1, tzinfo=UTC))
    return engine


def test_a_hold_reserves_points_at_once_and_a_capture_spends_them(engine: Engine) -> None:
    hold = engine.hold("M1", 120, id="H1", at=T0, ttl=TTL)
    assert (hold.status, hold.points, hold.expires_at) == (HoldStatus.OPEN, 120, T0 + TTL)
    assert hold.draws == ((1, -100), (2, -20))  # the soonest-expiring points first
    assert engine.balance("M1") == Balance(available=30, held=120)
    assert [h.id for h in engine.holds("M1")] == ["H1"]
    captured = engine.capture("H1", id="C1", at=T0 + timedelta(minutes=2))
    assert (captured.status, captured.captured, captured.ended_at) == (HoldStatus.CAPTURED, 120, T0)
    assert engine.balance("M1") == Balance(available=30)
    assert [(e.kind, e.points) for e in engine.history("M1")][2:] == [(EntryKind.HOLD, -120)]
    assert engine.holds("M1") == []


def test_a_partial_capture_gives_the_rest_back_to_the_latest_expiring_lots(engine: Engine) -> None:
    engine.hold("M1", 120, id="H1", at=T0, ttl=TTL)
    captured = engine.capture("H1", id="C1", at=T0, points=90)
    assert (captured.status, captured.captured) == (HoldStatus.CAPTURED, 90)
    back = engine.history("M1")[-1]
    assert (back.kind, back.points, back.draws, back.source_id) == (
        EntryKind.RELEASE,
        30,
        ((2, 20), (1, 10)),
        "H1",
    )
    assert back.reason == "hold captured for 90: 30 of 120 points back"
    assert lots(engine) == [(1, 10), (2, 50)]
    assert engine.balance("M1") == Balance(available=60)
    assert engine.lots("M1") == lots_of(engine.history("M1"))


def test_a_release_gives_every_point_back_to_its_own_lot_and_date(engine: Engine, clock: ManualClock) -> None:
    expiring = engine.lots("M1")[0].expires_at
    engine.hold("M1", 100, id="H1", at=T0, ttl=TTL)
    assert lots(engine) == [(2, 50)]  # lot 1 is drawn to nothing
    clock.now = T0 + timedelta(minutes=3)
    released = engine.release("H1", at=T0)
    assert (released.status, released.captured, released.ended_at) == (HoldStatus.RELEASED, 0, clock.now)
    assert lots(engine) == [(1, 100), (2, 50)]
    assert engine.lots("M1")[0].expires_at == expiring
    assert engine.balance("M1") == Balance(available=150)
    # Released once is released: a retry returns it and writes nothing.
    entries = engine.history("M1")
    assert engine.release("H1", at=T0) == released
    assert engine.history("M1") == entries


def test_held_points_cannot_be_spent_twice(engine: Engine) -> None:
    engine.hold("M1", 130, id="H1", at=T0, ttl=TTL)
    with pytest.raises(InsufficientPoints) as info:
        engine.redeem("M1", 30, id="R1", at=T0)
    assert (info.value.available, info.value.requested) == (20, 30)
    with pytest.raises(InsufficientPoints):
        engine.hold("M1", 21, id="H2", at=T0, ttl=TTL)
    assert engine.redeem("M1", 20, id="R2", at=T0).balance_after == 0
    assert engine.balance("M1") == Balance(available=0, held=130)


def test_a_hold_ends_exactly_once(engine: Engine) -> None:
    engine.hold("M1", 10, id="H1", at=T0, ttl=TTL)
    first = engine.capture("H1", id="C1", at=T0)
    assert engine.capture("H1", id="C1", at=T0) == first  # a retry of the same capture
    with pytest.raises(HoldEnded) as info:
        engine.capture("H1", id="C2", at=T0)
    assert (info.value.field, info.value.status) == ("hold_id", "captured")
    with pytest.raises(HoldEnded):
        engine.release("H1", at=T0)
    engine.hold("M1", 10, id="H2", at=T0, ttl=TTL)
    engine.release("H2", at=T0)
    with pytest.raises(HoldEnded) as info:
        engine.capture("H2", id="C3", at=T0)
    assert info.value.status == "released"
    assert engine.balance("M1") == Balance(available=140)


def test_a_hold_expires_on_the_engine_clock_not_the_till_s(engine: Engine, clock: ManualClock) -> None:
    # The till's own time is a day behind: it does not matter.
    engine.hold("M1", 40, id="H1", at=T0 - timedelta(days=1), ttl=TTL)
    clock.now = T0 + TTL - timedelta(seconds=1)
    assert engine.run_due() == Maintenance()
    clock.now = T0 + TTL
    before = engine.history("M1")
    with pytest.raises(HoldExpired) as info:
        engine.capture("H1", id="C1", at=T0)
    assert (info.value.field, info.value.status) == ("hold_id", "expired")
    assert engine.history("M1") == before
    report = engine.run_due()
    assert report == Maintenance(members=1, expired_holds=1, released_points=40)
    hold = engine.release("H1", at=T0)  # released after it expired: returned as it ended
    assert (hold.status, hold.ended_at) == (HoldStatus.EXPIRED, T0 + TTL)
    assert engine.balance("M1") == Balance(available=150)
    assert engine.history("M1")[-1].reason == "hold expired: 40 of 40 points back"
    assert engine.run_due() == Maintenance()


def test_a_hold_s_ttl_is_elapsed_time_across_a_dst_change(any_store: Store) -> None:
    # The clock answers in Amsterdam time; 02:50 CEST + 15 minutes is 02:05 CET, after the change.
    clock = ManualClock(datetime(2024, 10, 27, 2, 50, tzinfo=AMS))
    engine = daily(any_store, clock)
    engine.adjust("M1", 100, id="A1", at=clock.now, reason="a", actor="s")
    hold = engine.hold("M1", 50, id="H1", at=clock.now, ttl=timedelta(minutes=15))
    assert hold.expires_at == clock.now.astimezone(UTC) + timedelta(minutes=15)
    clock.now = (clock.now.astimezone(UTC) + timedelta(minutes=30)).astimezone(AMS)
    with pytest.raises(HoldExpired):
        engine.capture("H1", id="C1", at=clock.now)


def test_capturing_a_hold_maintenance_expired_raises_hold_expired(any_store: Store) -> None:
    clock = ManualClock(datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    engine = daily(any_store, clock)
    engine.adjust("M1", 100, id="A1", at=clock.now, reason="a", actor="s")
    engine.hold("M1", 50, id="H1", at=clock.now, ttl=timedelta(minutes=15))
    clock.advance(minutes=15)
    engine.run_due()
    with pytest.raises(HoldExpired) as info:
        engine.capture("H1", id="C1", at=clock.now)
    assert info.value.status == "expired"


def test_a_debit_ends_the_member_s_expired_holds_first(engine: Engine, clock: ManualClock) -> None:
    engine.hold("M1", 150, id="H1", at=T0, ttl=TTL)
    clock.now = T0 + TTL
    assert engine.balance("M1") == Balance(available=0, held=150)
    assert engine.redeem("M1", 150, id="R1", at=clock.now).balance_after == 0
    assert [e.kind for e in engine.history("M1")][2:] == [EntryKind.HOLD, EntryKind.RELEASE, EntryKind.REDEEM]


def test_points_given_back_after_their_date_expire(engine: Engine, clock: ManualClock) -> None:
    engine.hold("M1", 100, id="H1", at=T0, ttl=timedelta(days=40))
    clock.now = T0 + timedelta(days=31)
    assert engine.run_due() == Maintenance()  # held points are not in any lot: nothing to expire
    engine.release("H1", at=clock.now)
    assert engine.balance("M1") == Balance(available=50, overdue=100)
    assert engine.run_due() == Maintenance(expired_lots=1, expired_points=100, members=1)
    assert engine.balance("M1") == Balance(available=50)


def test_retries_and_declines_are_remembered(engine: Engine) -> None:
    hold = engine.hold("M1", 10, id="H1", at=T0, ttl=TTL)
    engine.capture("H1", id="C1", at=T0)
    assert engine.hold("M1", 10, id="H1", at=T0, ttl=TTL) == hold  # the hold as it was made
    with pytest.raises(InsufficientPoints):
        engine.hold("M1", 500, id="H2", at=T0, ttl=TTL)
    engine.adjust("M1", 1000, id="A3", at=T0, reason="top-up", actor="staff")
    with pytest.raises(InsufficientPoints) as info:
        engine.hold("M1", 500, id="H2", at=T0, ttl=TTL)
    assert info.value.available == 140
    from loyalty import IdempotencyConflict

    with pytest.raises(IdempotencyConflict) as conflict:
        engine.hold("M1", 11, id="H1", at=T0, ttl=TTL)
    assert conflict.value.field == "points"
    with pytest.raises(IdempotencyConflict) as conflict:
        engine.capture("H1", id="C1", at=T0, points=5)
    assert conflict.value.field == "points"


@pytest.mark.postgres
def test_a_capture_retried_while_the_original_is_in_flight_gets_the_original() -> None:
    url, drop = store_schema_url(postgres_dsn())
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


def test_bad_hold_commands_name_the_field_and_write_nothing(engine: Engine, store: Store) -> None:
    engine.hold("M1", 10, id="H1", at=T0, ttl=TTL)
    naive = datetime(2024, 5, 1, 12, 0)  # naive on purpose
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: engine.hold("M1", 10, id="H2", at=T0, ttl=timedelta(0)), "ttl"),
        (lambda: engine.hold("M1", 10, id="H2", at=T0, ttl=timedelta(days=367)), "ttl"),
        (lambda: engine.hold("M1", 10, id="H2", at=T0, ttl=900), "ttl"),  # type: ignore[arg-type]
        (lambda: engine.hold("M1", 0, id="H2", at=T0, ttl=TTL), "points"),
        (lambda: engine.hold("M1", -5, id="H2", at=T0, ttl=TTL), "points"),
        (lambda: engine.hold("M1", 10, id="H2", at=naive, ttl=TTL), "at"),
        (lambda: engine.hold("M9", 10, id="H2", at=T0, ttl=TTL), "member_id"),
        (lambda: engine.hold("M1", 10, id="", at=T0, ttl=TTL), "id"),
        (lambda: engine.capture("H9", id="C1", at=T0), "hold_id"),
        (lambda: engine.capture("H1", id="C1", at=T0, points=11), "points"),
        (lambda: engine.capture("H1", id="C1", at=T0, points=0), "points"),
        (lambda: engine.capture("H1", id="C1", at=naive), "at"),
        (lambda: engine.release("H9", at=T0), "hold_id"),
        (lambda: engine.holds("M9"), "member_id"),
    ]
    before = snapshot(store, ["M1"], ["H1", "H2", "C1"])
    for call, field in cases:
        with pytest.raises(LoyaltyError) as info:
            call()
        assert info.value.field == field, (field, info.value)
        assert snapshot(store, ["M1"], ["H1", "H2", "C1"]) == before
    assert [h.id for h in engine.holds("M1")] == ["H1"]


def test_a_release_after_the_time_is_up_ends_the_hold_as_expired(engine: Engine, clock: ManualClock) -> None:
    engine.hold("M1", 40, id="H1", at=T0, ttl=TTL)
    clock.advance(TTL)
    ended = engine.release("H1", at=clock.now)
    assert (ended.status, ended.ended_at) == (HoldStatus.EXPIRED, T0 + TTL)
    assert engine.history("M1")[-1].reason == "hold expired: 40 of 40 points back"
    assert engine.run_due() == Maintenance()
    assert engine.release("H1", at=clock.now) == ended
