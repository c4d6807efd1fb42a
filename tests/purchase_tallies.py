"""A purchase's own tallies and a lot's expiry reminder written through the engine, for the tests
that check where an SQL store keeps them: with their member, in ``member_tallies`` (SQLite schema
22, PostgreSQL 20), so that a return, a redemption against a purchase and a reminder write no row
of the ``tallies`` table shared by every member (docs/scaling.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import (
    AlreadyReturned,
    Engine,
    Expiry,
    InvalidQuantity,
    Line,
    Program,
    Purchase,
    Return,
    Returned,
)
from loyalty.store import Store
from loyalty.testing.clock import ManualClock

__all__ = ["FAMILIES", "SCENARIOS", "T0", "check_history_migrated", "history", "of_family"]

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
#: The default program, and one that reminds members of points about to expire.
DEFAULT = Program("Shop", "EUR")
REMINDING = Program("Shop", "EUR", remind_days=7, expiry=Expiry("lifetime", days=30))
#: The families of the keys these commands write (loyalty.pseudonyms.MARKED_FAMILIES).
FAMILIES = ("returned", "taken", "paid", "refunded", "reminded")


def of_family(key: str) -> bool:
    """Whether ``key`` is of :data:`FAMILIES`, marked with its member or not."""
    return key.partition("|")[0] in FAMILIES


def _bought(store: Store, program: Program) -> tuple[Engine, ManualClock]:
    clock = ManualClock(T0)
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=T0)
    lines = [Line("shirt", 2, Decimal("20.00")), Line("socks", 1, Decimal("5.00"))]
    engine.record_purchase(Purchase("P1", "M1", T0, lines, "EUR"))
    clock.now = T0 + timedelta(hours=3)
    return engine, clock


def _returned(store: Store) -> set[str]:
    engine, _ = _bought(store, DEFAULT)
    engine.record_return(Return("X1", "P1", T0 + timedelta(hours=1), (Returned("shirt", 1),)))
    return {"returned", "taken", "refunded"}


def _paid(store: Store) -> set[str]:
    engine, _ = _bought(store, DEFAULT)
    engine.redeem("M1", 10, id="R1", at=T0 + timedelta(hours=1), purchase_id="P1")
    return {"paid"}


def _reminded(store: Store) -> set[str]:
    engine, clock = _bought(store, REMINDING)
    clock.now = T0 + timedelta(days=24)
    assert engine.run_due().reminders == 1
    return {"reminded"}


#: Each command that writes such a tally, on a fresh store: the families it wrote.
SCENARIOS: dict[str, Callable[[Store], set[str]]] = {
    "return": _returned,
    "redemption against a purchase": _paid,
    "expiry reminder": _reminded,
}


def history(store: Store) -> Engine:
    """Under :data:`REMINDING`: ``P1`` paid for in part with points (``R1``), one of its two
    shirts returned (``X1``), its lot's expiry announced; ``P2``, of no points, returned (``X2``).
    The engine's clock is then past them."""
    engine, clock = _bought(store, REMINDING)
    engine.redeem("M1", 10, id="R1", at=T0 + timedelta(hours=1), purchase_id="P1")
    engine.record_return(Return("X1", "P1", T0 + timedelta(hours=2), (Returned("shirt", 1),)))
    # A purchase of no points, whose record is kept apart from any entry, returned in full.
    engine.record_purchase(Purchase("P2", "M1", T0, [Line("gum", 1, Decimal("0.50"))], "EUR"))
    engine.record_return(Return("X2", "P2", T0 + timedelta(hours=2), None))
    clock.now = T0 + timedelta(days=24)
    assert engine.run_due().reminders == 1
    return engine


def check_history_migrated(store: Store) -> None:
    """After the migration, ``store`` (with :func:`history` in it, closed afterwards) still knows
    what came back of ``P1`` and what paid for it, and that its lot was announced."""
    clock = ManualClock(T0 + timedelta(days=24, hours=1))
    engine = Engine(REMINDING, store, clock=clock)
    try:
        assert engine.run_due().reminders == 0  # announced already
        at = T0 + timedelta(days=1)
        with pytest.raises(InvalidQuantity):  # one shirt of two is left
            engine.record_return(Return("X4", "P1", at, (Returned("shirt", 2),)))
        with pytest.raises(AlreadyReturned):
            engine.record_return(Return("X5", "P2", at, None))
        last = engine.record_return(Return("X3", "P1", at, None))
        # The 10 points paid, less the 4 the first return refunded (its 20.00 of 45.00, rounded down).
        assert (last.refunded, last.now_earns) == (6, 0)
        with store.unit_of_work(readonly=True) as uow:
            key = "taken|P1\x1fM1"
            assert uow.tallies([key])[key].count == 2
    finally:
        store.close()
