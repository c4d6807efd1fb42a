"""Rewards and vouchers: buying a reward of the catalogue with points, using, voiding, expiring
and revoking its voucher (see :mod:`loyalty.vouchers`).

Buying spends the reward's cost as a redemption does (after points past their
date are written off, soonest-expiring first, within the day's ``per_day``
limit; a short balance is declined and the decline kept); the other limits of
``[redemption]`` are the merchant's to keep in the catalogue. A voucher ends
exactly once, each end an outbox event; a void or a revocation gives its
points back to the lots they came from, a new ``release`` entry.
"""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty import codec
from loyalty.checks import check_aware, check_id
from loyalty.errors import (
    InsufficientPoints,
    UnknownPurchase,
    UnknownReward,
    UnknownVoucher,
    VoucherNotOwned,
)
from loyalty.ledger import EntryKind, Posting
from loyalty.outbox import EventKind, NewEvent
from loyalty.purchases import Purchase
from loyalty.return_plans import returned_before
from loyalty.returns import Return, remaining, returned_after, returned_key
from loyalty.rewards import Reward, affordable, on_offer
from loyalty.service import allowances, locks, postings, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.service.running import Declined
from loyalty.store import UnitOfWork
from loyalty.vouchers import Voucher, VoucherStatus, check_open, check_use, code_for, issue

__all__ = [
    "carry_use",
    "expire_due",
    "redeem_reward",
    "revoke_if_returned",
    "rewards",
    "use_voucher",
    "void_voucher",
    "voucher",
    "vouchers",
]


def _event(
    uow: UnitOfWork,
    kind: EventKind,
    voucher: Voucher,
    at: datetime,
    now: datetime,
    source: str,
    **data: object,
) -> None:
    facts = {"code": voucher.code, "reward_id": voucher.reward_id, **data}
    uow.add_event(NewEvent(kind, voucher.member_id, at, now, source, facts))


def _free_code(uow: UnitOfWork, key: str) -> str:
    """The voucher code of the caller's id ``key``: the next attempt when another voucher has it."""
    attempt = 0
    code = code_for(key)
    while uow.voucher(code) is not None:
        attempt += 1
        code = code_for(key, attempt)
    return code


def redeem_reward(
    ctx: Context, member_id: str, reward_id: str, *, key: str, at: datetime, purchase_id: str | None
) -> Voucher:
    """Buy the reward ``reward_id`` for ``member_id`` (see :meth:`loyalty.Engine.redeem_reward`)."""
    check_id("member_id", member_id)
    check_id("reward_id", reward_id)
    check_id("id", key)
    ctx.till_time("at", at, key)
    request: dict[str, object] = {"member_id": member_id, "reward_id": reward_id, "at": at.isoformat()}
    if purchase_id is not None:
        check_id("purchase_id", purchase_id)
        request["purchase_id"] = purchase_id
    buying = Command(key, "redeem_reward", request)

    def command(uow: UnitOfWork) -> Voucher | Declined:
        replay = buying.replayed(uow, lambda result: codec.structure(result, Voucher))
        if replay is not None:
            return replay
        locks.lock(uow, member_id)
        locks.allowed(uow, member_id, locks.SPEND)
        ctx.enrolled_by(uow, member_id, at)
        program = allowances.program_at(ctx, uow, at)
        reward = program.reward(reward_id)
        if reward is None or not reward.offered_at(at, program.zone):
            raise UnknownReward("reward_id", f"no reward {reward_id!r} on offer at {at.isoformat()}")
        if purchase_id is not None:
            allowances.paid_purchase(uow, member_id, purchase_id)
        now = ctx.now()
        # Points past their date cannot be spent: write them off first.
        postings.expire_due(uow, member_id, now, now)
        # Reviews due measure the balance before this write (under a balance metric), and a
        # decline keeps the write-off above: the tier follows it either way.
        tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
        try:
            draws = allowances.draw_within_limits(uow, program, member_id, reward.cost, at, now)
        except InsufficientPoints as short:
            return buying.decline(uow, short, now)
        allowances.count_spent(uow, program, member_id, at, reward.cost)
        postings.mark_redeemed(uow, member_id, at)
        code = _free_code(uow, key)
        why = f"reward {reward.id}: voucher {code}"
        uow.append(Posting(member_id, EntryKind.REDEEM, -reward.cost, at, now, key, why, draws=draws))
        bought = issue(
            code,
            member_id,
            reward.id,
            reward.cost,
            draws,
            at=at,
            valid_for_days=reward.valid_for_days,
            purchase_id=purchase_id,
        )
        uow.add_voucher(bought)
        expires = bought.expires_at.isoformat()
        _event(
            uow,
            EventKind.VOUCHER_ISSUED,
            bought,
            at,
            now,
            key,
            points=reward.cost,
            expires_at=expires,
            purchase_id=purchase_id,
        )
        tiering.follow_balance(ctx, uow, [member_id], source=key, at=now)
        buying.remember(uow, codec.unstructure(bought), now)
        uow.commit()
        return bought

    return buying.run(ctx.runner, command)


