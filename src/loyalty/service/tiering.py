"""Tiers: where a member stands, the moves a purchase or a review makes, assigned floors.

The program version in force now decides every member's tier; the metric is
kept in tallies per bucket of the tier window (:func:`loyalty.tiers.metric_key`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

import attrs

from loyalty import codec
from loyalty.checks import check_aware, check_id, check_text
from loyalty.errors import InvalidInput, UnknownTier
from loyalty.ledger import Entry
from loyalty.members import Member, MemberStatus
from loyalty.money import EXACT
from loyalty.plans import Planner
from loyalty.program import Program
from loyalty.service import locks, postings
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import UnitOfWork
from loyalty.tier_decisions import Settled, metric_value, plan_moves
from loyalty.tier_moves import assign, progress_without_resets, review, upgrade, without_resets
from loyalty.tiers import Metric, Tiers, TierState, TierStatus, metric_key
from loyalty.versions import in_force

__all__ = [
    "Followed",
    "assign_tier",
    "follow_balance",
    "measure",
    "measure_settled",
    "progress",
    "progress_settled",
    "review_due",
    "rise",
    "settled",
    "status",
    "tiered_now",
    "write",
]


def tiered_now(ctx: Context, uow: UnitOfWork) -> Program | None:
    """The program version in force now, if it has tiers: its tiers decide every member's."""
    if not ctx.programs.may_tier:
        return None  # no version has tiers: no need to read the clock
    current = in_force(ctx.programs.in_uow(uow), ctx.now(), default_first=True)
    return current if current.tiers is not None else None


def progress(uow: UnitOfWork, tiers: Tiers, member_id: str) -> Callable[[str], Decimal]:
    """The member's tier metric in one bucket of the window, read from its tally."""

    def of(bucket: str) -> Decimal:
        key = metric_key(tiers.metric, member_id, bucket)
        return metric_value(tiers, uow.tallies([key])[key])

    return of


def measure(
    uow: UnitOfWork, program: Program, tiers: Tiers, member: Member, now: datetime
) -> Callable[[datetime], Decimal]:
    """The member's tier metric over the window at a given instant, read from its tallies (a
    balance metric: the balance now, as this unit of work has written it, in points, with the
    holds and points due by ``now`` settled as maintenance would settle them:
    :func:`~loyalty.service.postings.balance_settled`)."""
    if tiers.metric is Metric.BALANCE:
        # What settling would change, read once: a decision reads the balance several times,
        # and its own writes neither end a hold nor make a lot due.
        change: list[int] = []

        def balance(_: datetime) -> Decimal:
            ledger = uow.balance(member.id) or 0
            if not change:
                change.append(postings.balance_settled(uow, member.id, now) - ledger)
            return Decimal(ledger + change[0])

        return balance

    def at(when: datetime) -> Decimal:
        buckets = tiers.buckets(when, program.zone, member.enrolled_at)
        total = Decimal(0)
        for tally in uow.tallies([metric_key(tiers.metric, member.id, b) for b in buckets]).values():
            total = EXACT.add(total, metric_value(tiers, tally))
        return total

    return at


def settled(uow: UnitOfWork, program: Program, tiers: Tiers, member: Member, now: datetime) -> Settled:
    """The member's tier state with every review due by ``now`` carried out (nothing written)."""
    stored = uow.tier_state(member.id)
    state = stored if stored is not None else TierState.initial(member.id, tiers, member.enrolled_at)
    state, moves = review(
        state,
        tiers,
        now,
        program.zone,
        member.enrolled_at,
        measure(uow, program, tiers, member, now),
        progress(uow, tiers, member.id),
    )
    return Settled(state, stored, moves)


def measure_settled(
    uow: UnitOfWork, program: Program, tiers: Tiers, member: Member, tier: Settled, now: datetime
) -> Callable[[datetime], Decimal]:
    """:func:`measure` once ``tier``'s moves are written (less the progress they reset)."""
    return without_resets(
        measure(uow, program, tiers, member, now), tier.moves, tiers, program.zone, member.enrolled_at
    )


def progress_settled(
    uow: UnitOfWork, tiers: Tiers, member_id: str, tier: Settled
) -> Callable[[str], Decimal]:
    """:func:`progress` once ``tier``'s moves are written (less the progress they reset)."""
    return progress_without_resets(progress(uow, tiers, member_id), tier.moves)


def write(
    ctx: Context,
    uow: UnitOfWork,
    program: Program,
    member_id: str,
    tier: Settled,
    *,
    source: str,
    now: datetime,
    actor: str | None = None,
) -> list[Entry]:
    """Write the moves of ``tier`` (entries, events, entry bonuses) and its state (see
    :func:`loyalty.tier_decisions.plan_moves`)."""
    rolls = program.expiry.rolls
    planner = Planner([postings.read_account(uow, member_id, rolls=rolls)], rolling=rolls)
    state = plan_moves(
        planner, program, member_id, tier, source=source, now=now, versions=ctx.programs.known(), actor=actor
    )
    written = postings.apply(uow, planner.plan())
    if state is not None:
        uow.put_tier_state(state)
    return written


