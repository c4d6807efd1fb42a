"""A program's draw order on every adapter: redemptions, holds, transfers and corrections spend the
soonest-expiring points first, or the oldest-earned first when the version in force at the debit's
time says ``[expiry] draw = "oldest_earned"``."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from loyalty import Engine, Program
from loyalty.expiry import Expiry, ExpiryPolicy
from loyalty.lots import DrawOrder
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from tests.service.helpers import T0

SWITCH = T0 + timedelta(days=10)
YEAR_LOT = T0 + timedelta(days=365)  # 50 points earned first, under the first version
MONTH_LOT = T0 + timedelta(days=42)  # 30 points earned on day 12, under the second


def versions(first: DrawOrder, second: DrawOrder) -> list[Program]:
    """Points live a year until day 10, then 30 days; each version spends in its own order."""
    return [
        Program("Club", "EUR", expiry=Expiry(ExpiryPolicy.LIFETIME, days=365, draw=first)),
        Program(
            "Club",
            "EUR",
            version="v2",
            effective_from=SWITCH,
            expiry=Expiry(ExpiryPolicy.LIFETIME, days=30, draw=second),
        ),
    ]


def club(store: Store, first: DrawOrder, second: DrawOrder | None = None) -> tuple[Engine, ManualClock]:
    """A holds 50 points expiring in a year (earned on day 0) and 30 expiring on day 42 (earned on
    day 12) under ``versions(first, second)`` (``second`` defaults to ``first``); B holds none; the
    clock is on day 20."""
    clock = ManualClock(T0 + timedelta(days=20))
    engine = Engine(versions(first, second or first), store, clock=clock)
    engine.enroll("A", at=T0)
    engine.enroll("B", at=T0)
    # Sent by a till that was offline: each lot is dated (and given its expiry) by its own time.
    for key, points, day in (("A1", 50, 0), ("A2", 30, 12)):
        engine.adjust("A", points, id=key, at=T0 + timedelta(days=day), reason="gift", actor="crm")
    return engine, clock


#: What A keeps of each lot after spending 40 points, by order.
LEFT = {
    DrawOrder.SOONEST_EXPIRING: [(40, YEAR_LOT)],
    DrawOrder.OLDEST_EARNED: [(10, YEAR_LOT), (30, MONTH_LOT)],
}


def left(engine: Engine, member: str) -> list[tuple[int, datetime | None]]:
    return [(lot.remaining, lot.expires_at) for lot in engine.lots(member) if lot.remaining]


DEBITS = {
    "redeem": lambda engine, at: engine.redeem("A", 40, id="D1", at=at),
    "hold": lambda engine, at: engine.hold("A", 40, id="D1", at=at, ttl=timedelta(minutes=5)),
    "correction": lambda engine, at: engine.adjust("A", -40, id="D1", at=at, reason="error", actor="crm"),
}


@pytest.mark.parametrize("order", list(DrawOrder))
@pytest.mark.parametrize("debit", list(DEBITS))
def test_a_redemption_a_hold_and_a_correction_spend_in_the_programs_order(
    any_store: Store, order: DrawOrder, debit: str
) -> None:
    engine, clock = club(any_store, order)
    DEBITS[debit](engine, clock())
    assert left(engine, "A") == LEFT[order]


@pytest.mark.parametrize("order", list(DrawOrder))
def test_a_transfer_sends_the_points_the_senders_program_spends_first(
    any_store: Store, order: DrawOrder
) -> None:
    engine, clock = club(any_store, order)
    engine.transfer("A", "B", 40, id="X1", at=clock(), reason="family pooling")
    assert left(engine, "A") == LEFT[order]
    sent = {
        DrawOrder.SOONEST_EXPIRING: [(30, MONTH_LOT), (10, YEAR_LOT)],
        DrawOrder.OLDEST_EARNED: [(40, YEAR_LOT)],
    }
    assert sorted(left(engine, "B"), key=lambda lot: lot[1] or YEAR_LOT) == sorted(
        sent[order], key=lambda lot: lot[1] or YEAR_LOT
    )


def test_the_version_in_force_at_the_debits_time_chooses_the_order(any_store: Store) -> None:
    engine, clock = club(any_store, DrawOrder.OLDEST_EARNED, DrawOrder.SOONEST_EXPIRING)
    # A till that was offline since day 5 sends a redemption made then: the first version's order.
    engine.redeem("A", 10, id="late", at=T0 + timedelta(days=5))
    engine.redeem("A", 10, id="now", at=clock())
    assert left(engine, "A") == [(40, YEAR_LOT), (20, MONTH_LOT)]
