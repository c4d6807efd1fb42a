"""Lots: every credit's points, tracked until they are spent or expire.

A lot is derived state, like the balance: each credit entry opens one
(numbered by the entry's ``seq``), each debit entry names the lots it drew
from, and points given back (a released hold) return to the lots they came
from. :func:`lots_of` replays a member's entries into their lots, and every
adapter's maintained lots must equal it. What can be spent at an instant
follows from the lots' dates alone, so a lot vests on time even if no
maintenance ran.

>>> from datetime import datetime, timedelta, timezone
>>> from loyalty.ledger import Entry, EntryKind
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> month = t + timedelta(days=30)
>>> entries = [
...     Entry(1, "M1", EntryKind.EARN, 40, 40, t, t, "T1", "purchase", expires_at=month),
...     Entry(2, "M1", EntryKind.EARN, 25, 65, t, t, "T2", "purchase", vests_at=t + timedelta(days=14)),
...     Entry(3, "M1", EntryKind.REDEEM, -30, 35, t, t, "T3", "redemption", draws=((1, -30),)),
... ]
>>> [(lot.id, lot.remaining) for lot in lots_of(entries)]
[(1, 10), (2, 25)]
>>> summarize(lots_of(entries), t + timedelta(days=1))
Balance(available=10, pending=25, overdue=0, held=0)
>>> summarize(lots_of(entries), t + timedelta(days=31))
Balance(available=25, pending=0, overdue=10, held=0)
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import attrs

from loyalty.errors import InsufficientPoints, StorageError
from loyalty.json_form import JsonForm
from loyalty.ledger import Entry, EntryKind, Posting

__all__ = [
    "Balance",
    "DrawOrder",
    "Lot",
    "check_draws",
    "check_redates",
    "draw",
    "draw_from",
    "draw_order",
    "lots_of",
    "opens",
    "redates_of",
    "repayments",
    "roll_of",
    "rolls_to",
    "spend_order",
    "summarize",
    "take_back",
]


@attrs.frozen
class Lot:
    """The points one credit brought in, and what is left of them.

    ``earned_at`` is the till time of the credit; the lot can be spent from
    ``vests_at`` (``None``: at once) until just before ``expires_at``
    (``None``: it never expires).
    """

    id: int
    member_id: str
    points: int
    remaining: int
    earned_at: datetime
    vests_at: datetime | None = None
    expires_at: datetime | None = None
    #: Whether the date moves with the member's activity (an inactivity policy).
    rolling: bool = False

    def pending_at(self, now: datetime) -> bool:
        """Whether the lot is still in its pending (return) window at ``now``."""
        return self.vests_at is not None and now < self.vests_at

    def expired_at(self, now: datetime) -> bool:
        """Whether the lot's points are no longer valid at ``now``."""
        return self.expires_at is not None and now >= self.expires_at

    @property
    def debt(self) -> bool:
        """A lot of negative points: what a return took back beyond what the member had."""
        return self.points < 0

    @classmethod
    def opened_by(cls, entry: Entry | Posting, lot_id: int, points: int) -> Lot:
        """The lot of ``points`` (see :func:`opens`) an entry opens."""
        # Set slot by slot, as counted_balance below (on every credit appended); Lot has no
        # validator, converter or default factory to skip (tests/unit/test_purchase_path_arithmetic.py).
        lot = _NEW_LOT(cls)
        _LOT_ID(lot, lot_id)
        _LOT_MEMBER_ID(lot, entry.member_id)
        _LOT_POINTS(lot, points)
        _LOT_REMAINING(lot, points)
        _LOT_EARNED_AT(lot, entry.occurred_at)
        _LOT_VESTS_AT(lot, entry.vests_at)
        _LOT_EXPIRES_AT(lot, entry.expires_at)
        _LOT_ROLLING(lot, entry.rolling)
        return lot


_NEW_LOT = object.__new__
(
    _LOT_ID,
    _LOT_MEMBER_ID,
    _LOT_POINTS,
    _LOT_REMAINING,
    _LOT_EARNED_AT,
    _LOT_VESTS_AT,
    _LOT_EXPIRES_AT,
    _LOT_ROLLING,
) = (
    getattr(Lot, name).__set__
    for name in ("id", "member_id", "points", "remaining", "earned_at", "vests_at", "expires_at", "rolling")
)


