"""What every use case runs with: the runner of units of work and the program versions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

import attrs

from loyalty.checks import check_aware
from loyalty.errors import TillTimeAhead
from loyalty.service.programs import Programs
from loyalty.service.running import Runner
from loyalty.store import UnitOfWork
from loyalty.time_guards import PreEnrollment, TimeGuards, check_enrolled, check_lead, check_started

__all__ = ["Context"]


@attrs.frozen
class Context:
    """The engine's runner (store, clock, retries) and its program versions, shared by the use cases."""

    runner: Runner
    programs: Programs
    #: An import of old history: its records are dated as the engine that stored them accepted
    #: them, on tills whose clocks that engine let differ (:meth:`started`).
    old_history: bool = False
    #: The time guards in place of the engine's: an import of old history accepts activity its
    #: members had before they were enrolled (:meth:`accepting_old_history`). Made once: an
    #: import asks for the guards twice a record.
    guards_override: TimeGuards | None = None

    @property
    def guards(self) -> TimeGuards:
        """The time guards commands run under: the engine's, unless this context overrides them."""
        override = self.guards_override
        return self.programs.guards if override is None else override

    def accepting_old_history(self) -> Context:
        """This context, accepting activity dated before a member's enrollment (for imports)."""
        accepting = attrs.evolve(self.programs.guards, before_enrollment=PreEnrollment.ACCEPT)
        return attrs.evolve(self, old_history=True, guards_override=accepting)

    def now(self) -> datetime:
        """The engine's time."""
        return self.runner.now()

    def till_time(
        self,
        field: str,
        at: object,
        key: str | None = None,
        *,
        done: Callable[[UnitOfWork], bool] | None = None,
    ) -> datetime:
        """A command's ``at``: aware, in range, and not further ahead of the engine's clock than
        the program's ``time_guards`` allow (:class:`~loyalty.errors.TillTimeAhead`), unless the
        command is done already: recorded under its idempotency ``key``, or as ``done`` finds.

        The guards of the engine's latest version apply to every command: they are about the
        tills and the clock today, not about the terms of the day a command is dated. A retry
        is answered as a retry, however far ahead it is dated: its original was let through by
        an engine whose clock was later (another node's, or this one's before it was set back)
        or whose guards were looser (before an upgrade), and the till must get its result back.
        """
        checked = check_aware(field, at)
        guards = self.guards
        if guards.max_lead_minutes is not None:
            # The clock is read only when it bounds something: it may be costly, or a test's.
            try:
                check_lead(guards, checked, self.now(), field)
            except TillTimeAhead:
                # Looked up only for a refusal: the command's own lookup then replays it (or
                # refuses a different request under the key).
                if done is None and key is not None:
                    done = partial(_recorded, key)
                if done is None or not self.runner.read(done):
                    raise
        return checked

    def enrolled_by(self, uow: UnitOfWork, member_id: str, at: datetime, field: str = "at") -> None:
        """Refuse activity of ``member_id`` dated before its enrollment, unless the program's
        ``time_guards.before_enrollment`` accepts it (:class:`~loyalty.errors.BeforeEnrollment`).
        An unknown member is left to the command's own refusal."""
        guards = self.guards
        if guards.before_enrollment is PreEnrollment.ACCEPT:
            return
        # Read with the member's lock where the adapter can (its enrollment never changes).
        enrolled_at = uow.enrolled_at(member_id)
        if enrolled_at is not None:
            check_enrolled(guards, at, enrolled_at, field)

    def started(self, at: datetime, start: datetime, what: str, field: str = "at") -> None:
        """Refuse ``at`` before ``start``, when the hold or voucher a command acts on began, by
        more than the till lead (:func:`~loyalty.time_guards.check_started`); not in an import of
        old history, which the engine that stored it accepted (a history written before this
        check existed holds such records)."""
        if not self.old_history:
            check_started(self.guards, at, start, what, field)


def _recorded(key: str, uow: UnitOfWork) -> bool:
    """Whether a command is recorded under ``key``."""
    return uow.operation(key) is not None
