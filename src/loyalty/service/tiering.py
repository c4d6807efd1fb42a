"""Tiers: where a member stands, the moves a purchase or a review makes, assigned floors.

The program version in force now decides every member's tier; the metric is
kept in tallies per bucket of the tier window (:func:`loyalty.tiers.metric_key`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from loyalty import codec
from loyalty.checks import check_aware, check_id, check_text
from loyalty.earning import Evaluation, Event, evaluate, evaluate_event
from loyalty.errors import InvalidInput, UnknownMember, UnknownTier
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.members import Member
from loyalty.money import EXACT
from loyalty.outbox import EventKind, NewEvent
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.service import locks, postings
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import Tally, UnitOfWork
from loyalty.tiers import (
    TIER_ATTRIBUTE,
    Downgrade,
    Metric,
    TierChange,
    Tiers,
    TierState,
    TierStatus,
    Upgrade,
    assign,
    metric_key,
    review,
    upgrade,
)
from loyalty.versions import in_force

__all__ = [
    "Decision",
    "Settled",
    "as_tier",
    "assign_tier",
    "correction",
    "decide",
    "evaluation",
    "measure",
    "review_due",
    "settled",
    "status",
    "tiered_now",
    "write",
]


def _merged(*parts: Mapping[str, Tally]) -> dict[str, Tally]:
    total: dict[str, Tally] = {}
    for part in parts:
        for name, delta in part.items():
            total[name] = total[name] + delta if name in total else delta
    return total


def as_tier(member: Member, tier: str) -> Member:
    """``member`` as rules see it under a tiered program: with its tier as the ``tier`` attribute."""
    return attrs.evolve(member, attributes={**member.attributes, TIER_ATTRIBUTE: tier})


def _contribution(tiers: Tiers, program: Program, subject: Purchase | Event, earned: int) -> Tally:
    """What ``subject``, earning ``earned`` (stored units), adds to the tier metric."""
    if tiers.metric is Metric.POINTS:
        return Tally(0, Decimal(earned).scaleb(-program.scale, context=EXACT))
    if not isinstance(subject, Purchase):
        return Tally()  # an event is neither spend nor a visit
    if tiers.metric is Metric.SPEND:
        return Tally(0, subject.total.amount)
    return Tally(1, Decimal(0))


def _value(tiers: Tiers, tally: Tally) -> Decimal:
    return Decimal(tally.count) if tiers.metric is Metric.VISITS else tally.points


def tiered_now(ctx: Context, uow: UnitOfWork) -> Program | None:
    """The program version in force now, if it has tiers: its tiers decide every member's."""
    current = in_force(ctx.programs.in_uow(uow), ctx.now(), default_first=True)
    return current if current.tiers is not None else None


def measure(uow: UnitOfWork, program: Program, tiers: Tiers, member: Member) -> Callable[[datetime], Decimal]:
    """The member's tier metric over the window at a given instant, read from its tallies."""

    def at(when: datetime) -> Decimal:
        buckets = tiers.buckets(when, program.zone, member.enrolled_at)
        total = Decimal(0)
        for tally in uow.tallies([metric_key(tiers.metric, member.id, b) for b in buckets]).values():
            total = EXACT.add(total, _value(tiers, tally))
        return total

    return at


@attrs.frozen
class Settled:
    """A member's tier state with every review due carried out, as stored, and the moves made."""

    state: TierState
    stored: TierState | None
    moves: list[TierChange]


def settled(uow: UnitOfWork, program: Program, tiers: Tiers, member: Member, now: datetime) -> Settled:
    """The member's tier state with every review due by ``now`` carried out (nothing written)."""
    stored = uow.tier_state(member.id)
    state = stored if stored is not None else TierState.initial(member.id, tiers, member.enrolled_at)
    state, moves = review(
        state, tiers, now, program.zone, member.enrolled_at, measure(uow, program, tiers, member)
    )
    return Settled(state, stored, moves)


