"""Merges: two members found to be one person become one, the survivor.

Everything the absorbed member has moves to the survivor as new records that
say why, and nothing is created or lost:

- its points: one ``merge`` entry takes every open lot off the absorbed
  member, and the survivor gets one ``merge`` entry per lot, keeping the
  lot's expiry date (and whether it rolls), so no point lives longer or
  shorter for the merge. The survivor's credits first repay what returns
  left it owing, like any credit;
- its tier progress in the current window, tally by tally, under the
  program's tier metric (a ``balance`` metric follows the points);
- its habits: the visit count, the spend of each month since its first
  visit, and its first and last visits (the survivor keeps the earlier first
  and the later last);
- the referrals it made: the referees count as the survivor's, their
  history kept (a pending referral of the survivor itself by the absorbed
  member is rejected: nobody refers themselves);
- its cards and keys, which find the survivor from then on.

The absorbed member is closed. What a merge cannot carry blocks it
(:class:`~loyalty.errors.MergeBlocked` naming ``absorbed``): open holds
(capture or release them first), unused vouchers still valid (use or void
them), points still pending (a return could still take them back from the
absorbed member: wait for their date), and points owed from a return
(settle them with an adjustment).

>>> from datetime import datetime, timedelta, timezone
>>> from loyalty.lots import Lot
>>> from loyalty.plans import Account
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> june = t + timedelta(days=90)
>>> lots = (Lot(1, "B", 30, 30, t, expires_at=june), Lot(2, "B", 50, 20, t))
>>> plan = plan_merge(Account("A", 10), Account("B", 50, lots=lots), key="X1", at=t, now=t, reason="dup")
>>> [(p.member_id, p.points, p.draws, p.expires_at == june) for p in plan.postings]
[('B', -50, ((1, -30), (2, -20)), False), ('A', 30, (), True), ('A', 20, (), False)]
>>> plan.balances
(0, 40, 60)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo

import attrs

from loyalty.checks import check_distinct
from loyalty.earning_keys import visits_key
from loyalty.erasure import ERASED
from loyalty.errors import MergeBlocked
from loyalty.habits import instant, month_key, seen_key, spent_key
from loyalty.holds import Hold
from loyalty.identifiers import Identifier, IdentifierStatus
from loyalty.json_form import JsonForm
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Lot
from loyalty.members import Member
from loyalty.outbox import EventKind, NewEvent
from loyalty.plans import Account, Plan, Planner
from loyalty.pseudonyms import merged_referrer
from loyalty.referrals import Referral, ReferralState
from loyalty.tallies import Tally
from loyalty.tiers import Metric, Tiers, metric_key
from loyalty.vouchers import Voucher

__all__ = [
    "REFEREES_PART",
    "SURVIVOR_PART",
    "Carried",
    "Merge",
    "Moved",
    "carry",
    "check_mergeable",
    "check_parties",
    "habit_keys",
    "lot_map",
    "merged_key",
    "moved_keys",
    "moved_referrals",
    "plan_absorbed",
    "plan_merge",
    "plan_survivor",
    "progress_keys",
    "received_lots",
]

#: A tally to move: what it is, the absorbed member's key, the survivor's key.
Pair = tuple[str, str, str]

#: What the keys of a merge's later parts add to its id: the record of what the survivor is owed
#: (written with the absorbed member's part) and of the referees' referrals to move (written with
#: the survivor's); each part's own record adds :data:`loyalty.transfers.RECEIVED` to it. Ids with
#: a control character are refused (:func:`loyalty.checks.check_id`): no caller's id takes them.
SURVIVOR_PART, REFEREES_PART = "\x1fsurvivor", "\x1freferees"


def merged_key(member_id: str) -> str:
    """The tally saying what last closed or reopened the member: its ``count`` is the ``seq`` of
    the ``merge`` entry of the merge that closed it, ``-1`` after a change of status to or from
    closed, ``0`` for neither since this tally was kept (a merge of an earlier version, or none).
    Kept in the member's own row (:mod:`loyalty.store.member_tallies`), so that finding where a
    merged member went reads one entry, not its history."""
    return f"merged|{member_id}"


#: A lot of the absorbed member's as the survivor receives it: its id, its points, its expiry date,
#: whether it rolls and the day it was earned (which the survivor's entry names).
Moved = tuple[int, int, datetime | None, bool, str]


@attrs.frozen
class Carried(JsonForm):
    """A tally the merge moved: ``what`` it counts, from the absorbed member's key ``source`` to
    the survivor's ``target``. ``taken`` came off the source (all of it), ``added`` went onto the
    target: the same, except for the first and last visits, where the survivor keeps the earlier
    first and the later last (microseconds since 1970, as :mod:`loyalty.habits` keeps them)."""

    what: str
    source: str
    target: str
    taken: Tally
    added: Tally


@attrs.frozen
class Merge(JsonForm):
    """A merge as recorded: the absorbed member's ``merge`` entry (``sent``: every open lot
    drawn) and the survivor's (``received``: one per lot, each opening a lot with its expiry
    date; a ``collect`` entry follows one when the survivor owed points from a return), the
    tallies carried (tier progress and habits), the referees now the survivor's and the keys
    that now find it. ``points`` are stored units."""

    id: str
    survivor: str
    absorbed: str
    points: int
    reason: str
    sent: Entry
    received: tuple[Entry, ...]
    carried: tuple[Carried, ...] = ()
    referrals: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    @property
    def survivor_balance(self) -> int:
        """The survivor's balance right after the merge."""
        return self.received[-1].balance_after


