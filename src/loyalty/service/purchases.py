"""Earning: purchases and events, recorded or quoted.

A recorded purchase reads what its decision needs under the member's lock
(balance, tallies, tier state, referral), has the domain evaluate it
(:func:`loyalty.earning.evaluate`, with the tier decision of
:mod:`loyalty.service.tiering`), then writes the outcome: the earn entry
with its lot, the tally changes, the tier moves, the referral's bonuses and
the operation a retry replays.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from loyalty import codec
from loyalty.earning import Event, evaluate, tally_keys, visits_key
from loyalty.errors import InvalidInput, StorageError, UnknownMember
from loyalty.expiry import ExpiryPolicy
from loyalty.habits import micros, month_key, seen_key, spent_key
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.returns import debt_key, owed_key
from loyalty.service import locks, postings, referring, tiering
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import Tally, UnitOfWork

__all__ = ["check_purchase", "evaluate_readonly", "record", "request_of_event"]


def check_purchase(purchase: object) -> Purchase:
    """``purchase`` if it is a :class:`~loyalty.purchases.Purchase` (checked when it was made)."""
    if not isinstance(purchase, Purchase):
        raise InvalidInput("purchase", f"must be a Purchase, not {type(purchase).__name__}")
    return purchase


def request_of_event(event: Event) -> dict[str, Any]:
    """An event's canonical request, compared when its id comes back."""
    return {
        "member_id": event.member_id,
        "name": event.name,
        "at": event.at.isoformat(),
        "properties": dict(event.properties),
    }


def _merged(*parts: Mapping[str, Tally]) -> dict[str, Tally]:
    total: dict[str, Tally] = {}
    for part in parts:
        for name, delta in part.items():
            total[name] = total[name] + delta if name in total else delta
    return total


def _read(
    uow: UnitOfWork, program: Program, subject: Purchase | Event, member: Member | None
) -> dict[str, Tally]:
    """The tallies an evaluation of ``subject`` reads, with what returns left the member owing and,
    for a purchase, its habits (first and last visit, the month's spend)."""
    own, shared = tally_keys(program, subject, member)
    own += (debt_key(subject.member_id), owed_key(subject.member_id))
    if isinstance(subject, Purchase):
        # (The month's spend is read with the rest so the adapter need not read it to add to it.)
        month = month_key(subject.at.astimezone(program.zone))
        own += (seen_key(subject.member_id), spent_key(subject.member_id, month))
    # The member's own tallies are already guarded by the lock on its balance.
    tallies = uow.tallies(own)
    if shared:
        tallies = {**tallies, **uow.tallies(shared, for_update=True)}
    return tallies


def _habit(program: Program, receipt: Receipt, read: Mapping[str, Tally]) -> dict[str, Tally]:
    """What a purchase adds to the member's habits: first and last visit, the month's spend."""
    member_id, at = receipt.member_id, receipt.occurred_at
    when = micros(at)
    changes: dict[str, Tally] = {}
    seen = read.get(seen_key(member_id), Tally())
    # Deltas that make the count the earliest visit and the points the latest (a late
    # offline sale may be either, or neither).
    earlier = when - seen.count if not seen.count or when < seen.count else 0
    later = Decimal(when) - seen.points if when > seen.points else Decimal(0)
    if earlier or later:
        changes[seen_key(member_id)] = Tally(earlier, later)
    amount = receipt.amount.amount if receipt.amount is not None else Decimal(0)
    changes[spent_key(member_id, month_key(at.astimezone(program.zone)))] = Tally(1, amount)
    return changes


@attrs.frozen
class _Earned:
    """The earn entry written: the receipt showing the balance left, and the lot it opened."""

    receipt: Receipt
    lot: int | None


def _write_earning(
    ctx: Context,
    uow: UnitOfWork,
    program: Program,
    receipt: Receipt,
    deltas: Mapping[str, Tally],
    read: Mapping[str, Tally],
    key: str,
    reason: str,
    *,
    purchase: bool,
) -> _Earned:
    """Write the earn entry (repaying debts, collecting what is owed) and the tally changes."""
    now = ctx.now()
    member_id = receipt.member_id
    lot: int | None = None
    settled: Mapping[str, Tally] = {}
    if receipt.points:
        assert receipt.balance_after is not None
        locks.check_range(receipt.balance_after)
        vests, expires = ctx.programs.dates(program, receipt.occurred_at, pending=purchase, now=now)
        posting = Posting(
            member_id,
            EntryKind.EARN,
            receipt.points,
            receipt.occurred_at,
            now,
            key,
            reason,
            None,
            receipt.rules,
            receipt.program_version,
            vests,
            expires,
        )
        owing = int(read[debt_key(member_id)].points), int(read[owed_key(member_id)].points)
        credited = postings.credit(uow, posting, program, owing=owing, settle=False)
        if credited.entry.balance_after != receipt.balance_after:
            # The balance was read under the write lock: only a broken adapter gets here.
            raise StorageError("balance", "the store's balance moved during the unit of work")
        lot, settled = credited.entry.seq, credited.settled
        if credited.last is not credited.entry:
            # After a collection the receipt shows the balance left.
            receipt = attrs.evolve(receipt, balance_after=credited.last.balance_after)
    if purchase:
        deltas = _merged(deltas, _habit(program, receipt, read))
    if deltas or settled:
        uow.add_tallies(_merged(deltas, settled))
    return _Earned(receipt, lot)