def write(
    ctx: Context,
    uow: UnitOfWork,
    program: Program,
    member_id: str,
    tier: Settled,
    source: str,
    now: datetime,
    actor: str | None = None,
) -> list[Entry]:
    """Write each move as a zero-point ``tier`` entry, each entry bonus due as a credit, and the state."""
    tiers = program.tiers
    assert tiers is not None
    written: list[Entry] = []
    for move in tier.moves:
        old, new = tiers.tier(move.old), tiers.tier(move.new)
        what = f"tier {old.label} -> {new.label}" if move.old != move.new else f"tier {new.label}"
        posting = Posting(
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
        written.append(uow.append(posting))
        if move.moved:
            data = {"old": move.old, "new": move.new, "earned": move.earned, "reason": move.reason}
            uow.add_event(NewEvent(EventKind.TIER_CHANGED, member_id, move.at, now, source, data))
        for tier_id in move.bonuses:
            level = tiers.tier(tier_id)
            if not level.bonus:
                continue
            units = level.bonus * 10**program.scale
            locks.check_range(written[-1].balance_after + units)
            _, expires = ctx.programs.dates(program, move.at, pending=False, now=now)
            bonus = Posting(
                member_id,
                EntryKind.EARN,
                units,
                move.at,
                now,
                source,
                f"entry bonus for reaching {level.label}",
                rules=(f"{level.rule_id}:bonus",),
                program_version=program.version,
                expires_at=expires,
            )
            credited = postings.credit(uow, bonus, program)
            written += dict.fromkeys((credited.entry, credited.last))
    # A member still where it started (no row, no move) needs no row.
    state, stored = tier.state, tier.stored
    untouched = stored is None and state == TierState.initial(member_id, tiers, state.since)
    if state != stored and not untouched:
        uow.put_tier_state(state)
    return written


def review_due(
    ctx: Context, uow: UnitOfWork, program: Program, member_id: str, at: datetime
) -> tuple[int, int]:
    """Carry out the member's tier reviews due by ``at`` (its balance is locked): (1 if any were
    due, the moves of the tier in force they made)."""
    stored = uow.tier_state(member_id)
    if stored is None or stored.due_at is None or stored.due_at > at:
        return 0, 0
    member = uow.member(member_id)
    assert member is not None  # it has a balance
    now = ctx.now()
    tiers = program.tiers
    if tiers is None:
        # The program in force has no tiers any more: nothing to review, ever.
        uow.put_tier_state(attrs.evolve(stored, due_at=None))
        return 1, 0
    state, moves = review(
        stored, tiers, at, program.zone, member.enrolled_at, measure(uow, program, tiers, member)
    )
    source = f"tier-review:{member_id}:{stored.due_at.isoformat()}"
    write(ctx, uow, program, member_id, Settled(state, stored, moves), source, now)
    return 1, sum(move.moved for move in moves)


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
class Decision:
    """What a purchase under a tiered program earns, and the tier moves it causes."""

    #: The evaluation at the tier the purchase earns at, and its receipt with the tier figures.
    evaluation: Evaluation
    receipt: Receipt
    #: The evaluation's tally changes and what the purchase adds to the metric.
    deltas: Mapping[str, Tally]
    #: The member as the rules saw it (with its tier).
    member: Member
    #: The tier state after the purchase and the moves that lead there.
    state: TierState
    moves: list[TierChange]


def decide(
    uow: UnitOfWork,
    program: Program,
    current: Program,
    subject: Purchase | Event,
    member: Member,
    read: Mapping[str, Tally],
    balance: int,
    state: TierState,
    now: datetime,
) -> Decision:
    """Evaluate ``subject`` at the member's tier and decide the moves it causes. Writes nothing.

    ``program`` is the version the purchase earns under; ``current`` the one
    in force now, whose tiers decide. ``read`` holds the tallies the evaluation
    needs, read for the member at its tier (:func:`as_tier`). The metric is judged in the window
    of the purchase's own time (a downgrade at once: the window of now, which
    a late purchase from an earlier one does not change); reviews that fell
    between a late purchase's time and now are carried out again with it counted.
    """
    tiers = current.tiers
    assert tiers is not None
    zone, enrolled = current.zone, member.enrolled_at
    metric = measure(uow, current, tiers, member)
    bucket = tiers.bucket(subject.at, zone, enrolled)
    # The windows the purchase can lift: its own time's (not under a downgrade at once,
    # which follows the window of now alone) and now's, if it counts there too.
    windows = [now] if tiers.downgrade is Downgrade.IMMEDIATE else [subject.at, now]
    windows = [at for at in windows if bucket in tiers.buckets(at, zone, enrolled)] or [now]
    if len(windows) == 2 and tiers.buckets(windows[0], zone, enrolled) == tiers.buckets(now, zone, enrolled):
        windows = windows[:1]  # a till online: the purchase's window is now's, read once
    bases = [(at, metric(at)) for at in windows]
    counts = bucket in tiers.buckets(windows[0], zone, enrolled)
    earned_at = state.tier
    seen = as_tier(member, earned_at)
    outcome = evaluation(program, subject, seen, read, balance)
    after, moves = state, list[TierChange]()
    gained = Tally()
    # With this_purchase the purchase is rated again at each tier it reaches, until it stays.
    for _ in range(len(tiers.levels)):
        gained = _contribution(tiers, program, subject, outcome.receipt.points)
        # The window where it reaches furthest decides (the first on a tie: its own time's).
        when, value = max(
            ((at, EXACT.add(base, _value(tiers, gained)) if counts else base) for at, base in bases),
            key=lambda pair: tiers.level_for(pair[1]),
        )
        after, moves = upgrade(state, tiers, value, when, zone, enrolled)
        if tiers.upgrade is not Upgrade.THIS_PURCHASE or after.tier == earned_at:
            break
        earned_at = after.tier
        seen = as_tier(member, earned_at)
        outcome = evaluation(program, subject, seen, read, balance)

    def with_purchase(at: datetime) -> Decimal:
        counted = metric(at)
        if bucket in tiers.buckets(at, zone, enrolled):
            counted = EXACT.add(counted, _value(tiers, gained))
        return counted

    after, later = review(after, tiers, now, zone, enrolled, with_purchase)
    moves += later
    if (after.tier, after.earned) == (state.tier, state.earned):
        # Up and down again (a late purchase in a window a later review judged): only
        # first-time bonuses are left to record.
        moves = [attrs.evolve(move, old=state.tier, new=state.tier) for move in moves if move.bonuses]
    deltas: Mapping[str, Tally] = outcome.tallies
    if gained.count or gained.points:
        deltas = _merged(deltas, {metric_key(tiers.metric, member.id, bucket): gained})
    bonus = sum(tiers.tier(tier).bonus for move in moves for tier in move.bonuses) * 10**current.scale
    up = tiers.position(after.tier) > tiers.position(state.tier)
    receipt = attrs.evolve(
        outcome.receipt, tier=earned_at, tier_reached=after.tier if up else None, tier_bonus=bonus
    )
    return Decision(outcome, receipt, deltas, seen, after, moves)


def correction(
    current: Program,
    program: Program,
    member: Member,
    purchase: Purchase,
    take: int,
    was: Purchase | None,
    now_is: Purchase | None,
) -> dict[str, Tally]:
    """What a return takes off the tier metric (of ``current``'s tiers), in the stretch its
    purchase counted in; ``take`` is in the units of ``program``, its version."""
    tiers = current.tiers
    assert tiers is not None
    if tiers.metric is Metric.POINTS:
        delta = Tally(0, -Decimal(take).scaleb(-program.scale, context=EXACT))
    elif tiers.metric is Metric.SPEND:
        before = was.total.amount if was is not None else Decimal(0)
        after = now_is.total.amount if now_is is not None else Decimal(0)
        delta = Tally(0, EXACT.subtract(after, before))
    else:
        delta = Tally(-1 if now_is is None else 0, Decimal(0))  # a void gives the visit back
    if not (delta.count or delta.points):
        return {}
    bucket = tiers.bucket(purchase.at, current.zone, member.enrolled_at)
    return {metric_key(tiers.metric, member.id, bucket): delta}


def status(ctx: Context, member_id: str) -> TierStatus:
    """Where the member stands in the program's tiers now (see :meth:`loyalty.Engine.tier`)."""
    check_id("member_id", member_id)
    now = ctx.now()
    with ctx.runner.reading() as uow:
        member = uow.member(member_id)
        if member is None:
            raise UnknownMember("member_id", f"no member {member_id!r}")
        program = in_force(ctx.programs.in_uow(uow), now, default_first=True)
        tiers = program.tiers
        if tiers is None:
            raise UnknownTier("tiers", f"program {program.name!r} (version {program.version}) has no tiers")
        state = settled(uow, program, tiers, member, now).state
        metric = measure(uow, program, tiers, member)
        value = metric(now)
        earned = tiers.tier(state.earned)
        review_at = state.review_at if tiers.position(state.earned) > 0 else None
        to_keep = None
        if review_at is not None:
            to_keep = max(Decimal(0), EXACT.subtract(earned.threshold, metric(tiers.measured_at(review_at))))
    position = tiers.position(state.tier)
    following = tiers.levels[position + 1] if position + 1 < len(tiers.levels) else None
    floor = state.floor if state.floor_until is not None and now < state.floor_until else None
    return TierStatus(
        member_id,
        tiers.tier(state.tier),
        state.since,
        tiers.metric,
        value,
        following,
        None if following is None else max(Decimal(0), EXACT.subtract(following.threshold, value)),
        review_at,
        to_keep,
        earned,
        None if floor is None else tiers.tier(floor),
        None if floor is None else state.floor_until,
    )


def assign_tier(
    ctx: Context,
    member_id: str,
    tier: str,
    *,
    until: datetime,
    id: str,
    at: datetime,
    reason: str,
    actor: str,
) -> TierState:
    """Give the member ``tier`` as a floor until ``until`` (see :meth:`loyalty.Engine.assign_tier`)."""
    check_id("member_id", member_id)
    check_id("tier", tier)
    check_id("id", id)
    check_aware("at", at)
    check_aware("until", until)
    check_id("actor", actor)
    check_text("reason", reason)
    if not reason.strip():
        raise InvalidInput("reason", "an assignment must say why")
    if until <= at:
        raise InvalidInput("until", f"must be after at ({at.isoformat()}), got {until.isoformat()}")
    request = {
        "member_id": member_id,
        "tier": tier,
        "until": until.isoformat(),
        "at": at.isoformat(),
        "reason": reason,
        "actor": actor,
    }
    assignment = Command(id, "tier_assign", request)

    def command(uow: UnitOfWork) -> TierState:
        replay = assignment.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, TierState)
        locks.lock(uow, member_id)
        member = uow.member(member_id)
        assert member is not None  # it has a balance
        now = ctx.now()
        program = in_force(ctx.programs.in_uow(uow), now, default_first=True)
        tiers = program.tiers
        if tiers is None:
            raise UnknownTier("tier", f"program {program.name!r} (version {program.version}) has no tiers")
        if tier not in {level.id for level in tiers.levels}:
            known = ", ".join(level.id for level in tiers.levels)
            raise UnknownTier("tier", f"no tier {tier!r} in the program (its tiers: {known})")
        if until <= now:
            raise InvalidInput("until", f"must be after now ({now.isoformat()}), got {until.isoformat()}")
        current = settled(uow, program, tiers, member, now)
        why = f"assigned by {actor} until {until.isoformat()}: {reason}"
        state, more = assign(current.state, tiers, program.zone, tier, until, at, why)
        write(
            ctx, uow, program, member_id, Settled(state, current.stored, current.moves + more), id, now, actor
        )
        assignment.remember(uow, codec.unstructure(state), now)
        uow.commit()
        return state

    return ctx.runner.run(command)
