"""Maintenance an operator schedules: expiry, holds whose time ran out, tier reviews, re-dating
under a new version, and reminders of points about to expire (:meth:`loyalty.Engine.run_due`).

Everything due is found through date indexes, so the cost grows with what is
due, not with the members; each batch is one unit of work that locks its
members in id order, so two maintenance runs never deadlock each other.

Each run is logged at INFO with what it did (the counts of :class:`Maintenance`)
and how long it took (see ``docs/logging.md``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from loyalty.checks import check_aware
from loyalty.errors import InvalidInput
from loyalty.expiry import redated_key, reminded_key
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Lot
from loyalty.members import MemberStatus
from loyalty.merges import REFEREES_PART, SURVIVOR_PART
from loyalty.outbox import EventKind, NewEvent
from loyalty.program import Program
from loyalty.service import (
    erasure_parts,
    locks,
    merging,
    postings,
    referral_parts,
    rewarding,
    tiering,
    transferring,
)
from loyalty.service.context import Context
from loyalty.store import Operation, UnitOfWork
from loyalty.tallies import Tally
from loyalty.versions import in_force

__all__ = ["Maintenance", "run_due"]

logger = logging.getLogger(__name__)


@attrs.frozen
class Maintenance:
    """What one :meth:`Engine.run_due` did."""

    #: Lots that reached their expiry date and were written off, and their points.
    expired_lots: int = 0
    expired_points: int = 0
    #: Members who lost points or had a hold expire.
    members: int = 0
    #: Holds whose time ran out, and the points they gave back.
    expired_holds: int = 0
    released_points: int = 0
    #: Tier reviews (and ends of assigned tiers) carried out, and the moves between tiers they made.
    tier_reviews: int = 0
    tier_changes: int = 0
    #: Lots given new dates by a program version that re-dates points earned before it.
    redated_lots: int = 0
    #: ``points_expiring`` events written (one per member with points newly in the reminder window).
    reminders: int = 0
    #: Vouchers that reached their expiry date unused (no points come back: :mod:`loyalty.vouchers`).
    expired_vouchers: int = 0
    #: Transfers whose sender's part was written and receiver's not (a crash between them, and
    #: no retry since), finished: their points credited to the receiver, or back to the sender
    #: when the receiver was erased before its part was written.
    finished_transfers: int = 0
    #: Referral rewards whose referrer's part was not written (a crash after the referee's
    #: purchase, and no retry since), finished: the referrer's bonus credited.
    paid_referrals: int = 0
    #: Merges whose absorbed member's part was written and the rest not (a crash between the
    #: parts, and no retry since), finished: the survivor's part, then the referees' referrals.
    finished_merges: int = 0
    #: Erasures whose other members' parts were not all written (a crash between the parts, and
    #: no retry since), finished: each other member's rows naming the erased member renamed.
    finished_erasures: int = 0


def run_due(
    ctx: Context, now: datetime | None, batch: int, progress: Callable[[Maintenance], None] | None = None
) -> Maintenance:
    """Everything due by ``now`` (see :meth:`loyalty.Engine.run_due`)."""
    clock = ctx.now()
    at = clock if now is None else check_aware("now", now)
    if at > clock:
        raise InvalidInput("now", f"{at.isoformat()} is ahead of the engine clock ({clock.isoformat()})")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 100_000:
        raise InvalidInput("batch", f"must be an int from 1 to 100000, got {batch!r}")
    # Checked here: it is first called once a unit of work has committed.
    if progress is not None and not callable(progress):
        raise InvalidInput("progress", f"must be a function or None, not {type(progress).__name__}")

    def command(uow: UnitOfWork, at: datetime) -> tuple[bool, list[Entry], int, int]:
        due = [hold.member_id for hold in uow.due_holds(at, limit=batch)]
        due += [lot.member_id for lot in uow.due_lots(at, limit=batch)]
        due += [state.member_id for state in uow.due_tier_states(at, limit=batch)]
        written: list[Entry] = []
        reviewed = moved = 0
        # Once per unit of work, not per review (reading the versions costs more than a review).
        program = in_force(ctx.programs.in_uow(uow), at, default_first=True)
        # Members locked in one order, so two maintenance runs cannot deadlock each other.
        for member_id in sorted(set(due)):
            if len(written) + reviewed >= batch:
                break  # the rest is found again by the next unit of work
            locks.lock(uow, member_id)
            written += postings.expire_due(uow, member_id, at, ctx.now(), limit=batch - len(written))
            done, moves = tiering.review_due(ctx, uow, program, member_id, at)
            reviewed += done
            moved += moves
            # Under a balance metric the tier follows what expiry took.
            source = f"tier-balance:{member_id}:{at.astimezone(UTC).isoformat()}"
            follow = tiering.follow_balance(ctx, uow, [member_id], source=source, at=at, program=program)
            moved += sum(each.moved for each in follow.values())
        uow.commit()
        return bool(due), written, reviewed, moved

    def through(until: datetime, report: Maintenance, members: set[str]) -> Maintenance:
        """Expire, end holds and review what fell due by ``until``, a unit of work at a time."""
        while True:
            run = functools.partial(command, at=until)
            found, written, reviewed, moved = ctx.runner.run(run, "run_due (expiry, holds, tier reviews)")
            # Nothing found, or all of it ended by another engine meanwhile: done. (Stopping
            # on a batch that did nothing also bounds the loop whatever an adapter returns.)
            if not found or not (written or reviewed):
                return report
            expired = [entry.points for entry in written if entry.kind is EntryKind.EXPIRE]
            released = [entry.points for entry in written if entry.kind is EntryKind.RELEASE]
            report = attrs.evolve(
                report,
                expired_lots=report.expired_lots + len(expired),
                expired_points=report.expired_points - sum(expired),
                expired_holds=report.expired_holds + len(released),
                released_points=report.released_points + sum(released),
                tier_reviews=report.tier_reviews + reviewed,
                tier_changes=report.tier_changes + moved,
            )
            members.update(entry.member_id for entry in written)
            if progress is not None:
                progress(attrs.evolve(report, members=len(members)))

    started = time.perf_counter()
    # First, so that the points they credit are expired below when past their date.
    report = Maintenance(
        finished_transfers=_finish_transfers(ctx, batch),
        paid_referrals=referral_parts.finish_due(ctx, batch),
        finished_merges=_finish_merges(ctx, batch),
        finished_erasures=erasure_parts.finish_due(ctx, batch),
    )
    members: set[str] = set()
    # Each version that re-dates earlier points, in order, as of its own start, after what fell
    # due before it: run late, maintenance does what it would have done on time (a later
    # version's pass must not give a lot back a date an earlier one let pass).
    for version in _redating(ctx, at):
        start = version.effective_from
        if start is not None and start < at:
            report = through(start, report, members)
        when = at if start is None or start >= at else start
        redated = _redate_earlier(ctx, version, when, batch)
        report = attrs.evolve(report, redated_lots=report.redated_lots + redated)
    report = through(at, report, members)
    report = attrs.evolve(
        report,
        members=len(members),
        reminders=_remind(ctx, at, batch),
        expired_vouchers=rewarding.expire_due(ctx, at, batch),
    )
    _log(report, at, time.perf_counter() - started)
    return report


def _finish_transfers(ctx: Context, batch: int) -> int:
    """Write the receiver's part of every transfer whose sender's part is kept without it (or,
    for a receiver erased since, the points back to the sender), one member's unit of work each,
    ``batch`` found at a time; how many were finished."""
    finished = 0
    while True:
        # Read-only (a replica may answer): the receiver's part checks again under its lock.
        halves = ctx.runner.read(lambda uow: uow.unreceived_transfers(limit=batch))
        for sent in halves:
            transferring.finish(ctx, transferring.sent_part(sent), "finishing a transfer")
        finished += len(halves)
        if len(halves) < batch:
            return finished


def _finish_merges(ctx: Context, batch: int) -> int:
    """Finish every merge whose absorbed member's part is kept without the survivor's, or whose
    referees' referrals are still to move, one member's unit of work each, ``batch`` found at a
    time; how many were finished."""
    finished = 0
    for kind, part in ((merging.OWED, SURVIVOR_PART), (merging.REFEREES, REFEREES_PART)):
        while True:
            # Read-only (a replica may answer): each part checks again under its lock.
            halves = ctx.runner.read(functools.partial(_unfinished, kind=kind, limit=batch))
            for owed in halves:
                key = owed.key.removesuffix(part)
                merging.finish(ctx, key) if kind == merging.OWED else merging.move_referees(ctx, key)
            finished += len(halves)
            if len(halves) < batch:
                break
    return finished


def _unfinished(uow: UnitOfWork, *, kind: str, limit: int) -> list[Operation]:
    return uow.unfinished_parts(kind, limit=limit)


def _log(report: Maintenance, at: datetime, seconds: float) -> None:
    """One INFO line for a run: its counts (no member is named) and how long it took."""
    logger.info(
        "run_due at %s: %d lots expired (%d points) of %d members, %d holds expired (%d points back), "
        "%d tier reviews (%d tier changes), %d lots re-dated, %d reminders, %d vouchers expired, "
        "%d transfers finished, %d referral bonuses paid, %d merges finished, %d erasures finished, "
        "in %.3f s",
        at.isoformat(),
        report.expired_lots,
        report.expired_points,
        report.members,
        report.expired_holds,
        report.released_points,
        report.tier_reviews,
        report.tier_changes,
        report.redated_lots,
        report.reminders,
        report.expired_vouchers,
        report.finished_transfers,
        report.paid_referrals,
        report.finished_merges,
        report.finished_erasures,
        seconds,
    )


def _remind(ctx: Context, at: datetime, batch: int) -> int:
    """A ``points_expiring`` event per member whose points newly fall within ``remind_days``.

    Found through the expiry-date index (its cost is what expires in the
    window); each lot is announced once per expiry date, marked by a
    tally written with the event under the member's lock.
    """
    program = in_force(ctx.programs.all(), at, default_first=True)
    if not program.remind_days:
        return 0
    try:
        until = at.astimezone(UTC) + timedelta(days=program.remind_days)
    except OverflowError:
        until = datetime.max.replace(tzinfo=UTC)

    def expires(lot: Lot) -> datetime:
        assert lot.expires_at is not None  # found by its expiry date
        return lot.expires_at

    def mark(lot: Lot) -> str:
        return reminded_key(lot.member_id, lot.id, expires(lot))

    def window_and_marks(uow: UnitOfWork) -> tuple[list[Lot], dict[str, Tally]]:
        window = [lot for lot in uow.due_lots(until) if not lot.expired_at(at) and lot.remaining > 0]
        return window, uow.tallies([mark(lot) for lot in window])

    window, marked = ctx.runner.read(window_and_marks)
    members = sorted({lot.member_id for lot in window if not marked[mark(lot)].count})

    def command(uow: UnitOfWork, chunk: list[str]) -> int:
        now = ctx.now()
        sent = 0
        for member_id in chunk:
            locks.lock(uow, member_id)
            if uow.member_status(member_id) is MemberStatus.ERASED:
                continue  # gets no more notices: its lots stay, unannounced and unmarked
            lots = [
                lot
                for lot in uow.due_lots(until, member_id=member_id)
                if not lot.expired_at(at) and lot.remaining > 0
            ]
            seen = uow.tallies([mark(lot) for lot in lots])
            new = [lot for lot in lots if not seen[mark(lot)].count]
            if not new:
                continue  # another engine announced them meanwhile
            first = min(expires(lot) for lot in new)
            data = {
                "points": sum(lot.remaining for lot in new),
                "expires_at": first.isoformat(),
                "lots": [[lot.id, lot.remaining, expires(lot).isoformat()] for lot in new],
            }
            source = f"remind:{member_id}:{first.isoformat()}"
            uow.add_event(NewEvent(EventKind.POINTS_EXPIRING, member_id, at, now, source, data))
            uow.add_tallies({mark(lot): Tally(1, Decimal(0)) for lot in new})
            sent += 1
        uow.commit()
        return sent

    return ctx.runner.in_chunks(members, batch, command, "run_due (reminders)")


def _redating(ctx: Context, at: datetime) -> list[Program]:
    """The versions in force by ``at`` that re-date earlier points and have yet to, in the order
    they came into force. One a later such version has done already is passed over (marked done
    too): a store whose maintenance ran that one first keeps the dates it gave."""
    versions = ctx.programs.all()
    first = in_force(versions, at, default_first=True)
    started = [v for v in versions if v is first or (v.effective_from is not None and v.effective_from <= at)]
    redating = sorted(
        (v for v in started if v.expiry.redate_earlier),
        key=lambda v: (v.effective_from is not None, v.effective_from or at),
    )
    if not redating:
        return []
    keys = [redated_key(v.version) for v in redating]
    done = ctx.runner.read(lambda uow: uow.tallies(keys))
    todo: list[Program] = []
    passed: list[str] = []
    for version, key in zip(redating, keys, strict=True):
        if done[key].count:
            # Done after the ones before it: those stay as that run left them.
            passed += [redated_key(v.version) for v in todo]
            todo = []
        else:
            todo.append(version)
    if passed:
        # Marked, so that the next runs skip them with one read.
        ctx.runner.run(functools.partial(_mark, keys=passed), "run_due (re-dating)")
    return todo


def _mark(uow: UnitOfWork, *, keys: list[str]) -> None:
    uow.add_tallies({key: Tally(1, Decimal(0)) for key in keys})
    uow.commit()


def _redate_earlier(ctx: Context, program: Program, at: datetime, batch: int) -> int:
    """Once per program version that says ``redate_earlier``: give every open lot earned
    before it the dates its policy gives (a pass over the open lots, by id, ``batch`` at a
    time, each member's lots moved by one ``redate`` entry under the member's lock), written
    as of ``at``.

    A tally marks the version done, so later runs cost one read. Returns the lots moved.
    """
    done = redated_key(program.version)
    start, zone, expiry = program.effective_from, program.zone, program.expiry

    def new_date(lot: Lot) -> datetime | None:
        begin = lot.vests_at if expiry.from_vesting and lot.vests_at is not None else lot.earned_at
        try:
            until = expiry.expires_at(begin, zone)
        except (OverflowError, ValueError):
            return None
        return None if until is None else until.astimezone(UTC)

    def moves(lot: Lot) -> bool:
        earlier = start is None or lot.earned_at < start
        return lot.points > 0 and earlier and (new_date(lot) != lot.expires_at or lot.rolling)

    def command(uow: UnitOfWork, after: int) -> tuple[int | None, int]:
        page = uow.open_lots(after=after, limit=batch)
        due: dict[str, set[int]] = {}
        for lot in page:
            if moves(lot):
                due.setdefault(lot.member_id, set()).add(lot.id)
        if not page:
            # Lots held to the last point are closed, but their points may come back: held
            # lots get the new dates too.
            for held in uow.due_holds(datetime.max.replace(tzinfo=UTC)):
                due.setdefault(held.member_id, set()).update(lot for lot, _ in held.draws)
        now = ctx.now()
        moved = 0
        for member_id in sorted(due):
            locks.lock(uow, member_id)
            # Read again under the lock: the member may have spent or earned meanwhile.
            found = {lot.id: lot for lot in uow.lots(member_id)}
            for held in uow.open_holds(member_id):
                for lot_id, _ in held.draws:
                    if lot_id not in found:
                        closed = uow.lot(member_id, lot_id)
                        if closed is not None:
                            found[lot_id] = closed
            redates = tuple(
                (lot.id, new_date(lot)) for lot in found.values() if lot.id in due[member_id] and moves(lot)
            )
            if redates:
                reason = f"program version {program.version} re-dates points earned before it"
                uow.append(
                    Posting(
                        member_id,
                        EntryKind.REDATE,
                        0,
                        at,
                        now,
                        f"redate:{program.version}",
                        reason,
                        program_version=program.version,
                        redates=redates,
                    )
                )
                moved += len(redates)
        if not page:
            uow.add_tallies({done: Tally(1, Decimal(0))})
        uow.commit()
        return (page[-1].id if page else None), moved

    after: int | None = 0
    total = 0
    while after is not None:
        cursor = after
        after, moved = ctx.runner.run(functools.partial(command, after=cursor), "run_due (re-dating)")
        total += moved
    return total
