"""A referral reward's referrer's part, and its take-back's: written apart from the referee's
purchase and return, one member's unit of work each (so that, distributed by member, each is a
write on one member's shard: docs/scaling.md).

The referee's first purchase writes its own rows and keeps what the referrer is owed (a
:class:`~loyalty.referral_bonuses.ReferrerBonus`) in a record under the purchase's id and
:data:`~loyalty.referral_bonuses.REFERRER_PART` (:func:`owe`), in the purchase's unit of work.
The referrer's part (:func:`pay`) is decided from that record alone: it locks the referrer,
credits the bonus with the ``referral_rewarded`` event, moves its tier under a balance metric, and
keeps its own record under that key and :data:`loyalty.transfers.RECEIVED`, read under the lock
first, so it is written once whoever finishes it: the purchase itself right after its commit, a
retry of the purchase, a return of it that takes the reward back (under the referrer's lock
already), or :meth:`loyalty.Engine.run_due`. An erased referrer is credited nothing: its part
keeps a record saying so. Between the two commits the referrer's bonus is in no balance.

A return that takes the reward back keeps what the referrer gives back (a
:class:`~loyalty.referral_bonuses.ReferrerTakeBack`) under the return's id and
:data:`~loyalty.referral_bonuses.REFERRER_PART` (:func:`owe_back`); the referrer's part of it
(:func:`take`) writes the reward's part first if it was not (same member, same lock), then takes the
bonus back from the lot it opened, or the lot a merge moved it to (:func:`bonus_lot`; the survivor's
part of a merge half written first, same member, same lock), with the ``referral_revoked`` event,
and keeps its record likewise. It is finished by the return itself, a retry of the return, a merge
absorbing the referrer or :meth:`loyalty.Engine.run_due`. Between the two commits the referrer still
holds the bonus the referee has lost.

A referrer merged into another member since its referee's row was read (a merge moves its
referees' rows after closing it, each in the referee's own unit of work: a purchase may come
between) is credited nothing, nor taken from: its part's record says to whom the merge forwards
it, and a record of the same under the key and :data:`FORWARDED` owes the survivor the part,
which is written next, under the survivor's lock (:func:`merged_into`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from loyalty import codec
from loyalty.ledger import Entry, EntryKind
from loyalty.members import MemberStatus
from loyalty.merges import SURVIVOR_PART, Merge, merged_key, received_lots
from loyalty.referral_bonuses import (
    REFERRER_PART,
    ReferrerBonus,
    ReferrerTakeBack,
    plan_bonus,
    plan_take_back,
)
from loyalty.service import locks, postings, surviving, tiering
from loyalty.service.context import Context
from loyalty.store import Operation, UnitOfWork
from loyalty.transfers import RECEIVED

__all__ = [
    "FORWARDED",
    "MERGES",
    "OWED",
    "OWED_BACK",
    "PAID",
    "TAKEN",
    "bonus_lot",
    "finish",
    "finish_due",
    "merge_of",
    "merged_into",
    "owe",
    "owe_back",
    "paid_lot",
    "pay",
    "settle_member",
    "take",
    "unfinished",
]

#: The kinds of the records: what the referrer is owed (with the purchase) and its part; what it
#: gives back (with the return) and its part.
OWED, PAID = "referral_reward", "referral_reward_paid"
OWED_BACK, TAKEN = "referral_take_back", "referral_take_back_taken"

#: What the key of a part forwarded to the survivor of a merge adds to the forwarded part's key.
FORWARDED = "\x1fforwarded"


def owe(uow: UnitOfWork, bonus: ReferrerBonus, now: datetime) -> Operation:
    """Keep what the referrer is owed, in the referee's unit of work (its purchase's): the
    record the referrer's part is decided from."""
    request = {"member_id": bonus.referrer, "referee": bonus.referee, "purchase_id": bonus.purchase_id}
    owed = Operation(
        bonus.purchase_id + REFERRER_PART, OWED, request, {"bonus": codec.unstructure(bonus)}, now
    )
    uow.add_operation(owed)
    return owed


