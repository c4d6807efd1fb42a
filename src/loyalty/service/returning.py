"""Returns and voids: take back what returned goods earned, give back points spent on them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from loyalty import codec
from loyalty.earning import evaluate, tally_keys
from loyalty.errors import AlreadyReturned, InvalidInput, UnknownPurchase
from loyalty.habits import month_key, spent_key
from loyalty.ledger import EntryKind, Posting
from loyalty.lots import take_back
from loyalty.members import Member
from loyalty.money import EXACT
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.referrals import ReferralState
from loyalty.returns import (
    Return,
    ReturnReceipt,
    claw,
    debt_key,
    owed_key,
    paid_key,
    refund_due,
    refunded_key,
    remaining,
    returned_after,
    returned_key,
    taken_key,
)
from loyalty.service import locks, postings, referring, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import UnitOfWork
from loyalty.tallies import Tally, merged
from loyalty.tier_decisions import Settled, correction
from loyalty.tiers import Downgrade, upgrade

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
    return {
        name: tally + Tally(-added[name].count, -added[name].points) if name in added else tally
        for name, tally in today.items()
    }


def record_return(ctx: Context, returned: Return) -> ReturnReceipt:
    """Take back what returned goods earned (see :meth:`loyalty.Engine.record_return`)."""
    if not isinstance(returned, Return):
        raise InvalidInput("return", f"must be a Return, not {type(returned).__name__}")
    command = Command(returned.id, "return", request_of(returned))

    def run(uow: UnitOfWork) -> ReturnReceipt:
        replay = command.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, ReturnReceipt)
        return _return(ctx, uow, returned, command)

    return ctx.runner.run(run)


def _return(ctx: Context, uow: UnitOfWork, returned: Return, command: Command) -> ReturnReceipt:
    sold = uow.operation(returned.purchase_id)
    if sold is None or sold.kind != "purchase":
        raise UnknownPurchase("purchase_id", f"no purchase {returned.purchase_id!r} was recorded")
    pid = returned.purchase_id
    purchase = codec.purchase_from_request(pid, sold.request)
    receipt = codec.receipt_from_result(sold.result)
    member_id = purchase.member_id
    if returned.at < purchase.at:
        raise InvalidInput(
            "at", f"the return ({returned.at.isoformat()}) is before its purchase ({purchase.at.isoformat()})"
        )
    locks.lock_with_referrer(uow, member_id)
    # A retry that waited on the lock for the original: its result is there now.
    replay = command.replay(uow)
    if replay is not None:
        return codec.structure(replay.result, ReturnReceipt)
    lines = range(len(purchase.lines))
    state = uow.tallies(
        [*(returned_key(pid, i) for i in lines), taken_key(pid), paid_key(pid), refunded_key(pid)]
    )
    before = {i: state[returned_key(pid, i)].points for i in lines if state[returned_key(pid, i)].points}
    if all(before.get(i, 0) >= Decimal(line.quantity) for i, line in enumerate(purchase.lines)):
        raise AlreadyReturned("purchase_id", f"everything of purchase {pid!r} has already been returned")
    after = returned_after(purchase, before, returned.lines)
    program = ctx.programs.labelled(uow, receipt.program_version, purchase.at)
    kept_member = sold.result.get("member")
    if isinstance(kept_member, dict):
        member: Member | None = codec.structure(kept_member, Member)
    else:  # recorded before members were kept with purchases, or not needed then
        member = uow.member(member_id) if program.index.needs_member else None
    context = _context(uow, program, purchase, member, sold.result)
    was, now_is = remaining(purchase, before), remaining(purchase, after)
    was_eval = evaluate(program, was, member=member, tallies=context) if was is not None else None
    new_eval = evaluate(program, now_is, member=member, tallies=context) if now_is is not None else None
    earned_before = receipt.points if not before else (was_eval.receipt.points if was_eval else 0)
    earns_now = new_eval.receipt.points if new_eval is not None else 0
    taken_so_far = int(state[taken_key(pid)].points)
    take = max(0, min(earned_before - earns_now, receipt.points - taken_so_far))
    # What the returned units counted for (visits, caps, budgets, stamps) is given back.
    corrections = merged(
        new_eval.tallies if new_eval is not None else {},
        {k: Tally(-t.count, -t.points) for k, t in (was_eval.tallies if was_eval else {}).items()},
    )
    now = ctx.now()
    postings.expire_due(uow, member_id, now, now)
    refund = refund_due(
        int(state[paid_key(pid)].points), int(state[refunded_key(pid)].points), purchase, now_is
    )
    if refund:
        _, expires = ctx.programs.dates(program, returned.at, pending=False, now=now)
        refund_posting = Posting(
            member_id,
            EntryKind.REFUND,
            refund,
            returned.at,
            now,
            returned.id,
            f"{refund} points paid for returned goods of {pid}",
            expires_at=expires,
        )
        postings.credit(uow, refund_posting, program)
    owed = uncollected = taken = 0
    if take:
        own = sold.result.get("lot")
        draws = take_back(uow.lots(member_id), take, own if isinstance(own, int) else None, now)
        clawed = claw(program.clawback, take, take + sum(points for _, points in draws))  # draws are negative
        owed, uncollected, taken = clawed.owed, clawed.uncollected, clawed.taken
        owing = {debt_key(member_id): clawed.debt, owed_key(member_id): clawed.owed}
        corrections = merged(corrections, {key: Tally(0, Decimal(n)) for key, n in owing.items() if n})
        if taken:
            what = "void" if now_is is None else "return"
            uow.append(
                Posting(
                    member_id,
                    EntryKind.RETURN,
                    -taken,
                    returned.at,
                    now,
                    returned.id,
                    f"{what} of {pid}: {taken} of the {take} points its goods earned taken back"
                    + clawed.note(),
                    draws=draws,
                )
            )
    returned_now = {returned_key(pid, i): Tally(0, q - before.get(i, Decimal(0))) for i, q in after.items()}
    bookkeeping = {taken_key(pid): Tally(1, Decimal(take)), refunded_key(pid): Tally(0, Decimal(refund))}
    current = tiering.tiered_now(ctx, uow)
    enrolled = uow.member(member_id) if current is not None else None
    metric: dict[str, Tally] = {}
    if current is not None and enrolled is not None:
        metric = correction(current, program, enrolled, purchase, take, was, now_is)
    month = spent_key(member_id, month_key(purchase.at.astimezone(program.zone)))
    before_amount = was.total.amount if was is not None else Decimal(0)
    after_amount = now_is.total.amount if now_is is not None else Decimal(0)
    habit = {month: Tally(-1 if now_is is None else 0, EXACT.subtract(after_amount, before_amount))}
    uow.add_tallies(merged(corrections, returned_now, bookkeeping, metric, habit))
    if current is not None and current.tiers is not None and enrolled is not None:
        # The metric fell: a downgrade at once follows it; a review will see it.
        tiers = current.tiers
        tier = tiering.settled(uow, current, tiers, enrolled, now)
        if tiers.downgrade is Downgrade.IMMEDIATE:
            value = tiering.measure(uow, current, tiers, enrolled)(now)
            lowered, more = upgrade(tier.state, tiers, value, now, current.zone, enrolled.enrolled_at)
            tier = Settled(lowered, tier.stored, tier.moves + more)
        tiering.write(ctx, uow, current, member_id, tier, source=returned.id, now=now)
    referral = uow.referral(member_id)
    if (
        referral is not None
        and referral.purchase_id == pid
        and referral.state in (ReferralState.QUALIFIED, ReferralState.REWARDED)
    ):
        minimum = program.referrals.min_spend if program.referrals is not None else None
        if now_is is None or (minimum is not None and now_is.total.amount < minimum):
            # What is left no longer qualifies: no reward for it.
            referring.take_back_bonuses(ctx, uow, program, referral, returned, now)
    balance = uow.balance(member_id)
    assert balance is not None
    result = ReturnReceipt(
        returned.id,
        pid,
        member_id,
        now_is is None,
        receipt.points,
        earns_now,
        taken,
        refund,
        owed,
        uncollected,
        balance,
    )
    command.remember(uow, codec.unstructure(result), now)
    uow.commit()
    return result
