"""Shared by the engine's service tests: an instant, the plain program, a sale, an engine with M1 enrolled."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from loyalty import Engine, Line, Program, Purchase
from loyalty.store import Store

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Engine", "EUR")  # the plain program: 1 point per EUR, floored


def sale(
    pid: str, amount: str = "10.00", *, member: str = "M1", at: datetime = T0, **line: object
) -> Purchase:
    """A one-line purchase of ``amount`` EUR (sku "sku"); ``line`` sets the line's other fields."""
    return Purchase(pid, member, at, [Line("sku", 1, Decimal(amount), **line)], "EUR")  # type: ignore[arg-type]


def engine_for(store: Store, *programs: Program) -> Engine:
    """An engine on ``store`` running ``programs`` (one, or its versions), clock at T0, M1 enrolled."""
    engine = Engine(programs[0] if len(programs) == 1 else programs, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    return engine
