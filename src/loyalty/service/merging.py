"""Merging two members: the absorbed member's part, then the survivor's, then each referee's, one
member's unit of work each (so that, distributed by member, each is a write on one member's
shard: docs/scaling.md).

The absorbed member's part locks the absorbed member and the survivor, whose status it decides
on (:func:`loyalty.service.locks.lock_giver`), and first has what is on its way to the absorbed
member written (a transfer's or another merge's later part: :func:`merge`). Its referral bonuses a crash left
unpaid are written first (they move with its points), then its past-due points are written off,
as before any debit; its lots, holds, tallies, referrals and keys are read, :mod:`loyalty.merges`
decides its debit of every lot and the tallies taken off it, and these are written with its keys
(moved to the survivor), its closed status, the events, the command's record under the caller's
id (keeping the lots with their dates and the tallies taken, for the survivor's part) and the
record of what the survivor is owed, under the id and :data:`loyalty.merges.SURVIVOR_PART`.

The survivor's part (:func:`finish`, written by :func:`loyalty.service.surviving.survive`, which a
referrer's part of a take-back may write first) is decided from the absorbed member's record alone, read
again from the store (as it is kept now, an erasure since included): it locks
the survivor, credits each lot with its dates, adds the tallies (the earlier first visit, the
later last), rejects a pending referral of itself by the absorbed member, moves its tier and keeps
the whole :class:`~loyalty.merges.Merge` under the survivor's key and
:data:`loyalty.transfers.RECEIVED`, read under its lock first, so it is written once. The
referrals of the absorbed member's referees are their rows: each moves to the survivor in the
referee's own unit of work, idempotent by what the row says, from a record the survivor's part
keeps (under the id and :data:`loyalty.merges.REFEREES_PART`), and a last record says they all
moved. Whoever finds a part missing finishes the merge: the merge itself right after its first
part, a retry of it, or :meth:`loyalty.Engine.run_due`. Between the commits the absorbed
member's points are in neither balance (docs/members.md, "Merging members").
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import attrs

from loyalty import codec
from loyalty.checks import check_id, check_text
from loyalty.errors import MergeBlocked
from loyalty.habits import seen_key
from loyalty.members import MemberStatus
from loyalty.merges import (
    REFEREES_PART,
    SURVIVOR_PART,
    Merge,
    carry,
    check_mergeable,
    check_parties,
    habit_keys,
    merged_key,
    moved_keys,
    moved_referrals,
    plan_absorbed,
    progress_keys,
)
from loyalty.outbox import EventKind, NewEvent
from loyalty.service import erasure_parts, locks, postings, referral_parts, surviving, tiering, transferring
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.service.surviving import REFEREES, moved_form
from loyalty.store import Operation, UnitOfWork
from loyalty.tallies import Tally
from loyalty.transfers import RECEIVED
from loyalty.versions import in_force

__all__ = ["OWED", "REFEREES", "finish", "merge", "move_referees"]

#: The kinds of the records of a merge's later parts: what the survivor is owed, and that the
#: referees moved (the survivor's part's own record and the referees to move are
#: :mod:`loyalty.service.surviving`'s).
OWED, MOVED_KIND = "member_merge_owed", "member_merge_referees_moved"


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

    def command(uow: UnitOfWork) -> Merge | None:
        replay = merging.replay(uow)
        if replay is not None:
            # Written whole, in one unit of work, by an earlier version; else its first part.
            return codec.structure(replay.result, Merge) if "received" in replay.result else None
        _absorb(ctx, uow, merging, survivor, absorbed, at)
        return None

    tries = 0
    while True:
        try:
            made = merging.run(ctx.runner, command)
            break
        except _Owed as owed:
            # Points on their way to the absorbed member (a transfer's or another merge's part
            # yet to be written, which would then credit a closed member): written first. Or a
            # backlog of such parts past what one look covers: finished, as maintenance would,
            # and looked at again (it shrinks each time; it does not count as a try).
            for sent in owed.transfers:
                transferring.finish(ctx, transferring.sent_part(sent), "a transfer to a member being merged")
            for other in owed.merges:
                finish(ctx, other)
            tries += not owed.backlog
            if tries >= _SETTLING:
                raise MergeBlocked(
                    "absorbed",
                    f"points keep arriving for {absorbed!r}: try the merge again",
                    blocking="arriving",
                ) from None
    return finish(ctx, key) if made is None else made


#: How many times a merge finishes what is on its way to the absorbed member before it gives up.
_SETTLING = 5
#: How many half-written transfers and merges a merge looks through for one to its member.
_OWED_LOOKED_AT = 1000


class _Owed(Exception):
    """The absorbed member is owed points a part yet to be written would credit, or may be, among
    a ``backlog`` of half-written parts past what one look covers: not a refusal (the merge writes
    those parts, then runs again)."""

    def __init__(self, transfers: list[Operation], merges: list[str], *, backlog: bool = False) -> None:
        super().__init__("points owed to the absorbed member")
        self.transfers = transfers
        self.merges = merges
        self.backlog = backlog


def _check_owed(uow: UnitOfWork, absorbed: str) -> None:
    """Raise :class:`_Owed` if a transfer to ``absorbed`` or a merge into it is half written (read
    under its lock: a part that is not written yet can no longer start), or if more are half
    written than one look covers (the store finds them in key order, whatever their member)."""
    sent = uow.unreceived_transfers(limit=_OWED_LOOKED_AT)
    owed = uow.unfinished_parts(OWED, limit=_OWED_LOOKED_AT)
    transfers = [each for each in sent if each.request.get("to_member") == absorbed]
    merges = [
        each.key.removesuffix(SURVIVOR_PART) for each in owed if each.request.get("survivor") == absorbed
    ]
    if transfers or merges:
        raise _Owed(transfers, merges)
    if len(sent) == _OWED_LOOKED_AT or len(owed) == _OWED_LOOKED_AT:
        raise _Owed(sent, [each.key.removesuffix(SURVIVOR_PART) for each in owed], backlog=True)


def _absorb(
    ctx: Context, uow: UnitOfWork, merging: Command, survivor: str, absorbed: str, at: datetime
) -> None:
    """Write and commit the absorbed member's part of the merge ``merging``."""
    key = merging.key
    locks.lock_giver(uow, (absorbed, "absorbed"), (survivor, "survivor"))
    locks.allowed(uow, survivor, locks.EARN, "survivor")
    locks.allowed(uow, absorbed, locks.SPEND, "absorbed")
    _check_owed(uow, absorbed)
    # Points move as a transfer's do: refused before either member enrolled, as a transfer is.
    for member_id in sorted((survivor, absorbed)):
        ctx.enrolled_by(uow, member_id, at)
    # Its referral bonuses a crash left unpaid move with its points.
    referral_parts.settle_member(ctx, uow, absorbed)
    now = ctx.now()
    # Points past their date are not carried: write them off first (holds ended too).
    postings.expire_due(uow, absorbed, now, now)
    # Reviews due measure the balance before this write (under a balance metric).
    tiering.follow_balance(ctx, uow, [absorbed], source=key, at=now)
    gone = postings.read_account(uow, absorbed, rolls=False, with_lots=True)
    postings.check_room(uow, survivor, gone.balance, "the survivor's")
    check_mergeable(gone, uow.open_holds(absorbed), now, uow.vouchers(absorbed))
    mine, theirs = uow.member(survivor), uow.member(absorbed)
    assert mine is not None and theirs is not None  # found above
    zone = in_force(ctx.programs.in_uow(uow), now, default_first=True).zone
    seen = uow.tallies([seen_key(absorbed)])[seen_key(absorbed)]
    pairs = habit_keys(survivor, absorbed, seen, zone, now)
    current = tiering.tiered_now(ctx, uow)
    if current is not None and current.tiers is not None:
        pairs += progress_keys(current.tiers, current.zone, mine, theirs, now)
    # What comes off the absorbed member; what the survivor gains is its part's to decide.
    taken = carry(pairs, uow.tallies([source for _, source, _ in pairs]))
    keys = moved_keys(uow.identifiers(absorbed), survivor)
    referees = [r.referee for r in uow.referrals_by(absorbed) if r.referee != survivor]
    data = {"keys": [k.key for k in keys], "referrals": referees}
    reason = merging.request["reason"]
    plan, moved = plan_absorbed(
        gone, survivor, key=key, at=at, now=now, reason=reason, carried=taken, data=data
    )
    written = postings.apply(uow, plan)
    # Where it went, in its own row: a part reaching it later reads the merge's entry alone.
    mark = merged_key(absorbed)
    uow.add_tallies({mark: Tally(written[0].seq - uow.tallies([mark])[mark].count)})
    for identifier in keys:
        uow.update_identifier(identifier)
    uow.update_member(attrs.evolve(theirs, status=MemberStatus.CLOSED))
    status = {"old": theirs.status.value, "new": "closed", "reason": f"merged into {survivor}: {reason}"}
    uow.add_event(
        NewEvent(EventKind.MEMBER_STATUS_CHANGED, absorbed, at, now, key, {**status, "actor": "merge"})
    )
    tiering.follow_balance(ctx, uow, [absorbed], source=key, at=now)
    result = {
        "sent": codec.unstructure(written[0]),
        "lots": [moved_form(lot) for lot in moved],
        "taken": [codec.unstructure(each) for each in taken],
        "referrals": referees,
        "keys": [k.key for k in keys],
    }
    merging.remember(uow, result, now)
    uow.add_operation(Operation(key + SURVIVOR_PART, OWED, merging.request, {}, now))
    uow.commit()