def _locked_voucher(uow: UnitOfWork, code: str) -> Voucher:
    """The voucher, read again once its member's balance is locked (so it cannot end under us)."""
    found = uow.voucher(code)
    if found is None:
        raise UnknownVoucher("code", f"no voucher {code!r}")
    locks.lock(uow, found.member_id)
    locked = uow.voucher(code)
    assert locked is not None  # vouchers are never deleted
    return locked


def _check_purchase(uow: UnitOfWork, voucher: Voucher, purchase_id: str) -> None:
    sold = uow.operation(purchase_id)
    if sold is None or sold.kind != "purchase":
        raise UnknownPurchase("purchase_id", f"no purchase {purchase_id!r} was recorded")
    if sold.request["member_id"] != voucher.member_id:
        raise VoucherNotOwned("code", f"voucher {voucher.code!r} is not the purchase's member's")


def use_voucher(
    ctx: Context, code: str, *, key: str, at: datetime, purchase_id: str | None, member_id: str | None
) -> Voucher:
    """Use a voucher at the till, once (see :meth:`loyalty.Engine.use_voucher`)."""
    check_id("code", code)
    check_id("id", key)
    ctx.till_time("at", at, key)
    request: dict[str, object] = {"code": code, "at": at.isoformat()}
    if purchase_id is not None:
        check_id("purchase_id", purchase_id)
        request["purchase_id"] = purchase_id
    if member_id is not None:
        check_id("member_id", member_id)
        request["member_id"] = member_id
    using = Command(key, "use_voucher", request)

    def command(uow: UnitOfWork) -> Voucher:
        replay = using.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Voucher)
        found = _locked_voucher(uow, code)
        # A retry that waited on the lock for the original: its result is there now.
        replay = using.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Voucher)
        locks.allowed(uow, found.member_id, locks.SPEND, field="code")
        ctx.started(at, found.issued_at, "its voucher was issued")
        now = ctx.now()
        check_use(found, now, member_id=member_id)
        if purchase_id is not None:
            _check_purchase(uow, found, purchase_id)
        used = uow.end_voucher(code, VoucherStatus.USED, now.astimezone(UTC), used_for=purchase_id)
        _event(uow, EventKind.VOUCHER_USED, used, at, now, key, purchase_id=purchase_id)
        using.remember(uow, codec.unstructure(used), now)
        uow.commit()
        return used

    return using.run(ctx.runner, command)


def carry_use(ctx: Context, code: str, *, key: str, used_at: datetime, used_for: str | None) -> Voucher:
    """End the voucher of ``code``, just bought again by an import, as it ended where the history
    comes from: used at ``used_at`` (the engine's time there) on purchase ``used_for``. Not
    :func:`use_voucher`: the till's use was judged there (before expiry, by its member, on a
    recorded purchase), and is recorded here as it was, however late the import runs. ``key``
    names it in the outbox event. Idempotent: a voucher used so already is returned as it is."""
    check_aware("used_at", used_at)
    if used_for is not None:
        check_id("used_for", used_for)

    def command(uow: UnitOfWork) -> Voucher:
        found = _locked_voucher(uow, code)
        if found.status is VoucherStatus.USED and found.used_for == used_for:
            return found
        check_open(found)
        now = ctx.now()
        used = uow.end_voucher(code, VoucherStatus.USED, used_at.astimezone(UTC), used_for=used_for)
        _event(uow, EventKind.VOUCHER_USED, used, used_at, now, key, purchase_id=used_for)
        uow.commit()
        return used

    return ctx.runner.run(command, "an imported voucher's use")


def _give_back(ctx: Context, uow: UnitOfWork, voucher: Voucher, source: str, now: datetime, why: str) -> None:
    """A voucher's points back to the lots they came from, as a ``release`` entry."""
    tiering.follow_balance(ctx, uow, [voucher.member_id], source=source, at=now)
    reason = f"voucher {voucher.code} {why}: {voucher.points} points back"
    postings.return_draws(
        uow, voucher.member_id, source, voucher.give_back(), now, reason, f"voucher {voucher.code}"
    )
    tiering.follow_balance(ctx, uow, [voucher.member_id], source=source, at=now)


def void_voucher(
    ctx: Context, code: str, *, key: str, at: datetime, judged_at: datetime | None = None
) -> Voucher:
    """The merchant takes a voucher back and its points return (see :meth:`loyalty.Engine.void_voucher`).
    ``judged_at``: when to judge whether it had expired (the engine's time if ``None``); an import
    judges a void of the history at its own ``at``, as the first store did."""
    check_id("code", code)
    check_id("id", key)
    ctx.till_time("at", at, key)
    voiding = Command(key, "void_voucher", {"code": code, "at": at.isoformat()})

    def command(uow: UnitOfWork) -> Voucher:
        replay = voiding.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Voucher)
        found = _locked_voucher(uow, code)
        replay = voiding.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Voucher)
        # A correction: a suspended member's voucher may be voided too.
        locks.allowed(uow, found.member_id, locks.CORRECT, field="code")
        ctx.started(at, found.issued_at, "its voucher was issued")
        now = ctx.now()
        # An unused voucher past its time has expired, whether or not maintenance has said so yet.
        check_use(found, now if judged_at is None else judged_at, member_id=None)
        _give_back(ctx, uow, found, key, now, "voided")
        voided = uow.end_voucher(code, VoucherStatus.VOIDED, now.astimezone(UTC))
        _event(uow, EventKind.VOUCHER_VOIDED, voided, at, now, key, points=voided.points)
        voiding.remember(uow, codec.unstructure(voided), now)
        uow.commit()
        return voided

    return voiding.run(ctx.runner, command)


