"""Opening balances: points a member brings from a former program, with their own dates.

A chain moving onto the engine carries each member's open points across as
they stood: earned on their original date and expiring on the date the former
program gave them, not on a date this program would work out. The points are an
``adjust`` entry saying ``opening balance``, whose lot keeps ``expires_at``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from loyalty import codec
from loyalty.checks import check_aware, check_id, check_points
from loyalty.errors import InvalidInput
from loyalty.history_vouchers import OpenHold, OpenVoucher, voucher_record
from loyalty.holds import Hold
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.service import locks, postings, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import Operation, UnitOfWork
from loyalty.versions import in_force
from loyalty.vouchers import Voucher

__all__ = ["REASON", "add_open_hold", "add_open_voucher", "add_opening_balance"]

#: The reason on every opening balance's entry.
REASON = "opening balance"


def add_opening_balance(
    ctx: Context,
    member_id: str,
    points: int,
    *,
    key: str,
    at: datetime,
    expires_at: datetime | None,
    vests_at: datetime | None = None,
    migrating: bool = False,
) -> Entry:
    """Credit ``points`` earned ``at``, expiring at ``expires_at`` (see
    :meth:`loyalty.Engine.add_opening_balance`). ``migrating``: an import brings a closed
    member's points too (it was closed after earning them), an erased one's never."""
    check_id("member_id", member_id)
    check_points("points", points)
    check_id("id", key)
    ctx.till_time("at", at, key)
    if expires_at is not None:
        check_aware("expires_at", expires_at)
        if expires_at <= at:
            raise InvalidInput("expires_at", f"must be after at ({at.isoformat()}): {expires_at.isoformat()}")
    if vests_at is not None:
        check_aware("vests_at", vests_at)
        if expires_at is not None and vests_at >= expires_at:
            raise InvalidInput("vests_at", f"must be before expires_at: {vests_at.isoformat()}")
    request = {
        "member_id": member_id,
        "points": points,
        "at": at.isoformat(),
        "expires_at": None if expires_at is None else expires_at.isoformat(),
    }
    if vests_at is not None:
        request["vests_at"] = vests_at.isoformat()
    opening = Command(key, "opening_balance", request)

    def command(uow: UnitOfWork) -> Entry:
        replay = opening.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Entry)
        locks.lock(uow, member_id)
        if migrating:
            locks.not_erased(uow, member_id)
        else:
            locks.allowed(uow, member_id, locks.CORRECT)
        now = ctx.now()
        # Reviews due measure the balance before this write (under a balance metric).
        tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
        program = in_force(ctx.programs.in_uow(uow), at, default_first=True)
        posting = Posting(member_id, EntryKind.ADJUST, points, at, now, key, REASON)
        # The lot's dates in UTC, as every adapter keeps them and the other credits carry them:
        # the memory store kept the caller's zone, and the expiry entry dated by it differed.
        posting = attrs.evolve(
            posting,
            vests_at=None if vests_at is None else vests_at.astimezone(UTC),
            expires_at=None if expires_at is None else expires_at.astimezone(UTC),
        )
        entry = postings.credit(uow, posting, program)
        tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
        opening.remember(uow, codec.unstructure(entry), now)
        uow.commit()
        return entry

    return opening.run(ctx.runner, command)


def _check_carried(carried: OpenVoucher | OpenHold) -> None:
    ids = {"member_id": carried.member_id, "id": carried.id}
    if isinstance(carried, OpenVoucher):
        ids |= {"code": carried.code, "reward_id": carried.reward_id}
    for field, value in ids.items():
        check_id(field, value)
    check_points("points", carried.points)
    check_aware("expires_at", carried.expires_at)
    check_aware("at", carried.at)
    # The dates must tell a story the engine could have written: points earned before they were
    # taken, still valid when taken, and a voucher or hold that had not ended by then (a void
    # would otherwise put back points dated after the engine's clock, or already dead).
    when = carried.at.isoformat()
    if carried.expires_at <= carried.at:
        raise InvalidInput("expires_at", f"must be after at ({when})")
    for i, lot in enumerate(carried.lots):
        check_points(f"lots[{i}].points", lot.points)
        check_aware(f"lots[{i}].at", lot.at)
        if lot.at > carried.at:
            raise InvalidInput(f"lots[{i}].at", f"must be at or before at ({when}), got {lot.at.isoformat()}")
        if lot.expires_at is not None:
            check_aware(f"lots[{i}].expires_at", lot.expires_at)
            if lot.expires_at <= carried.at:
                raise InvalidInput(f"lots[{i}].expires_at", f"must be after at ({when})")
    if sum(lot.points for lot in carried.lots) != carried.points:
        raise InvalidInput("lots", f"must add up to the {carried.points} points")


def _command(ctx: Context, carried: OpenVoucher | OpenHold, kind: str) -> Command:
    """The import's command for ``carried``, checked as an engine call checks its arguments."""
    _check_carried(carried)
    ctx.till_time("at", carried.at, carried.id)
    request = {k: v for k, v in voucher_record(carried).items() if k != "type"}
    return Command(carried.id, kind, request | {"member_id": carried.member_id, "at": carried.at.isoformat()})


