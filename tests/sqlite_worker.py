"""Child-process entry points for the multi-process SQLite tests (spawned, so importable by path)."""

from __future__ import annotations

import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal

from loyalty import Engine, InsufficientPoints, Line, LoyaltyError, Program, Purchase
from loyalty.store.sqlite import SQLiteStore

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Processes", "EUR")


def purchases(path: str, worker: int, count: int) -> None:
    with closing(SQLiteStore(path)) as store:
        engine = Engine(PROGRAM, store)
        for i in range(count):
            line = Line("x", 1, Decimal("2.00"))
            engine.record_purchase(Purchase(f"W{worker}-{i}", "M1", T0, [line], "EUR"))


def redemptions(path: str, worker: int, count: int) -> int:
    won = 0
    with closing(SQLiteStore(path)) as store:
        engine = Engine(PROGRAM, store)
        for i in range(count):
            try:
                engine.redeem("M1", 30, id=f"R{worker}-{i}", at=T0)
                won += 1
            except InsufficientPoints:
                pass
    return won


def open_and_enroll(args: tuple[str, int, float]) -> str:
    path, worker, start = args
    while time.time() < start:
        pass
    try:
        with closing(SQLiteStore(path)) as store:
            Engine(PROGRAM, store).enroll(f"M{worker}", at=T0)
    except LoyaltyError as exc:
        return str(exc)
    return "ok"


def until_killed(path: str) -> None:
    """Record purchases forever, printing each acknowledged id; the parent kills us mid-write."""
    engine = Engine(PROGRAM, SQLiteStore(path))
    start = int(sys.argv[3])
    for i in range(start, start + 1_000_000):
        engine.record_purchase(Purchase(f"K{i}", "M1", T0, [Line("x", 1, Decimal("1.00"))], "EUR"))
        print(f"K{i}", flush=True)


if __name__ == "__main__":
    until_killed(sys.argv[1])
