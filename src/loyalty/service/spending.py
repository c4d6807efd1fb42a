"""Spending and correcting points: redemptions, staff corrections, and holds at the till.

A debit draws on the member's lots in the program's draw order, after writing
off what is past its date; a short balance is declined, and the decline is
kept so a retry is declined alike. A hold reserves points at once and ends
exactly once: captured, released, or expired.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

from loyalty import codec
from loyalty.checks import check_id, check_points, check_text
from loyalty.errors import (
    HoldEnded,
    HoldExpired,
    InsufficientPoints,
    InvalidInput,
    InvalidPoints,
    UnknownHold,
)
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.redemption import check_request
from loyalty.returns import paid_key
from loyalty.service import allowances, locks, postings, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.service.running import Declined
from loyalty.store import UnitOfWork
from loyalty.store.spending import draw_points
from loyalty.tallies import Tally
from loyalty.versions import in_force

__all__ = [
    "MAX_HOLD_TTL",
    "adjust",
    "capture",
    "capture_command",
    "debit_or_credit",
    "hold",
    "redeem",
    "release",
]

logger = logging.getLogger(__name__)

#: The longest a hold may stay open.
MAX_HOLD_TTL = timedelta(days=366)


def redeem(
    ctx: Context, member_id: str, points: int, *, key: str, at: datetime, reason: str, purchase_id: str | None
) -> Entry:
    """Spend points (see :meth:`loyalty.Engine.redeem`)."""
    check_points("points", points)
    check_text("reason", reason)
    if purchase_id is not None:
        check_id("purchase_id", purchase_id)
    return debit_or_credit(
        ctx,
        "redeem",
        EntryKind.REDEEM,
        member_id,
        -points,
        key=key,
        at=at,
        reason=reason,
        actor=None,
        purchase_id=purchase_id,
    )


def adjust(
    ctx: Context, member_id: str, points: int, *, key: str, at: datetime, reason: str, actor: str
) -> Entry:
    """A staff correction (see :meth:`loyalty.Engine.adjust`)."""
    check_points("points", points, allow_negative=True)
    check_id("actor", actor)
    check_text("reason", reason)
    if not reason.strip():
        raise InvalidInput("reason", "a correction must say why")
    return debit_or_credit(
        ctx, "adjust", EntryKind.ADJUST, member_id, points, key=key, at=at, reason=reason, actor=actor
    )


def debit_or_credit(
    ctx: Context,
    kind: str,
    entry_kind: EntryKind,
    member_id: str,
    points: int,
    *,
    key: str,
    at: datetime,
    reason: str,
    actor: str | None,
    purchase_id: str | None = None,
) -> Entry:
    """A redemption (``points`` negative) or a staff correction of either sign."""
    check_id("member_id", member_id)
    check_id("id", key)
    ctx.till_time("at", at, key)
    request = {
        "member_id": member_id,
        "points": points,
        "at": at.isoformat(),
        "reason": reason,
        "actor": actor,
    }
    if purchase_id is not None:
        request["purchase_id"] = purchase_id
    change = Command(key, kind, request)

    def command(uow: UnitOfWork) -> Entry | Declined:
        replay = change.replayed(uow, lambda result: codec.structure(result, Entry))
        if replay is not None:
            return replay
        locks.lock(uow, member_id)
        locks.allowed(uow, member_id, locks.SPEND if entry_kind is EntryKind.REDEEM else locks.CORRECT)
        ctx.enrolled_by(uow, member_id, at)
        sold = None if purchase_id is None else allowances.paid_purchase(uow, member_id, purchase_id)
        now = ctx.now()
        redeeming = entry_kind is EntryKind.REDEEM
        program = allowances.program_at(ctx, uow, at) if redeeming else None
        if program is not None:
            check_request(program.redemption, -points)
        if points < 0:
            # Points past their date cannot be spent: write them off first.
            postings.expire_due(uow, member_id, now, now)
            # Reviews due measure the balance before this write (under a balance metric), and a
            # decline keeps the write-off above: the tier follows it either way.
            tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
            try:
                if program is not None:
                    paying = None if sold is None else allowances.Payment(uow, sold.key, sold)
                    draws = allowances.draw_within_limits(uow, program, member_id, -points, at, now, paying)
                    allowances.count_spent(uow, program, member_id, at, -points)
                else:
                    # A correction may also take points still pending.
                    order = allowances.program_at(ctx, uow, at).expiry.draw
                    draws = draw_points(uow, member_id, -points, now, pending=True, order=order)
            except InsufficientPoints as short:
                return change.decline(uow, short, now)
            if purchase_id is not None:
                uow.add_tallies({paid_key(member_id, purchase_id): Tally(0, Decimal(-points))})
            if entry_kind is EntryKind.REDEEM:
                postings.mark_redeemed(uow, member_id, at)
            entry = uow.append(
                Posting(member_id, entry_kind, points, at, now, key, reason, actor, draws=draws)
            )
        else:
            tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
            program = in_force(ctx.programs.in_uow(uow), at, default_first=True)
            _, expires = ctx.programs.dates(program, at, pending=False, now=now)
            posting = Posting(member_id, entry_kind, points, at, now, key, reason, actor, expires_at=expires)
            entry = postings.credit(uow, posting, program) if points > 0 else uow.append(posting)
        tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
        change.remember(uow, codec.unstructure(entry), now)
        uow.commit()
        return entry

    return change.run(ctx.runner, command)


def hold(ctx: Context, member_id: str, points: int, *, id: str, at: datetime, ttl: timedelta) -> Hold:
    """Reserve points the moment the till asks (see :meth:`loyalty.Engine.hold`)."""
    check_id("member_id", member_id)
    check_points("points", points)
    check_id("id", id)
    ctx.till_time("at", at, id)
    if not isinstance(ttl, timedelta) or not timedelta(0) < ttl <= MAX_HOLD_TTL:
        raise InvalidInput(
            "ttl", f"must be a timedelta above 0 and at most {MAX_HOLD_TTL.days} days, got {ttl!r}"
        )
    request = {
        "member_id": member_id,
        "points": points,
        "at": at.isoformat(),
        "ttl": ttl // timedelta(microseconds=1),
    }
    reservation = Command(id, "hold", request)

    def command(uow: UnitOfWork) -> Hold | Declined:
        replay = reservation.replayed(uow, lambda result: codec.structure(result, Hold))
        if replay is not None:
            return replay
        locks.lock(uow, member_id)
        locks.allowed(uow, member_id, locks.SPEND)
        ctx.enrolled_by(uow, member_id, at)
        now = ctx.now()
        postings.expire_due(uow, member_id, now, now)
        program = allowances.program_at(ctx, uow, at)
        check_request(program.redemption, points)
        # Reviews due measure the balance before this write, and a decline keeps the write-off.
        tiering.follow_balance(ctx, uow, [member_id], source=id, at=now)
        try:
            draws = allowances.draw_within_limits(uow, program, member_id, points, at, now)
        except InsufficientPoints as short:
            return reservation.decline(uow, short, now)
        # Elapsed time, whatever zone the clock answers in (wall-clock arithmetic would
        # stretch a hold across a DST change).
        made = Hold(id, member_id, points, draws, at, now.astimezone(UTC) + ttl)
        uow.append(Posting(member_id, EntryKind.HOLD, -points, at, now, id, "hold", draws=draws))
        uow.add_hold(made)
        tiering.follow_balance(ctx, uow, [member_id], source=id, at=now)
        reservation.remember(uow, codec.unstructure(made), now)
        uow.commit()
        return made

    return reservation.run(ctx.runner, command)


def _locked_hold(uow: UnitOfWork, hold_id: str) -> Hold:
    """The hold, read again once its member's balance is locked (so it cannot end under us)."""
    found = uow.hold(hold_id)
    if found is None:
        raise UnknownHold("hold_id", f"no hold {hold_id!r}")
    locks.lock(uow, found.member_id)
    locked = uow.hold(hold_id)
    assert locked is not None  # holds are never deleted
    return locked