@attrs.frozen
class Balance(JsonForm):
    """A member's points by state at one instant.

    ``available`` can be spent now; ``pending`` are still in their return
    window; ``overdue`` are past their expiry date but their expiry entry has
    not been written yet (maintenance or the member's next debit writes it):
    they can no longer be spent. ``total`` is what the ledger adds up to.
    ``held`` are reserved by open holds at the till: they have already left
    the total (a ``hold`` entry) and come back if the hold is released.
    """

    available: int
    pending: int = 0
    overdue: int = 0
    held: int = 0

    @property
    def total(self) -> int:
        return self.available + self.pending + self.overdue

    def reach(self, *, pending: bool = False) -> int:
        """What the member's lots can give now, debts counted against them: the available points,
        and with ``pending`` those still pending too (what :func:`draw` may take)."""
        return self.available + self.pending if pending else self.available


# Balance's slots, set as its attrs __init__ sets them, without the frozen class's per-field
# object.__setattr__ look-up: a balance read on SQLite is about 80,000 instructions, and the
# __init__ took 5,700 of them. Balance has no validator, converter or default factory to skip
# (tests/unit/test_balance_counts.py holds that).
_NEW_BALANCE = Balance.__new__
_SET_AVAILABLE, _SET_PENDING, _SET_OVERDUE, _SET_HELD = (
    Balance.__dict__[name].__set__ for name in ("available", "pending", "overdue", "held")
)


def counted_balance(available: int, pending: int, overdue: int, held: int) -> Balance:
    """``Balance(available, pending, overdue, held)``, made with less work: for the adapters'
    balance reads, whose four counts are ints from the database."""
    balance = _NEW_BALANCE(Balance)
    _SET_AVAILABLE(balance, available)
    _SET_PENDING(balance, pending)
    _SET_OVERDUE(balance, overdue)
    _SET_HELD(balance, held)
    return balance


def lots_of(entries: Iterable[Entry]) -> list[Lot]:
    """Replay entries (in ``seq`` order) into the lots they leave open, by lot id.

    Raises :class:`~loyalty.errors.StorageError` for a debit whose draws do
    not add up or draw from a lot that cannot give them: a ledger no engine
    would write.
    """
    lots: dict[int, Lot] = {}
    for entry in entries:
        moves = redates_of(entry, lambda: list(lots.values()))
        if moves:
            check_redates(entry, lots)
            for lot_id, expires in moves:
                lots[lot_id] = attrs.evolve(lots[lot_id], expires_at=expires, rolling=entry.rolling)
        if not entry.points:
            continue
        check_draws(entry, lots)
        for lot_id, points in entry.draws:
            lot = lots[lot_id]
            lots[lot_id] = attrs.evolve(lot, remaining=lot.remaining + points)
        rest = opens(entry)
        if rest:
            lots[entry.seq] = Lot.opened_by(entry, entry.seq, rest)
    return [lot for lot in lots.values() if lot.remaining]


def opens(posting: Posting | Entry) -> int:
    """The points of the lot an entry opens (numbered by its ``seq``): what its draws leave over.

    A plain credit opens a lot of all its points; one that first repays a
    debt or gives points back opens one of the rest, if any. A take-back
    (``return``) larger than the member's lots opens a debt: a lot of
    negative points, which later credits repay.
    """
    return posting.points - sum(points for _, points in posting.draws)


# A take-back of points already spent, and an offline redemption accepted within its
# terminal's allowance past the balance (loyalty.offline), under a ``negative`` clawback.
_OPENS_DEBT = frozenset({EntryKind.RETURN, EntryKind.REDEEM})


def check_draws(posting: Posting | Entry, lots: Mapping[int, Lot]) -> None:
    """An entry's draws must fit the member's lots, so the lots always agree with the ledger.

    A debit's draws are negative, each within what its (positive) lot has
    left, and add up to its points, except that a ``return`` (or an offline ``redeem``) may open
    a debt for the rest (:func:`opens`). A credit's draws are positive: points given
    back to the lots they came from (never beyond what a lot was earned
    with) or a debt repaid (never beyond zero); what they leave over opens a
    lot. Each lot appears at most once. ``lots`` maps the lot ids drawn on to
    their current state, closed lots included. Every adapter calls this
    before it writes, so a broken caller cannot corrupt the lots.
    """
    draws = posting.draws
    if not draws and posting.points >= 0:
        return
    if not posting.points:
        raise StorageError("draws", "an entry of no points draws on no lots")
    debit = posting.points < 0
    rest = opens(posting)
    if (rest < 0) != (debit and rest != 0) or (rest < 0 and posting.kind not in _OPENS_DEBT):
        drawn = sum(p for _, p in draws)
        raise StorageError(
            "draws", f"the draws add up to {drawn}, which {posting.points} points cannot leave"
        )
    if len({lot_id for lot_id, _ in draws}) != len(draws):
        raise StorageError("draws", "an entry draws on each lot at most once")
    for lot_id, points in draws:
        lot = lots.get(lot_id)
        if (points < 0) != debit or not points:
            raise StorageError("draws", f"a draw on lot {lot_id} must have the entry's sign, got {points}")
        if lot is None or lot.member_id != posting.member_id:
            raise StorageError("draws", f"{posting.member_id!r} has no lot {lot_id}")
        if debit and (lot.debt or lot.remaining < -points):
            raise StorageError("draws", f"lot {lot_id} of {posting.member_id!r} cannot give {-points} points")
        if not debit and lot.remaining + points > max(lot.points, 0):
            raise StorageError("draws", f"lot {lot_id} of {posting.member_id!r} cannot take {points} back")


