"""What every use case runs with: the runner of units of work and the program versions."""

from __future__ import annotations

from datetime import datetime

import attrs

from loyalty.checks import check_aware
from loyalty.service.programs import Programs
from loyalty.service.running import Runner
from loyalty.store import UnitOfWork
from loyalty.time_guards import PreEnrollment, TimeGuards, check_enrolled, check_lead

__all__ = ["Context"]


@attrs.frozen
class Context:
    """The engine's runner (store, clock, retries) and its program versions, shared by the use cases."""

    runner: Runner
    programs: Programs
    #: Overrides the program's ``time_guards.before_enrollment``: an import of old history accepts
    #: activity its members had before they were enrolled (:func:`accepting_old_history`).
    before_enrollment: PreEnrollment | None = None

    @property
    def guards(self) -> TimeGuards:
        """The time guards commands run under: the engine's, as this context overrides them."""
        guards = self.programs.guards
        if self.before_enrollment is None or self.before_enrollment is guards.before_enrollment:
            return guards
        return attrs.evolve(guards, before_enrollment=self.before_enrollment)

    def accepting_old_history(self) -> Context:
        """This context, accepting activity dated before a member's enrollment (for imports)."""
        return attrs.evolve(self, before_enrollment=PreEnrollment.ACCEPT)

    def now(self) -> datetime:
        """The engine's time."""
        return self.runner.now()

    def till_time(self, field: str, at: object) -> datetime:
        """A command's ``at``: aware, in range, and not further ahead of the engine's clock than
        the program's ``time_guards`` allow (:class:`~loyalty.errors.TillTimeAhead`).

        The guards of the engine's latest version apply to every command: they are about the
        tills and the clock today, not about the terms of the day a command is dated.
        """
        checked = check_aware(field, at)
        guards = self.guards
        if guards.max_lead_minutes is not None:
            # The clock is read only when it bounds something: it may be costly, or a test's.
            check_lead(guards, checked, self.now(), field)
        return checked

    def enrolled_by(self, uow: UnitOfWork, member_id: str, at: datetime, field: str = "at") -> None:
        """Refuse activity of ``member_id`` dated before its enrollment, unless the program's
        ``time_guards.before_enrollment`` accepts it (:class:`~loyalty.errors.BeforeEnrollment`).
        An unknown member is left to the command's own refusal."""
        guards = self.guards
        if guards.before_enrollment is PreEnrollment.ACCEPT:
            return
        member = uow.member(member_id)
        if member is not None:
            check_enrolled(guards, at, member.enrolled_at, field)