def finish(ctx: Context, key: str) -> Merge:
    """The rest of the merge ``key`` whose absorbed member's part is written: the survivor's part
    (written now, or read back), then each referee's; the whole merge."""
    made = ctx.runner.run(lambda uow: _survive(ctx, uow, key), "a survivor's part of a merge")
    move_referees(ctx, key)
    return made


def _survive(ctx: Context, uow: UnitOfWork, key: str) -> Merge:
    """Write and commit the survivor's part of the merge ``key``, or read it back."""
    made = surviving.survive(ctx, uow, key)
    uow.commit()
    return made


def move_referees(ctx: Context, key: str) -> None:
    """The referrals of the absorbed member's referees moved to the survivor, each in its
    referee's unit of work, unless all of them moved before; then the record that they did."""

    def moving(uow: UnitOfWork) -> int:
        done = uow.operation(key + REFEREES_PART + RECEIVED) is not None
        owed = uow.operation(key + REFEREES_PART)
        return 0 if owed is None or done else len(owed.result["referees"])

    for index in range(ctx.runner.read(moving)):
        ctx.runner.run(functools.partial(_move, ctx, key=key, index=index), "a referee's part of a merge")

    def moved(uow: UnitOfWork) -> None:
        owed = uow.operation(key + REFEREES_PART)
        if owed is None or uow.operation(key + REFEREES_PART + RECEIVED) is not None:
            return
        owed = _held(uow, owed, "survivor", "absorbed")
        uow.add_operation(Operation(key + REFEREES_PART + RECEIVED, MOVED_KIND, owed.request, {}, ctx.now()))
        uow.commit()

    ctx.runner.run(moved, "the end of a merge")