def _released(hold_id: str, uow: UnitOfWork) -> bool:
    """Whether the hold has ended as a release answers again (released, or expired)."""
    held = uow.hold(hold_id)
    return held is not None and held.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED)


def _expired(hold_id: str, held: Hold) -> HoldExpired:
    return HoldExpired(
        "hold_id", f"hold {hold_id!r} expired at {held.expires_at.isoformat()}", status="expired"
    )


def capture_command(hold_id: str, *, id: str, at: datetime, points: int | None) -> Command:
    """The capture of ``hold_id`` as its idempotency record has it: an import checks its id is free
    (or this very capture's) before it makes the hold, so that a refused capture leaves no hold."""
    return Command(id, "capture", {"hold_id": hold_id, "at": at.isoformat(), "points": points})


def capture(ctx: Context, hold_id: str, *, id: str, at: datetime, points: int | None) -> Hold:
    """Spend a hold's points, all or some (see :meth:`loyalty.Engine.capture`)."""
    check_id("hold_id", hold_id)
    check_id("id", id)
    ctx.till_time("at", at, id)
    if points is not None:
        check_points("points", points)
    capturing = capture_command(hold_id, id=id, at=at, points=points)

    def command(uow: UnitOfWork) -> Hold:
        replay = capturing.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Hold)
        held = _locked_hold(uow, hold_id)
        # A retry that waited on the lock for the original: its result is there now.
        replay = capturing.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Hold)
        ctx.started(at, held.held_at, "its hold was placed")
        now = ctx.now()
        if held.status is HoldStatus.EXPIRED:
            raise _expired(hold_id, held)
        if not held.open:
            raise HoldEnded(
                "hold_id", f"hold {hold_id!r} was already {held.status.value}", status=held.status.value
            )
        if now >= held.expires_at:
            raise _expired(hold_id, held)
        captured = held.points if points is None else points
        # Refused before anything is read for the capture or counted.
        if captured > held.points:
            raise InvalidPoints("points", f"the hold is of {held.points} points, not {captured}")
        if captured:
            postings.mark_redeemed(uow, held.member_id, at)
            # The open hold counted toward its day; what it spends stays counted there.
            program = allowances.program_at(ctx, uow, held.held_at)
            allowances.count_spent(uow, program, held.member_id, held.held_at, captured)
        tiering.follow_balance(ctx, uow, [held.member_id], source=id, at=now)
        if captured < held.points:
            postings.give_back(uow, held, held.points - captured, now, f"hold captured for {captured}")
        ended = uow.end_hold(hold_id, HoldStatus.CAPTURED, captured, now.astimezone(UTC))
        tiering.follow_balance(ctx, uow, [held.member_id], source=id, at=now)
        capturing.remember(uow, codec.unstructure(ended), now)
        uow.commit()
        return ended

    return capturing.run(ctx.runner, command)


