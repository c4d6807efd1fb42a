"""Points moving in and out of lots, written under the member's lock.

Shared by the use cases that credit points (purchases, bonuses,
corrections, refunds), give held points back, or write off what is past its
date before spending.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

import attrs

from loyalty.earning import Event, epoch_micros, redeemed_key
from loyalty.expiry import ExpiryPolicy
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import repayments
from loyalty.outbox import EventKind, NewEvent
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.returns import debt_key, owed_key
from loyalty.store import Tally, UnitOfWork

__all__ = ["Credited", "credit", "expire_due", "give_back", "hold_expired", "keep_active", "mark_redeemed"]


@attrs.frozen
class Credited:
    """A credit written: its entry, the member's last entry it wrote (a collection may follow),
    and the tally changes that settle what the member owed (written by :func:`credit` unless
    the caller adds them to its own)."""

    entry: Entry
    last: Entry
    settled: Mapping[str, Tally]


def credit(
    uow: UnitOfWork,
    posting: Posting,
    program: Program,
    *,
    owing: tuple[int, int] | None = None,
    settle: bool = True,
) -> Credited:
    """Append a credit that first repays what returns left the member owing.

    Under ``program``'s inactivity expiry the credit's lot rolls with the
    member's others: it expires with them, or later. A debt (clawback
    ``negative``) is repaid out of the credit's own points, oldest debt
    first; what is owed (``future``) is collected from the lot the credit
    opens by a ``collect`` entry. ``owing`` is (debt, owed) if the caller
    read them already. ``settle=False`` leaves the tally changes to the caller.
    """
    member_id = posting.member_id
    if program.expiry.policy is ExpiryPolicy.INACTIVITY:
        dates = [lot.expires_at for lot in uow.lots(member_id) if lot.rolling and lot.expires_at]
        latest = max([*dates, posting.expires_at] if posting.expires_at else dates, default=None)
        posting = attrs.evolve(posting, rolling=True, expires_at=latest)
    if owing is None:
        read = uow.tallies([debt_key(member_id), owed_key(member_id)])
        owing = int(read[debt_key(member_id)].points), int(read[owed_key(member_id)].points)
    debt, owed = owing
    changes: dict[str, Tally] = {}
    if debt:
        repay = repayments([lot for lot in uow.lots(member_id) if lot.debt], posting.points)
        posting = attrs.evolve(posting, draws=repay)
        changes[debt_key(member_id)] = Tally(0, Decimal(-sum(p for _, p in repay)))
    entry = last = uow.append(posting)
    opened = posting.points - sum(p for _, p in posting.draws)
    if owed and opened:
        collected = min(owed, opened)
        last = uow.append(
            Posting(
                member_id,
                EntryKind.COLLECT,
                -collected,
                posting.occurred_at,
                posting.recorded_at,
                posting.source_id,
                f"{collected} points owed from a return",
                draws=((entry.seq, -collected),),
            )
        )
        changes[owed_key(member_id)] = Tally(0, Decimal(-collected))
    if settle and changes:
        uow.add_tallies(changes)
    return Credited(entry, last, changes)


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
    """Return ``points`` of a hold to the lots they came from.

    Points back in a rolling lot (inactivity expiry) move on with the
    member's other rolling points: activity while they were held counted
    for them too.
    """
    draws = hold.give_back(points)
    posting = Posting(
        hold.member_id,
        EntryKind.RELEASE,
        points,
        now,
        now,
        hold.id,
        f"{why}: {points} of {hold.points} points back",
        draws=draws,
    )
    entry = uow.append(posting)
    back = {lot for lot, _ in draws}
    lots = uow.lots(hold.member_id)
    dates = [lot.expires_at for lot in lots if lot.rolling and lot.expires_at is not None]
    if dates and any(lot.rolling for lot in lots if lot.id in back):
        latest = max(dates)
        moved = tuple(
            (lot.id, latest)
            for lot in lots
            if lot.id in back and lot.rolling and lot.expires_at is not None and lot.expires_at < latest
        )
        if moved:
            reason = f"points back from hold {hold.id} roll on with the others"
            redate = Posting(
                hold.member_id, EntryKind.REDATE, 0, now, now, hold.id, reason, rolling=True, redates=moved
            )
            uow.append(redate)
    return entry


def keep_active(uow: UnitOfWork, program: Program, subject: Purchase | Event, now: datetime) -> int:
    """A purchase or event under an inactivity policy: points already past their date are
    written off, and the member's other rolling lots move on to the new date. Returns
    the balance left."""
    member_id = subject.member_id
    expire_due(uow, member_id, now, now)
    _, until = program.lot_dates(subject.at, pending=False)
    moved = tuple(
        (lot.id, until)
        for lot in uow.lots(member_id)
        if lot.rolling
        and lot.remaining > 0
        and lot.expires_at is not None
        and (until is None or lot.expires_at < until)
    )
    if moved:
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
                rolling=True,
                redates=moved,
            )
        )
    balance = uow.balance(member_id)
    assert balance is not None  # locked by the caller
    return balance