def pay(ctx: Context, uow: UnitOfWork, owed: Operation) -> Operation | None:
    """Write the referrer's part of the reward ``owed`` records in ``uow``, under the referrer's
    lock (taken here), unless it was written before; the caller commits. For a referrer merged
    into another member, the record owing the survivor the part instead."""
    bonus = codec.structure(owed.result["bonus"], ReferrerBonus)
    referrer = bonus.referrer
    done, held = _begin(uow, owed, PAID, "bonus", bonus, ctx.now)
    if done:
        return held
    assert held is not None  # what the part is written from
    owed = held
    bonus = codec.structure(owed.result["bonus"], ReferrerBonus)
    now = ctx.now()
    written: list[Entry] = []
    erased = uow.member_status(referrer) is MemberStatus.ERASED
    if not erased:
        tiering.follow_balance(ctx, uow, [referrer], source=bonus.purchase_id, at=now)
        account = postings.read_account(uow, referrer, rolls=bonus.rolling)
        written = postings.apply(uow, plan_bonus(account, bonus, now=now))
        tiering.follow_balance(ctx, uow, [referrer], source=bonus.purchase_id, at=now)
    credits = [entry for entry in written if entry.points > 0 and entry.member_id == referrer]
    result: dict[str, Any] = {
        "entries": [codec.unstructure(entry) for entry in written],
        "lot": credits[0].seq if credits and bonus.points else None,
        "referrer_erased": erased,
    }
    uow.add_operation(Operation(owed.key + RECEIVED, PAID, owed.request, result, now))
    return None


def owe_back(uow: UnitOfWork, take_back: ReferrerTakeBack, now: datetime) -> Operation:
    """Keep what the referrer gives back, in the referee's unit of work (its return's)."""
    request = {
        "member_id": take_back.referrer,
        "referee": take_back.referee,
        "purchase_id": take_back.purchase_id,
        "return_id": take_back.return_id,
    }
    result = {"take_back": codec.unstructure(take_back)}
    owed = Operation(take_back.return_id + REFERRER_PART, OWED_BACK, request, result, now)
    uow.add_operation(owed)
    return owed


def take(ctx: Context, uow: UnitOfWork, owed: Operation) -> Operation | None:
    """Write the referrer's part of the take-back ``owed`` records in ``uow``, under the
    referrer's lock (taken here), unless it was written before; the caller commits. For a
    referrer merged into another member, the record owing the survivor the part instead."""
    back = codec.structure(owed.result["take_back"], ReferrerTakeBack)
    referrer = back.referrer
    done, held = _begin(uow, owed, TAKEN, "take_back", back, ctx.now)
    if done:
        return held
    assert held is not None  # what the part is written from
    owed = held
    back = codec.structure(owed.result["take_back"], ReferrerTakeBack)
    now = ctx.now()
    # The reward's own part first, if a crash left it unwritten: the bonus is there to take.
    reward = unfinished(uow, back.purchase_id)
    if reward is not None and reward.request.get("member_id") == referrer:
        pay(ctx, uow, reward)
    written: list[Entry] = []
    erased = uow.member_status(referrer) is MemberStatus.ERASED
    if not erased:
        # A merge into the referrer half written holds the bonus: its survivor's part first.
        arrive = functools.partial(surviving.survive, ctx, uow)
        lot, via = bonus_lot(uow, back.purchase_id, referrer, arrive)
        if back.points:
            postings.expire_due(uow, referrer, now, now)
        account = postings.read_account(uow, referrer, rolls=back.rolling, with_lots=True)
        plan = plan_take_back(account, back, lot=back.lot if lot is None else lot, now=now, via=via)
        written = postings.apply(uow, plan)
        tiering.follow_balance(ctx, uow, [referrer], source=back.return_id, at=now)
    result = {"entries": [codec.unstructure(entry) for entry in written], "referrer_erased": erased}
    uow.add_operation(Operation(owed.key + RECEIVED, TAKEN, owed.request, result, now))
    return None


def _holding(uow: UnitOfWork, owed: Operation, referee: str) -> Operation:
    """``owed``, with its ``referee`` held against its erasure (the referrer's entry and record
    name it) until the part commits: read again if the referee was erased since it was read,
    which renamed it there."""
    if uow.keep_named(referee):
        return owed
    return uow.operation(owed.key) or owed