def release(ctx: Context, hold_id: str, *, at: datetime) -> Hold:
    """Give a hold's points back (see :meth:`loyalty.Engine.release`)."""
    check_id("hold_id", hold_id)
    # A release is a retry of itself once the hold has ended so.
    ctx.till_time("at", at, done=partial(_released, hold_id))

    def command(uow: UnitOfWork) -> tuple[Hold, bool]:
        held = _locked_hold(uow, hold_id)
        if held.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            return held, True
        if held.status is HoldStatus.CAPTURED:
            raise HoldEnded("hold_id", f"hold {hold_id!r} was already captured", status="captured")
        ctx.started(at, held.held_at, "its hold was placed")
        now = ctx.now()
        # Past its time the hold has expired, whether or not maintenance has said so yet.
        status = HoldStatus.EXPIRED if now >= held.expires_at else HoldStatus.RELEASED
        tiering.follow_balance(ctx, uow, [held.member_id], source=hold_id, at=now)
        postings.give_back(uow, held, held.points, now, f"hold {status.value}")
        ended = uow.end_hold(hold_id, status, 0, now.astimezone(UTC))
        if status is HoldStatus.EXPIRED:
            postings.hold_expired(uow, held, now)
        tiering.follow_balance(ctx, uow, [held.member_id], source=hold_id, at=now)
        uow.commit()
        return ended, False

    what = f"release {hold_id!r}"
    ended, before = ctx.runner.run(command, what)
    # (The hold's id is the POS's id of the hold: logged like a command's.)
    logger.debug("%s: %s%s", what, "already " if before else "", ended.status.value)
    return ended