def _spent(
    uow: UnitOfWork, carried: OpenVoucher | OpenHold, kind: EntryKind, reason: str, now: datetime
) -> tuple[tuple[int, int], ...]:
    """Credit each of ``carried``'s lots with its own dates and spend them all at once (a ``kind``
    entry saying ``reason``): the draws it took."""
    draws = []
    for lot in carried.lots:
        # Appended as they are, never through a plan: a credit there would first repay what
        # the member owes, and these points are spent within the same write.
        credit = Posting(carried.member_id, EntryKind.ADJUST, lot.points, lot.at, now, carried.id, REASON)
        draws.append((uow.append(attrs.evolve(credit, expires_at=lot.expires_at)).seq, -lot.points))
    member, points, at = carried.member_id, carried.points, carried.at
    uow.append(Posting(member, kind, -points, at, now, carried.id, reason, draws=tuple(draws)))
    return tuple(draws)


def _replay_or_lock(uow: UnitOfWork, carrying: Command, member_id: str) -> Operation | None:
    """The import's earlier run if this is a retry of it; else ``None``, its member locked (an
    erased member is refused: it carries nothing)."""
    replay = carrying.replay(uow)
    if replay is None:
        locks.lock(uow, member_id)
        locks.not_erased(uow, member_id)
    return replay


def _commit(uow: UnitOfWork, carrying: Command, result: dict[str, Any], now: datetime) -> None:
    carrying.remember(uow, result, now)
    uow.commit()


def add_open_voucher(ctx: Context, voucher: OpenVoucher) -> Voucher:
    """Carry a voucher a member bought in a former store and has not used: the till takes its
    code until it expires, as there. Its points were spent there, so the member's balance does
    not change: each of its ``lots`` is credited (an opening balance, with its own dates) and
    spent on the voucher at once (a ``redeem`` entry drawing exactly them), so that a void gives
    the points back to lots with the dates they had. An import writes it (see
    docs/import-export.md)."""
    carrying = _command(ctx, voucher, "open_voucher")
    member_id, at = voucher.member_id, voucher.at

    def command(uow: UnitOfWork) -> Voucher:
        replay = _replay_or_lock(uow, carrying, member_id)
        if replay is not None:
            return codec.structure(replay.result, Voucher)
        if uow.voucher(voucher.code) is not None:
            raise InvalidInput("code", f"another voucher has the code {voucher.code!r}")
        now = ctx.now()
        why = f"reward {voucher.reward_id}: voucher {voucher.code}"
        draws = _spent(uow, voucher, EntryKind.REDEEM, why, now)
        expires = voucher.expires_at.astimezone(UTC)
        made = Voucher(voucher.code, member_id, voucher.reward_id, voucher.points, draws, at, expires)
        uow.add_voucher(made)
        _commit(uow, carrying, codec.unstructure(made), now)
        return made

    return carrying.run(ctx.runner, command)


def add_open_hold(ctx: Context, hold: OpenHold) -> Hold:
    """Carry a hold a till made in a former store and has not captured or released, under its
    id: the till captures or releases it here, or it expires at ``expires_at``, as there. Its
    ``lots`` are credited with their own dates and held at once (a ``hold`` entry drawing exactly
    them), so the points a release gives back have the dates they had. An import writes it."""
    carrying = _command(ctx, hold, "open_hold")
    member_id, key, at = hold.member_id, hold.id, hold.at

    def command(uow: UnitOfWork) -> Hold:
        replay = _replay_or_lock(uow, carrying, member_id)
        if replay is not None:
            return codec.structure(replay.result, Hold)
        now = ctx.now()
        draws = _spent(uow, hold, EntryKind.HOLD, "hold", now)
        made = Hold(key, member_id, hold.points, draws, at, hold.expires_at.astimezone(UTC))
        uow.add_hold(made)
        _commit(uow, carrying, codec.unstructure(made), now)
        return made

    return carrying.run(ctx.runner, command)