def _move(ctx: Context, uow: UnitOfWork, *, key: str, index: int) -> None:
    """Move the ``index``-th referee's referral to the survivor, under that referee's lock, unless
    it moved already (it names the survivor, not the absorbed member)."""
    # Read again: an erasure since may have renamed any of the members in it.
    owed = uow.operation(key + REFEREES_PART)
    assert owed is not None  # written by the survivor's part
    referee = owed.result["referees"][index]
    locks.lock(uow, referee, "absorbed")
    # The row moves to the survivor from the absorbed member: both held against their erasure.
    held = _held(uow, owed, "survivor", "absorbed")
    # A referral still naming an erased referrer by its id: that erasure's part written first.
    referral = erasure_parts.referral_of(ctx, uow, referee, erased=held is not owed)
    owed = held
    if referral is not None and referral.referrer == owed.request["absorbed"]:
        lots = dict(owed.result["lots"])  # kept as pairs: JSON has no int keys
        for moved in moved_referrals([referral], owed.request["survivor"], ctx.now().astimezone(UTC), lots):
            uow.put_referral(moved)
    uow.commit()


def _held(uow: UnitOfWork, owed: Operation, *fields: str) -> Operation:
    """``owed``, with the members its request names in ``fields`` held against their erasure
    until this unit of work ends (what it writes names them), or read again when one was erased
    since it was read: the erasure renamed it there (a pseudonym, which no erasure renames again)."""
    held = [uow.keep_named(owed.request[field]) for field in fields]  # each held: not all()
    if all(held):
        return owed
    again = uow.operation(owed.key)
    assert again is not None  # records are never deleted
    return again
