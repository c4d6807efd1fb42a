"""The engine's doors to history records (:mod:`loyalty.history`): members in and out.

A program moving to this engine brings its members' points as opening balances
and its past activity as history records (:meth:`~HistoryDoors.import_events`);
one moving away takes its members as records (:meth:`~HistoryDoors.export_members`).
:class:`~loyalty.Engine` inherits these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from loyalty import history
from loyalty.ledger import Entry
from loyalty.service import exporting, importing, opening
from loyalty.service.context import Context
from loyalty.service.importing import ImportSummary, OnError, Rejected

__all__ = ["HistoryDoors"]


class HistoryDoors:
    """Members and their points brought in from another system, or taken out to one."""

    _ctx: Context

    def add_opening_balance(
        self,
        member_id: str,
        points: int,
        *,
        id: str,
        at: datetime,
        expires_at: datetime | None,
        vests_at: datetime | None = None,
    ) -> Entry:
        """Credit ``points`` a member brings from a former program, earned ``at``, expiring at
        ``expires_at`` (``None``: never) and pending until ``vests_at`` (``None``: spendable at
        once) whatever this program says: an ``adjust`` entry whose reason is ``opening balance``.
        Idempotent on ``id``; a member that may not be corrected (closed) is refused
        (:class:`MemberNotActive`)."""
        return opening.add_opening_balance(
            self._ctx, member_id, points, key=id, at=at, expires_at=expires_at, vests_at=vests_at
        )

    def import_events(
        self,
        events: Iterable[str | history.Event],
        *,
        batch_size: int = 500,
        on_error: OnError = "stop",
        on_reject: Callable[[Rejected], None] | None = None,
        progress: Callable[[ImportSummary], None] | None = None,
    ) -> ImportSummary:
        """Apply a history (:mod:`loyalty.history`: lines of a JSONL file, or records),
        ``batch_size`` events per unit of work, each with the outcome of its own engine call (see
        :mod:`loyalty.service.importing`); idempotent on the events' ids, so a stopped run resumes.

        A bad record (unreadable, or refused by the engine) is a :class:`Rejected` naming its
        line, field and reason, given to ``on_reject``; ``on_error="stop"`` ends the run there
        (``summary.stopped``), with every record before it applied, ``"skip"`` goes on.
        ``progress`` is called with the summary so far after each batch. Each record is judged
        at its own time (the engine's clock at its ``at``, when earlier), as the store it
        comes from judged it, except what is open now (open vouchers and holds). Activity dated before
        its member's enrollment is accepted whatever ``time_guards.before_enrollment`` says, as
        old history needs.
        """
        return importing.import_events(
            self._ctx,
            events,
            batch_size=batch_size,
            on_error=on_error,
            on_reject=on_reject,
            progress=progress,
        )

    def export_members(self, *, page: int = 500) -> Iterator[history.Event]:
        """Every member as history records (:mod:`loyalty.history`), by member id: its enrollment
        (birthday, attributes, active keys), then each open lot as an ``opening_balance`` with its
        own dates; :meth:`import_events` reads them back into another store. Members are read
        ``page`` at a time. Not carried: statuses, holds, debts, tier progress, referrals."""
        return exporting.export_members(self._ctx, page=page)
