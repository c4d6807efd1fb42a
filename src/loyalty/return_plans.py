"""Returns decided from a snapshot: what a return or a void takes back, refunds and records.

:func:`plan_return` is the whole decision. It takes a :class:`ReturnSnapshot`
(the purchase as it was recorded, the units returned so far, the member's
account with its open lots, the tier state, a referral the purchase
qualified) and returns a :class:`ReturnPlan`: the return receipt, the
postings in order (a refund of points paid for the goods, the take-back
drawn from the lots, referral bonuses taken back), the tally changes, the
events, and the tier state and referral to record. The purchase is
recomputed without every unit returned so far, under the version it was
earned with and the tallies it was evaluated with; the take-backs of all
returns of a purchase never exceed what it earned. Under ``returns =
"proportional"`` the points taken back are those the amount returned earns
at the base rate instead (:mod:`loyalty.proportional`); what the goods counted
for (visits, caps, the tier metric) is given back by the recomputation all the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from loyalty.earning import evaluate
from loyalty.habits import month_key, spent_key
from loyalty.ledger import EntryKind, Posting
from loyalty.lots import take_back
from loyalty.members import Member
from loyalty.money import EXACT
from loyalty.plans import Account, Plan, Planner
from loyalty.program import Program
from loyalty.proportional import proportional_take
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.referral_bonuses import ReferrerTakeBack, take_bonus
from loyalty.referrals import Referral, ReferralState, cap_key
from loyalty.returns import (
    Return,
    ReturnPolicy,
    ReturnReceipt,
    claw,
    paid_key,
    refund_due,
    refunded_key,
    remaining,
    returned_after,
    returned_key,
    taken_key,
)
from loyalty.tallies import Tally, merged
from loyalty.tier_decisions import Settled, correction, metric_value, plan_moves
from loyalty.tier_moves import review, upgrade
from loyalty.tiers import Downgrade, TierState
from loyalty.versions import in_force, lot_dates

__all__ = ["ReturnPlan", "ReturnSnapshot", "ReturnTier", "Revoked", "plan_return", "revokes"]


@attrs.frozen
class ReturnTier:
    """A tiered program's part of a return: the version in force now, the member as enrolled,
    its tier state as stored and the metric over a window as read before the return."""

    current: Program
    member: Member
    stored: TierState | None
    measure: Callable[[datetime], Decimal]
    progress: Callable[[str], Decimal]


@attrs.frozen
class Revoked:
    """A referral whose qualifying purchase no longer qualifies, and the cap period the reward
    counted in (``None`` without a cap). The referrer is not read: what it gives back is its own
    part (:class:`~loyalty.referral_bonuses.ReferrerTakeBack`)."""

    referral: Referral
    cap_period: str | None


@attrs.frozen
class ReturnSnapshot:
    """What a return reads under the member's lock, once what was past its date is written off."""

    returned: Return
    #: The purchase and its receipt as recorded, the version it was earned with, every version.
    purchase: Purchase
    receipt: Receipt
    program: Program
    versions: tuple[Program, ...]
    now: datetime
    #: The member and the tallies the purchase was evaluated with.
    member: Member | None
    context: Mapping[str, Tally]
    #: The purchase's own tallies: units returned per line, points taken back, paid, refunded.
    state: Mapping[str, Tally]
    #: The member's account, with its open lots; the lot the purchase opened, if any.
    account: Account
    own_lot: int | None
    tier: ReturnTier | None = None
    revoked: Revoked | None = None


@attrs.frozen
class ReturnPlan:
    """What a return writes."""

    receipt: ReturnReceipt
    plan: Plan
    tier_state: TierState | None = None
    referral: Referral | None = None
    #: What the referrer's part of a take-back writes, when the return takes a reward back.
    take_back: ReferrerTakeBack | None = None


def returned_before(purchase: Purchase, state: Mapping[str, Tally]) -> dict[int, Decimal]:
    """The units of each line of ``purchase`` returned so far, from its tallies."""
    pid, member_id = purchase.id, purchase.member_id
    return {
        i: state[returned_key(member_id, pid, i)].points
        for i in range(len(purchase.lines))
        if state[returned_key(member_id, pid, i)].points
    }


