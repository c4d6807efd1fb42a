"""Transfers: points moving from one member to another, as the ledger of both records them.

The sender's points are drawn exactly as a redemption draws them (available
lots only, in the program's draw order, past-due lots never), and each run of
drawn lots that share an expiry date becomes one lot of the receiver's, with
that date: a transfer neither extends nor shortens the points' life. Points
still pending (in a purchase's return window) cannot be sent: a return could
still take them back, and they would have left. Both sides are ``transfer``
entries under the caller's id; the receiver's credits first repay what
returns left it owing, like any credit.

>>> from datetime import datetime, timedelta, timezone
>>> from loyalty.lots import Lot
>>> from loyalty.plans import Account
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> june, july = t + timedelta(days=90), t + timedelta(days=120)
>>> lots = [Lot(1, "A", 30, 30, t, expires_at=june), Lot(2, "A", 50, 50, t, expires_at=july)]
>>> plan = plan_transfer(
...     Account("A", 80), Account("B", 0), 40, drawable=lots, reach=80, key="X1", at=t, now=t, reason="gift"
... )
>>> [(p.member_id, p.points, p.draws, p.expires_at == june) for p in plan.postings]
[('A', -40, ((1, -30), (2, -10)), False), ('B', 30, (), True), ('B', 10, (), False)]
>>> plan.balances
(40, 30, 40)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from loyalty.checks import check_distinct
from loyalty.erasure import ERASED
from loyalty.json_form import JsonForm
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Lot, draw_from
from loyalty.members import Member
from loyalty.money import EXACT
from loyalty.outbox import EventKind, NewEvent
from loyalty.plans import Account, Plan, Planner
from loyalty.program import Program
from loyalty.tallies import Tally
from loyalty.tiers import metric_key

__all__ = [
    "PARTED_KINDS",
    "RECEIVED",
    "Transfer",
    "check_parties",
    "plan_receiving",
    "plan_return",
    "plan_sending",
    "plan_transfer",
    "progress",
    "received_text",
    "returned_text",
]

#: What the receiver's record of a transfer adds to the caller's id to make its key. The caller's
#: id holds the command's record (written with the sender's part); ids are refused with a control
#: character in them (:func:`loyalty.checks.check_id`), so no caller's id ends so, and the
#: receiver's record never takes a key a caller could use.
RECEIVED = "\x1freceived"

#: The kinds of the first part's record of a command written one member at a time, which
#: maintenance looks for without its :data:`RECEIVED` record (``unreceived_transfers``,
#: ``unfinished_parts``): a transfer's sender's part, a referral reward's and a take-back's
#: referee's part (:mod:`loyalty.service.referral_parts`), a merge's absorbed member's part and
#: survivor's part (:mod:`loyalty.service.merging`, :mod:`loyalty.service.surviving`), an
#: erasure's part for its other members (:mod:`loyalty.service.erasure_parts`). The SQL
#: adapters index the records of these kinds alone (``operations_parts``), so that
#: finding them is a probe, not a scan of every record; a kind added here needs a migration
#: that widens that index.
PARTED_KINDS = (
    "transfer",
    "referral_reward",
    "referral_take_back",
    "member_merge_owed",
    "member_merge_referees",
    "member_erasure_others",
)

#: A run of drawn points that keep one date: (points, expiry date, whether it rolls).
Run = tuple[int, datetime | None, bool]


@attrs.frozen
class Transfer(JsonForm):
    """A transfer as recorded: the sender's ``transfer`` entry and the receiver's (one per expiry
    date of the points received, each opening a lot with that date; a ``collect`` entry follows
    one when the receiver owed points from a return)."""

    id: str
    from_member: str
    to_member: str
    points: int
    sent: Entry
    received: tuple[Entry, ...]

    @property
    def from_balance(self) -> int:
        """The sender's balance right after the transfer."""
        return self.sent.balance_after

    @property
    def to_balance(self) -> int:
        """The receiver's balance right after the transfer."""
        return self.received[-1].balance_after


def check_parties(from_member: str, to_member: str) -> None:
    """A transfer needs two members: points sent to their own owner would move nothing."""
    check_distinct("to_member", to_member, "from_member", from_member)


def plan_transfer(
    sender: Account,
    receiver: Account,
    points: int,
    *,
    drawable: Sequence[Lot],
    reach: int,
    key: str,
    at: datetime,
    now: datetime,
    reason: str,
    counted: Mapping[str, Tally] | None = None,
) -> Plan:
    """The entries, tally changes and event of sending ``points`` from ``sender`` to ``receiver``,
    decided at the engine's ``now``, as one plan: :func:`plan_sending` then
    :func:`plan_receiving` (which the service writes in two units of work).

    ``drawable`` are the sender's lots in draw order at ``now`` (available ones, in the program's
    order), as far as the points need them, and ``reach`` what they reach, debts counted against
    them (:func:`loyalty.store.spending.drawable` reads both, as a redemption's draw does). Raises
    :class:`~loyalty.errors.InsufficientPoints` when ``points`` are out of reach, with the
    figures a redemption would give. ``counted`` is what the points add to the
    receiver's tier metric (:func:`progress`).
    """
    planner = Planner([sender, receiver])
    runs = _send(planner, sender.member_id, receiver.member_id, points, drawable, reach, key, at, now, reason)
    why = received_text(sender.member_id, reason)
    _receive(planner, receiver.member_id, runs, key, at, now, why, counted)
    return planner.plan()


