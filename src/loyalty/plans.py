"""Plans: what a command decided, as values, for the service layer to write in one place.

A command reads a snapshot of the members it touches (an :class:`Account`
each: balance, what returns left owing, debts, rolling lots), decides with
pure functions, and gets a :class:`Plan`: the ledger postings in order with
the balance each leaves, the tally changes and the outbox events (a
command's own plan adds what else it records, such as a tier state).
Nothing is written until the plan is applied.

A :class:`Planner` builds a plan the way the ledger would move. A credit
first repays debts out of its own points, then a ``collect`` entry takes
what is owed from the lot it opens:

>>> from datetime import datetime, timezone
>>> from loyalty.ledger import EntryKind, Posting
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> planner = Planner([Account("M1", balance=5, owed=3)])
>>> planner.credit(Posting("M1", EntryKind.EARN, 10, t, t, "T1", "purchase"))
0
>>> [(p.kind.value, p.points, p.draws == ((planned_lot(0), -3),)) for p in planner.plan().postings]
[('earn', 10, False), ('collect', -3, True)]
>>> planner.plan().balances, dict(planner.plan().tallies)
((15, 12), {'owed|M1': Tally(count=0, points=Decimal('-3'))})

A lot a planned posting opens has no number until the store appends it:
the plan calls it :func:`planned_lot` of the posting's index, a number above
any real lot's (so it sorts after them, as the newest lot would), and the
plan's writer puts the real number in its place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from loyalty.checks import MAX_POINTS
from loyalty.errors import PointsOverflow
from loyalty.ledger import EntryKind, Posting
from loyalty.lots import Lot, opens, repayments
from loyalty.outbox import NewEvent
from loyalty.returns import debt_key, owed_key
from loyalty.tallies import Tally

__all__ = ["PLANNED", "Account", "Plan", "Planner", "planned_lot"]

#: Lot numbers from here on name lots a plan opens (no store numbers entries this high).
PLANNED = 2**62


def planned_lot(index: int) -> int:
    """The number a plan gives the lot its posting ``index`` opens, until the store numbers it."""
    return PLANNED + index


@attrs.frozen
class Account:
    """A member's points as a command read them under the member's lock."""

    member_id: str
    balance: int
    #: Points a return took beyond zero (clawback ``negative``), repaid by the next credits.
    debt: int = 0
    #: Points a return could not take (clawback ``future``), collected from the next credits.
    owed: int = 0
    #: The open debt lots (negative ``remaining``), oldest first; read only when ``debt``.
    debts: tuple[Lot, ...] = ()
    #: The latest expiry date of the member's rolling lots (inactivity expiry), if any.
    rolling_until: datetime | None = None
    #: The member's open lots, by id, when the command takes points from them (``None``: not read).
    lots: tuple[Lot, ...] | None = None


@attrs.frozen
class Plan:
    """What a command writes, in order."""

    postings: tuple[Posting, ...] = ()
    #: The member's balance after each posting, as decided (the store must agree).
    balances: tuple[int, ...] = ()
    tallies: Mapping[str, Tally] = attrs.field(factory=dict)
    events: tuple[NewEvent, ...] = ()


class Planner:
    """Builds a :class:`Plan` over the accounts read, moving their balances as the ledger would."""

    def __init__(self, accounts: Iterable[Account], *, rolling: bool = False) -> None:
        #: Whether credits roll with the member's lots (the program's inactivity expiry).
        self.rolling = rolling
        # Plain dicts rather than evolved accounts: a plan is built on every purchase.
        self._balance: dict[str, int] = {}
        self._debt: dict[str, int] = {}
        self._owed: dict[str, int] = {}
        self._debts: dict[str, tuple[Lot, ...]] = {}
        self._rolling: dict[str, datetime | None] = {}
        self._lots: dict[str, dict[int, Lot]] = {}
        for account in accounts:
            member_id = account.member_id
            self._balance[member_id] = account.balance
            self._debt[member_id] = account.debt
            self._owed[member_id] = account.owed
            self._debts[member_id] = account.debts
            self._rolling[member_id] = account.rolling_until
            if account.lots is not None:
                self._lots[member_id] = {lot.id: lot for lot in account.lots}
        self._postings: list[Posting] = []
        self._balances: list[int] = []
        self._tallies: dict[str, Tally] = {}
        self._events: list[NewEvent] = []

    def balance(self, member_id: str) -> int:
        """The member's balance after what is planned so far."""
        return self._balance[member_id]

    def lots(self, member_id: str) -> list[Lot]:
        """The member's open lots after what is planned so far, by id (its account's lots were read)."""
        return sorted(self._lots[member_id].values(), key=lambda lot: lot.id)

    def post(self, posting: Posting) -> int:
        """Plan ``posting`` as it is; returns its index. A balance leaving the 64-bit range every
        adapter stores is refused."""
        balance = self._balance[posting.member_id] + posting.points
        if not -MAX_POINTS <= balance <= MAX_POINTS:
            raise PointsOverflow("points", "the balance would leave the 64-bit range")
        self._balance[posting.member_id] = balance
        index = len(self._postings)
        self._postings.append(posting)
        self._balances.append(balance)
        if posting.points and (opens(posting) if posting.draws else posting.points) < 0:
            # A take-back beyond the member's lots opens a debt, which later credits repay.
            debt = Lot.opened_by(posting, planned_lot(index), opens(posting))
            self._debts[posting.member_id] = (*self._debts[posting.member_id], debt)
        lots = self._lots.get(posting.member_id)
        if lots is not None and posting.points:
            # The lots move as lots_of would replay the entry.
            for lot_id, points in posting.draws:
                lot = lots[lot_id]
                lots[lot_id] = attrs.evolve(lot, remaining=lot.remaining + points)
            rest = opens(posting)
            if rest:
                lots[planned_lot(index)] = Lot.opened_by(posting, planned_lot(index), rest)
            for lot_id in [lot_id for lot_id, _ in posting.draws if not lots[lot_id].remaining]:
                del lots[lot_id]
        return index

    def credit(self, posting: Posting, *, rolling: bool | None = None) -> int:
        """Plan a credit that first repays what returns left the member owing; returns the
        credit's index (a ``collect`` may follow it).

        When lots roll (inactivity expiry: the planner's ``rolling``, unless
        the credit's own version says otherwise) its lot expires with the
        latest of the member's open rolling lots, or later. A debt is repaid
        out of the credit's own points, oldest debt first; what is owed is
        collected from the lot it opens by a ``collect`` entry.
        """
        member_id = posting.member_id
        rolls = self.rolling if rolling is None else rolling
        until = None
        if rolls:
            latest = self._rolling[member_id]
            until = posting.expires_at if latest is None else max(latest, posting.expires_at or latest)
            posting = attrs.evolve(posting, rolling=True, expires_at=until)
        changes: dict[str, Tally] = {}
        if self._debt[member_id]:
            repay = repayments(self._debts[member_id], posting.points)
            repaid = sum(points for _, points in repay)
            posting = attrs.evolve(posting, draws=repay)
            changes[debt_key(member_id)] = Tally.of(0, Decimal(-repaid))
            self._debt[member_id] -= repaid
            self._debts[member_id] = _after_repaying(self._debts[member_id], repay)
        index = self.post(posting)
        opened = opens(posting) if posting.draws else posting.points
        owed = self._owed[member_id]
        collected = 0
        if owed and opened:
            collected = min(owed, opened)
            collect = Posting(
                member_id,
                EntryKind.COLLECT,
                -collected,
                posting.occurred_at,
                posting.recorded_at,
                posting.source_id,
                f"{collected} points owed from a return",
                draws=((planned_lot(index), -collected),),
            )
            self.post(collect)
            changes[owed_key(member_id)] = Tally.of(0, Decimal(-collected))
            self._owed[member_id] = owed - collected
        if until is not None and opened > collected:
            # Only a lot that stays open sets the date the member's rolling lots expire.
            self._rolling[member_id] = until
        if changes:
            self.add_tallies(changes)
        return index

    def owe(self, member_id: str, *, debt: int = 0, owed: int = 0) -> None:
        """Plan what a take-back left the member owing: a ``debt`` below zero (its lot is opened
        by the take-back's posting) or points ``owed``; credits planned after it repay or
        collect them."""
        changes = {}
        if debt:
            changes[debt_key(member_id)] = Tally.of(0, Decimal(debt))
            self._debt[member_id] += debt
        if owed:
            changes[owed_key(member_id)] = Tally.of(0, Decimal(owed))
            self._owed[member_id] += owed
        self.add_tallies(changes)

    def add_tallies(self, deltas: Mapping[str, Tally]) -> None:
        """Plan tally changes (added up with those planned already)."""
        planned = self._tallies
        for key, delta in deltas.items():
            before = planned.get(key)
            planned[key] = delta if before is None else before + delta

    def event(self, event: NewEvent) -> None:
        """Plan an outbox event, written with the rest."""
        self._events.append(event)

    def plan(self) -> Plan:
        """The plan so far."""
        return Plan(tuple(self._postings), tuple(self._balances), dict(self._tallies), tuple(self._events))


def _after_repaying(debts: tuple[Lot, ...], repay: tuple[tuple[int, int], ...]) -> tuple[Lot, ...]:
    """The debt lots still open once ``repay`` is drawn."""
    paid = dict(repay)
    left = []
    for lot in debts:
        remaining = lot.remaining + paid.get(lot.id, 0)
        if remaining:
            left.append(attrs.evolve(lot, remaining=remaining))
    return tuple(left)
