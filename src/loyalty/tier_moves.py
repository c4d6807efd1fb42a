"""Tier moves: what activity, reviews and assignments do to a member's tier, decided purely.

:func:`upgrade` follows the metric as activity moves it, :func:`review`
carries out the reviews (and ends of assigned tiers) due by an instant, and
:func:`assign` gives a tier as a floor. Each returns the member's new
:class:`~loyalty.tiers.TierState` and the :class:`TierChange` moves that
lead there, which the engine writes to the ledger. The metric is read
through ``measure(at)``, the metric over the window at an instant, and
``progress(bucket)``, the metric in one stretch of it (needed to reset it).

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> from zoneinfo import ZoneInfo
>>> from loyalty.tiers import Tier, Tiers, TierState
>>> tiers = Tiers(levels=[Tier(id="member"), Tier(id="silver", threshold=500)], downgrade="immediate")
>>> at = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> start = TierState.initial("M1", tiers, at)
>>> state, moves = upgrade(start, tiers, Decimal(600), at, ZoneInfo("UTC"), at)
>>> state.tier, moves[0].reason
('silver', 'reached silver: 600 points (threshold 500)')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal

import attrs

from loyalty.money import EXACT
from loyalty.tiers import Downgrade, Metric, Tiers, TierState

__all__ = [
    "Measure",
    "Progress",
    "TierChange",
    "assign",
    "progress_without_resets",
    "review",
    "upgrade",
    "without_resets",
]

#: The metric over the window at an instant, and in one stretch of it (a tally's bucket).
Measure = Callable[[datetime], Decimal]
Progress = Callable[[str], Decimal]
#: The most reviews (and ends of assigned tiers) one call carries out: at most monthly over
#: centuries, bounded whatever the data says; the next call goes on from where it stopped.
MAX_REVIEWS = 10_000


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


@attrs.frozen
class TierChange:
    """A move from one tier to another, at ``at``, and why (written to the ledger)."""

    at: datetime
    old: str
    new: str
    reason: str
    #: Tiers reached for the first time with it, whose entry bonus is now due.
    bonuses: tuple[str, ...] = ()
    #: The tier earned by activity after a move (the same as ``new`` unless a floor holds), which
    #: the move's event states; ``None`` on a note, whose reason says what changed.
    earned: str | None = None
    #: The progress set back to zero with it (``reset_on_downgrade``): each stretch of the
    #: window (a tally's bucket) and the metric it held.
    reset: tuple[tuple[str, Decimal], ...] = ()

    @property
    def moved(self) -> bool:
        """Whether the tier in force changed (not only the earned one, or a note)."""
        return self.old != self.new


def _amount(metric: Metric, value: Decimal) -> str:
    """The metric's value as a reason states it: "1250 points", "310.50 spent", "12 visits",
    "a balance of 900"."""
    if metric is Metric.SPEND:
        return f"{value} spent"
    if metric is Metric.BALANCE:
        return f"a balance of {value}"
    return f"{value} {metric.value}"


def _in_force(state: TierState, tiers: Tiers, at: datetime) -> str:
    """The tier in force at ``at``: the earned one, or the floor while it lasts, whichever is higher."""
    floored = state.floor is not None and state.floor_until is not None and at < state.floor_until
    if floored and tiers.position(state.floor) > tiers.position(state.earned):
        assert state.floor is not None
        return state.floor
    return state.earned


def _due(state: TierState, tiers: Tiers, zone: tzinfo) -> datetime | None:
    """When maintenance must next look at the member (under the policy in force)."""
    times = []
    reviewed = tiers.downgrade is not Downgrade.NEVER and tiers.position(state.earned) > 0
    if state.review_at is not None and reviewed:
        times.append(tiers.effective_at(state.review_at, zone))
    if state.floor_until is not None:
        times.append(state.floor_until)
    return min(times) if times else None


def _floor_note(state: TierState, zone: tzinfo) -> str:
    if state.floor is None or state.floor_until is None:
        return ""
    return f"; {state.floor} stays assigned until {state.floor_until.astimezone(zone).date().isoformat()}"


def _settled(
    state: TierState,
    tiers: Tiers,
    zone: tzinfo,
    at: datetime,
    changes: list[TierChange],
    why: str,
    earned_before: str,
) -> TierState:
    """``state`` with its tier in force at ``at`` and its due date recomputed.

    A move of the tier in force is noted; so is a move of the earned tier
    alone (from ``earned_before``, under an assigned floor), so every change
    is on the record.
    """
    tier = _in_force(state, tiers, at)
    if state.floor_until is not None and at >= state.floor_until:
        state = attrs.evolve(state, floor=None, floor_until=None)
    if tier != state.tier:
        changes.append(TierChange(at, state.tier, tier, why, earned=state.earned))
        state = attrs.evolve(state, tier=tier, since=_utc(at))
    elif state.earned != earned_before:
        note = f"{why}; earned tier now {tiers.tier(state.earned).label}{_floor_note(state, zone)}"
        changes.append(TierChange(at, tier, tier, note))
    return attrs.evolve(state, due_at=_due(state, tiers, zone))


def upgrade(
    state: TierState,
    tiers: Tiers,
    value: Decimal,
    at: datetime,
    zone: tzinfo,
    enrolled_at: datetime,
) -> tuple[TierState, list[TierChange]]:
    """The member's tier once the metric reached ``value`` in the window of ``at`` (activity: it
    only goes up, except that a downgrade at once also follows a metric that fell).

    A member moving up is next reviewed after the window it qualified in
    (or later, if a review already scheduled falls later).
    """
    changes: list[TierChange] = []
    level = tiers.level_for(value)
    earned = tiers.position(state.earned)
    if level == earned or (level < earned and tiers.downgrade is not Downgrade.IMMEDIATE):
        return state, changes
    new = tiers.levels[level]
    moved_at = max(_utc(at), state.since)
    bonuses: tuple[str, ...] = ()
    review = state.review_at
    if level > earned:
        bonuses = tuple(t.id for t in tiers.levels[earned + 1 : level + 1] if t.id not in state.reached)
        why = f"reached {new.label}: {_amount(tiers.metric, value)} (threshold {new.threshold})"
        fresh = tiers.next_review(_utc(at), zone, enrolled_at)
        if earned == 0 or review is None or (fresh is not None and fresh > review):
            review = fresh
    else:
        old = tiers.levels[earned]
        why = f"down to {new.label}: {_amount(tiers.metric, value)}, below {old.label}'s {old.threshold}"
    was = state.earned
    state = attrs.evolve(state, earned=new.id, reached=state.reached + bonuses, review_at=review)
    state = _settled(state, tiers, zone, moved_at, changes, why, was)
    if bonuses:
        changes[-1] = attrs.evolve(changes[-1], bonuses=bonuses)
    return state, changes


def review(
    state: TierState,
    tiers: Tiers,
    now: datetime,
    zone: tzinfo,
    enrolled_at: datetime,
    measure: Measure,
    progress: Progress,
) -> tuple[TierState, list[TierChange]]:
    """Every review and floor end due by ``now``, in order. ``measure(at)`` is the metric at ``at``;
    ``progress(bucket)`` the metric in one stretch of the window (needed to reset progress).

    A review at ``R`` measures the window just before ``R`` (for a downgrade
    at once: the window that begins at ``R``); if it falls short of the
    earned tier, the member moves down to the tier it meets (one tier only
    with ``one_step``, the lowest with ``to_base``), ``grace_days`` after
    ``R``, its progress in the window of then set back to zero with
    ``reset_on_downgrade``. The next review is scheduled by ``review`` (for a
    downgrade at once: when the window next moves). The due date is worked
    out under the policy given, which may not be the one the state was last
    written under.
    """
    changes: list[TierChange] = []
    state = attrs.evolve(state, due_at=_due(state, tiers, zone))
    counted = without_resets(measure, changes, tiers, zone, enrolled_at)
    for _ in range(MAX_REVIEWS):
        due = state.due_at
        if due is None or due > now:
            break
        reviewed = state.review_at
        if (
            reviewed is not None
            and tiers.downgrade is not Downgrade.NEVER
            and tiers.effective_at(reviewed, zone) <= due
        ):
            at = tiers.effective_at(reviewed, zone)
            value = counted(tiers.measured_at(reviewed))
            earned = tiers.position(state.earned)
            level = min(tiers.level_for(value), earned)
            met = level
            if level < earned and tiers.one_step:
                level = earned - 1
            elif level < earned and tiers.to_base:
                level = 0
            if tiers.downgrade is not Downgrade.IMMEDIATE and not (
                # The window in force then holds activity the review judged: straight to the base
                # tier means the member qualifies afresh (its next activity lifts it).
                tiers.to_base
                and set(tiers.buckets(at, zone, enrolled_at))
                & set(tiers.buckets(tiers.measured_at(reviewed), zone, enrolled_at))
            ):
                # Never below what the window in force when it takes effect already qualifies for
                # (activity during the grace period, which did not lift an earned tier above it).
                level = max(level, min(tiers.level_for(counted(at)), earned))
            new, old = tiers.levels[level], tiers.levels[earned]
            day = reviewed.astimezone(zone).date().isoformat()
            when = (
                f"the window moved on {day}" if tiers.downgrade is Downgrade.IMMEDIATE else f"review of {day}"
            )
            why = f"{when}: {_amount(tiers.metric, value)}, below {old.label}'s {old.threshold}"
            if level < met:
                why = f"{why}; a downgrade goes to the base tier, {new.label}"
            reset: tuple[tuple[str, Decimal], ...] = ()
            if level < earned and tiers.reset_on_downgrade:
                reset = _reset(tiers, zone, enrolled_at, at, progress, changes)
                if reset:
                    total = sum((held for _, held in reset), Decimal(0))
                    why = f"{why}; progress restarts at 0 ({_amount(tiers.metric, total)} set aside)"
            following = tiers.next_review(reviewed, zone, enrolled_at)
            state = attrs.evolve(state, earned=new.id, review_at=following if level else None)
            state = _settled(state, tiers, zone, at, changes, why, old.id)
            if reset:
                changes[-1] = attrs.evolve(changes[-1], reset=reset)
        else:
            state = _settled(state, tiers, zone, due, changes, "the assigned tier's term ended", state.earned)
    return state, changes


def _reset(
    tiers: Tiers,
    zone: tzinfo,
    enrolled_at: datetime,
    at: datetime,
    progress: Progress,
    changes: list[TierChange],
) -> tuple[tuple[str, Decimal], ...]:
    """The stretches of the window of ``at`` and the progress each holds (after the resets in
    ``changes``), to be set back to zero."""
    counted = progress_without_resets(progress, changes)
    held = []
    for bucket in tiers.buckets(at, zone, enrolled_at):
        value = counted(bucket)
        if value:
            held.append((bucket, value))
    return tuple(held)


def _set_aside(changes: Iterable[TierChange]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for change in changes:
        for bucket, value in change.reset:
            total[bucket] = EXACT.add(total.get(bucket, Decimal(0)), value)
    return total


def without_resets(
    measure: Measure, changes: list[TierChange], tiers: Tiers, zone: tzinfo, enrolled_at: datetime
) -> Measure:
    """``measure`` less the progress the resets among ``changes`` set aside (``changes`` is read at
    each call, so moves appended later count): the metric once those moves are written."""

    def counted(at: datetime) -> Decimal:
        value = measure(at)
        if any(change.reset for change in changes):
            set_aside = _set_aside(changes)
            for bucket in tiers.buckets(at, zone, enrolled_at):
                value = EXACT.subtract(value, set_aside.get(bucket, Decimal(0)))
        return value

    return counted


def progress_without_resets(progress: Progress, changes: list[TierChange]) -> Progress:
    """``progress`` less what the resets among ``changes`` set aside (read at each call)."""

    def counted(bucket: str) -> Decimal:
        value = progress(bucket)
        if any(change.reset for change in changes):
            value = EXACT.subtract(value, _set_aside(changes).get(bucket, Decimal(0)))
        return value

    return counted


def assign(
    state: TierState, tiers: Tiers, zone: tzinfo, tier_id: str, until: datetime, at: datetime, why: str
) -> tuple[TierState, list[TierChange]]:
    """A manually assigned ``tier_id`` as a floor from ``at`` until ``until`` (replacing any other)."""
    changes: list[TierChange] = []
    state = attrs.evolve(state, floor=tier_id, floor_until=_utc(until))
    moved_at = max(_utc(at), state.since)
    state = _settled(state, tiers, zone, moved_at, changes, why, state.earned)
    if not changes:
        # The member already holds as much: the assignment is still on the record.
        changes.append(TierChange(moved_at, state.tier, state.tier, why))
    return state, changes
