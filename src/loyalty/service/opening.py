"""Opening balances: points a member brings from a former program, with their own dates.

A chain moving onto the engine carries each member's open points across as
they stood: earned on their original date and expiring on the date the former
program gave them, not on a date this program would work out. The points are an
``adjust`` entry saying ``opening balance``, whose lot keeps ``expires_at``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from loyalty import codec
from loyalty.checks import check_aware, check_id, check_points
from loyalty.errors import InvalidInput
from loyalty.history_vouchers import OpenVoucher, voucher_record
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.service import locks, postings, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import UnitOfWork
from loyalty.versions import in_force
from loyalty.vouchers import Voucher

__all__ = ["REASON", "add_open_voucher", "add_opening_balance"]

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
        posting = attrs.evolve(posting, vests_at=vests_at, expires_at=expires_at)
        entry = postings.credit(uow, posting, program)
        tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
        opening.remember(uow, codec.unstructure(entry), now)
        uow.commit()
        return entry

    return opening.run(ctx.runner, command)


def _check_voucher(voucher: OpenVoucher) -> None:
    ids = {
        "member_id": voucher.member_id,
        "id": voucher.id,
        "code": voucher.code,
        "reward_id": voucher.reward_id,
    }
    for field, value in ids.items():
        check_id(field, value)
    check_points("points", voucher.points)
    check_aware("expires_at", voucher.expires_at)
    for i, lot in enumerate(voucher.lots):
        check_points(f"lots[{i}].points", lot.points)
        check_aware(f"lots[{i}].at", lot.at)
        if lot.expires_at is not None:
            check_aware(f"lots[{i}].expires_at", lot.expires_at)
            if lot.expires_at <= lot.at:
                raise InvalidInput(f"lots[{i}].expires_at", f"must be after at ({lot.at.isoformat()})")
    if sum(lot.points for lot in voucher.lots) != voucher.points:
        raise InvalidInput("lots", f"must add up to the voucher's {voucher.points} points")


def add_open_voucher(ctx: Context, voucher: OpenVoucher) -> Voucher:
    """Carry a voucher a member bought in a former store and has not used: the till takes its
    code until it expires, as there. Its points were spent there, so the member's balance does
    not change: each of its ``lots`` is credited (an opening balance, with its own dates) and
    spent on the voucher at once (a ``redeem`` entry drawing exactly them), so that a void gives
    the points back to lots with the dates they had. An import writes it (see
    docs/import-export.md)."""
    _check_voucher(voucher)
    member_id, key, at = voucher.member_id, voucher.id, voucher.at
    ctx.till_time("at", at, key)
    request = {k: v for k, v in voucher_record(voucher).items() if k != "type"}
    carrying = Command(key, "open_voucher", request | {"member_id": member_id, "at": at.isoformat()})

    def command(uow: UnitOfWork) -> Voucher:
        replay = carrying.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Voucher)
        locks.lock(uow, member_id)
        locks.not_erased(uow, member_id)
        if uow.voucher(voucher.code) is not None:
            raise InvalidInput("code", f"another voucher has the code {voucher.code!r}")
        now = ctx.now()
        draws = []
        for lot in voucher.lots:
            # Appended as they are, never through a plan: a credit there would first repay what
            # the member owes, and these points are spent on the voucher within the same write.
            credit = Posting(member_id, EntryKind.ADJUST, lot.points, lot.at, now, key, REASON)
            draws.append((uow.append(attrs.evolve(credit, expires_at=lot.expires_at)).seq, -lot.points))
        why = f"reward {voucher.reward_id}: voucher {voucher.code}"
        uow.append(
            Posting(member_id, EntryKind.REDEEM, -voucher.points, at, now, key, why, draws=tuple(draws))
        )
        expires = voucher.expires_at.astimezone(UTC)
        made = Voucher(voucher.code, member_id, voucher.reward_id, voucher.points, tuple(draws), at, expires)
        uow.add_voucher(made)
        carrying.remember(uow, codec.unstructure(made), now)
        uow.commit()
        return made

    return carrying.run(ctx.runner, command)
