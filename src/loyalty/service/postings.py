"""Points moving in and out of lots, written under the member's lock.

Shared by the use cases that credit points (purchases, bonuses,
corrections, refunds), give held points back, or write off what is past its
date before spending.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from loyalty.checks import MAX_POINTS
from loyalty.earning import Event
from loyalty.earning_keys import epoch_micros, redeemed_key
from loyalty.errors import PointsOverflow, StorageError
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Lot, roll_of, rolls_to
from loyalty.outbox import EventKind, NewEvent
from loyalty.plans import PLANNED, Account, Plan, Planner
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.returns import debt_key, owed_key
from loyalty.store import UnitOfWork
from loyalty.tallies import Tally

__all__ = [
    "apply",
    "balance_settled",
    "check_room",
    "credit",
    "expire_due",
    "give_back",
    "hold_expired",
    "keep_active",
    "mark_redeemed",
    "read_account",
]

# The finest step of a datetime: a lot dated before a date is one due by the step before it.
_TICK = timedelta(microseconds=1)


def read_account(
    uow: UnitOfWork,
    member_id: str,
    *,
    rolls: bool,
    balance: int | None = None,
    read: Mapping[str, Tally] | None = None,
    with_lots: bool = False,
) -> Account:
    """The member's points as a plan starts from (its balance is locked by the caller): the
    balance, what returns left it owing, its debt lots (read when it has a debt), the latest date
    of its rolling lots (read when a version the plan credits under ``rolls``), and, with
    ``with_lots``, every open lot (for a command that takes points back). ``balance`` and the
    ``read`` debt and owed tallies are taken as given when the caller has them."""
    if balance is None:
        balance = uow.balance(member_id)
        assert balance is not None  # locked by the caller
    if read is None:
        read = uow.tallies([debt_key(member_id), owed_key(member_id)])
    debt, owed = int(read[debt_key(member_id)].points), int(read[owed_key(member_id)].points)
    if not debt and not rolls and not with_lots:
        return Account(member_id, balance, debt, owed)  # the common case: no lot to read
    lots = uow.lots(member_id)
    rolling = [lot.expires_at for lot in lots if lot.rolling and lot.expires_at is not None]
    debts = tuple(lot for lot in lots if lot.debt)  # open lots come by id: oldest first
    return Account(
        member_id, balance, debt, owed, debts, max(rolling, default=None), tuple(lots) if with_lots else None
    )


def apply(uow: UnitOfWork, plan: Plan) -> list[Entry]:
    """Write a plan: its tally changes, its postings in order (a draw on a lot the plan opened,
    numbered by :func:`~loyalty.plans.planned_lot`, goes to the lot the store numbered) and its
    events."""
    entries: list[Entry] = []
    # Tallies first: an SQL adapter writes a member's row tallies with its balance, in one
    # statement, when they come before the member's entries.
    if plan.tallies:
        uow.add_tallies(plan.tallies)
    for posting, balance in zip(plan.postings, plan.balances, strict=True):
        if posting.draws and any(lot >= PLANNED for lot, _ in posting.draws):
            draws = tuple(
                (entries[lot - PLANNED].seq if lot >= PLANNED else lot, points)
                for lot, points in posting.draws
            )
            posting = attrs.evolve(posting, draws=draws)
        entry = uow.append(posting)
        if entry.balance_after != balance:
            # Balances were read under the write lock: only a broken adapter gets here.
            raise StorageError("balance", "the store's balance moved during the unit of work")
        entries.append(entry)
    for event in plan.events:
        uow.add_event(event)
    return entries


def credit(uow: UnitOfWork, posting: Posting, program: Program) -> Entry:
    """Write a credit that first repays what returns left the member owing (see
    :meth:`loyalty.plans.Planner.credit`); returns its entry."""
    rolls = program.expiry.rolls
    planner = Planner([read_account(uow, posting.member_id, rolls=rolls)], rolling=rolls)
    index = planner.credit(posting)
    return apply(uow, planner.plan())[index]


def expire_due(
    uow: UnitOfWork, member_id: str, at: datetime, now: datetime, *, limit: int | None = None
) -> list[Entry]:
    """End the member's holds whose time ran out by ``at``, then write off its lots due by then.

    The member's balance is locked. Holds go first: the points they give
    back may themselves be past their date. At most ``limit`` of them.
    """
    written = []
    due = [hold for hold in uow.open_holds(member_id) if hold.expires_at <= at]
    for hold in due[:limit]:
        written.append(give_back(uow, hold, hold.points, now, "hold expired"))
        uow.end_hold(hold.id, HoldStatus.EXPIRED, 0, now.astimezone(UTC))
        hold_expired(uow, hold, now)
    left = None if limit is None else limit - len(written)
    if left == 0:
        return written
    for lot in uow.due_lots(at, member_id=member_id, limit=left):
        assert lot.expires_at is not None
        posting = Posting(
            member_id,
            EntryKind.EXPIRE,
            -lot.remaining,
            lot.expires_at,
            now,
            f"expiry:{lot.id}",
            f"points earned {lot.earned_at.date().isoformat()} expired",
            draws=((lot.id, -lot.remaining),),
        )
        written.append(uow.append(posting))
    return written


def balance_settled(uow: UnitOfWork, member_id: str, at: datetime) -> int:
    """The member's balance once the holds whose time ran out by ``at`` are ended and the lots due
    by then written off, as :func:`expire_due` would leave it; nothing is written.

    What a balance tier measures (:mod:`loyalty.service.tiering`): a review carried out by a
    purchase or a query then comes out as one carried out by maintenance at the same instant,
    which writes them first. A hold's points that go back to a lot past its date by ``at`` are
    written off with it, unless the lot rolls on past ``at`` as they go back (inactivity expiry:
    :func:`return_draws`), which keeps all of its points.
    """
    balance = uow.balance(member_id) or 0
    ended = [hold for hold in uow.open_holds(member_id) if hold.expires_at <= at]
    due = uow.due_lots(at, member_id=member_id)
    if not ended and not due:
        return balance
    back: dict[int, int] = {}
    for hold in ended:
        for lot_id, points in hold.give_back(hold.points):
            back[lot_id] = back.get(lot_id, 0) + points
    # Each lot given points back, with the date it has once they are back: a rolling lot's
    # rolls on as the member's activity moved the others (return_draws), all of its points.
    found = [lot for lot_id in back if (lot := uow.lot(member_id, lot_id)) is not None]
    dates = {lot.id: lot.expires_at for lot in found}
    rolling = [lot for lot in found if lot.rolling and lot.expires_at is not None]
    if rolling:
        dates.update(_rolled_on(uow, member_id, rolling))
    kept = {lot_id for lot_id, date in dates.items() if date is None or date > at}
    balance += sum(points for lot_id, points in back.items() if lot_id in kept or lot_id not in dates)
    return balance - sum(lot.remaining for lot in due if lot.id not in kept)


def mark_redeemed(uow: UnitOfWork, member_id: str, at: datetime) -> None:
    """Remember the member's latest redemption (for rules with ``redeemed_within_days``)."""
    key = redeemed_key(member_id)
    last = uow.tallies([key])[key].points
    when = Decimal(epoch_micros(at))
    if when > last:
        uow.add_tallies({key: Tally(0, when - last)})


