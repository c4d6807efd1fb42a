"""A referral reward's referrer's part: written apart from the referee's purchase, one member's
unit of work each (so that, distributed by member, each is a write on one member's shard:
docs/scaling.md).

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
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from loyalty import codec
from loyalty.ledger import Entry
from loyalty.members import MemberStatus
from loyalty.referral_bonuses import REFERRER_PART, ReferrerBonus, plan_bonus
from loyalty.service import locks, postings, tiering
from loyalty.service.context import Context
from loyalty.store import Operation, UnitOfWork
from loyalty.transfers import RECEIVED

__all__ = ["OWED", "PAID", "finish", "finish_due", "owe", "paid_lot", "pay", "settle", "settle_member"]

#: The kinds of the two records: what the referrer is owed (with the purchase), and its part.
OWED, PAID = "referral_reward", "referral_reward_paid"


def owe(uow: UnitOfWork, bonus: ReferrerBonus, now: datetime) -> Operation:
    """Keep what the referrer is owed, in the referee's unit of work (its purchase's): the
    record the referrer's part is decided from."""
    request = {"member_id": bonus.referrer, "referee": bonus.referee, "purchase_id": bonus.purchase_id}
    owed = Operation(
        bonus.purchase_id + REFERRER_PART, OWED, request, {"bonus": codec.unstructure(bonus)}, now
    )
    uow.add_operation(owed)
    return owed


def pay(ctx: Context, uow: UnitOfWork, owed: Operation) -> None:
    """Write the referrer's part of the reward ``owed`` records in ``uow``, under the referrer's
    lock (taken here), unless it was written before; the caller commits."""
    bonus = codec.structure(owed.result["bonus"], ReferrerBonus)
    referrer = bonus.referrer
    locks.lock(uow, referrer)
    if uow.operation(owed.key + RECEIVED) is not None:
        return
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


def finish(ctx: Context, owed: Operation) -> None:
    """The referrer's part of the reward ``owed`` records, in a unit of work of its own."""

    def work(uow: UnitOfWork) -> None:
        pay(ctx, uow, owed)
        uow.commit()

    ctx.runner.run(work, "paying a referrer's bonus")


def settle(ctx: Context, uow: UnitOfWork, purchase_id: str) -> int | None:
    """In a unit of work holding the referrer's lock (a return that may take the reward of
    ``purchase_id`` back): its referrer's part written first if it was not, so the bonus is there
    to take; the lot the bonus opened, or ``None``."""
    owed = uow.operation(purchase_id + REFERRER_PART)
    if owed is None:
        return None  # rewarded by an earlier version, in one unit of work: the referral has the lot
    pay(ctx, uow, owed)
    return paid_lot(uow, purchase_id)


def settle_member(ctx: Context, uow: UnitOfWork, member_id: str) -> None:
    """In a unit of work holding ``member_id``'s lock (a merge absorbing it): every referrer's part
    of its rewards left unwritten, written first, so that its bonuses move with its points rather
    than reach it once it is closed. Only a crash, or a purchase whose own unit of work for the
    part has not run yet, leaves one: the scan finds few."""
    for owed in uow.unfinished_parts(OWED, limit=_SCAN):
        if owed.request.get("member_id") == member_id:
            pay(ctx, uow, owed)


#: At most this many unfinished parts are looked at by a merge (more are a backlog that
#: :func:`finish_due` clears first; a merge that missed one leaves it to maintenance, which
#: credits the absorbed member's closed account, as any credit after a merge would).
_SCAN = 10_000


def paid_lot(uow: UnitOfWork, purchase_id: str) -> int | None:
    """The lot the referrer's bonus of the referee's purchase ``purchase_id`` opened, or ``None``."""
    paid = uow.operation(purchase_id + REFERRER_PART + RECEIVED)
    lot = None if paid is None else paid.result.get("lot")
    return lot if isinstance(lot, int) else None


def finish_due(ctx: Context, batch: int) -> int:
    """Write every referrer's part whose reward is kept without it, one unit of work each,
    ``batch`` found at a time; how many were finished."""
    finished = 0
    while True:
        # Read-only (a replica may answer): each part checks again under its lock.
        halves = ctx.runner.read(lambda uow: uow.unfinished_parts(OWED, limit=batch))
        for owed in halves:
            finish(ctx, owed)
        finished += len(halves)
        if len(halves) < batch:
            return finished
