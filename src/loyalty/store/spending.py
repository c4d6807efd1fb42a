"""Spending a member's points through the storage port, reading only the lots it takes.

:func:`loyalty.lots.draw` wants every open lot; a member with thousands of them would pay for
all of them on every redemption. :meth:`~loyalty.store.UnitOfWork.spendable_lots` hands them
over in draw order a page at a time instead, and the balance by state says beforehand what
they reach, so :func:`draw_points` answers as ``draw(uow.lots(member_id), ...)`` does, declines
included, after reading a page or two.

The draw order is four runs, each one index scan in a SQL store: :func:`segments` names them
and where each resumes. The oldest-earned order (:attr:`~loyalty.lots.DrawOrder.OLDEST_EARNED`)
is two runs, available then pending, by ``(earned_at, id)``: no index has that order (purchases,
which every program makes, would write it), so a SQL store finds the member's lots through the
same index and sorts them, which costs about what the member has open, but in the database.

>>> from datetime import datetime, timezone
>>> now = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> [(s.pending, s.dated) for s in segments(now, pending=True, after=None)]
[(False, True), (False, False), (True, True), (True, False)]
>>> [(s.pending, s.by_earned) for s in segments(now, pending=True, after=None, order=DrawOrder.OLDEST_EARNED)]
[(False, True), (True, True)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import attrs

from loyalty.lots import DrawOrder, Lot, draw_from
from loyalty.store import UnitOfWork

__all__ = ["EARLIEST", "LAST_ID", "Segment", "collect", "draw_points", "drawable", "segments", "spendable"]

#: Larger than any lot id: ``(instant, LAST_ID)`` sorts after every lot dated at that instant.
LAST_ID = 2**63 - 1
#: Before any lot was earned: ``(EARLIEST, 0)`` sorts before every lot by ``(earned_at, id)``.
EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
# Pages grow, so a small draw reads a few lots and a large one few round trips.
_FIRST_PAGE = 8
_LARGEST_PAGE = 512


@attrs.frozen
class Segment:
    """One run of the draw order: lots with points left, available or ``pending`` at ``now``,
    with an expiry date after ``now`` (``dated``, by ``(expires_at, id)``) or none (by id).

    A store returns the segment's lots after the key: ``(expires_at, id) > (after_expires,
    after_id)`` for a dated one (the key is never before ``now``, so no expired lot passes),
    ``id > after_id`` for the other. A run of the oldest-earned order (``by_earned``) holds
    every lot not expired at ``now``, dated or not, by ``(earned_at, id)``, after
    ``(after_earned, after_id)``; ``dated`` and ``after_expires`` say nothing then.
    """

    pending: bool
    dated: bool
    after_expires: datetime
    after_id: int
    after_earned: datetime | None = None

    @property
    def by_earned(self) -> bool:
        return self.after_earned is not None


def segments(
    now: datetime, *, pending: bool, after: Lot | None, order: DrawOrder = DrawOrder.SOONEST_EXPIRING
) -> list[Segment]:
    """The runs of the draw order at ``now`` that come after the lot ``after`` (all for ``None``).

    Only ``after``'s place counts (its dates and id), not what it has left. A lot outside the
    order (expired at ``now``, or pending when ``pending`` is not asked) has nothing after it.
    """
    if order is DrawOrder.OLDEST_EARNED:
        return _earned_segments(now, pending=pending, after=after)
    runs = [(False, True), (False, False)] + ([(True, True), (True, False)] if pending else [])
    fresh = [Segment(p, d, now, LAST_ID if d else 0) for p, d in runs]
    if after is None:
        return fresh
    where = (after.pending_at(now), after.expires_at is not None)
    if after.expired_at(now) or where not in runs:
        return []
    resumed = Segment(*where, now if after.expires_at is None else after.expires_at, after.id)
    return [resumed, *fresh[runs.index(where) + 1 :]]


def _earned_segments(now: datetime, *, pending: bool, after: Lot | None) -> list[Segment]:
    runs = [False, True] if pending else [False]
    fresh = [Segment(run, False, now, 0, EARLIEST) for run in runs]
    if after is None:
        return fresh
    where = after.pending_at(now)
    if after.expired_at(now) or where not in runs:
        return []
    return [Segment(where, False, now, after.id, after.earned_at), *fresh[runs.index(where) + 1 :]]


def collect(
    now: datetime,
    *,
    pending: bool,
    after: Lot | None,
    limit: int,
    read: Callable[[Segment, int], list[Lot]],
    order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
) -> list[Lot]:
    """:meth:`~loyalty.store.UnitOfWork.spendable_lots` from ``read``, a store's reader of one
    segment: at most ``n`` of its lots after its key, as ``read(segment, n)``."""
    found: list[Lot] = []
    for segment in segments(now, pending=pending, after=after, order=order):
        if len(found) >= limit:
            break
        found += read(segment, limit - len(found))
    return found


def spendable(
    uow: UnitOfWork,
    member_id: str,
    now: datetime,
    *,
    pending: bool = False,
    order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
) -> Iterator[Lot]:
    """The member's lots in draw order at ``now``, read a page at a time as the caller goes on."""
    after: Lot | None = None
    limit = _FIRST_PAGE
    while True:
        if order is DrawOrder.SOONEST_EXPIRING:
            # Without the keyword: an adapter written before there was a choice still works.
            page = uow.spendable_lots(member_id, now, pending=pending, after=after, limit=limit)
        else:
            page = uow.spendable_lots(member_id, now, pending=pending, after=after, limit=limit, order=order)
        yield from page
        if len(page) < limit:
            return
        after = page[-1]
        limit = min(limit * 4, _LARGEST_PAGE)


def drawable(
    uow: UnitOfWork,
    member_id: str,
    points: int,
    now: datetime,
    *,
    pending: bool = False,
    order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
) -> tuple[list[Lot], int]:
    """What a draw of ``points`` needs to know, for :func:`~loyalty.lots.draw_from`: the member's
    lots in draw order at ``now`` as far as ``points`` need them (none when they are out of
    reach), and what the lots reach (:meth:`~loyalty.lots.Balance.reach`)."""
    balance = uow.balance_by_state(member_id, now)
    reach = 0 if balance is None else balance.reach(pending=pending)
    lots: list[Lot] = []
    if points <= reach:
        taken = 0
        for lot in spendable(uow, member_id, now, pending=pending, order=order):
            lots.append(lot)
            taken += lot.remaining
            if taken >= points:
                break  # before asking for one more lot, which may cost a page
    return lots, reach


def draw_points(
    uow: UnitOfWork,
    member_id: str,
    points: int,
    now: datetime,
    *,
    pending: bool = False,
    exclude: int | None = None,
    order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
) -> tuple[tuple[int, int], ...]:
    """What ``draw(uow.lots(member_id), points, now, pending=pending, order=order)`` answers,
    declines and their figures included, reading the balance by state and only the lots drawn
    from; without the lot ``exclude`` (a purchase's own points, which may not pay for it), if
    given."""
    balance = uow.balance_by_state(member_id, now)
    reach = 0 if balance is None else balance.reach(pending=pending)
    lots = spendable(uow, member_id, now, pending=pending, order=order)
    if exclude is not None:
        own = uow.lot(member_id, exclude)
        usable = own is not None and own.remaining > 0 and not own.expired_at(now)
        if own is not None and usable and (pending or not own.pending_at(now)):
            reach -= own.remaining
        lots = (lot for lot in lots if lot.id != exclude)
    return draw_from(lots, points, reach)