def _begin(
    uow: UnitOfWork,
    owed: Operation,
    kind: str,
    field: str,
    part: ReferrerBonus | ReferrerTakeBack,
    clock: Callable[[], datetime],
) -> tuple[bool, Operation | None]:
    """Lock the referrer of the ``part`` (``owed.result[field]``), hold its referee (:func:`_holding`)
    and say whether its part is done: written before (``True, None``), or owed to the survivor of a
    merge now, whose record of it is second (``True`` and that record); else ``False`` and
    ``owed`` as read under the hold, for the part to write."""
    locks.lock(uow, part.referrer)
    if uow.operation(owed.key + RECEIVED) is not None:
        return True, None
    owed = _holding(uow, owed, part.referee)
    survivor = merged_into(uow, part.referrer)
    if survivor is None:
        return False, owed
    # The records below name the survivor too: held likewise, or, erased since, read again renamed.
    if not uow.keep_named(survivor):
        survivor = merged_into(uow, part.referrer)
        assert survivor is not None  # an erasure renames the merge's record, never drops it
    # Its record (of ``kind``) says so, and the survivor's is owed under the key and FORWARDED.
    now = clock()
    part = codec.structure(owed.result[field], type(part))  # as read under the hold
    result = {field: codec.unstructure(attrs.evolve(part, referrer=survivor))}
    said: dict[str, Any] = {"entries": [], "lot": None, "referrer_erased": False, "forwarded": survivor}
    uow.add_operation(Operation(owed.key + RECEIVED, kind, owed.request, said, now))
    forwarded = Operation(
        owed.key + FORWARDED, owed.kind, {**owed.request, "member_id": survivor}, result, now
    )
    uow.add_operation(forwarded)
    return True, forwarded


def merged_into(uow: UnitOfWork, member_id: str) -> str | None:
    """The survivor of the merge that closed ``member_id``, or ``None`` for a member not
    closed by a merge (see :func:`merge_of`)."""
    record = merge_of(uow, member_id)
    survivor = None if record is None else record.request.get("survivor")
    return survivor if isinstance(survivor, str) else None


def merge_of(uow: UnitOfWork, member_id: str) -> Operation | None:
    """The record of the merge that closed ``member_id`` (its absorbed member's part, under the
    merge's id), or ``None`` for a member not closed by a merge. The member's row says which
    entry is the merge's (:func:`loyalty.merges.merged_key`): one entry read, then its record.
    A member closed by a merge of an earlier version, which kept no mark, is found as before,
    by its last ``merge`` entry in its history. A member erased since (``member_id`` its
    pseudonym) was closed by the merge its mark names, if any: erasure keeps the mark, renamed."""
    status = uow.member_status(member_id)
    if status is not MemberStatus.CLOSED and status is not MemberStatus.ERASED:
        return None
    mark = merged_key(member_id)
    seq = uow.tallies([mark])[mark].count
    if seq < 0 or (seq == 0 and status is MemberStatus.ERASED):
        # Closed by a change of status since its last merge, if any; or erased when not closed
        # by a merge kept by mark (an erasure closes no member, so a mark of 0 names no merge).
        return None
    if seq:
        merges = uow.history(member_id, after=seq - 1, limit=1)
    else:
        merges = [entry for entry in uow.history(member_id) if entry.kind is EntryKind.MERGE][-1:]
    found = merges[0] if merges and merges[0].kind is EntryKind.MERGE else None
    record = None if found is None else uow.operation(found.source_id)
    if record is None or record.request.get("absorbed") != member_id:
        return None
    return record


def unfinished(uow: UnitOfWork, key: str) -> Operation | None:
    """The record of what the referrer is owed, or gives back, by the purchase or return ``key``,
    if its part is not written yet (the survivor's, when a merge forwarded it)."""
    owed = uow.operation(key + REFERRER_PART)
    while owed is not None:
        done = uow.operation(owed.key + RECEIVED)
        if done is None:
            return owed
        owed = uow.operation(owed.key + FORWARDED) if "forwarded" in done.result else None
    return None


def finish(ctx: Context, owed: Operation) -> None:
    """The referrer's part of the reward or take-back ``owed`` records, in a unit of work of its own."""

    def work(uow: UnitOfWork, owed: Operation) -> Operation | None:
        forwarded = _part(ctx, uow, owed)
        uow.commit()
        return forwarded

    # A part forwarded to the survivor of a merge is the survivor's to write next.
    part: Operation | None = owed
    while part is not None:
        part = ctx.runner.run(functools.partial(work, owed=part), "a referrer's part of a referral")


def _part(ctx: Context, uow: UnitOfWork, owed: Operation) -> Operation | None:
    # As the store keeps it now: an erasure of the referrer since it was read renamed the
    # referrer in it to its pseudonym, under which alone the member is found.
    owed = uow.operation(owed.key) or owed
    if owed.kind == OWED_BACK:
        return take(ctx, uow, owed)
    return pay(ctx, uow, owed)