@attrs.frozen
class Followed:
    """What following the balance did to one member: the moves of the tier in force, the entry
    bonuses paid, and the tier state after."""

    moved: int
    bonus: int
    state: TierState


def follow_balance(
    ctx: Context,
    uow: UnitOfWork,
    member_ids: Iterable[str],
    *,
    source: str,
    at: datetime,
    program: Program | None = None,
) -> dict[str, Followed]:
    """Under a balance metric, move each member's tier to what its balance now qualifies for
    (after the reviews due by ``at``), writing the moves as ``source``; the members' balances are
    locked and written. ``program`` is the version whose tiers decide (default: the one in force
    now). Other metrics: nothing to do (they move with the activity that counts)."""
    if program is None and not ctx.programs.may_follow_balance:
        return {}  # no version follows balances: no need to ask which is in force
    current = program if program is not None else tiered_now(ctx, uow)
    tiers = None if current is None else current.tiers
    if current is None or tiers is None or tiers.metric is not Metric.BALANCE:
        return {}
    now = ctx.now()
    followed = {}
    for member_id in sorted(set(member_ids)):
        member = uow.member(member_id)
        assert member is not None  # it has a balance
        moved = bonus = 0
        # An entry bonus raises the balance again: at most one round per tier.
        for _ in range(len(tiers.levels)):
            tier = settled(uow, current, tiers, member, at)
            value = measure(uow, current, tiers, member, at)(at)
            state, moves = upgrade(tier.state, tiers, value, at, current.zone, member.enrolled_at)
            tier = Settled(state, tier.stored, tier.moves + moves)
            if not tier.moves and (tier.stored is None or tier.state == tier.stored):
                break  # where it stands: nothing to write
            before = uow.balance(member_id) or 0
            write(ctx, uow, current, member_id, tier, source=source, now=now)
            moved += sum(move.moved for move in tier.moves)
            bonus += (uow.balance(member_id) or 0) - before
            if not moves or not any(move.bonuses for move in moves):
                break
        state = uow.tier_state(member_id) or TierState.initial(member_id, tiers, member.enrolled_at)
        followed[member_id] = Followed(moved, bonus, state)
    return followed


def rise(ctx: Context, uow: UnitOfWork, program: Program, member_id: str, *, source: str) -> None:
    """Move the member (its balance locked) up to the tier its metric meets now under ``program``'s
    tiers, after the reviews due, writing the moves as ``source``: for what counts toward the
    metric outside a purchase (points received by transfer), which decides no tier itself."""
    tiers = program.tiers
    assert tiers is not None
    member = uow.member(member_id)
    assert member is not None  # it has a balance
    now = ctx.now()
    tier = settled(uow, program, tiers, member, now)
    value = measure_settled(uow, program, tiers, member, tier, now)(now)
    state, moves = upgrade(tier.state, tiers, value, now, program.zone, member.enrolled_at)
    tier = Settled(state, tier.stored, tier.moves + moves)
    if tier.moves or (tier.stored is not None and tier.state != tier.stored):
        write(ctx, uow, program, member_id, tier, source=source, now=now)


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
    if member.status is MemberStatus.ERASED:
        # An erased member gets no more notices, nor moves: its tier stays as it was erased,
        # never reviewed again.
        uow.put_tier_state(attrs.evolve(stored, due_at=None))
        return 1, 0
    if tiers is None:
        # The program in force has no tiers any more: nothing to review, ever.
        uow.put_tier_state(attrs.evolve(stored, due_at=None))
        return 1, 0
    state, moves = review(
        stored,
        tiers,
        at,
        program.zone,
        member.enrolled_at,
        measure(uow, program, tiers, member, at),
        progress(uow, tiers, member_id),
    )
    source = f"tier-review:{member_id}:{stored.due_at.isoformat()}"
    write(ctx, uow, program, member_id, Settled(state, stored, moves), source=source, now=now)
    return 1, sum(move.moved for move in moves)


def status(ctx: Context, member_id: str) -> TierStatus:
    """Where the member stands in the program's tiers now (see :meth:`loyalty.Engine.tier`)."""
    check_id("member_id", member_id)
    now = ctx.now()

    def query(uow: UnitOfWork) -> TierStatus:
        member = uow.member(member_id)
        if member is None:
            raise locks.unknown(uow, member_id)
        program = in_force(ctx.programs.in_uow(uow), now, default_first=True)
        tiers = program.tiers
        if tiers is None:
            raise UnknownTier("tiers", f"program {program.name!r} (version {program.version}) has no tiers")
        current = settled(uow, program, tiers, member, now)
        state = current.state
        metric = measure_settled(uow, program, tiers, member, current, now)
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

    return ctx.runner.read(query)


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
    ctx.till_time("at", at, id)
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
        # Nothing new happens to an erased member: no entry, event or record with fresh text.
        locks.not_erased(uow, member_id)
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
        moved = Settled(state, current.stored, current.moves + more)
        write(ctx, uow, program, member_id, moved, source=id, now=now, actor=actor)
        assignment.remember(uow, codec.unstructure(state), now)
        uow.commit()
        return state

    return assignment.run(ctx.runner, command)
