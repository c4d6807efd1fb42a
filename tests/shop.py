"""A small shop's history through the engine, for the tests that upgrade a store holding one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from loyalty import Engine, Line, Program, Purchase
from loyalty.figures import Figures
from loyalty.lots import Balance
from loyalty.store import Store
from loyalty.testing.clock import ManualClock

__all__ = ["AT", "END", "MEMBERS", "PROGRAM", "START", "check_upgraded", "reading", "record"]

START = datetime(2024, 3, 10, tzinfo=UTC)
END = START + timedelta(days=10)
#: The engine's clock when the history ends.
AT = START + timedelta(days=5)
MEMBERS = ("a", "b", "c")
PROGRAM = Program("Shop", "EUR")


def record(store: Store) -> Engine:
    """Purchases before, in and after the period ``[START, END)``, a redemption and a hold."""
    clock = ManualClock(START - timedelta(days=30))
    engine = Engine(PROGRAM, store, clock=clock)
    for member in MEMBERS:
        engine.enroll(member, at=clock.now)
    plus2 = timezone(timedelta(hours=2))
    for n, (member, day) in enumerate((("a", -5), ("b", -3), ("a", 1), ("c", 2), ("a", 4), ("b", 12))):
        clock.now = (START + timedelta(days=day, hours=n)).astimezone(plus2)
        engine.record_purchase(
            Purchase(f"P{n}", member, clock.now, [Line("x", 1, Decimal(f"{n + 1}0.25"))], "EUR")
        )
    clock.now = AT
    engine.redeem("a", 7, id="R1", at=clock.now)
    engine.hold("b", 3, id="H1", at=clock.now, ttl=timedelta(days=1))
    return engine


def reading(engine: Engine) -> tuple[Figures, list[Balance]]:
    """What the store answers: the period's figures and every member's balance."""
    return engine.figures(START, END), [engine.balance(member) for member in MEMBERS]


def check_upgraded(store: Store, before: tuple[Figures, list[Balance]]) -> None:
    """The upgraded ``store`` answers as it did ``before``, and spends from its lots."""
    engine = Engine(PROGRAM, store, clock=lambda: AT)
    assert reading(engine) == before
    engine.redeem("a", 5, id="R2", at=AT)
    assert engine.balance("a").available == before[1][0].available - 5