def check_parties(survivor: str, absorbed: str) -> None:
    """A merge needs two members: a member merged into itself would move nothing."""
    check_distinct("absorbed", absorbed, "survivor", survivor)


def check_mergeable(
    absorbed: Account, holds: Sequence[Hold], now: datetime, vouchers: Sequence[Voucher] = ()
) -> None:
    """Refuse, naming ``absorbed``, what a merge cannot carry: open holds, unused vouchers still
    valid at ``now`` (both hold points drawn from the absorbed member's lots, which a release or
    a void would give back to them), points still pending at ``now`` and points owed from a
    return (its account read with its lots). A voucher past its time is no obstacle: it ends
    unused, without points back.

    >>> t = datetime(2024, 3, 1)
    >>> check_mergeable(Account("B", 0, owed=5, lots=()), [], t)
    Traceback (most recent call last):
    ...
    loyalty.errors.MergeBlocked: absorbed: member 'B' owes 5 points from a return: settle them first
    """
    member = absorbed.member_id
    # Points drawn from the absorbed member's lots and not spent yet: a release or a void would
    # give them back to lots the merge had emptied.
    reserved = (
        ("holds", "open holds", [hold.id for hold in holds], "capture or release them first"),
        (
            "vouchers",
            "unused vouchers",
            [voucher.code for voucher in vouchers if voucher.open and voucher.expires_at > now],
            "use or void them first",
        ),
    )
    for blocking, what, ids, todo in reserved:
        if ids:
            listed = ", ".join(repr(each) for each in ids)
            raise MergeBlocked(
                "absorbed", f"member {member!r} has {what} ({listed}): {todo}", blocking=blocking
            )
    lots = absorbed.lots or ()
    pending = [lot for lot in lots if lot.remaining > 0 and lot.pending_at(now)]
    if pending:
        until = max(lot.vests_at for lot in pending if lot.vests_at is not None)
        points = sum(lot.remaining for lot in pending)
        raise MergeBlocked(
            "absorbed",
            f"member {member!r} has {points} points pending until {until.isoformat()}: "
            "a return could still take them back",
            blocking="pending",
        )
    owed = absorbed.debt + absorbed.owed
    if owed:
        raise MergeBlocked(
            "absorbed",
            f"member {member!r} owes {owed} points from a return: settle them first",
            blocking="owed",
        )


def plan_merge(
    survivor: Account,
    absorbed: Account,
    *,
    key: str,
    at: datetime,
    now: datetime,
    reason: str,
    carried: Sequence[Carried] = (),
    data: Mapping[str, object] | None = None,
) -> Plan:
    """The entries, tally changes and event of merging ``absorbed`` (its account read with its
    lots, checked by :func:`check_mergeable`) into ``survivor``, decided at the engine's ``now``,
    as one plan: :func:`plan_absorbed` then :func:`plan_survivor` (which the service writes in
    two units of work).

    ``carried`` are the tallies to move (:func:`carry`); ``data`` what the ``member_merged``
    event says besides the points and lots (the keys and referrals moved).
    """
    # Each part writes its own member's rows: one after the other, they are the whole merge.
    sent, moved = plan_absorbed(
        absorbed, survivor.member_id, key=key, at=at, now=now, reason=reason, carried=carried, data=data
    )
    received = plan_survivor(
        survivor, absorbed.member_id, moved, key=key, at=at, now=now, reason=reason, carried=carried
    )
    return Plan(
        sent.postings + received.postings,
        sent.balances + received.balances,
        {**sent.tallies, **received.tallies},
        sent.events + received.events,
    )