def roll_of(posting: Posting | Entry) -> datetime | None:
    """The date a roll moves the member's rolling lots to, or ``None`` if ``posting`` is no roll.

    A roll is a ``redate`` entry of rolling lots that lists none and has a date (``expires_at``):
    activity under an inactivity policy, which moves every open rolling lot of points dated
    before that date to it (:func:`redates_of`). The member's rolling lots move together, so
    the entry need not list them; listing them made a purchase's entry as long as the member's
    open lots, and the ledger grow with their square (docs/performance.md, "Inactivity expiry").
    """
    until = posting.expires_at
    if posting.redates or posting.kind is not EntryKind.REDATE or not posting.rolling or until is None:
        return None
    if until.utcoffset() is None:
        raise StorageError("expires_at", "a roll's date must be timezone-aware")
    return until


def rolls_to(lot: Lot, until: datetime) -> bool:
    """Whether a roll to ``until`` moves ``lot``: open, of points, rolling, dated before it."""
    return lot.rolling and lot.remaining > 0 and lot.expires_at is not None and lot.expires_at < until


def redates_of(
    posting: Posting | Entry, lots: Callable[[], Iterable[Lot]]
) -> tuple[tuple[int, datetime | None], ...]:
    """The lots ``posting`` moves, with their new dates: those it lists (``redates``), or those a
    roll (:func:`roll_of`) moves among the member's lots (``lots()``, called for a roll only)."""
    until = roll_of(posting)
    if until is None:
        return posting.redates
    return tuple((lot.id, until) for lot in lots() if rolls_to(lot, until))


def check_redates(posting: Posting | Entry, lots: Mapping[int, Lot]) -> None:
    """A ``redate`` entry moves the dates of the member's open lots of points, nothing else.

    It has no points and no draws, names each lot once, and every lot is a
    lot of points (not a debt) of the member's, open or spent to the last
    point (a hold may still give points back to it). ``lots`` maps the ids
    named to their current state, closed lots included. The entry's
    ``rolling`` flag becomes each moved lot's. Every adapter calls this
    before it writes.
    """
    if posting.kind is not EntryKind.REDATE or posting.points or posting.draws:
        raise StorageError("redates", "only a redate entry, of no points and no draws, moves lot dates")
    if len({lot_id for lot_id, _ in posting.redates}) != len(posting.redates):
        raise StorageError("redates", "an entry moves each lot at most once")
    for lot_id, expires in posting.redates:
        lot = lots.get(lot_id)
        if lot is None or lot.member_id != posting.member_id or lot.points <= 0:
            raise StorageError("redates", f"{posting.member_id!r} has no lot of points {lot_id}")
        if expires is not None and expires.utcoffset() is None:
            raise StorageError("redates", f"lot {lot_id}: a new date must be timezone-aware")


class DrawOrder(enum.Enum):
    """Which of a member's lots a debit spends first: a program's ``[expiry] draw``."""

    #: The points nearest their expiry date first, points that never expire last: what the
    #: member would lose soonest is used first.
    SOONEST_EXPIRING = "soonest_expiring"
    #: The points earned longest ago first (first in, first out), whatever their dates.
    OLDEST_EARNED = "oldest_earned"


