"""Tier decisions: what a purchase does to a member's tier, and the ledger moves that records.

The metric is read through ``measure(at)``, the metric over the window at
an instant (as :func:`loyalty.tier_moves.review` takes it); everything else is
decided from values. :func:`decide` rates a purchase at the member's tier
and works out the moves it causes; :func:`plan_moves` turns moves into
zero-point ``tier`` entries, ``tier_changed`` events and entry bonuses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal

import attrs

from loyalty.earning import Evaluation, Event, evaluate, evaluate_event
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.money import EXACT
from loyalty.outbox import EventKind, NewEvent
from loyalty.plans import Planner
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.tallies import Tally, merged
from loyalty.tier_moves import TierChange, review, upgrade
from loyalty.tiers import TIER_ATTRIBUTE, Downgrade, Metric, Tiers, TierState, Upgrade, metric_key
from loyalty.versions import lot_dates

__all__ = [
    "Decision",
    "Settled",
    "as_tier",
    "contribution",
    "correction",
    "decide",
    "evaluation",
    "metric_value",
    "plan_moves",
]

Measure = Callable[[datetime], Decimal]
Progress = Callable[[str], Decimal]


def as_tier(member: Member, tier: str) -> Member:
    """``member`` as rules see it under a tiered program: with its tier as the ``tier`` attribute."""
    return attrs.evolve(member, attributes={**member.attributes, TIER_ATTRIBUTE: tier})


def contribution(tiers: Tiers, subject: Purchase | Event, earned: int) -> Tally:
    """What ``subject``, earning ``earned`` points, adds to the metric."""
    if tiers.metric in (Metric.POINTS, Metric.BALANCE):
        return Tally(0, Decimal(earned))
    if not isinstance(subject, Purchase):
        return Tally()  # an event is neither spend nor a visit
    if tiers.metric is Metric.SPEND:
        return Tally(0, subject.total.amount)
    return Tally(1)


def _less(tiers: Tiers, value: Decimal) -> Tally:
    """The tally change that takes ``value`` off a metric tally (a count for visits)."""
    return Tally(-int(value)) if tiers.metric is Metric.VISITS else -Tally(0, value)


def metric_value(tiers: Tiers, tally: Tally) -> Decimal:
    """A metric tally's value: its count for visits, its points otherwise."""
    return Decimal(tally.count) if tiers.metric is Metric.VISITS else tally.points


def evaluation(
    program: Program,
    subject: Purchase | Event,
    member: Member | None,
    tallies: Mapping[str, Tally],
    balance: int,
) -> Evaluation:
    """Evaluate a purchase or an event for ``member`` with the tallies read and the balance before it."""
    if isinstance(subject, Purchase):
        return evaluate(program, subject, member=member, tallies=tallies, balance_before=balance)
    return evaluate_event(program, subject, member=member, tallies=tallies, balance_before=balance)


@attrs.frozen
class Settled:
    """A member's tier state, as stored, and the moves that lead from the one to the other."""

    state: TierState
    stored: TierState | None
    moves: list[TierChange]


@attrs.frozen
class Decision:
    """What a purchase under a tiered program earns, and the tier moves it causes."""

    #: The receipt at the tier the purchase earns at, with the tier figures.
    receipt: Receipt
    #: The evaluation's tally changes and what the purchase adds to the metric.
    deltas: Mapping[str, Tally]
    #: The member as the rules saw it (with its tier).
    member: Member
    #: The tier state after the purchase and the moves that lead there.
    state: TierState
    moves: list[TierChange]