def plan_absorbed(
    absorbed: Account,
    to: str,
    *,
    key: str,
    at: datetime,
    now: datetime,
    reason: str,
    carried: Sequence[Carried] = (),
    data: Mapping[str, object] | None = None,
) -> tuple[Plan, list[Moved]]:
    """The absorbed member's part of a merge (see :func:`plan_merge`): its debit of every open
    lot, the tallies taken off it and the ``member_merged`` event; and the lots as the survivor's
    part credits them."""
    planner = Planner([absorbed])
    lots = [lot for lot in absorbed.lots or () if lot.remaining]
    points = sum(lot.remaining for lot in lots)
    frm = absorbed.member_id
    draws = tuple((lot.id, -lot.remaining) for lot in lots)
    planner.post(
        Posting(frm, EntryKind.MERGE, -points, at, now, key, f"merged into {to}: {reason}", draws=draws)
    )
    planner.add_tallies({tally.source: -tally.taken for tally in carried})
    event = {
        "survivor": to,
        "absorbed": frm,
        "points": points,
        "lots": len(lots),
        **(data or {}),
        "reason": reason,
    }
    planner.event(NewEvent(EventKind.MEMBER_MERGED, frm, at, now, key, event))
    moved = [
        (lot.id, lot.remaining, lot.expires_at, lot.rolling, lot.earned_at.date().isoformat()) for lot in lots
    ]
    return planner.plan(), moved


def plan_survivor(
    survivor: Account,
    frm: str,
    moved: Sequence[Moved],
    *,
    key: str,
    at: datetime,
    now: datetime,
    reason: str | None,
    carried: Sequence[Carried] = (),
) -> Plan:
    """The survivor's part of a merge (see :func:`plan_merge`): a credit per lot ``moved``, each
    with the lot's dates, and the tallies added to it. ``reason`` is ``None`` once an erasure
    took it from the absorbed member's record: the credits then say what the erasure makes of
    them (:data:`loyalty.erasure.ERASED`), as of a merge written whole before it.

    >>> from datetime import timezone
    >>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
    >>> plan = plan_survivor(Account("A", 0), "B", [(1, 30, t, False, "2024-02-01")], key="X1", at=t,
    ...                      now=t, reason=None)
    >>> [(p.member_id, p.points, p.reason) for p in plan.postings]
    [('A', 30, 'erased')]
    """
    planner = Planner([survivor])
    to = survivor.member_id
    for lot_id, points, expires_at, rolling, earned in moved:
        why = ERASED if reason is None else f"merged from {frm} (its lot {lot_id}, earned {earned}): {reason}"
        received = Posting(
            to, EntryKind.MERGE, points, at, now, key, why, expires_at=expires_at, rolling=rolling
        )
        # The absorbed member's date as it stands: the lot rolls with the survivor's activity.
        planner.credit(received, rolling=False)
    if not moved:
        # A merge is in both histories, even of a member with no points.
        why = ERASED if reason is None else f"merged from {frm}, no points: {reason}"
        planner.post(Posting(to, EntryKind.MERGE, 0, at, now, key, why))
    planner.add_tallies({tally.target: tally.added for tally in carried})
    return planner.plan()


# -- what else moves ---------------------------------------------------------------------------


def progress_keys(
    tiers: Tiers, zone: tzinfo, survivor: Member, absorbed: Member, now: datetime
) -> list[Pair]:
    """The tier metric tallies to move: the absorbed member's in each stretch of the window at
    ``now`` onto the survivor's of the same stretch (a membership year is each member's own: the
    current one). Nothing under a balance metric: the balance follows the points."""
    if tiers.metric is Metric.BALANCE:
        return []
    theirs = tiers.buckets(now, zone, absorbed.enrolled_at)
    mine = tiers.buckets(now, zone, survivor.enrolled_at)
    what = f"tier {tiers.metric.value}"
    return [
        (
            f"{what} {bucket}",
            metric_key(tiers.metric, absorbed.id, bucket),
            metric_key(tiers.metric, survivor.id, own),
        )
        for bucket, own in zip(theirs, mine, strict=True)
    ]


