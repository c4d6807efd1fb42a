"""Shared by the service tests: an instant, the plain program, a sale, an engine with M1, a member's lots
to compare, a crashing store, one that loses races and one that notes calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from loyalty import Engine, Line, Program, Purchase, TransientStorageError
from loyalty.store import Closing, Store, UnitOfWork
from loyalty.testing.clock import ManualClock

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Engine", "EUR")  # the plain program: 1 point per EUR, floored
#: Tiers by balance, as a program's configuration gives them: silver from 60 points.
SILVER_AT_60 = {
    "metric": "balance",
    "levels": [{"id": "member", "name": "Member"}, {"id": "silver", "name": "Silver", "threshold": "60"}],
}


def sale(
    pid: str, amount: str = "10.00", *, member: str = "M1", at: datetime = T0, **line: object
) -> Purchase:
    """A one-line purchase of ``amount`` EUR (sku "sku"); ``line`` sets the line's other fields."""
    return Purchase(pid, member, at, [Line("sku", 1, Decimal(amount), **line)], "EUR")  # type: ignore[arg-type]


def engine_for(store: Store, *programs: Program) -> Engine:
    """An engine on ``store`` running ``programs`` (one, or its versions), clock at T0, M1 enrolled."""
    return clocked_engine_for(store, *programs)[0]


def clocked_engine_for(store: Store, *programs: Program) -> tuple[Engine, ManualClock]:
    """:func:`engine_for` and its clock, for a test that dates activity after T0 and moves the clock
    to it (the program's time guards refuse a till time far ahead of the engine's)."""
    clock = ManualClock(T0)
    return engine_with(store, clock, *programs), clock


def engine_with(
    store: Store, clock: ManualClock, *programs: Program, members: tuple[str, ...] = ("M1",)
) -> Engine:
    """An engine on ``store`` and ``clock`` running ``programs`` (one, or its versions), ``members``
    enrolled at T0."""
    engine = Engine(programs[0] if len(programs) == 1 else programs, store, clock=clock)
    for member_id in members:
        engine.enroll(member_id, at=T0)
    return engine


def lot_dates(engine: Engine, member_id: str) -> list[tuple[Any, ...]]:
    """The member's open lots as (remaining, earned, vests, expires): what two stores compare after
    one's members were exported into the other."""
    return [(lot.remaining, lot.earned_at, lot.vests_at, lot.expires_at) for lot in engine.lots(member_id)]


class CrashingStore(Closing):
    """A store whose units of work crash as a command records its result, before anything commits."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[UnitOfWork]:
        with self.inner.unit_of_work(readonly=readonly) as uow:

            def crash(*_: object) -> None:
                raise RuntimeError("power cut between the ledger entry and the idempotency record")

            uow.add_operation = crash  # type: ignore[method-assign,assignment]
            yield uow

    def close(self) -> None:
        self.inner.close()


class FlakyStore(Closing):
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


class WatchedStore(Closing):
    """A store whose units of work note each call of the ``watched`` methods (name and arguments)
    in ``calls``, and then do it: a test sees what a command read or wrote, in order."""

    def __init__(self, inner: Store, *watched: str) -> None:
        self.inner = inner
        self.watched = watched
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[UnitOfWork]:
        with self.inner.unit_of_work(readonly=readonly) as uow:
            for name in self.watched:
                setattr(uow, name, self._noting(name, getattr(uow, name)))
            yield uow

    def _noting(self, name: str, method: Callable[..., object]) -> Callable[..., object]:
        def noted(*args: object, **kwargs: object) -> object:
            self.calls.append((name, args))
            return method(*args, **kwargs)

        return noted

    def close(self) -> None:
        self.inner.close()
