"""Offline allowances through the port: granting one, redeeming under one, reconciling a terminal.

The decisions are :mod:`loyalty.offline`'s; this module reads what they need in the
command's unit of work. An offline redemption locks its member, as every
redemption does, and reads the terminal's total under the allowance locked
(``for_update``): two syncs of one terminal cannot pass ``total`` together,
while syncs of different terminals never wait on each other. Everything else
it writes is the member's: its entry, its balance, its row of use.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from loyalty import codec
from loyalty.checks import check_aware, check_id, check_points, check_text
from loyalty.errors import InsufficientPoints, InvalidInput, RedemptionLimit, UnknownTerminal
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.offline import (
    OfflineAllowance,
    OfflineUse,
    TerminalReport,
    check_grant,
    note,
    refusal,
    resolve_grant,
    settle,
    total_key,
)
from loyalty.redemption import check_request
from loyalty.returns import debt_key, owed_key, paid_key
from loyalty.service import allowances, locks, postings, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.service.running import Declined
from loyalty.store import UnitOfWork
from loyalty.store.spending import draw_points
from loyalty.tallies import Tally

__all__ = ["grant", "redeem", "report"]


def grant(
    ctx: Context,
    terminal_id: str,
    *,
    key: str,
    at: datetime,
    per_member: int | None,
    total: int | None,
    until: datetime | None,
    actor: str,
) -> OfflineAllowance:
    """Open an offline allowance for a terminal (see :meth:`loyalty.Engine.grant_offline_allowance`)."""
    check_id("id", key)
    check_id("terminal_id", terminal_id)
    check_id("actor", actor)
    check_aware("at", at)
    # What was given is checked before the store is read; what the program fills in, once it is.
    for field, given in (("per_member", per_member), ("total", total)):
        if given is not None:
            check_points(field, given)
    if until is not None:
        check_aware("until", until)
        if per_member is not None and total is not None:
            check_grant(OfflineAllowance(key, terminal_id, per_member, total, at, until, actor))
    ctx.till_time("at", at, key)
    # The request is what the caller sent, a figure left out kept as null: a retry leaving it
    # out again replays the original whatever the program says since, and one stating it conflicts.
    request = {
        "id": key,
        "terminal_id": terminal_id,
        "per_member": per_member,
        "total": total,
        "opened_at": at.isoformat(),
        "until": None if until is None else until.isoformat(),
        "actor": actor,
    }
    granting = Command(key, "offline_allowance", request)

    def command(uow: UnitOfWork) -> OfflineAllowance:
        replay = granting.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, OfflineAllowance)
        program = allowances.program_at(ctx, uow, at)
        allowance = check_grant(
            resolve_grant(
                program.offline,
                key,
                terminal_id,
                at,
                actor,
                per_member=per_member,
                total=total,
                until=until,
                version=program.version,
            )
        )
        uow.add_offline_allowance(allowance)
        granting.remember(uow, codec.unstructure(allowance), ctx.now())
        uow.commit()
        return allowance

    return granting.run(ctx.runner, command)


def _reconciled_under(found: list[OfflineAllowance], at: datetime) -> OfflineAllowance | None:
    """The allowance a redemption dated ``at`` counts against: the latest whose window holds it
    (a later grant takes over while it lasts), else the latest opened before it (whose window
    has closed: the redemption is beyond it), else none."""
    opened = [allowance for allowance in found if allowance.opened_at <= at]
    covering = [allowance for allowance in opened if allowance.covers(at)]
    chosen = covering or opened
    return chosen[-1] if chosen else None


def redeem(
    ctx: Context,
    member_id: str,
    points: int,
    *,
    key: str,
    at: datetime,
    reason: str,
    purchase_id: str | None,
    offline: bool,
    terminal: str | None,
) -> Entry:
    """A redemption a terminal made offline (see :meth:`loyalty.Engine.redeem`)."""
    if offline is not True:
        if offline is not False:
            raise InvalidInput("offline", f"must be a bool, got {offline!r}")
        raise InvalidInput("terminal", "is only for an offline redemption (offline=True)")
    if terminal is None:
        raise InvalidInput("terminal", "an offline redemption names the terminal that made it")
    check_points("points", points)
    check_text("reason", reason)
    check_id("member_id", member_id)
    check_id("id", key)
    check_id("terminal", terminal)
    if purchase_id is not None:
        check_id("purchase_id", purchase_id)
    ctx.till_time("at", at, key)
    request = {
        "member_id": member_id,
        "points": -points,
        "at": at.isoformat(),
        "reason": reason,
        "actor": None,
        "offline": True,
        "terminal": terminal,
    }
    if purchase_id is not None:
        request["purchase_id"] = purchase_id
    change = Command(key, "redeem", request)

    def command(uow: UnitOfWork) -> Entry | Declined:
        replay = change.replayed(uow, lambda result: codec.structure(result, Entry))
        if replay is not None:
            return replay
        found = uow.offline_allowances(terminal)
        if not found:
            raise UnknownTerminal("terminal", f"no offline allowance was ever granted to {terminal!r}")
        locks.lock(uow, member_id)
        locks.allowed(uow, member_id, locks.SPEND)
        ctx.enrolled_by(uow, member_id, at)
        sold = None if purchase_id is None else allowances.paid_purchase(uow, member_id, purchase_id)
        now = ctx.now()
        program = allowances.program_at(ctx, uow, at)
        check_request(program.redemption, points)
        allowance = _reconciled_under(found, at)
        within = False
        if allowance is not None:
            mine = uow.offline_uses(allowance.id, member_id)
            member_used = mine[0].points if mine else 0
            counted = uow.tallies([total_key(allowance.id)], for_update=True)[total_key(allowance.id)]
            within = (
                refusal(
                    allowance, points=points, member_used=member_used, total_used=int(counted.points), at=at
                )
                is None
            )
        # Points past their date cannot be spent: write them off first.
        postings.expire_due(uow, member_id, now, now)
        # Reviews due measure the balance before this write (under a balance metric), and a
        # decline keeps the write-off above: the tier follows it either way.
        tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
        paying = None if sold is None else allowances.Payment(uow, sold.key, sold)
        short = 0
        try:
            draws = allowances.draw_within_limits(uow, program, member_id, points, at, now, paying)
        except RedemptionLimit as limited:
            # The program's limits are terms the till knows offline too: they apply as today.
            return _decline(uow, change, allowance, member_id, limited, now)
        except InsufficientPoints as lacking:
            if not within:
                return _decline(uow, change, allowance, member_id, lacking, now)
            drawable = max(0, lacking.available)
            own = None if paying is None or program.redemption.same_purchase else paying.lot
            draws = (
                draw_points(uow, member_id, drawable, now, exclude=own, order=program.expiry.draw)
                if drawable
                else ()
            )
            short = points - drawable
        clawed = settle(program.clawback, points=points, available=points - short)
        # Written by hand below, not planned: the range a plan checks, checked here.
        postings.check_room(uow, member_id, -clawed.taken, "the member's")
        allowances.count_spent(uow, program, member_id, at, points)
        if purchase_id is not None:
            # What the member bears pays for the purchase: not what the merchant gave up (clamp).
            uow.add_tallies(
                {paid_key(member_id, purchase_id): Tally(0, Decimal(points - clawed.uncollected))}
            )
        postings.mark_redeemed(uow, member_id, at)
        why = reason
        if within:
            assert allowance is not None  # within an allowance
            why = f"{reason}, {note(terminal, allowance.id, points, clawed)}"
            uow.add_offline_use(OfflineUse(allowance.id, member_id, 1, points, short, 0))
            owing = {debt_key(member_id): clawed.debt, owed_key(member_id): clawed.owed}
            uow.add_tallies(
                {total_key(allowance.id): Tally(1, Decimal(points))}
                | {k: Tally(0, Decimal(v)) for k, v in owing.items() if v}
            )
        entry = uow.append(
            Posting(member_id, EntryKind.REDEEM, -clawed.taken, at, now, key, why, draws=draws)
        )
        tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
        change.remember(uow, codec.unstructure(entry), now)
        uow.commit()
        return entry

    return change.run(ctx.runner, command)


def _decline(
    uow: UnitOfWork,
    change: Command,
    allowance: OfflineAllowance | None,
    member_id: str,
    short: InsufficientPoints,
    now: datetime,
) -> Declined:
    """Decline as an online redemption is declined, counted on the member's row of the allowance."""
    if allowance is not None:
        uow.add_offline_use(OfflineUse(allowance.id, member_id, declined=1))
    return change.decline(uow, short, now)


def report(ctx: Context, terminal_id: str) -> list[TerminalReport]:
    """Reconcile a terminal (see :meth:`loyalty.Engine.offline_report`)."""
    check_id("terminal_id", terminal_id)

    def query(uow: UnitOfWork) -> list[TerminalReport]:
        found = uow.offline_allowances(terminal_id)
        if not found:
            raise UnknownTerminal("terminal_id", f"no offline allowance was ever granted to {terminal_id!r}")
        return [TerminalReport(allowance, tuple(uow.offline_uses(allowance.id))) for allowance in found]

    return ctx.runner.read(query)