def habit_keys(survivor: str, absorbed: str, seen: Tally, zone: tzinfo, now: datetime) -> list[Pair]:
    """The habit tallies to move: the visit count, the first and last visits (``seen``, the
    absorbed member's, read first) and the spend of each month from its first visit to the
    later of its last visit and ``now`` (program timezone)."""
    pairs = [("visits", visits_key(absorbed), visits_key(survivor))]
    if not seen.count:
        return pairs  # no visit: no month spent in
    pairs.append(("first and last visit", seen_key(absorbed), seen_key(survivor)))
    month = instant(seen.count).astimezone(zone).replace(day=1, hour=12)
    last = max(instant(seen.points), now).astimezone(zone)
    while (month.year, month.month) <= (last.year, last.month):
        text = month_key(month)
        pairs.append((f"spend {text}", spent_key(absorbed, text), spent_key(survivor, text)))
        month = (month + timedelta(days=32)).replace(day=1)
    return pairs


def carry(pairs: Iterable[Pair], read: Mapping[str, Tally]) -> tuple[Carried, ...]:
    """The tallies ``pairs`` name as moved, given both sides ``read``; one that is zero on the
    absorbed member's side moves nothing and is left out.

    >>> from decimal import Decimal
    >>> seen = ("first and last visit", "seen|B", "seen|A")
    >>> read = {"seen|B": Tally(5, Decimal(9)), "seen|A": Tally(7, Decimal(8))}
    >>> [(c.source, c.added) for c in carry([seen], read)]
    [('seen|B', Tally(count=-2, points=Decimal('1')))]
    """
    carried = []
    for what, source, target in pairs:
        taken = read.get(source, Tally())
        if not taken.count and not taken.points:
            continue
        added = taken
        if source.startswith(seen_key("")):
            # The earlier first visit and the later last: deltas onto what the survivor has.
            mine = read.get(target, Tally())
            first = taken.count if not mine.count else min(mine.count, taken.count)
            last = max(mine.points, taken.points)
            added = Tally(first - mine.count, last - mine.points)
        carried.append(Carried(what, source, target, taken, added))
    return tuple(carried)


def moved_referrals(
    referrals: Iterable[Referral], survivor: str, now: datetime, lots: Mapping[int, int]
) -> list[Referral]:
    """The absorbed member's referrals (as referrer) as the survivor's: the same history, the
    referrer's bonus lot the survivor's lot that received it (``lots`` maps the absorbed member's
    lots to the survivor's; a lot spent already maps to none). A pending referral of the survivor
    itself is rejected instead: nobody is rewarded for referring themselves; one decided already
    is history and stays as it is."""
    moved = []
    for referral in referrals:
        if referral.referee == survivor:
            if referral.state is ReferralState.PENDING:
                why = merged_referrer(referral.referrer)
                moved.append(attrs.evolve(referral, state=ReferralState.REJECTED, reason=why, decided_at=now))
            continue
        lot = None if referral.referrer_lot is None else lots.get(referral.referrer_lot)
        moved.append(attrs.evolve(referral, referrer=survivor, referrer_lot=lot))
    return moved


def moved_keys(identifiers: Iterable[Identifier], survivor: str) -> list[Identifier]:
    """The absorbed member's keys as the survivor's: active keys and replaced cards (which find
    the member as the program's ``lost_card`` says); removed keys find no one and stay.

    >>> from datetime import UTC
    >>> from loyalty.identifiers import IdentifierKind
    >>> t = datetime(2024, 3, 1, tzinfo=UTC)
    >>> [k.member_id for k in moved_keys([Identifier(IdentifierKind.CARD, "12", "B", t)], "A")]
    ['A']
    """
    return [
        attrs.evolve(identifier, member_id=survivor)
        for identifier in identifiers
        if identifier.status is not IdentifierStatus.REMOVED
    ]


def lot_map(lots: Sequence[Lot], received: Sequence[Entry]) -> dict[int, int]:
    """The absorbed member's open lots (in the order :func:`plan_merge` credits them) against the
    survivor's lots that received them (the entries that opened them, ``collect`` ones aside)."""
    return received_lots([lot.id for lot in lots if lot.remaining], received)


def received_lots(moved: Sequence[int], received: Sequence[Entry]) -> dict[int, int]:
    """The absorbed member's lots ``moved`` (their ids, in the order they were credited) against
    the survivor's lots that received them (see :func:`lot_map`)."""
    opened = [entry for entry in received if entry.kind is EntryKind.MERGE and entry.points > 0]
    return dict(zip(moved, [entry.seq for entry in opened], strict=True))
