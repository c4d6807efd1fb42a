"""Returns and voids: take back what returned goods earned, give back points spent on them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from loyalty import codec
from loyalty.earning import evaluate, tally_keys
from loyalty.erasure import erased_by, erased_member
from loyalty.errors import AlreadyReturned, InvalidInput, UnknownPurchase
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.return_plans import ReturnSnapshot, ReturnTier, Revoked, plan_return, returned_before, revokes
from loyalty.returns import (
    Return,
    ReturnReceipt,
    paid_key,
    refunded_key,
    remaining,
    returned_after,
    returned_key,
    taken_key,
)
from loyalty.service import erasure_parts, locks, postings, referral_parts, rewarding, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import Operation, UnitOfWork
from loyalty.tallies import Tally

__all__ = ["record_return", "request_of"]


def request_of(returned: Return) -> dict[str, Any]:
    """A return's canonical request, compared when its id comes back."""
    return {
        "purchase_id": returned.purchase_id,
        "at": returned.at.isoformat(),
        "lines": None
        if returned.lines is None
        else [{"sku": line.sku, "quantity": str(line.quantity)} for line in returned.lines],
    }


def _context(
    uow: UnitOfWork, program: Program, purchase: Purchase, member: Member | None, result: dict[str, Any]
) -> dict[str, Tally]:
    """The tallies the purchase was evaluated with, kept with it (recorded before they were kept:
    today's tallies less what the purchase itself added)."""
    kept = result.get("context")
    if isinstance(kept, dict):
        return {name: Tally(int(count), Decimal(points)) for name, (count, points) in kept.items()}
    own, shared = tally_keys(program, purchase, member)
    today = uow.tallies([*own, *shared])
    added = evaluate(program, purchase, member=member, tallies=today).tallies
    return {name: tally + -added[name] if name in added else tally for name, tally in today.items()}


def record_return(ctx: Context, returned: Return) -> ReturnReceipt:
    """Take back what returned goods earned (see :meth:`loyalty.Engine.record_return`)."""
    if not isinstance(returned, Return):
        raise InvalidInput("return", f"must be a Return, not {type(returned).__name__}")
    ctx.till_time("at", returned.at, returned.id)
    command = Command(returned.id, "return", request_of(returned))
    # What the referrer gives back, if this return takes a referral's reward back: its own part.
    owed: list[Operation] = []

    def run(uow: UnitOfWork) -> ReturnReceipt:
        owed.clear()
        replay = command.replay(uow)
        if replay is not None:
            return _replayed(uow, replay.result, returned.id, owed)
        return _return(ctx, uow, returned, command, owed)

    receipt = command.run(ctx.runner, run)
    for half in owed:
        referral_parts.finish(ctx, half)
    return receipt


def _replayed(uow: UnitOfWork, result: dict[str, Any], key: str, owed: list[Operation]) -> ReturnReceipt:
    """A retry's receipt; the referrer's part of a take-back a crash left unwritten goes in
    ``owed``, for the retry to finish (one read more, on a retry only)."""
    half = referral_parts.unfinished(uow, key)
    if half is not None:
        owed.append(half)
    return codec.structure(result, ReturnReceipt)


