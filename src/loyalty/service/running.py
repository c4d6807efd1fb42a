"""Running a use case: one unit of work, retried when it loses a race with another writer.

Every command of the service layer is a function of a unit of work; a
:class:`Runner` opens the unit of work, runs the command in it and, when the
store says another writer got there first (:class:`~loyalty.errors.TransientStorageError`),
runs it again from the start, up to its bound. Queries read in a read-only
unit of work, which a replica can serve, retried alike.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import attrs

from loyalty.checks import check_aware
from loyalty.errors import ConcurrencyError, InsufficientPoints, TransientStorageError
from loyalty.store import Store, UnitOfWork

__all__ = ["Clock", "Declined", "Runner", "system_clock"]

Clock = Callable[[], datetime]
T = TypeVar("T")
C = TypeVar("C")


def system_clock() -> datetime:
    """The wall clock, in UTC: the engine's default."""
    return datetime.now(UTC)


@attrs.frozen
class Declined:
    """A command decided as declined: kept, so a retry is declined the same way."""

    error: InsufficientPoints


@attrs.frozen
class Runner:
    """Runs commands on ``store`` with the engine's ``clock``, up to ``max_attempts`` times each."""

    store: Store
    clock: Clock
    max_attempts: int

    def now(self) -> datetime:
        """The engine's time (``recorded_at``); an injected clock is checked on every reading."""
        if self.clock is system_clock:
            # Aware and in range by construction.
            return datetime.now(UTC)
        return check_aware("clock", self.clock())

    def read(self, query: Callable[[UnitOfWork], T]) -> T:
        """Run ``query`` in a read-only unit of work (which a replica can serve), again when the
        store reports a transient failure, such as a pooled connection the server dropped,
        as :meth:`run` does for writes."""
        return self._attempts(query, readonly=True)

    def run(self, command: Callable[[UnitOfWork], T]) -> T:
        """Run ``command`` in a unit of work, retrying when it lost a race with another writer."""
        return self._attempts(command, readonly=False)

    def _attempts(self, command: Callable[[UnitOfWork], T], *, readonly: bool) -> T:
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.store.unit_of_work(readonly=readonly) as uow:
                    return command(uow)
            except TransientStorageError as exc:
                if attempt == self.max_attempts:
                    raise ConcurrencyError(None, f"gave up after {attempt} attempts: {exc}") from exc
                # Jittered backoff so colliding writers do not collide again in lockstep.
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def run_or_decline(self, command: Callable[[UnitOfWork], T | Declined]) -> T:
        """:meth:`run`, raising the error of a command that was declined (after it was kept)."""
        outcome = self.run(command)
        if isinstance(outcome, Declined):
            raise outcome.error
        return outcome

    def in_chunks(self, items: list[C], batch: int, command: Callable[[UnitOfWork, list[C]], int]) -> int:
        """Run ``command`` on ``items``, ``batch`` at a time, one unit of work each; the sum of its counts."""
        total = 0
        for start in range(0, len(items), batch):
            part = items[start : start + batch]

            def one(uow: UnitOfWork, part: list[C] = part) -> int:
                return command(uow, part)

            total += self.run(one)
        return total