def hold_expired(uow: UnitOfWork, hold: Hold, now: datetime) -> None:
    """The ``hold_expired`` event, written with the hold's end."""
    data = {"hold_id": hold.id, "points": hold.points, "expires_at": hold.expires_at.isoformat()}
    uow.add_event(NewEvent(EventKind.HOLD_EXPIRED, hold.member_id, hold.expires_at, now, hold.id, data))


def give_back(uow: UnitOfWork, hold: Hold, points: int, now: datetime, why: str) -> Entry:
    """Return ``points`` of a hold to the lots they came from (see :func:`return_draws`)."""
    reason = f"{why}: {points} of {hold.points} points back"
    return return_draws(uow, hold.member_id, hold.id, hold.give_back(points), now, reason, f"hold {hold.id}")


def check_room(uow: UnitOfWork, member_id: str, points: int, whose: str) -> None:
    """Refuse ``points`` that the member's balance could not hold, before a command written in
    parts writes the part that takes them from another member: the member's part, written
    after, would raise, leaving them in neither balance (and every later ``run_due`` raising on
    the unfinished command)."""
    balance = uow.balance(member_id)
    if balance is not None and not -MAX_POINTS <= balance + points <= MAX_POINTS:
        raise PointsOverflow("points", f"{whose} balance would leave the 64-bit range")