def spend_order(lot: Lot, order: DrawOrder = DrawOrder.SOONEST_EXPIRING) -> tuple[bool, datetime | None, int]:
    """Soonest-expiring first, lots that never expire last; ties oldest first. With
    :attr:`DrawOrder.OLDEST_EARNED`, by the till time they were earned at, ties by id.

    >>> from datetime import timedelta, timezone
    >>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
    >>> old = Lot(1, "M1", 10, 10, t, expires_at=t + timedelta(days=90))
    >>> new = Lot(2, "M1", 10, 10, t + timedelta(days=5), expires_at=t + timedelta(days=30))
    >>> [lot.id for lot in sorted([old, new], key=spend_order)]
    [2, 1]
    >>> [lot.id for lot in sorted([new, old], key=lambda lot: spend_order(lot, DrawOrder.OLDEST_EARNED))]
    [1, 2]
    """
    if order is DrawOrder.OLDEST_EARNED:
        return (False, lot.earned_at, lot.id)
    return (lot.expires_at is None, lot.expires_at, lot.id)


def draw_order(
    lot: Lot, now: datetime, order: DrawOrder = DrawOrder.SOONEST_EXPIRING
) -> tuple[bool, bool, datetime | None, int]:
    """The order :func:`draw` takes lots in at ``now``: available ones first, each part in
    :func:`spend_order`."""
    return (lot.pending_at(now), *spend_order(lot, order))


def summarize(lots: Iterable[Lot], now: datetime) -> Balance:
    """The :class:`Balance` that open ``lots`` make at ``now``."""
    available = pending = overdue = 0
    for lot in lots:
        if lot.expired_at(now):
            overdue += lot.remaining
        elif lot.pending_at(now):
            pending += lot.remaining
        else:
            available += lot.remaining
    return Balance(available, pending, overdue)


def draw(
    lots: Sequence[Lot],
    points: int,
    now: datetime,
    *,
    pending: bool = False,
    order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
) -> tuple[tuple[int, int], ...]:
    """The draws that take ``points`` from ``lots`` in :func:`spend_order` (by ``order``), at ``now``.

    Only available lots are drawn from, unless ``pending`` (a staff
    correction may also take points still in their return window, after
    the available ones); expired lots never. Raises
    :class:`~loyalty.errors.InsufficientPoints` when they do not reach.
    """
    usable = [lot for lot in lots if lot.remaining > 0 and not lot.expired_at(now)]
    ordered = sorted(usable, key=lambda lot: draw_order(lot, now, order))
    if not pending:
        ordered = [lot for lot in ordered if not lot.pending_at(now)]
    # A debt a return left counts against the points: nothing is spent past zero.
    debt = sum(lot.remaining for lot in lots if lot.debt)
    return draw_from(ordered, points, sum(lot.remaining for lot in ordered) + debt)


def draw_from(order: Iterable[Lot], points: int, reach: int) -> tuple[tuple[int, int], ...]:
    """:func:`draw` for lots already usable and in :func:`draw_order`, given what they ``reach``
    (:meth:`Balance.reach`: debts counted against them).

    ``order`` may be lazy: it is read only as far as ``points`` need, so a store can hand over
    the member's lots a page at a time. Raises
    :class:`~loyalty.errors.InsufficientPoints` when ``points`` exceed ``reach``.
    """
    if points > reach:
        available = max(0, reach)
        raise InsufficientPoints(
            "points",
            f"{points} requested but only {available} available",
            available=available,
            requested=points,
        )
    return _take(order, points)


def take_back(
    lots: Sequence[Lot],
    points: int,
    own: int | None,
    now: datetime,
    order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
) -> tuple[tuple[int, int], ...]:
    """The draws that take up to ``points`` back for a return: first the purchase's ``own`` lot,
    then lots still pending, then available ones in :func:`spend_order` (by ``order``); never
    expired ones.

    They may fall short of ``points`` when the member has spent them.
    """
    usable = [lot for lot in lots if lot.remaining > 0 and not lot.expired_at(now)]
    return _take(
        sorted(usable, key=lambda lot: (lot.id != own, not lot.pending_at(now), *spend_order(lot, order))),
        points,
    )


def _take(order: Iterable[Lot], points: int) -> tuple[tuple[int, int], ...]:
    """Negative draws taking up to ``points`` from the lots in ``order``."""
    if not points:
        return ()
    draws: list[tuple[int, int]] = []
    for lot in order:
        taken = min(points, lot.remaining)
        draws.append((lot.id, -taken))
        points -= taken
        if not points:
            break  # before asking a lazy ``order`` for one more lot
    return tuple(draws)


def repayments(debts: Iterable[Lot], points: int) -> tuple[tuple[int, int], ...]:
    """Positive draws that repay ``debts`` (oldest first) out of ``points`` a credit brings."""
    draws = []
    for lot in sorted(debts, key=lambda lot: lot.id):
        if not points:
            break
        repaid = min(points, -lot.remaining)
        draws.append((lot.id, repaid))
        points -= repaid
    return tuple(draws)
