"""Opening balances: points a member brings from a former program, with their own dates.

A chain moving onto the engine carries each member's open points across as
they stood: earned on their original date and expiring on the date the former
program gave them, not on a date this program would work out. The points are an
``adjust`` entry saying ``opening balance``, whose lot keeps ``expires_at``.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from loyalty import codec
from loyalty.checks import check_aware, check_id, check_points
from loyalty.errors import InvalidInput
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.service import locks, postings, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import UnitOfWork
from loyalty.versions import in_force

__all__ = ["REASON", "add_opening_balance"]

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
