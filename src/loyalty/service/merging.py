"""Merging two members: one unit of work holding both members' locks and their referees'.

The locks are taken in member-id order (:mod:`loyalty.service.locks`): the survivor, the
absorbed member and the members it referred (their referral changes under their lock, as a
first purchase decides it under it). The absorbed member's past-due points are written off
first, as before any debit; then its lots, holds, tallies, referrals and keys are read,
:mod:`loyalty.merges` decides, and everything is written at once with the idempotency record.
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from loyalty import codec
from loyalty.checks import check_id, check_text
from loyalty.errors import TransientStorageError
from loyalty.habits import seen_key
from loyalty.members import MemberStatus
from loyalty.merges import (
    Merge,
    carry,
    check_mergeable,
    check_parties,
    habit_keys,
    lot_map,
    moved_keys,
    moved_referrals,
    plan_merge,
    progress_keys,
)
from loyalty.outbox import EventKind, NewEvent
from loyalty.service import locks, postings, referral_parts, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import UnitOfWork
from loyalty.versions import in_force

__all__ = ["merge"]


def _lock(uow: UnitOfWork, survivor: str, absorbed: str) -> list[str]:
    """Lock both members and the absorbed member's referees, in member-id order; the referees.
    One referred (by a new enrollment) between the read and the locks makes the command run
    again, as a lost race does."""
    referees = {referral.referee for referral in uow.referrals_by(absorbed)}
    fields = {survivor: "survivor", absorbed: "absorbed"}
    for member_id in sorted({survivor, absorbed} | referees):
        locks.lock(uow, member_id, fields.get(member_id, "absorbed"))
    if {referral.referee for referral in uow.referrals_by(absorbed)} != referees:
        raise TransientStorageError(None, "the absorbed member's referrals changed while they were read")
    return sorted(referees)


def merge(ctx: Context, survivor: str, absorbed: str, *, key: str, at: datetime, reason: str) -> Merge:
    """Merge ``absorbed`` into ``survivor`` (see :meth:`loyalty.Engine.merge_members`)."""
    check_id("survivor", survivor)
    check_id("absorbed", absorbed)
    check_parties(survivor, absorbed)
    check_id("id", key)
    ctx.till_time("at", at, key)
    check_text("reason", reason)
    request = {"survivor": survivor, "absorbed": absorbed, "at": at.isoformat(), "reason": reason}
    merging = Command(key, "member_merge", request)

    def command(uow: UnitOfWork) -> Merge:
        replay = merging.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Merge)
        _lock(uow, survivor, absorbed)
        locks.allowed(uow, survivor, locks.EARN, "survivor")
        locks.allowed(uow, absorbed, locks.SPEND, "absorbed")
        # Its referral bonuses a crash left unpaid move with its points.
        referral_parts.settle_member(ctx, uow, absorbed)
        now = ctx.now()
        # Points past their date are not carried: write them off first (holds ended too).
        postings.expire_due(uow, absorbed, now, now)
        both = [survivor, absorbed]
        # Reviews due measure the balances before this write (under a balance metric).
        tiering.follow_balance(ctx, uow, both, source=key, at=now)
        gone = postings.read_account(uow, absorbed, rolls=False, with_lots=True)
        check_mergeable(gone, uow.open_holds(absorbed), now, uow.vouchers(absorbed))
        kept = postings.read_account(uow, survivor, rolls=False)
        members = {m: uow.member(m) for m in both}
        mine, theirs = members[survivor], members[absorbed]
        assert mine is not None and theirs is not None  # locked
        zone = in_force(ctx.programs.in_uow(uow), now, default_first=True).zone
        seen = uow.tallies([seen_key(absorbed)])[seen_key(absorbed)]
        pairs = habit_keys(survivor, absorbed, seen, zone, now)
        current = tiering.tiered_now(ctx, uow)
        if current is not None and current.tiers is not None:
            pairs += progress_keys(current.tiers, current.zone, mine, theirs, now)
        carried = carry(pairs, uow.tallies([key for pair in pairs for key in pair[1:]]))
        referrals = uow.referrals_by(absorbed)
        keys = moved_keys(uow.identifiers(absorbed), survivor)
        referees = [r.referee for r in referrals if r.referee != survivor]
        data = {"keys": [k.key for k in keys], "referrals": referees}
        plan = plan_merge(kept, gone, key=key, at=at, now=now, reason=reason, carried=carried, data=data)
        written = postings.apply(uow, plan)
        lots = lot_map(gone.lots or (), written[1:])
        for referral in moved_referrals(referrals, survivor, now.astimezone(UTC), lots):
            uow.put_referral(referral)
        for identifier in keys:
            uow.update_identifier(identifier)
        uow.update_member(attrs.evolve(theirs, status=MemberStatus.CLOSED))
        status = {"old": theirs.status.value, "new": "closed", "reason": f"merged into {survivor}: {reason}"}
        uow.add_event(
            NewEvent(EventKind.MEMBER_STATUS_CHANGED, absorbed, at, now, key, {**status, "actor": "merge"})
        )
        if current is not None and carried:
            tiering.rise(ctx, uow, current, survivor, source=key)
        tiering.follow_balance(ctx, uow, both, source=key, at=now)
        made = Merge(
            key,
            survivor,
            absorbed,
            -written[0].points,
            reason,
            written[0],
            tuple(written[1:]),
            carried,
            tuple(referees),
            tuple(k.key for k in keys),
        )
        merging.remember(uow, codec.unstructure(made), now)
        uow.commit()
        return made

    return merging.run(ctx.runner, command)