def decide(
    program: Program,
    current: Program,
    subject: Purchase | Event,
    member: Member,
    *,
    read: Mapping[str, Tally],
    balance: int,
    state: TierState,
    now: datetime,
    measure: Measure,
    progress: Progress,
) -> Decision:
    """Evaluate ``subject`` at the member's tier and decide the moves it causes.

    ``program`` is the version the purchase earns under; ``current`` the one
    in force now, whose tiers decide; ``measure`` and ``progress`` read the metric
    over the window at an instant and in one bucket of it. ``read`` holds the tallies the
    evaluation needs, read for the member at its tier (:func:`as_tier`). The
    metric is judged in the window of the purchase's own time (a downgrade at
    once: the window of now, which a late purchase from an earlier one does
    not change); reviews that fell between a late purchase's time and now are
    carried out again with it counted.
    """
    tiers = current.tiers
    assert tiers is not None
    zone, enrolled = current.zone, member.enrolled_at
    bucket = tiers.bucket(subject.at, zone, enrolled)
    # The windows the purchase can lift: its own time's (not under a downgrade at once,
    # which follows the window of now alone) and now's, if it counts there too.
    windows = [now] if tiers.downgrade is Downgrade.IMMEDIATE else [subject.at, now]
    windows = [at for at in windows if bucket in tiers.buckets(at, zone, enrolled)] or [now]
    if len(windows) == 2 and tiers.buckets(windows[0], zone, enrolled) == tiers.buckets(now, zone, enrolled):
        windows = windows[:1]  # a till online: the purchase's window is now's, read once
    bases = [(at, measure(at)) for at in windows]
    counts = bucket in tiers.buckets(windows[0], zone, enrolled)
    earned_at = state.tier
    seen = as_tier(member, earned_at)

    def rated(seen: Member) -> tuple[Evaluation, Tally, TierState, list[TierChange]]:
        """The purchase rated for ``seen``, what that adds to the metric, and where it takes the tier."""
        outcome = evaluation(program, subject, seen, read, balance)
        gained = contribution(tiers, subject, outcome.receipt.points)
        # The window where it reaches furthest decides (the first on a tie: its own time's).
        when, value = max(
            ((at, EXACT.add(base, metric_value(tiers, gained)) if counts else base) for at, base in bases),
            key=lambda pair: tiers.level_for(pair[1]),
        )
        return (outcome, gained, *upgrade(state, tiers, value, when, zone, enrolled))

    outcome, gained, after, moves = rated(seen)
    # With this_purchase the purchase is rated again at each tier it reaches, until it stays.
    # A rate that turns it back (a higher tier with a lower multiplier, whose rate would not
    # reach it) is not taken: the purchase keeps the rate that reached the tier, so its points,
    # what the metric counts and the tier always come from one rating.
    for _ in range(len(tiers.levels)):
        if tiers.upgrade is not Upgrade.THIS_PURCHASE or after.tier == earned_at:
            break
        again = rated(as_tier(member, after.tier))
        # Every pass so far went up (an upgrade never lowers the tier): a pass that would go
        # down is the turn back.
        if tiers.position(again[2].tier) < tiers.position(after.tier):
            break
        earned_at, seen = after.tier, as_tier(member, after.tier)
        outcome, gained, after, moves = again

    def with_purchase(at: datetime) -> Decimal:
        counted = measure(at)
        if bucket in tiers.buckets(at, zone, enrolled):
            counted = EXACT.add(counted, metric_value(tiers, gained))
        return counted

    def progress_with_purchase(counted_in: str) -> Decimal:
        counted = progress(counted_in)
        if counted_in == bucket:
            counted = EXACT.add(counted, metric_value(tiers, gained))
        return counted

    after, later = review(after, tiers, now, zone, enrolled, with_purchase, progress_with_purchase)
    moves += later
    if tiers.metric is Metric.BALANCE:
        after, more = _bonus_chain(tiers, after, moves, with_purchase(now), now, zone, enrolled)
        moves += more
    if (after.tier, after.earned) == (state.tier, state.earned):
        # Up and down again (a late purchase in a window a later review judged): only
        # first-time bonuses are left to record.
        moves = [attrs.evolve(move, old=state.tier, new=state.tier) for move in moves if move.bonuses]
    deltas: Mapping[str, Tally] = outcome.tallies
    # (A balance is the ledger's, not a tally: the purchase's entries move it.)
    if (gained.count or gained.points) and tiers.metric is not Metric.BALANCE:
        deltas = merged(deltas, {metric_key(tiers.metric, member.id, bucket): gained})
    bonus = sum(tiers.tier(tier).bonus for move in moves for tier in move.bonuses)
    up = tiers.position(after.tier) > tiers.position(state.tier)
    receipt = attrs.evolve(
        outcome.receipt, tier=earned_at, tier_reached=after.tier if up else None, tier_bonus=bonus
    )
    return Decision(receipt, deltas, seen, after, moves)