def revokes(program: Program, referral: Referral | None, purchase_id: str, left: Purchase | None) -> bool:
    """Whether a return that leaves ``left`` of the purchase (``None``: nothing) takes back the
    referral it qualified: what is left no longer meets the minimum, or nothing is."""
    if (
        referral is None
        or referral.purchase_id != purchase_id
        or referral.state not in (ReferralState.QUALIFIED, ReferralState.REWARDED)
    ):
        return False
    minimum = program.referrals.min_spend if program.referrals is not None else None
    return left is None or (minimum is not None and left.total.amount < minimum)


def plan_return(snapshot: ReturnSnapshot) -> ReturnPlan:
    """Decide everything a return writes (see the module's docs)."""
    returned, purchase, receipt = snapshot.returned, snapshot.purchase, snapshot.receipt
    program, now, state = snapshot.program, snapshot.now, snapshot.state
    pid, member_id, member = purchase.id, purchase.member_id, snapshot.member
    before = returned_before(purchase, state)
    after = returned_after(purchase, before, returned.lines)
    was, now_is = remaining(purchase, before), remaining(purchase, after)
    assert was is not None  # the service refuses a purchase already returned in full
    context = snapshot.context
    was_eval = evaluate(program, was, member=member, tallies=context)
    new_eval = evaluate(program, now_is, member=member, tallies=context) if now_is is not None else None
    # The recorded receipt is the truth for what the purchase earned; later returns measure from
    # the purchase as the earlier ones left it.
    earned_before = receipt.points if not before else was_eval.receipt.points
    earns_now = new_eval.receipt.points if new_eval is not None else 0
    taken_so_far = int(state[taken_key(member_id, pid)].points)
    detail = ""
    if program.returns is ReturnPolicy.PROPORTIONAL:
        share = proportional_take(program, purchase, after, earned=receipt.points, taken=taken_so_far)
        take, detail = share.take, share.detail
        earns_now = receipt.points - share.due
    else:
        take = max(0, min(earned_before - earns_now, receipt.points - taken_so_far))
    # What the returned units counted for (visits, caps, budgets, stamps) is given back.
    corrections = merged(
        new_eval.tallies if new_eval is not None else {},
        {k: -t for k, t in was_eval.tallies.items()},
    )
    planner = Planner([snapshot.account], rolling=program.expiry.rolls)
    refund = refund_due(
        int(state[paid_key(member_id, pid)].points),
        int(state[refunded_key(member_id, pid)].points),
        purchase,
        now_is,
    )
    if refund:
        _, expires = lot_dates(snapshot.versions, program, returned.at, pending=False, now=now)
        why = f"{refund} points paid for returned goods of {pid}"
        planner.credit(
            Posting(
                member_id, EntryKind.REFUND, refund, returned.at, now, returned.id, why, expires_at=expires
            )
        )
    owed = uncollected = taken = 0
    kept_why = ""
    if take:
        # Taken back in the draw order of the version in force when the goods come back.
        order = in_force(snapshot.versions, returned.at, default_first=True).expiry.draw
        draws = take_back(planner.lots(member_id), take, snapshot.own_lot, now, order)
        clawed = claw(program.clawback, take, take + sum(points for _, points in draws))  # draws are negative
        owed, uncollected, taken = clawed.owed, clawed.uncollected, clawed.taken
        what = "void" if now_is is None else "return"
        goods = "the amount returned earns" if detail else "its goods earned"
        why = f"{what} of {pid}: {taken} of the {take} points {goods} taken back{clawed.note()}"
        if taken:
            planner.post(
                Posting(member_id, EntryKind.RETURN, -taken, returned.at, now, returned.id, why, draws=draws)
            )
        else:
            kept_why = why
        planner.owe(member_id, debt=clawed.debt, owed=clawed.owed)
    if not taken and not refund:
        # Nothing to take back or pay: still an entry, of no points, so that the ledger says the
        # goods came back (and the ledger feed, which a history export follows, finds the return).
        why = kept_why or f"{'void' if now_is is None else 'return'} of {pid}: no points to take back"
        planner.post(Posting(member_id, EntryKind.RETURN, 0, returned.at, now, returned.id, why))
    returned_now = {
        returned_key(member_id, pid, i): Tally(0, q - before.get(i, Decimal(0))) for i, q in after.items()
    }
    bookkeeping = {
        taken_key(member_id, pid): Tally(1, Decimal(take)),
        refunded_key(member_id, pid): Tally(0, Decimal(refund)),
    }
    metric: dict[str, Tally] = {}
    tier = snapshot.tier
    if tier is not None:
        metric = correction(tier.current, tier.member, purchase, take, was, now_is)
    month = spent_key(member_id, month_key(purchase.at.astimezone(program.zone)))
    spent_before = was.total.amount
    spent_after = now_is.total.amount if now_is is not None else Decimal(0)
    habit = {month: Tally(-1 if now_is is None else 0, EXACT.subtract(spent_after, spent_before))}
    planner.add_tallies(merged(corrections, returned_now, bookkeeping, metric, habit))
    tier_state = None
    if tier is not None:
        tier_state = _plan_tier(planner, snapshot, tier, metric)
    referral = referrers = None
    if snapshot.revoked is not None:
        referral, referrers = _plan_revoke(planner, snapshot, snapshot.revoked)
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
        planner.balance(member_id),
        program.returns,
        detail,
    )
    return ReturnPlan(result, planner.plan(), tier_state, referral, referrers)