def plan_sending(
    sender: Account,
    to: str,
    points: int,
    *,
    drawable: Sequence[Lot],
    reach: int,
    key: str,
    at: datetime,
    now: datetime,
    reason: str,
) -> tuple[Plan, list[Run]]:
    """The sender's part of a transfer (see :func:`plan_transfer`): its debit and the transfer's
    event, and the runs of drawn points by the dates they keep, which the receiver's part credits."""
    planner = Planner([sender])
    runs = _send(planner, sender.member_id, to, points, drawable, reach, key, at, now, reason)
    return planner.plan(), runs


def plan_receiving(
    receiver: Account,
    frm: str,
    runs: Sequence[Run],
    *,
    key: str,
    at: datetime,
    now: datetime,
    reason: str | None,
    counted: Mapping[str, Tally] | None = None,
) -> Plan:
    """The receiver's part of a transfer (see :func:`plan_transfer`): a credit per run of the
    sender's points, each opening a lot with the run's date, and what they add to its tier.
    ``reason`` is ``None`` once an erasure took it from the sender's record
    (:func:`received_text`)."""
    planner = Planner([receiver])
    _receive(planner, receiver.member_id, runs, key, at, now, received_text(frm, reason), counted)
    return planner.plan()


def plan_return(
    sender: Account, to: str, runs: Sequence[Run], *, key: str, at: datetime, now: datetime
) -> Plan:
    """The points of a transfer back with its sender, instead of the receiver's part, when the
    receiver ``to`` was erased before that part was written: a credit per run, each opening a lot
    with the date the points had (as the receiver's would), saying why (:func:`returned_text`).

    >>> from datetime import datetime, timezone
    >>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
    >>> plan = plan_return(Account("A", 20), "B", [(50, t, False), (10, None, False)], key="X1", at=t, now=t)
    >>> [(p.member_id, p.points, p.reason) for p in plan.postings]
    [('A', 50, 'transfer to B returned: B was erased'), ('A', 10, 'transfer to B returned: B was erased')]
    """
    planner = Planner([sender])
    _receive(planner, sender.member_id, runs, key, at, now, returned_text(to), None)
    return planner.plan()


def received_text(frm: str, reason: str | None) -> str:
    """What a receiver's credit says: where the points came from and the transfer's reason; or,
    when the sender's erasure took the reason from its record before the receiver's part was
    written, what the erasure makes of the receiver's entries of a transfer written whole
    (:data:`loyalty.erasure.ERASED`), so a crash between the parts changes no text.

    >>> received_text("A", "gift"), received_text("A", None)
    ('transfer from A: gift', 'erased')
    """
    return ERASED if reason is None else f"transfer from {frm}: {reason}"


def returned_text(to: str) -> str:
    """What the sender's credit of a transfer's points back says (:func:`plan_return`)."""
    return f"transfer to {to} returned: {to} was erased"


def _send(
    planner: Planner,
    frm: str,
    to: str,
    points: int,
    drawable: Sequence[Lot],
    reach: int,
    key: str,
    at: datetime,
    now: datetime,
    reason: str,
) -> list[Run]:
    draws = draw_from(drawable, points, reach)
    planner.post(
        Posting(frm, EntryKind.TRANSFER, -points, at, now, key, f"transfer to {to}: {reason}", draws=draws)
    )
    data = {"from_member": frm, "to_member": to, "points": points, "reason": reason}
    planner.event(NewEvent(EventKind.POINTS_TRANSFERRED, frm, at, now, key, data))
    drawn = {lot.id: lot for lot in drawable}
    return [(taken, lot.expires_at, lot.rolling) for lot, taken in _runs(drawn, draws)]


def _receive(
    planner: Planner,
    to: str,
    runs: Sequence[Run],
    key: str,
    at: datetime,
    now: datetime,
    why: str,
    counted: Mapping[str, Tally] | None,
) -> None:
    for taken, expires_at, rolling in runs:
        received = Posting(
            to,
            EntryKind.TRANSFER,
            taken,
            at,
            now,
            key,
            why,
            expires_at=expires_at,
            rolling=rolling,
        )
        # The sender's date as it stands: the lot rolls with the receiver's activity from now on.
        planner.credit(received, rolling=False)
    if counted:
        planner.add_tallies(counted)


def _runs(lots: Mapping[int, Lot], draws: tuple[tuple[int, int], ...]) -> list[tuple[Lot, int]]:
    """The drawn points by the dates they keep, in draw order: consecutive lots that expire
    together (and roll alike) become one lot of the receiver's."""
    runs: list[tuple[Lot, int]] = []
    for lot_id, taken in draws:
        lot = lots[lot_id]
        if runs and (runs[-1][0].expires_at, runs[-1][0].rolling) == (lot.expires_at, lot.rolling):
            runs[-1] = (runs[-1][0], runs[-1][1] - taken)
        else:
            runs.append((lot, -taken))
    return runs


def progress(current: Program, receiver: Member, points: int, at: datetime) -> dict[str, Tally]:
    """What ``points`` (stored units) received at ``at`` add to the receiver's tier metric under
    ``current``, the version in force (whose tiers decide): nothing unless its tiers
    ``count_transfers``; otherwise the points, in the stretch of the window of the transfer's
    time, as a purchase's count in its own."""
    tiers = current.tiers
    if tiers is None or not tiers.count_transfers:
        return {}
    bucket = tiers.bucket(at, current.zone, receiver.enrolled_at)
    gained = Decimal(points).scaleb(-current.scale, context=EXACT)
    return {metric_key(tiers.metric, receiver.id, bucket): Tally(0, gained)}