def settle_member(ctx: Context, uow: UnitOfWork, member_id: str) -> None:
    """In a unit of work holding ``member_id``'s lock (a merge absorbing it): every referrer's part
    of its rewards and take-backs left unwritten, written first, so that its points move as they
    stand rather than change once it is closed. Only a crash, or a purchase whose own unit of work for the
    part has not run yet, leaves one: the scan finds few."""
    for kind in (OWED, OWED_BACK):  # rewards first, so that a take-back finds its bonus
        for owed in uow.unfinished_parts(kind, limit=_SCAN):
            if owed.request.get("member_id") == member_id:
                _part(ctx, uow, owed)


#: At most this many unfinished parts are looked at by a merge (more are a backlog that
#: :func:`finish_due` clears first; a merge that missed one leaves it to maintenance, which
#: credits the absorbed member's closed account, as any credit after a merge would).
_SCAN = 10_000


def paid_lot(uow: UnitOfWork, purchase_id: str) -> int | None:
    """The lot the referrer's bonus of the referee's purchase ``purchase_id`` opened (the
    survivor's, when a merge forwarded the part), or ``None``."""
    paid = _paid(uow, purchase_id)
    return None if paid is None else paid[1]


def _paid(uow: UnitOfWork, purchase_id: str) -> tuple[str, int] | None:
    """The member whose lot the referrer's bonus of ``purchase_id`` opened, and that lot."""
    key = purchase_id + REFERRER_PART
    paid = uow.operation(key + RECEIVED)
    while paid is not None and "forwarded" in paid.result:
        key += FORWARDED
        paid = uow.operation(key + RECEIVED)
    lot = None if paid is None else paid.result.get("lot")
    member = None if paid is None else paid.request.get("member_id")
    return (member, lot) if isinstance(lot, int) and isinstance(member, str) else None


def bonus_lot(
    uow: UnitOfWork,
    purchase_id: str,
    referrer: str,
    arrive: Callable[[str], Merge] | None = None,
) -> tuple[int | None, tuple[str, ...]]:
    """The lot of ``referrer``'s that holds the bonus of the referee's purchase ``purchase_id``,
    and the ids of the merges that moved it there (none: the lot the bonus opened). A bonus paid
    to a member merged since is followed, merge after merge, to the lot the survivor's part
    credited with it (:func:`loyalty.merges.received_lots` of the two parts' records), so a
    take-back draws from it; ``None`` when no lot holds it (spent before a merge, or a merge half
    written), and the take-back then draws as the program's order says. ``arrive`` writes the
    survivor's part of a merge into ``referrer`` that is half written (the caller holds its lock)."""
    paid = _paid(uow, purchase_id)
    if paid is None:
        return None, ()
    member, lot = paid
    merges: list[str] = []
    while member != referrer and len(merges) < MERGES:
        record = merge_of(uow, member)
        if record is None or "lots" not in record.result:
            break  # not merged, or merged whole by an earlier version (the referral names its lot)
        survivor = record.request["survivor"]
        survived = uow.operation(record.key + SURVIVOR_PART + RECEIVED)
        if survived is not None:
            received = [codec.structure(entry, Entry) for entry in survived.result["received"]]
        elif arrive is not None and survivor == referrer:
            received = list(arrive(record.key).received)
        else:
            break
        moved = received_lots([form[0] for form in record.result["lots"]], received).get(lot)
        if moved is None:
            break  # spent before the merge: no lot of the survivor's holds it
        member, lot = survivor, moved
        merges.append(record.key)
    return (lot, tuple(merges)) if member == referrer else (None, ())


#: At most this many merges are followed from the member a bonus was paid to, or from a referee's
#: referrer to the one its bonus goes to (each closes a member, so a longer chain is one nobody
#: merges by hand).
MERGES = 100


def finish_due(ctx: Context, batch: int) -> int:
    """Write every referrer's part whose reward or take-back is kept without it, one unit of work
    each, ``batch`` found at a time (rewards first); how many were finished."""
    return sum(_finish_kind(ctx, kind, batch) for kind in (OWED, OWED_BACK))


def _finish_kind(ctx: Context, kind: str, batch: int) -> int:
    finished = 0
    while True:
        # Read-only (a replica may answer): each part checks again under its lock.
        halves = ctx.runner.read(lambda uow: uow.unfinished_parts(kind, limit=batch))
        for owed in halves:
            finish(ctx, owed)
        finished += len(halves)
        if len(halves) < batch:
            return finished
