"""Running a use case: one unit of work, retried when it loses a race with another writer.

Every command of the service layer is a function of a unit of work; a
:class:`Runner` opens the unit of work, runs the command in it and, when the
store says another writer got there first (:class:`~loyalty.errors.TransientStorageError`),
runs it again from the start, up to its bound. Queries read in a read-only
unit of work, which a replica can serve, retried alike.

Each retry is logged at INFO, and giving up at WARNING, with the attempt and
the error's class only: a driver's message can quote a key, which may be a
member's id. A command that raises one of the library's errors is logged at
DEBUG, by the error's class too (see ``docs/logging.md``).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import attrs

from loyalty.checks import check_aware
from loyalty.errors import ConcurrencyError, InsufficientPoints, LoyaltyError, TransientStorageError
from loyalty.store import Store, UnitOfWork

__all__ = ["Clock", "Declined", "Runner", "system_clock"]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")
C = TypeVar("C")


def system_clock() -> datetime:
    """The wall clock, in UTC: the engine's default."""
    return datetime.now(UTC)


def _error_class(exc: BaseException) -> str:
    """``exc``'s class, and the driver's error it was translated from (its message is not logged)."""
    cause = exc.__cause__
    return type(exc).__name__ if cause is None else f"{type(exc).__name__} from {type(cause).__name__}"


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
        # The first attempt inline: a balance read is a few microseconds of SQL, and the retry
        # loop's set-up cost about a twentieth of it.
        try:
            with self.store.unit_of_work(readonly=True) as uow:
                return query(uow)
        except TransientStorageError as exc:
            self._failed("a query", 1, exc)
        except LoyaltyError as exc:
            logger.debug("a query: raised %s", type(exc).__name__)
            raise
        return self._attempts(query, "a query", readonly=True, first=2)

    def run(self, command: Callable[[UnitOfWork], T], what: object = "a unit of work") -> T:
        """Run ``command`` in a unit of work, retrying when it lost a race with another writer.

        ``what`` names the command in the log lines of its retries and errors (its kind and the
        POS's id, never its values); it is made a string only if a line is written.
        """
        return self._attempts(command, what, readonly=False)

    def _attempts(
        self, command: Callable[[UnitOfWork], T], what: object, *, readonly: bool, first: int = 1
    ) -> T:
        for attempt in range(first, self.max_attempts + 1):
            try:
                with self.store.unit_of_work(readonly=readonly) as uow:
                    return command(uow)
            except TransientStorageError as exc:
                self._failed(what, attempt, exc)
            except LoyaltyError as exc:
                logger.debug("%s: raised %s", what, type(exc).__name__)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _failed(self, what: object, attempt: int, exc: TransientStorageError) -> None:
        """After a transient failure: give up if that was the last attempt, else wait to retry."""
        error = _error_class(exc)
        if attempt >= self.max_attempts:
            logger.warning("gave up on %s after %d attempts: %s", what, attempt, error)
            raise ConcurrencyError(None, f"gave up after {attempt} attempts: {exc}") from exc
        logger.info("retrying %s: attempt %d of %d failed: %s", what, attempt, self.max_attempts, error)
        # Jittered backoff so colliding writers do not collide again in lockstep.
        time.sleep(random.uniform(0, 0.002 * 2**attempt))

    def in_chunks(
        self, items: list[C], batch: int, command: Callable[[UnitOfWork, list[C]], int], what: str
    ) -> int:
        """Run ``command`` on ``items``, ``batch`` at a time, one unit of work each; the sum of its counts.

        ``what`` names the job in the log lines of its retries."""
        total = 0
        for start in range(0, len(items), batch):
            part = items[start : start + batch]

            def one(uow: UnitOfWork, part: list[C] = part) -> int:
                return command(uow, part)

            total += self.run(one, what)
        return total
