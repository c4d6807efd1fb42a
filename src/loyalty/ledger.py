"""The ledger: append-only entries that each say why points moved.

A balance is never stored on its own authority: adapters maintain it as a
cache of :func:`balance_of` over the member's entries, and the contract suite
checks that the two agree after every write.

>>> from datetime import datetime, timezone
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> entries = [Entry(1, "M1", EntryKind.EARN, 40, 40, t, t, "T1-1", "purchase"),
...            Entry(2, "M1", EntryKind.REDEEM, -25, 15, t, t, "T1-2", "redemption")]
>>> balance_of(entries)
15
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from loyalty.json_form import JsonForm

__all__ = [
    "CALLER_TEXT",
    "ERASED_TEXT",
    "Entry",
    "EntryKind",
    "Posting",
    "balance_of",
    "rule_shares",
    "shares_of",
]


class EntryKind(enum.Enum):
    EARN = "earn"
    REDEEM = "redeem"
    ADJUST = "adjust"
    #: Points whose lot reached its expiry date (written by maintenance or by a debit).
    EXPIRE = "expire"
    #: Points reserved at the till (a hold); spent if the hold is captured.
    HOLD = "hold"
    #: Held points given back to their lots: the hold was released, expired, or captured in part.
    RELEASE = "release"
    #: Points a return or void takes back from what its purchase earned.
    RETURN = "return"
    #: Points a return gives back: those spent on the returned goods.
    REFUND = "refund"
    #: Points a return took back beyond the member's points, collected from a later credit.
    COLLECT = "collect"
    #: A move between tiers (zero points): the reason says from which to which, and why.
    TIER = "tier"
    #: New expiry dates for open lots (zero points): activity under an inactivity policy,
    #: or a program version that re-dates points earned before it.
    REDATE = "redate"
    #: Points sent to another member (negative, drawing on the sender's lots) or received from
    #: one (positive, a lot keeping the sent points' expiry date); the reason names the other.
    TRANSFER = "transfer"
    #: Two members merged into one: the absorbed member's points leaving it (negative, drawing
    #: on every open lot) and reaching the survivor (positive, a lot per lot, keeping its expiry
    #: date); the reason names the other member. Zero points when the absorbed member had none.
    MERGE = "merge"


#: What an erased entry's reason (one its caller wrote) and actor read (:mod:`loyalty.erasure`).
ERASED_TEXT = "erased"
#: The kinds of entry whose reason the caller wrote, which an erasure makes :data:`ERASED_TEXT`
#: (the others say what the engine did, and keep it, or name the erased member by its pseudonym).
CALLER_TEXT = frozenset(
    {EntryKind.REDEEM, EntryKind.ADJUST, EntryKind.TIER, EntryKind.TRANSFER, EntryKind.MERGE}
)


@attrs.frozen
class Posting:
    """An entry the engine asks the store to append (the store numbers it)."""

    member_id: str
    kind: EntryKind
    points: int
    occurred_at: datetime
    recorded_at: datetime
    source_id: str
    reason: str
    actor: str | None = None
    rules: tuple[str, ...] = ()
    program_version: str | None = None
    #: For a credit: when its lot can be spent (``None``: at once) and when it expires (``None``: never).
    vests_at: datetime | None = None
    expires_at: datetime | None = None
    #: For a debit: ``(lot, points)`` pairs, the (negative) points taken from each lot.
    draws: tuple[tuple[int, int], ...] = ()
    #: For a credit: whether its lot's date moves with the member's activity (inactivity expiry).
    rolling: bool = False
    #: For a ``redate`` entry: ``(lot, expires_at)`` pairs, the open lots' new dates (none for a
    #: roll, which moves the member's rolling lots to its ``expires_at``: loyalty.lots.roll_of).
    redates: tuple[tuple[int, datetime | None], ...] = ()
    #: With more than one rule: each rule's whole points, in the order of ``rules``, adding up to
    #: ``points`` (:func:`shares_of`). The store keeps them beside the entry for the figures by
    #: rule (:func:`rule_shares`); the entry itself does not carry them.
    shares: tuple[int, ...] = ()

    @classmethod
    def earned(
        cls,
        member_id: str,
        points: int,
        occurred_at: datetime,
        recorded_at: datetime,
        source_id: str,
        reason: str,
        rules: tuple[str, ...],
        program_version: str | None,
        vests_at: datetime | None,
        expires_at: datetime | None,
        shares: tuple[int, ...],
    ) -> Posting:
        """``Posting(member_id, EntryKind.EARN, ...)`` of what a purchase or event earned (no actor,
        draws or re-dates; rolling is the planner's to set), its slots set as :meth:`recorded`
        sets an entry's: on every purchase that earns."""
        posting = _NEW(cls)
        _P_MEMBER_ID(posting, member_id)
        _P_KIND(posting, EntryKind.EARN)
        _P_POINTS(posting, points)
        _P_OCCURRED_AT(posting, occurred_at)
        _P_RECORDED_AT(posting, recorded_at)
        _P_SOURCE_ID(posting, source_id)
        _P_REASON(posting, reason)
        _P_ACTOR(posting, None)
        _P_RULES(posting, rules)
        _P_PROGRAM_VERSION(posting, program_version)
        _P_VESTS_AT(posting, vests_at)
        _P_EXPIRES_AT(posting, expires_at)
        _P_DRAWS(posting, ())
        _P_ROLLING(posting, False)
        _P_REDATES(posting, ())
        _P_SHARES(posting, shares)
        return posting

    def recorded(self, seq: int, balance_after: int) -> Entry:
        """The entry this posting became, once the store has numbered it and moved the balance."""
        # Its slots set through their own setters, made once below, rather than by attrs'
        # __init__ (a frozen class's is an object.__setattr__ per field): every adapter makes an
        # entry so on every append. Entry has no validator, converter or default factory to skip
        # (tests/unit/test_purchase_path_arithmetic.py holds that, and the two alike).
        entry = _NEW(Entry)
        _SEQ(entry, seq)
        _MEMBER_ID(entry, self.member_id)
        _KIND(entry, self.kind)
        _POINTS(entry, self.points)
        _BALANCE_AFTER(entry, balance_after)
        _OCCURRED_AT(entry, self.occurred_at)
        _RECORDED_AT(entry, self.recorded_at)
        _SOURCE_ID(entry, self.source_id)
        _REASON(entry, self.reason)
        _ACTOR(entry, self.actor)
        _RULES(entry, self.rules)
        _PROGRAM_VERSION(entry, self.program_version)
        _VESTS_AT(entry, self.vests_at)
        _EXPIRES_AT(entry, self.expires_at)
        _DRAWS(entry, self.draws)
        _ROLLING(entry, self.rolling)
        _REDATES(entry, self.redates)
        return entry


@attrs.frozen
class Entry(JsonForm):
    """A recorded ledger entry.

    ``seq`` orders entries as the engine recorded them (``recorded_at``);
    ``occurred_at`` is the till's time, which may be earlier than entries
    recorded before it when a terminal was offline. ``source_id`` is the
    idempotency key of the command that wrote it. ``rules`` are the ids of the
    program rules that produced the points (empty for redemptions and
    corrections) and ``program_version`` the version they belong to.

    Every credit (positive ``points``) opens a lot numbered by its ``seq``,
    spendable from ``vests_at`` and valid until ``expires_at``; every debit
    says in ``draws`` which lots it took its points from. The lots are thus
    derived from the ledger alone (:func:`loyalty.lots.lots_of`). A credit
    whose lot is ``rolling`` has its date moved by later ``redate`` entries,
    each listing the lots it moves and their new ``expires_at`` in ``redates``,
    or, a *roll*, naming in its own ``expires_at`` the date every open rolling
    lot dated before it moves to (:func:`loyalty.lots.roll_of`).
    """

    seq: int
    member_id: str
    kind: EntryKind
    points: int
    balance_after: int
    occurred_at: datetime
    recorded_at: datetime
    source_id: str
    reason: str
    actor: str | None = None
    rules: tuple[str, ...] = ()
    program_version: str | None = None
    vests_at: datetime | None = None
    expires_at: datetime | None = None
    draws: tuple[tuple[int, int], ...] = ()
    rolling: bool = False
    redates: tuple[tuple[int, datetime | None], ...] = ()


# Posting's and Entry's slot setters, for Posting.earned and Posting.recorded, by name (the
# fields both have in the same order, then each one's own).
_NEW = object.__new__
_ALIKE = (
    "occurred_at",
    "recorded_at",
    "source_id",
    "reason",
    "actor",
    "rules",
    "program_version",
    "vests_at",
    "expires_at",
    "draws",
    "rolling",
    "redates",
)
(
    _P_MEMBER_ID,
    _P_KIND,
    _P_POINTS,
    _P_OCCURRED_AT,
    _P_RECORDED_AT,
    _P_SOURCE_ID,
    _P_REASON,
    _P_ACTOR,
    _P_RULES,
    _P_PROGRAM_VERSION,
    _P_VESTS_AT,
    _P_EXPIRES_AT,
    _P_DRAWS,
    _P_ROLLING,
    _P_REDATES,
    _P_SHARES,
) = (getattr(Posting, name).__set__ for name in ("member_id", "kind", "points", *_ALIKE, "shares"))
(
    _SEQ,
    _MEMBER_ID,
    _KIND,
    _POINTS,
    _BALANCE_AFTER,
    _OCCURRED_AT,
    _RECORDED_AT,
    _SOURCE_ID,
    _REASON,
    _ACTOR,
    _RULES,
    _PROGRAM_VERSION,
    _VESTS_AT,
    _EXPIRES_AT,
    _DRAWS,
    _ROLLING,
    _REDATES,
) = (
    getattr(Entry, name).__set__ for name in ("seq", "member_id", "kind", "points", "balance_after", *_ALIKE)
)


def shares_of(exact: Sequence[Decimal], points: int) -> tuple[int, ...]:
    """``points`` shared out among rules by what each gave before rounding (``exact``): whole
    points that add up to ``points``.

    Each rule keeps its own points rounded down, and what rounding the total added goes one
    point each to the largest fractions (the first of equal ones). So a rule that gave whole
    points (a bonus of 20) keeps all of them, as its receipt line and its budget say, and the
    rounding falls on the rules that gave fractions. Points out of that reach (a cap, or a
    carried fraction, moved them further) are shared in proportion to the exact points, each
    share rounded down and the rest given to the largest remainders. Should the rules' points
    add up to nothing, the first rule has them all.

    >>> shares_of([Decimal("16.6"), Decimal(20)], 36), shares_of([Decimal("16.6"), Decimal(20)], 37)
    ((16, 20), (17, 20))
    >>> shares_of([Decimal("7.5"), Decimal("2.5")], 10), shares_of([Decimal(1)] * 3, 10)
    ((8, 2), (4, 3, 3))
    """
    total = sum(exact, Decimal(0))
    if total <= 0:
        return (points, *(0 for _ in exact[1:]))
    kept = [math.floor(value) for value in exact]
    if not 0 <= points - sum(kept) <= len(kept):
        raw = [value * points / total for value in exact]
        kept = [math.floor(value) for value in raw]
        exact = raw
    order = sorted(range(len(kept)), key=lambda i: (kept[i] - exact[i], i))
    for k in range(points - sum(kept)):
        kept[order[k % len(order)]] += 1
    return tuple(kept)


def rule_shares(rules: Sequence[str], points: int, shares: Sequence[int]) -> list[tuple[str, int]]:
    """Each rule's points of an entry, for the figures by rule: a lone rule has all of them, several
    have their ``shares``; several without shares (an entry kept before shares were) have none.

    >>> rule_shares(["spend"], 12, ()), rule_shares(["spend", "bonus"], 12, (10, 2))
    ([('spend', 12)], [('spend', 10), ('bonus', 2)])
    """
    if len(rules) == 1:
        return [(rules[0], points)]
    return list(zip(rules, shares, strict=False)) if len(shares) == len(rules) else []


def balance_of(entries: Iterable[Entry]) -> int:
    """The balance the entries add up to: the figure every maintained balance must equal."""
    return sum(entry.points for entry in entries)
