"""Recording a purchase or an event: from what was read under the member's lock to the plan of
what it writes.

:func:`plan_earning` is the whole decision. It takes a :class:`Snapshot`
(the subject, the program versions, the member's :class:`~loyalty.plans.Account`,
the tallies the rules need, the tier state and the pending referral) and
returns an :class:`EarningPlan`: the receipt, the ledger postings in order
(tier moves that fell due, the earn entry, a collection, tier moves and
bonuses, the referee's referral bonus), the tally changes, the events, the tier
state and referral to record, and the referrer's bonus, which its own part writes
(:mod:`loyalty.referral_bonuses`). The service layer applies it in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from loyalty.earning import Event
from loyalty.habits import month_key, purchase_changes, seen_key
from loyalty.ledger import Posting, shares_of
from loyalty.members import Member, MemberStatus
from loyalty.money import EXACT
from loyalty.plans import Account, Plan, Planner
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt, breakdown_rows
from loyalty.referral_bonuses import ReferrerBonus, bonus_posting
from loyalty.referrals import (
    Referral,
    ReferralState,
    cap_key,
    first_purchase_verdict,
    referrer_left_out,
    shares,
)
from loyalty.tallies import Tally
from loyalty.tier_decisions import Settled, decide, evaluation, plan_moves
from loyalty.tiers import TierState
from loyalty.versions import lot_dates

__all__ = ["EarningPlan", "ReferralSnapshot", "Snapshot", "TierSnapshot", "plan_earning"]

_NO_TALLY = Tally()


@attrs.frozen
class TierSnapshot:
    """A tiered program's part of the snapshot: the version in force now (its tiers decide),
    the member's state with the reviews due carried out, and the metric over a window and in
    one bucket of it (once those reviews are written)."""

    current: Program
    settled: Settled
    measure: Callable[[datetime], Decimal]
    progress: Callable[[str], Decimal]


@attrs.frozen
class ReferralSnapshot:
    """A referee's first purchase: its pending referral, the referee, the referrer (when the
    program's identity attribute needs it), the referrer's rewarded referrals in the cap's period
    (0 without a cap, read under the cap's lock), and the referrer's status (one that may not
    earn gets no bonus). The referrer is read, not locked: its bonus is its own part
    (:mod:`loyalty.referral_bonuses`)."""

    referral: Referral
    referee: Member
    referrer_member: Member | None
    rewarded: int
    referrer_status: MemberStatus | None = MemberStatus.ACTIVE


@attrs.frozen
class Snapshot:
    """What recording ``subject`` reads under the member's lock."""

    subject: Purchase | Event
    #: The version in force at the subject's time, and every version the engine knows, its own
    #: and those other engines stored (for lots a later version re-dates).
    program: Program
    versions: tuple[Program, ...]
    now: datetime
    account: Account
    #: The member, when rules, tiers or referrals need it.
    member: Member | None
    #: The tallies the evaluation reads (visits, caps, budgets, what is owed, habits).
    read: Mapping[str, Tally]
    reason: str
    tier: TierSnapshot | None = None
    referral: ReferralSnapshot | None = None
    #: A purchase's month in the program's zone (``2024-03``: its spend tally), as the reads
    #: worked it out; ``None`` to work it out again.
    month: str | None = None


@attrs.frozen
class EarningPlan:
    """What recording a purchase or event writes."""

    receipt: Receipt
    plan: Plan
    #: The index in ``plan.postings`` of the earn entry (its lot), if it earned.
    lot: int | None
    #: The member as the rules saw it (kept with the purchase, for returns).
    member: Member | None
    tier_state: TierState | None = None
    referral: Referral | None = None
    #: The index of the referee's bonus credit (its lot).
    referee_lot: int | None = None
    #: What the referrer's part writes (:mod:`loyalty.referral_bonuses`), when it was rewarded.
    bonus: ReferrerBonus | None = None


def plan_earning(snapshot: Snapshot) -> EarningPlan:
    """Decide everything recording the snapshot's subject writes (see the module's docs)."""
    subject, program, now = snapshot.subject, snapshot.program, snapshot.now
    member_id = subject.member_id
    planner = Planner([snapshot.account], rolling=program.expiry.rolls)
    member = snapshot.member
    tier_state: TierState | None = None
    final: Settled | None = None
    if snapshot.tier is not None and member is not None:
        current, before = snapshot.tier.current, snapshot.tier.settled
        stored = before.stored
        if before.moves:
            # Reviews that fell due before the purchase, as maintenance would have carried them out.
            tier_state = plan_moves(
                planner, current, member_id, before, source=subject.id, now=now, versions=snapshot.versions
            )
            stored = before.state
        decision = decide(
            program,
            current,
            subject,
            member,
            read=snapshot.read,
            balance=planner.balance(member_id),
            state=before.state,
            now=now,
            measure=snapshot.tier.measure,
            progress=snapshot.tier.progress,
        )
        receipt, deltas, member = decision.receipt, decision.deltas, decision.member
        final = Settled(decision.state, stored, decision.moves)
    else:
        outcome = evaluation(program, subject, member, snapshot.read, planner.balance(member_id))
        receipt, deltas = outcome.receipt, outcome.tallies
    lot = None
    if receipt.points:
        vests, expires = lot_dates(
            snapshot.versions, program, receipt.occurred_at, pending=isinstance(subject, Purchase), now=now
        )
        rules = receipt.rules  # (worked out from the rows on each read)
        posting = Posting.earned(
            member_id,
            receipt.points,
            receipt.occurred_at,
            now,
            subject.id,
            snapshot.reason,
            rules,
            receipt.program_version,
            vests,
            expires,
            _shares(receipt, rules),
        )
        lot = planner.credit(posting)
    planner.add_tallies(deltas)
    if isinstance(subject, Purchase):
        amount = receipt.amount.amount if receipt.amount is not None else Decimal(0)
        month = snapshot.month or month_key(receipt.occurred_at.astimezone(program.zone))
        seen = snapshot.read.get(seen_key(member_id), _NO_TALLY)
        planner.add_tallies(purchase_changes(member_id, receipt.occurred_at, amount, month, seen))
    if final is not None:
        assert snapshot.tier is not None
        moved = plan_moves(
            planner,
            snapshot.tier.current,
            member_id,
            final,
            source=subject.id,
            now=now,
            versions=snapshot.versions,
        )
        tier_state = moved if moved is not None else tier_state
    referral: Referral | None = None
    referee_lot: int | None = None
    bonus: ReferrerBonus | None = None
    if snapshot.referral is not None and isinstance(subject, Purchase) and program.referrals is not None:
        referral, referee_lot, bonus = _plan_reward(
            planner, snapshot, snapshot.referral, subject, receipt.points
        )
    # The member's balance once everything is written (after a collection, a tier bonus, its own
    # referral bonus).
    if receipt.balance_after != planner.balance(member_id):
        receipt = attrs.evolve(receipt, balance_after=planner.balance(member_id))
    return EarningPlan(receipt, planner.plan(), lot, member, tier_state, referral, referee_lot, bonus)


def _shares(receipt: Receipt, rules: tuple[str, ...]) -> tuple[int, ...]:
    """Each rule's whole points of the receipt's, if more than one rule (of its ``rules``) gave
    them (the figures by rule)."""
    if len(rules) < 2:
        return ()
    exact = dict.fromkeys(rules, Decimal(0))
    for row in breakdown_rows(receipt):
        exact[row[0]] = EXACT.add(exact[row[0]], row[2])
    return shares_of(list(exact.values()), receipt.points)


def _plan_reward(
    planner: Planner, snapshot: Snapshot, found: ReferralSnapshot, purchase: Purchase, earned: int
) -> tuple[Referral, int | None, ReferrerBonus | None]:
    """A referee's first purchase, which earned ``earned``: rewards both members (the referee's
    bonus planned here, the referrer's returned for its own part), or rejects the referral with
    why."""
    program, now, referral = snapshot.program, snapshot.now, found.referral
    terms = program.referrals
    assert terms is not None
    reject = first_purchase_verdict(
        terms,
        found.referee,
        found.referrer_member,
        purchase.total.amount,
        purchase.at,
        program.zone,
        found.rewarded,
    )
    units = shares(terms, earned)
    left_out = referrer_left_out(found.referrer_status)
    if left_out is not None:
        units["referrer"] = 0
    if reject is None and not any(units.values()):
        reject = left_out or "the first purchase earned no points to share"
    decided_at = now.astimezone(UTC)
    if reject is not None:
        rejected = attrs.evolve(
            referral,
            state=ReferralState.REJECTED,
            reason=reject,
            purchase_id=purchase.id,
            decided_at=decided_at,
        )
        return rejected, None, None
    vests = program.lot_dates(purchase.at, pending=True)[0] if terms.pending else None
    expires = lot_dates(snapshot.versions, program, purchase.at, pending=False, now=now)[1]
    bonus = ReferrerBonus(
        referral.referrer,
        purchase.member_id,
        purchase.id,
        units["referrer"],
        units["referee"],
        purchase.at,
        program.version,
        vests,
        expires,
        program.expiry.rolls,
    )
    referee_lot = planner.credit(bonus_posting(bonus, "referee", now)) if units["referee"] else None
    rewarded = attrs.evolve(
        referral,
        state=ReferralState.QUALIFIED if vests is not None else ReferralState.REWARDED,
        purchase_id=purchase.id,
        referee_points=units["referee"],
        referrer_points=units["referrer"],
        vests_at=vests,
        decided_at=decided_at,
        reason=left_out,
    )
    if left_out is not None:
        # The referrer was not rewarded: its cap keeps the place and it hears nothing.
        return rewarded, referee_lot, None
    if terms.cap is not None and terms.cap_period is not None:
        period = terms.cap_period.key(purchase.at.astimezone(program.zone))
        planner.add_tallies({cap_key(period, referral.referrer): Tally(1, Decimal(0))})
    return rewarded, referee_lot, bonus