def _plan_tier(
    planner: Planner, snapshot: ReturnSnapshot, tier: ReturnTier, metric: Mapping[str, Tally]
) -> TierState | None:
    """The metric fell: reviews see it, and a downgrade at once follows it."""
    current, member, now = tier.current, tier.member, snapshot.now
    tiers = current.tiers
    assert tiers is not None
    zone, enrolled = current.zone, member.enrolled_at
    bucket = tiers.bucket(snapshot.purchase.at, zone, enrolled)
    less = sum((metric_value(tiers, delta) for delta in metric.values()), Decimal(0))

    def measure(at: datetime) -> Decimal:
        value = tier.measure(at)
        # Only a measure taken once the return is recorded counts the goods out: a review that
        # fell due before, carried out late by the return (no maintenance run since), sees the
        # window as maintenance run on time saw it, whatever the return's own date.
        if less and now <= at and bucket in tiers.buckets(at, zone, enrolled):
            value = EXACT.add(value, less)
        return value

    start = tier.stored if tier.stored is not None else TierState.initial(member.id, tiers, enrolled)
    # The reviews carried out here fell due before the return was recorded: what one sets aside
    # is the progress as it stood then, as on time (the return then takes its part of progress).
    state, moves = review(start, tiers, now, zone, enrolled, measure, tier.progress)
    if tiers.downgrade is Downgrade.IMMEDIATE:
        state, more = upgrade(state, tiers, measure(now), now, zone, enrolled)
        moves += more
    settled = Settled(state, tier.stored, moves)
    return plan_moves(
        planner, current, member.id, settled, source=snapshot.returned.id, now=now, versions=snapshot.versions
    )


def _plan_revoke(
    planner: Planner, snapshot: ReturnSnapshot, revoked: Revoked
) -> tuple[Referral, ReferrerTakeBack | None]:
    """The referee's qualifying purchase came back: both bonuses go, under the program's clawback
    (the referee's here, the referrer's in its own part, returned)."""
    program, returned, now, referral = snapshot.program, snapshot.returned, snapshot.now, revoked.referral
    order = in_force(snapshot.versions, returned.at, default_first=True).expiry.draw
    take = ReferrerTakeBack(
        referral.referrer,
        referral.referee,
        str(referral.purchase_id),
        returned.id,
        referral.referrer_points,
        referral.referee_points,
        returned.at,
        program.clawback,
        order,
        program.expiry.rolls,
        referral.referrer_lot,
        referral.referrer_rewarded,
    )
    if referral.referee_points:
        take_bonus(planner, referral.referee, referral.referee_points, referral.referee_lot, take, now)
    if revoked.cap_period is not None:
        planner.add_tallies({cap_key(revoked.cap_period, referral.referrer): Tally(-1)})
    reason = f"the qualifying purchase {referral.purchase_id} was returned: bonuses taken back"
    rejected = attrs.evolve(
        referral, state=ReferralState.REJECTED, reason=reason, decided_at=now.astimezone(UTC)
    )
    # A referrer left out of the reward has nothing to give back and never heard of it.
    return rejected, take if take.points or take.told else None