def _bonus_chain(
    tiers: Tiers,
    state: TierState,
    moves: list[TierChange],
    balance: Decimal,
    now: datetime,
    zone: tzinfo,
    enrolled: datetime,
) -> tuple[TierState, list[TierChange]]:
    """Under a balance metric, the moves the entry bonuses of ``moves`` make in turn (a bonus
    raises the balance, which may reach a further tier, whose bonus raises it again)."""
    more: list[TierChange] = []
    for _ in range(len(tiers.levels)):
        paid = sum(tiers.tier(tier).bonus for move in [*moves, *more] for tier in move.bonuses)
        state, next_moves = upgrade(state, tiers, EXACT.add(balance, Decimal(paid)), now, zone, enrolled)
        if not next_moves:
            break
        more += next_moves
    return state, more


def plan_moves(
    planner: Planner,
    program: Program,
    member_id: str,
    settled: Settled,
    *,
    source: str,
    now: datetime,
    versions: tuple[Program, ...],
    actor: str | None = None,
) -> TierState | None:
    """Plan each move as a zero-point ``tier`` entry (and a ``tier_changed`` event when the tier
    in force moved) and each entry bonus due as a credit. Returns the state to record, or
    ``None`` when there is nothing to record (unchanged, or a member still where it started)."""
    tiers = program.tiers
    assert tiers is not None
    for move in settled.moves:
        old, new = tiers.tier(move.old), tiers.tier(move.new)
        what = f"tier {old.label} -> {new.label}" if move.old != move.new else f"tier {new.label}"
        planner.post(
            Posting(
                member_id,
                EntryKind.TIER,
                0,
                move.at,
                now,
                source,
                f"{what}: {move.reason}",
                actor,
                program_version=program.version,
            )
        )
        if move.reset:
            planner.add_tallies(
                {
                    metric_key(tiers.metric, member_id, bucket): _less(tiers, held)
                    for bucket, held in move.reset
                }
            )
        if move.moved:
            data = {"old": move.old, "new": move.new, "earned": move.earned, "reason": move.reason}
            planner.event(NewEvent(EventKind.TIER_CHANGED, member_id, move.at, now, source, data))
        for tier_id in move.bonuses:
            level = tiers.tier(tier_id)
            if not level.bonus:
                continue
            _, expires = lot_dates(versions, program, move.at, pending=False, now=now)
            bonus = Posting(
                member_id,
                EntryKind.EARN,
                level.bonus,
                move.at,
                now,
                source,
                f"entry bonus for reaching {level.label}",
                rules=(level.bonus_rule_id,),
                program_version=program.version,
                expires_at=expires,
            )
            planner.credit(bonus, rolling=program.expiry.rolls)
    state, stored = settled.state, settled.stored
    # A member still where it started (no row, no move) needs no row.
    untouched = stored is None and state == TierState.initial(member_id, tiers, state.since)
    return None if state == stored or untouched else state


def correction(
    current: Program,
    member: Member,
    purchase: Purchase,
    take: int,
    was: Purchase | None,
    now_is: Purchase | None,
) -> dict[str, Tally]:
    """What a return takes off the tier metric (of ``current``'s tiers), in the stretch its
    purchase counted in; ``take`` is the points it takes back (under the purchase's version)."""
    tiers = current.tiers
    assert tiers is not None
    if tiers.metric is Metric.BALANCE:
        return {}  # the return's own entries lower the balance
    if tiers.metric is Metric.POINTS:
        delta = Tally(0, -Decimal(take))
    elif tiers.metric is Metric.SPEND:
        before = was.total.amount if was is not None else Decimal(0)
        after = now_is.total.amount if now_is is not None else Decimal(0)
        delta = Tally(0, EXACT.subtract(after, before))
    else:
        delta = Tally(-1 if now_is is None else 0)  # a void gives the visit back
    if not (delta.count or delta.points):
        return {}
    bucket = tiers.bucket(purchase.at, current.zone, member.enrolled_at)
    return {metric_key(tiers.metric, member.id, bucket): delta}
