"""The engine's doors to offline allowances (:mod:`loyalty.offline`): granting and reconciling.

:class:`~loyalty.Engine` inherits these, and sends an offline redemption
(``redeem(..., offline=True, terminal=...)``) to the same use cases.
"""

from __future__ import annotations

from datetime import datetime

from loyalty.offline import OfflineAllowance, TerminalReport
from loyalty.service import offline
from loyalty.service.context import Context

__all__ = ["OfflineDoors"]


class OfflineDoors:
    """Offline allowances: what a terminal may redeem while cut off, and what it did."""

    _ctx: Context

    def grant_offline_allowance(
        self,
        terminal_id: str,
        *,
        id: str,
        at: datetime,
        per_member: int | None = None,
        total: int | None = None,
        until: datetime | None = None,
        actor: str,
    ) -> OfflineAllowance:
        """Let ``terminal_id`` redeem up to ``per_member`` points per member and ``total`` in all
        while offline, for redemptions dated from ``at`` to ``until``.

        A figure left out is the program's (its ``offline`` table, of the version in force at
        ``at``): ``until`` is then ``at`` plus its ``hours``. Under a program without one, a
        figure left out is refused naming it (:class:`~loyalty.errors.InvalidPoints`, or
        :class:`~loyalty.errors.InvalidDatetime` for ``until``).

        A redemption it sends later with ``offline=True`` within the allowance is accepted even
        if the member's balance has fallen since; what the balance lacks is settled by the
        program's ``clawback`` (``negative``: a debt below zero; ``future``: owed from later
        earnings; ``clamp``: not collected). Beyond the allowance (or after ``until``) it is an
        ordinary redemption, declined on a short balance. Bad figures or dates raise
        :class:`~loyalty.errors.InvalidPoints` or :class:`~loyalty.errors.InvalidDatetime`
        naming the field, writing nothing: ``until`` must be after ``at`` and at most 720 hours
        (30 days) after it, the longest the program's ``hours`` may give. Idempotent on
        ``id``: a retry must leave out what the original left out (and state what it stated),
        and gets the original allowance back.
        """
        return offline.grant(
            self._ctx,
            terminal_id,
            key=id,
            at=at,
            per_member=per_member,
            total=total,
            until=until,
            actor=actor,
        )

    def offline_report(self, terminal_id: str) -> list[TerminalReport]:
        """Reconcile a terminal: each allowance it was granted, oldest first, with each member's
        use (points, shortfalls, declines). A terminal never granted one raises
        :class:`~loyalty.errors.UnknownTerminal` naming ``terminal_id``."""
        return offline.report(self._ctx, terminal_id)
