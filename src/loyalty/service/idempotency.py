"""Idempotency for every command: the POS's own id is the key.

A command is kept with its canonical request and its result. The same key
again with the same request replays the stored result (the original receipt,
even after the program changed); with another request it is refused with
:class:`~loyalty.errors.IdempotencyConflict` naming the first field that
differs; a declined command stays declined with the figures the till was told.

Each command run logs one line: at DEBUG its kind, the POS's id and whether
it was recorded or replayed; a new decline at INFO, with its figures. Never
the request: it holds the member's id and attributes (see ``docs/logging.md``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import attrs

from loyalty import codec
from loyalty.erasure import erased_by, erased_member
from loyalty.errors import IdempotencyConflict, InsufficientPoints, MemberErased, RedemptionLimit
from loyalty.redemption import refusal
from loyalty.service.running import Declined, Runner
from loyalty.store import Operation, UnitOfWork

__all__ = ["Command", "insufficient"]

T = TypeVar("T")

logger = logging.getLogger(__name__)


def insufficient(
    available: int, requested: int, limit: str | None = None, detail: str = ""
) -> InsufficientPoints:
    """The error of a short balance, or of a redemption ``limit``, with its figures."""
    if limit is not None:
        return refusal(limit, available, requested, detail)
    return InsufficientPoints(
        "points",
        f"{requested} requested but only {available} available",
        available=available,
        requested=requested,
    )


@attrs.define
class Command:
    """A write the POS asked for: its ``key`` (the POS's id), ``kind`` and canonical ``request``."""

    key: str
    kind: str
    request: dict[str, Any]
    #: Whether the latest look-up found the command kept already: a retry by the POS. (Each
    #: command is run by one caller, so its latest attempt is the one whose result it returns.)
    retried: bool = attrs.field(default=False, init=False)

    def __str__(self) -> str:
        # What log lines name a command by: never its request.
        return f"{self.kind} {self.key!r}"

    def run(self, runner: Runner, work: Callable[[UnitOfWork], T | Declined]) -> T:
        """Run ``work`` as this command (:meth:`Runner.run`) and log its outcome; a declined
        command raises its error once it is kept."""
        outcome = runner.run(work, self)
        if isinstance(outcome, Declined):
            if self.retried:
                logger.debug("%s: replayed, declined", self)
            else:
                short = outcome.error
                logger.info(
                    "%s declined: %d points requested, %d available", self, short.requested, short.available
                )
            raise outcome.error
        # Guarded: on every purchase, and Logger.debug costs about 1,900 instructions even when
        # its level is off (packing its arguments), the guard about 750.
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: %s", self, "replayed" if self.retried else "recorded")
        return outcome

    def replay(self, uow: UnitOfWork) -> Operation | None:
        """The earlier operation under the key if this is a retry of it; a conflicting reuse raises."""
        return self._check(uow.operation(self.key))

    def replay_and_lock(self, uow: UnitOfWork, member_id: str) -> tuple[Operation | None, int | None]:
        """:meth:`replay`, with ``member_id``'s balance locked for the command (``None`` for no
        such member) in the same read: for a command on one member, which is rarely a retry."""
        previous, balance = uow.operation_and_lock(self.key, member_id)
        return self._check(previous), balance

    def _check(self, previous: Operation | None) -> Operation | None:
        self.retried = previous is not None
        if previous is None:
            return None
        if erased_by(previous.request) is not None:
            # The record lost its personal data to an erasure: nothing to compare or replay.
            member = erased_member(previous.request)
            raise MemberErased(
                "id", f"id {self.key!r} was a command about member {member!r}, since erased", member_id=member
            )
        if previous.kind != self.kind:
            raise IdempotencyConflict(
                "kind", f"id {self.key!r} was already used for a {previous.kind}, not a {self.kind}"
            )
        old, new = codec.canonical(previous.request), codec.canonical(self.request)
        field = codec.first_difference(old, new)
        if field is not None:
            was, now = codec.value_at(old, field), codec.value_at(new, field)
            raise IdempotencyConflict(
                field,
                f"id {self.key!r} was already used for a different {self.kind} (was {was!r}, now {now!r})",
            )
        return previous

    def replayed(self, uow: UnitOfWork, decode: Callable[[dict[str, Any]], T]) -> T | Declined | None:
        """The stored outcome of a retry, decoded (or its decline), or ``None`` for a new command."""
        previous = self.replay(uow)
        if previous is None:
            return None
        if "declined" in previous.result:
            return Declined(insufficient(**previous.result["declined"]))
        return decode(previous.result)

    def remember(self, uow: UnitOfWork, result: dict[str, Any], now: datetime) -> None:
        """Keep the command's result under its key, in the command's own unit of work."""
        uow.add_operation(Operation(self.key, self.kind, self.request, result, now))

    def decline(self, uow: UnitOfWork, short: InsufficientPoints, now: datetime) -> Declined:
        """Keep the decision to decline under the key, so a retry is declined alike, and commit it."""
        figures: dict[str, Any] = {"available": short.available, "requested": short.requested}
        if isinstance(short, RedemptionLimit):
            figures |= {"limit": short.limit, "detail": short.detail}
        self.remember(uow, {"declined": figures}, now)
        uow.commit()
        return Declined(insufficient(**figures))
