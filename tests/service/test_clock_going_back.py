"""The hour a clock goes back (Amsterdam, 27 October 2024, 02:00-03:00 twice): times written in
the zone are ordered and measured as the instants they are, on every adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from loyalty import Engine, Line, Program, Purchase, TillTimeAhead
from loyalty.expiry import Expiry
from loyalty.rewards import Reward
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.time_guards import TimeGuards, check_lead

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
#: Later on the wall clock, earlier in time (the first 02:10 is 00:10 UTC, this one 01:10).
SECOND_0210 = datetime(2024, 10, 27, 2, 10, tzinfo=AMSTERDAM, fold=1)  # 01:10 UTC
FIRST_0250 = datetime(2024, 10, 27, 2, 50, tzinfo=AMSTERDAM, fold=0)  # 00:50 UTC


def _club(store: Store, now: datetime | ManualClock) -> Engine:
    program = Program(
        "Club",
        "EUR",
        timezone="Europe/Amsterdam",
        rewards=[Reward(id="coffee", name="Coffee", cost=10, gives="product", sku="c")],
        expiry=Expiry("lifetime", days=100, draw="oldest_earned"),
    )
    engine = Engine(program, store, clock=now if isinstance(now, ManualClock) else lambda: now)
    for member in ("M1", "M2"):
        engine.enroll(member, at=datetime(2024, 10, 1, tzinfo=UTC))
    return engine


def test_vouchers_come_oldest_first_and_the_oldest_points_are_spent_first(any_store: Store) -> None:
    engine = _club(any_store, datetime(2024, 10, 27, 3, 0, tzinfo=UTC))
    engine.adjust("M1", 100, id="A1", at=datetime(2024, 10, 2, tzinfo=UTC), reason="welcome", actor="ops")
    later = engine.redeem_reward("M1", "coffee", id="V-later", at=SECOND_0210)
    earlier = engine.redeem_reward("M1", "coffee", id="V-earlier", at=FIRST_0250)
    assert [v.code for v in engine.vouchers("M1")] == [earlier.code, later.code]
    engine.record_purchase(Purchase("PL", "M2", SECOND_0210, [Line("x", 1, Decimal("10"))], "EUR"))
    engine.record_purchase(Purchase("PE", "M2", FIRST_0250, [Line("x", 1, Decimal("20"))], "EUR"))
    engine.redeem("M2", 10, id="R1", at=datetime(2024, 10, 27, 2, 0, tzinfo=UTC))
    # The 20 earned at 00:50 UTC are the oldest: 10 of them spent, the 10 earned later kept.
    assert sorted((lot.points, lot.remaining) for lot in engine.lots("M2")) == [(10, 10), (20, 10)]


def test_a_till_time_behind_the_clock_in_that_hour_is_not_ahead_of_it(any_store: Store) -> None:
    # The engine's clock and the till both in the zone: 02:40 the first time is 30 minutes before
    # the second 02:10, not 30 minutes after it.
    engine = _club(any_store, SECOND_0210)
    behind = datetime(2024, 10, 27, 2, 40, tzinfo=AMSTERDAM, fold=0)
    assert (
        engine.record_purchase(Purchase("P1", "M1", behind, [Line("x", 1, Decimal("10"))], "EUR")).points
        == 10
    )


def test_a_lead_refused_in_one_zone_is_told_in_that_zone() -> None:
    # Measured between instants, told as the till and the clock wrote them.
    paris = ZoneInfo("Europe/Paris")
    now = datetime(2024, 7, 1, 12, tzinfo=paris)
    with pytest.raises(TillTimeAhead) as refused:
        check_lead(TimeGuards(), now + timedelta(minutes=20), now)
    assert str(refused.value).startswith(
        "at: 2024-07-01T12:20:00+02:00 is 20 minutes ahead of the engine's clock (2024-07-01T12:00:00+02:00)"
    )


def test_maintenance_run_at_a_time_of_that_hour_ends_what_fell_due_before_it(any_store: Store) -> None:
    # A hold due at 00:50 UTC; maintenance told it is the second 02:10 (01:10 UTC) ends it (the
    # memory store's cut lost the fold and looked an hour earlier).
    clock = ManualClock(datetime(2024, 10, 27, 0, 30, tzinfo=UTC))
    engine = _club(any_store, clock)
    engine.adjust("M1", 100, id="A1", at=datetime(2024, 10, 2, tzinfo=UTC), reason="welcome", actor="ops")
    engine.hold("M1", 40, id="H1", at=clock.now, ttl=timedelta(minutes=20))
    assert engine.balance("M1").held == 40
    clock.now = SECOND_0210
    assert engine.run_due(SECOND_0210).expired_holds == 1
    assert engine.balance("M1").held == 0