def _return(
    ctx: Context, uow: UnitOfWork, returned: Return, command: Command, owed: list[Operation]
) -> ReturnReceipt:
    sold = uow.operation(returned.purchase_id)
    if sold is None or sold.kind != "purchase":
        raise UnknownPurchase("purchase_id", f"no purchase {returned.purchase_id!r} was recorded")
    if erased_by(sold.request) is not None:
        raise locks.erased(erased_member(sold.request), "purchase_id")
    pid = returned.purchase_id
    purchase = codec.purchase_from_request(pid, sold.request)
    receipt = codec.receipt_from_result(sold.result)
    member_id = purchase.member_id
    if returned.at < purchase.at:
        raise InvalidInput(
            "at", f"the return ({returned.at.isoformat()}) is before its purchase ({purchase.at.isoformat()})"
        )
    # The referee alone: what its referrer gives back of a reward is the referrer's own part.
    locks.lock(uow, member_id)
    locks.not_erased(uow, member_id, "purchase_id")  # erased since the purchase was read
    # A retry that waited on the lock for the original: its result is there now.
    replay = command.replay(uow)
    if replay is not None:
        return _replayed(uow, replay.result, returned.id, owed)
    # Vouchers bought against the purchase go with its last goods: their points come back first.
    rewarding.revoke_if_returned(ctx, uow, purchase, returned, ctx.now())
    decided = plan_return(_snapshot(ctx, uow, returned, purchase, receipt, sold.result))
    postings.apply(uow, decided.plan)
    if decided.tier_state is not None:
        uow.put_tier_state(decided.tier_state)
    if decided.referral is not None:
        uow.put_referral(decided.referral)
    # Under a balance metric the tier follows the balance the return lowered.
    followed = tiering.follow_balance(ctx, uow, [member_id], source=returned.id, at=ctx.now())
    result = decided.receipt
    mine = followed.get(member_id)
    if mine is not None and mine.bonus:
        # Points given back can lift the member to a tier whose entry bonus this command pays.
        result = attrs.evolve(result, balance_after=uow.balance(member_id) or 0)
    command.remember(uow, codec.unstructure(result), ctx.now())
    if decided.take_back is not None:
        owed.append(referral_parts.owe_back(uow, decided.take_back, ctx.now()))
    uow.commit()
    return result


def _snapshot(
    ctx: Context,
    uow: UnitOfWork,
    returned: Return,
    purchase: Purchase,
    receipt: Receipt,
    kept: dict[str, Any],
) -> ReturnSnapshot:
    """Everything a return decides on, read under the member's lock, once what was past its date
    is written off, as maintenance would have."""
    pid, member_id = purchase.id, purchase.member_id
    lines = range(len(purchase.lines))
    state = uow.tallies(
        [
            *(returned_key(member_id, pid, i) for i in lines),
            taken_key(member_id, pid),
            paid_key(member_id, pid),
            refunded_key(member_id, pid),
        ]
    )
    before = returned_before(purchase, state)
    if all(before.get(i, 0) >= Decimal(line.quantity) for i, line in enumerate(purchase.lines)):
        raise AlreadyReturned("purchase_id", f"everything of purchase {pid!r} has already been returned")
    program = ctx.programs.labelled(uow, receipt.program_version, purchase.at)
    kept_member = kept.get("member")
    if isinstance(kept_member, dict):
        member: Member | None = codec.structure(kept_member, Member)
    else:  # recorded before members were kept with purchases, or not needed then
        member = uow.member(member_id) if program.index.needs_member else None
    context = _context(uow, program, purchase, member, kept)
    now = ctx.now()
    postings.expire_due(uow, member_id, now, now)
    referral = erasure_parts.referral_of(ctx, uow, member_id)
    left = remaining(purchase, returned_after(purchase, before, returned.lines))
    revoked = None
    if referral is not None and revokes(program, referral, pid, left):
        # The rejected referral and the record of what the referrer gives back name it: held
        # against its erasure until this commits, or, erased since the read, read again renamed.
        if not uow.keep_named(referral.referrer):
            referral = erasure_parts.referral_of(ctx, uow, member_id, erased=True)
            assert referral is not None  # an erasure's part renames the row, never drops it
        terms = program.referrals
        period = None
        # A referral whose referrer was left out took no place under its cap to free.
        capped = terms is not None and terms.cap is not None
        if capped and referral.referrer_rewarded and terms is not None and terms.cap_period is not None:
            period = terms.cap_period.key(purchase.at.astimezone(program.zone))
        revoked = Revoked(referral, period)
    tier = None
    current = tiering.tiered_now(ctx, uow)
    enrolled = uow.member(member_id) if current is not None else None
    if current is not None and current.tiers is not None and enrolled is not None:
        measure = tiering.measure(uow, current, current.tiers, enrolled, now)
        progress = tiering.progress(uow, current.tiers, member_id)
        tier = ReturnTier(current, enrolled, uow.tier_state(member_id), measure, progress)
    own = kept.get("lot")
    return ReturnSnapshot(
        returned,
        purchase,
        receipt,
        program,
        ctx.programs.known(),
        now,
        member,
        context,
        state,
        postings.read_account(uow, member_id, rolls=program.expiry.rolls, with_lots=True),
        own if isinstance(own, int) else None,
        tier,
        revoked,
    )