def revoke_if_returned(
    ctx: Context, uow: UnitOfWork, purchase: Purchase, returned: Return, now: datetime
) -> int:
    """Revoke the unused vouchers bought against ``purchase`` when ``returned`` brings the rest of it
    back: their points return before the return takes back what the purchase earned (a voucher
    past its time has expired, and stays for maintenance to end). Called by the return, with the
    member's lock held; returns the vouchers revoked."""
    pid = purchase.id
    revoked = uow.vouchers_bought_against(pid)
    if not revoked:
        return 0  # the usual case, found through the index: nothing more to read
    state = uow.tallies([returned_key(purchase.member_id, pid, i) for i in range(len(purchase.lines))])
    before = returned_before(purchase, state)
    if remaining(purchase, before) is None:
        return 0  # returned in full already: the return refuses itself (AlreadyReturned)
    if remaining(purchase, returned_after(purchase, before, returned.lines)) is not None:
        return 0
    count = 0
    for found in revoked:
        check_open(found)
        if now >= found.expires_at:
            # Past its time it has expired, whether or not maintenance has said so yet (as a void
            # finds): no points come back; maintenance ends it.
            continue
        count += 1
        _give_back(ctx, uow, found, returned.id, now, f"revoked: purchase {pid} returned")
        ended = uow.end_voucher(found.code, VoucherStatus.REVOKED, now.astimezone(UTC))
        _event(
            uow,
            EventKind.VOUCHER_REVOKED,
            ended,
            returned.at,
            now,
            returned.id,
            points=ended.points,
            return_id=returned.id,
        )
    return count


def expire_due(ctx: Context, at: datetime, batch: int) -> int:
    """End every voucher unused past its time, ``batch`` per unit of work; no points come back.
    Returns how many (maintenance: :meth:`loyalty.Engine.run_due`)."""

    def command(uow: UnitOfWork) -> int:
        due = uow.due_vouchers(at, limit=batch)
        for member_id in sorted({voucher.member_id for voucher in due}):
            locks.lock(uow, member_id)
        ended = 0
        now = ctx.now()
        for found in due:
            # Read again under the lock: another engine may have ended it meanwhile.
            current = uow.voucher(found.code)
            if current is None or not current.open:
                continue
            expired = uow.end_voucher(found.code, VoucherStatus.EXPIRED, now.astimezone(UTC))
            source = f"voucher-expired:{found.code}"
            _event(
                uow,
                EventKind.VOUCHER_EXPIRED,
                expired,
                expired.expires_at,
                now,
                source,
                points=expired.points,
            )
            ended += 1
        uow.commit()
        return ended

    total = 0
    while True:
        # A read first: a run with no voucher due opens no write transaction.
        if not ctx.runner.read(lambda uow: uow.due_vouchers(at, limit=1)):
            return total
        ended = ctx.runner.run(command, "run_due (vouchers)")
        total += ended
        if not ended:
            return total


def voucher(ctx: Context, code: str) -> Voucher:
    """The voucher of ``code`` as it stands (see :meth:`loyalty.Engine.voucher`)."""
    check_id("code", code)

    def query(uow: UnitOfWork) -> Voucher:
        found = uow.voucher(code)
        if found is None:
            raise UnknownVoucher("code", f"no voucher {code!r}")
        return found

    return ctx.runner.read(query)


def vouchers(ctx: Context, member_id: str, *, open_only: bool = False) -> list[Voucher]:
    """The member's vouchers, oldest first (see :meth:`loyalty.Engine.vouchers`)."""
    check_id("member_id", member_id)

    def query(uow: UnitOfWork) -> list[Voucher]:
        locks.known(uow, member_id)
        found = uow.vouchers(member_id)
        return [each for each in found if each.open] if open_only else found

    return ctx.runner.read(query)


def rewards(ctx: Context, member_id: str | None) -> list[Reward]:
    """The rewards on offer now, or those the member's available points pay for (see
    :meth:`loyalty.Engine.rewards`)."""
    if member_id is not None:
        check_id("member_id", member_id)
    now = ctx.now()

    def query(uow: UnitOfWork) -> list[Reward]:
        program = allowances.program_at(ctx, uow, now)
        offered = on_offer(program.rewards, now, program.zone)
        if member_id is None:
            return offered
        balance = uow.balance_by_state(member_id, now)
        if balance is None:
            locks.known(uow, member_id)  # raises
            return []
        return affordable(offered, balance.available)

    return ctx.runner.read(query)