def return_draws(
    uow: UnitOfWork,
    member_id: str,
    source: str,
    draws: tuple[tuple[int, int], ...],
    now: datetime,
    reason: str,
    label: str,
) -> Entry:
    """A ``release`` entry giving ``draws`` (positive) back to the lots they were taken from: a
    hold's points, or a voucher's (:mod:`loyalty.service.rewarding`), ``label`` saying which.

    Points back in a rolling lot (inactivity expiry) move on as the member's activity while they
    were spent moved the others: each roll, or purchase or event earning a rolling lot, since
    the lot was opened that found it still valid (:func:`_rolled`). Not to the latest date of any
    rolling lot: a correction's lot, dated on its own, is no activity, and a lot whose date
    passed before the activity stays past it.
    """
    points = sum(taken for _, taken in draws)
    posting = Posting(member_id, EntryKind.RELEASE, points, now, now, source, reason, draws=draws)
    entry = uow.append(posting)
    back = {lot for lot, _ in draws}
    lots = [lot for lot in uow.lots(member_id) if lot.id in back and lot.rolling and lot.expires_at]
    if lots:
        rolled = _rolled_on(uow, member_id, lots)
        moved = tuple((lot.id, date) for lot in lots if (date := rolled[lot.id]) != lot.expires_at)
        if moved:
            why = f"points back from {label} roll on with the others"
            redate = Posting(
                member_id, EntryKind.REDATE, 0, now, now, source, why, rolling=True, redates=moved
            )
            uow.append(redate)
    return entry


def _rolled_on(uow: UnitOfWork, member_id: str, lots: list[Lot]) -> dict[int, datetime | None]:
    """The dates the member's rolling ``lots`` roll on to, as points given back to them do: as the
    member's activity moved the others since each was opened (:func:`_rolled`)."""
    # A lot's number is the seq of the entry that opened it: no roll before it moves it.
    rolls = [
        (each.recorded_at, until)
        for each in uow.history(member_id, after=min(lot.id for lot in lots))
        if (until := _activity(each)) is not None
    ]
    return {lot.id: _rolled(lot, rolls) for lot in lots}


def _activity(entry: Entry) -> datetime | None:
    """The date activity gave the member's rolling lots, if ``entry`` records some: a roll's, or
    the rolling lot a purchase or event earned (activity that found no other lot to move)."""
    until = roll_of(entry)
    if until is None and entry.kind is EntryKind.EARN and entry.rolling and entry.points > 0:
        return entry.expires_at
    return until


def _rolled(lot: Lot, rolls: list[tuple[datetime, datetime]]) -> datetime | None:
    """``lot``'s date once ``rolls`` (each when it was recorded, and its date) have moved it as
    they moved the lots they found open: a lot still valid when a roll was written (the ones past
    their date were written off first), dated before the roll's date, takes it."""
    date = lot.expires_at
    for recorded, until in rolls:
        if date is not None and recorded < date < until:
            date = until
    return date


def _moves(lot: Lot, until: datetime | None) -> bool:
    """Whether activity moves ``lot`` to ``until`` (``None``: points that never expire)."""
    if until is None:
        return lot.rolling and lot.remaining > 0 and lot.expires_at is not None
    return rolls_to(lot, until)


def keep_active(uow: UnitOfWork, program: Program, subject: Purchase | Event, now: datetime) -> int:
    """A purchase or event under an inactivity policy: points already past their date are
    written off, and the member's other rolling lots move on to the new date. Returns
    the balance left."""
    member_id = subject.member_id
    expire_due(uow, member_id, now, now)
    _, until = program.lot_dates(subject.at, pending=False)
    redates: tuple[tuple[int, datetime | None], ...] = ()
    if until is None or not getattr(uow, "applies_rolls", False):
        # "Never", which no date says, or a store that does not apply a roll (one written for a
        # release before rolls): the entry lists the lots it moves.
        lots = uow.lots(member_id)
        redates = tuple((lot.id, until) for lot in lots if _moves(lot, until))
        moves = bool(redates)
    else:
        # A roll (loyalty.lots.roll_of) names the date, not the lots, and is written when one
        # moves: the member's soonest-dated lot says so, unless it does not roll (a lot of an
        # earlier version's policy); then the member's lots are read.
        first = uow.due_lots(until - _TICK, member_id=member_id, limit=1)
        moves = bool(first) and (
            rolls_to(first[0], until) or any(rolls_to(lot, until) for lot in uow.lots(member_id))
        )
    if moves:
        when = "never" if until is None else until.astimezone(program.zone).isoformat()
        reason = f"activity on {subject.at.astimezone(program.zone).date().isoformat()}: points expire {when}"
        uow.append(
            Posting(
                member_id,
                EntryKind.REDATE,
                0,
                subject.at,
                now,
                subject.id,
                reason,
                expires_at=None if redates else until,
                rolling=True,
                redates=redates,
            )
        )
    balance = uow.balance(member_id)
    assert balance is not None  # locked by the caller
    return balance
