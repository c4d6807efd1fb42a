"""Transferring points between members: one unit of work holding both members' locks.

The locks are taken in member-id order (:mod:`loyalty.service.locks`), so two transfers in
opposite directions between the same members queue rather than deadlock. The sender's
past-due points are written off first, as before any debit; then the sender's lots are read in
draw order, as far as the points need (a redemption's draw: :mod:`loyalty.store.spending`), and
:func:`loyalty.transfers.plan_transfer` decides the entries, written at once. A short
balance is declined and the decline kept under the id, as a redemption's is; so is a transfer
beyond the sender's ``redemption.per_day``, which the points sent count toward. The program's
``minimum`` and ``multiple`` apply as to a redemption (bad input); ``per_purchase``,
``same_purchase`` and ``point_value`` concern paying for a purchase, which a transfer is not.
"""

from __future__ import annotations

from datetime import datetime

from loyalty import codec
from loyalty.checks import check_id, check_points, check_text
from loyalty.errors import InsufficientPoints
from loyalty.redemption import check_request
from loyalty.service import allowances, locks, postings, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.service.running import Declined
from loyalty.store import UnitOfWork
from loyalty.store.spending import drawable
from loyalty.transfers import Transfer, check_parties, plan_transfer, progress

__all__ = ["transfer"]


def transfer(
    ctx: Context, from_member: str, to_member: str, points: int, *, key: str, at: datetime, reason: str
) -> Transfer:
    """Move ``points`` (stored units) from one member to another (see :meth:`loyalty.Engine.transfer`)."""
    check_id("from_member", from_member)
    check_id("to_member", to_member)
    check_parties(from_member, to_member)
    check_points("points", points)
    check_id("id", key)
    ctx.till_time("at", at, key)
    check_text("reason", reason)
    request = {
        "from_member": from_member,
        "to_member": to_member,
        "points": points,
        "at": at.isoformat(),
        "reason": reason,
    }
    sending = Command(key, "transfer", request)
    fields = {from_member: "from_member", to_member: "to_member"}

    def command(uow: UnitOfWork) -> Transfer | Declined:
        replay = sending.replayed(uow, lambda result: codec.structure(result, Transfer))
        if replay is not None:
            return replay
        for member_id in sorted(fields):
            locks.lock(uow, member_id, fields[member_id])
        locks.allowed(uow, from_member, locks.SPEND, "from_member")
        locks.allowed(uow, to_member, locks.EARN, "to_member")
        for member_id in sorted(fields):
            ctx.enrolled_by(uow, member_id, at)
        # Points leaving the sender are spent as a redemption's are: its minimum and steps are
        # bad input, its day a limit (the limits on paying for a purchase concern no transfer).
        program = allowances.program_at(ctx, uow, at)
        check_request(program.redemption, points)
        now = ctx.now()
        # Points past their date cannot be sent: write them off first.
        postings.expire_due(uow, from_member, now, now)
        both = [from_member, to_member]
        # Reviews due measure the balances before this write (under a balance metric).
        tiering.follow_balance(ctx, uow, both, source=key, at=now)
        sender = postings.read_account(uow, from_member, rolls=False)
        receiver = postings.read_account(uow, to_member, rolls=False)
        lots, reach = drawable(uow, from_member, points, now, order=program.expiry.draw)
        current = tiering.tiered_now(ctx, uow)
        counted = {}
        if current is not None:
            member = uow.member(to_member)
            assert member is not None  # it has a balance
            counted = progress(current, member, points, at)
        try:
            allowances.check_day(uow, program, from_member, points, at)
            plan = plan_transfer(
                sender,
                receiver,
                points,
                drawable=lots,
                reach=reach,
                key=key,
                at=at,
                now=now,
                reason=reason,
                counted=counted,
            )
        except InsufficientPoints as short:
            return sending.decline(uow, short, now)
        written = postings.apply(uow, plan)
        allowances.count_spent(uow, program, from_member, at, points)
        if current is not None and counted:
            tiering.rise(ctx, uow, current, to_member, source=key)
        tiering.follow_balance(ctx, uow, both, source=key, at=now)
        made = Transfer(key, from_member, to_member, points, written[0], tuple(written[1:]))
        sending.remember(uow, codec.unstructure(made), now)
        uow.commit()
        return made

    return sending.run(ctx.runner, command)
