"""Domain events through the engine: written with their change, read once in order with a cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loyalty import Engine, Expiry, InvalidInput, Line, Program, Purchase, Tier, Tiers, open_store
from loyalty.expiry import reminded_key
from loyalty.outbox import EventKind
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from tests.service.helpers import CrashingStore

AMS = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=AMS)
TIERS = Tiers(levels=[Tier(id="member"), Tier(id="gold", threshold=100)], downgrade="immediate")


def sale(key: str, at: datetime, amount: str) -> Purchase:
    return Purchase(key, "M1", at, [Line("goods", 1, Decimal(amount))], "EUR")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def engine_for(store: Store, clock: ManualClock, **options: Any) -> Engine:
    engine = Engine(Program("Club", "EUR", timezone="Europe/Amsterdam", **options), store, clock=clock)
    engine.enroll("M1", at=T0)
    return engine


def test_a_tier_change_writes_its_event(any_store: Store, clock: ManualClock) -> None:
    engine = engine_for(any_store, clock, tiers=TIERS)
    engine.record_purchase(sale("P1", T0, "150.00"))
    (event,) = engine.events()
    assert (event.seq, event.kind, event.member_id, event.source_id) == (
        1,
        EventKind.TIER_CHANGED,
        "M1",
        "P1",
    )
    assert dict(event.data) == {
        "old": "member",
        "new": "gold",
        "earned": "gold",
        "reason": "reached gold: 150 points (threshold 100)",
    }
    assert event.occurred_at == T0 and event.recorded_at == T0
    engine.record_purchase(sale("P2", T0, "5.00"))  # no move, no event
    assert engine.events(after=1) == []


def test_a_hold_that_runs_out_writes_one_event_however_it_ends(any_store: Store, clock: ManualClock) -> None:
    engine = engine_for(any_store, clock)
    engine.adjust("M1", 100, id="A1", at=T0, reason="welcome", actor="staff")
    engine.hold("M1", 30, id="H1", at=T0, ttl=timedelta(minutes=15))
    engine.hold("M1", 20, id="H2", at=T0, ttl=timedelta(minutes=15))
    engine.hold("M1", 10, id="H3", at=T0, ttl=timedelta(minutes=15))
    engine.release("H3", at=T0)  # released in time: nothing to announce
    clock.advance(minutes=20)
    engine.release("H2", at=clock())  # too late: it ends expired
    engine.run_due()
    events = engine.events()
    assert [(e.kind, e.data["hold_id"], e.data["points"]) for e in events] == [
        (EventKind.HOLD_EXPIRED, "H2", 20),
        (EventKind.HOLD_EXPIRED, "H1", 30),
    ]
    assert events[1].occurred_at == (T0 + timedelta(minutes=15)).astimezone(UTC)
    engine.run_due()
    assert engine.events(after=events[-1].seq) == []


def test_points_about_to_expire_are_announced_once(any_store: Store, clock: ManualClock) -> None:
    engine = engine_for(any_store, clock, remind_days=7, expiry=Expiry("lifetime", days=30))
    engine.record_purchase(sale("P1", T0, "40.00"))
    engine.record_purchase(sale("P2", clock.catch_up(T0 + timedelta(days=5)), "15.00"))
    clock.now = T0 + timedelta(days=22)
    assert engine.run_due().reminders == 0  # more than 7 days before the first date
    clock.now = T0 + timedelta(days=24)
    assert engine.run_due().reminders == 1
    (first,) = engine.events()
    assert first.kind is EventKind.POINTS_EXPIRING
    assert (first.data["points"], first.data["expires_at"]) == (40, "2024-03-31T10:00:00+00:00")
    assert engine.run_due().reminders == 0
    clock.now = T0 + timedelta(days=29)  # the second lot comes into the window; the first is not repeated
    assert engine.run_due().reminders == 1
    second = engine.events(after=first.seq)[0]
    assert (second.data["points"], [lot[1] for lot in second.data["lots"]]) == (15, [15])


def test_a_command_that_crashes_leaves_neither_its_change_nor_its_event(
    any_store: Store, clock: ManualClock
) -> None:
    engine_for(any_store, clock, tiers=TIERS)
    crashing = Engine(
        Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=TIERS),
        CrashingStore(any_store),
        clock=clock,
    )
    with pytest.raises(RuntimeError):
        crashing.record_purchase(sale("P1", T0, "150.00"))
    engine = Engine(Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=TIERS), any_store, clock=clock)
    assert engine.events() == []
    assert engine.history("M1") == []
    assert engine.tier("M1").tier.id == "member"
    engine.record_purchase(sale("P1", T0, "150.00"))
    assert [e.seq for e in engine.events()] == [1]


def test_events_refuse_a_bad_cursor() -> None:
    engine = Engine(Program("Club", "EUR"), open_store("memory://"))
    for options in ({"after": -1}, {"after": True}, {"limit": 0}, {"limit": 10_001}):
        with pytest.raises(InvalidInput):
            engine.events(**options)


def test_an_announced_lot_is_marked_under_its_reminded_key(store: Store, clock: ManualClock) -> None:
    engine = engine_for(store, clock, remind_days=7, expiry=Expiry("lifetime", days=30))
    engine.record_purchase(sale("P1", T0, "40.00"))
    clock.now = T0 + timedelta(days=24)
    assert engine.run_due().reminders == 1
    (lot,) = engine.lots("M1")
    assert lot.expires_at is not None
    with store.unit_of_work(readonly=True) as uow:
        key = reminded_key(lot.member_id, lot.id, lot.expires_at)
        assert uow.tallies([key])[key].count == 1