def record(ctx: Context, subject: Purchase | Event, command: Command, reason: str) -> Receipt:
    """Evaluate a purchase or event with the version of its time and write what it earned."""
    program = ctx.programs.at(subject.at)
    purchase = isinstance(subject, Purchase)

    def run(uow: UnitOfWork) -> Receipt:
        ctx.programs.begin()
        replay = command.replay(uow)
        if replay is not None:
            # The original receipt, even if the program has changed since.
            return codec.receipt_from_result(replay.result)
        # Read, under the member's lock (and its referrer's, which a first purchase may reward).
        if purchase and program.referrals is not None:
            balance = locks.lock_with_referrer(uow, subject.member_id)
        else:
            balance = locks.lock(uow, subject.member_id)
        now = ctx.now()
        if program.expiry.policy is ExpiryPolicy.INACTIVITY:
            balance = postings.keep_active(uow, program, subject, now)
        current = tiering.tiered_now(ctx, uow)
        needs_member = program.index.needs_member or current is not None
        member = uow.member(subject.member_id) if needs_member else None
        tier: tiering.Settled | None = None
        if current is not None and member is not None:
            assert current.tiers is not None
            # Reviews that fell due before the purchase are carried out first (as maintenance
            # would have), so it earns at the tier they left.
            before = tiering.settled(uow, current, current.tiers, member, now)
            stored = before.stored
            if before.moves:
                tiering.write(ctx, uow, current, member.id, before, subject.id, now)
                stored = before.state
            read = _read(uow, program, subject, tiering.as_tier(member, before.state.tier))
            decision = tiering.decide(
                uow, program, current, subject, member, read, balance, before.state, now
            )
            receipt, deltas, member = decision.receipt, decision.deltas, decision.member
            tier = tiering.Settled(decision.state, stored, decision.moves)
        else:
            read = _read(uow, program, subject, member)
            outcome = tiering.evaluation(program, subject, member, read, balance)
            receipt, deltas = outcome.receipt, outcome.tallies
        visits = read.get(visits_key(subject.member_id))
        referral = None
        if isinstance(subject, Purchase):
            referral = referring.due(uow, subject, visits.count if visits is not None else 0)
        # Write: with the command's own writes, a refused command stores no version either.
        ctx.programs.store_in(uow)
        earned = _write_earning(
            ctx, uow, program, receipt, deltas, read, subject.id, reason, purchase=purchase
        )
        receipt = earned.receipt
        last: Entry | None = None
        if tier is not None and current is not None:
            written = tiering.write(ctx, uow, current, subject.member_id, tier, subject.id, now)
            last = written[-1] if written else None
        if referral is not None and isinstance(subject, Purchase):
            last = referring.reward(ctx, uow, program, subject, referral, receipt.points) or last
        if last is not None:
            receipt = attrs.evolve(receipt, balance_after=last.balance_after)
        result = codec.receipt_result(receipt, occurred_at=command.request["at"])
        # What a return needs to recompute the purchase as it was: its lot, the tallies
        # and the member it was evaluated with (only tallies that are not zero: a missing
        # one reads as zero, and this is on every purchase).
        result["lot"] = earned.lot
        result["context"] = {
            name: [t.count, str(t.points)] for name, t in read.items() if t.count or t.points
        }
        if member is not None:
            result["member"] = codec.unstructure(member)
        command.remember(uow, result, ctx.now())
        uow.commit()
        return receipt

    receipt = ctx.runner.run(run)
    ctx.programs.committed()
    return receipt


def evaluate_readonly(ctx: Context, purchase: Purchase, *, explain: bool) -> Receipt:
    """What recording ``purchase`` would give now, writing nothing (see :meth:`loyalty.Engine.quote`)."""
    check_purchase(purchase)
    program = ctx.programs.at(purchase.at)
    with ctx.runner.reading() as uow:
        replay = Command(purchase.id, "purchase", codec.purchase_request(purchase)).replay(uow)
        if replay is not None:
            return codec.receipt_from_result(replay.result)
        balance = uow.balance(purchase.member_id)
        if balance is None:
            raise UnknownMember("member_id", f"no member {purchase.member_id!r}")
        current = tiering.tiered_now(ctx, uow)
        needs_member = explain or program.index.needs_member or current is not None
        member = uow.member(purchase.member_id) if needs_member else None
        tier = None
        if current is not None and member is not None:
            assert current.tiers is not None
            now = ctx.now()
            state = tiering.settled(uow, current, current.tiers, member, now).state
            read = _read(uow, program, purchase, tiering.as_tier(member, state.tier))
            decided = tiering.decide(uow, program, current, purchase, member, read, balance, state, now)
            if not explain:
                return attrs.evolve(decided.receipt, balance_after=None)
            member = decided.member
            tier = decided.receipt
        own, shared = tally_keys(program, purchase, member)
        tallies = uow.tallies([*own, *shared]) if own or shared else {}
    receipt = evaluate(program, purchase, member=member, tallies=tallies, explain=explain).receipt
    if tier is None:
        return receipt
    return attrs.evolve(receipt, tier=tier.tier, tier_reached=tier.tier_reached, tier_bonus=tier.tier_bonus)
