"""The service layer: every command is one unit of work on the store.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> from loyalty import Engine, Line, Program, Purchase, open_store
>>> t = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
>>> engine = Engine(Program("Club", "EUR"), open_store("memory://"), clock=lambda: t)
>>> engine.enroll("M1", at=t)
Member(id='M1', ...)
>>> engine.record_purchase(Purchase("T1-1", "M1", t, [Line("cake", 3, Decimal("4.15"))], "EUR")).points
12
>>> engine.redeem("M1", 10, id="T1-2", at=t).balance_after
2
>>> engine.redeem("M1", 10, id="T1-3", at=t)
Traceback (most recent call last):
...
loyalty.errors.InsufficientPoints: points: 10 requested but only 2 available
>>> [(e.kind.value, e.points) for e in engine.history("M1")]
[('earn', 12), ('redeem', -10)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta

from loyalty.checks import check_aware
from loyalty.engine_history import HistoryDoors
from loyalty.engine_offline import OfflineDoors
from loyalty.engine_reads import EngineReads
from loyalty.erasure import Erased
from loyalty.errors import InvalidInput
from loyalty.habits import AtRiskReport
from loyalty.holds import Hold
from loyalty.identifiers import Identifier
from loyalty.ledger import Entry
from loyalty.members import AttributeValue, Member, MemberStatus
from loyalty.merges import Merge
from loyalty.program import Program, check_versions
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.returns import Return, ReturnReceipt
from loyalty.service import (
    erasure,
    identifying,
    maintenance,
    membership,
    merging,
    purchases,
    referring,
    retention,
    returning,
    rewarding,
    spending,
    tiering,
    transferring,
)
from loyalty.service import offline as offline_service
from loyalty.service.context import Context
from loyalty.service.maintenance import Maintenance
from loyalty.service.membership import UNSET, Unset
from loyalty.service.programs import Programs
from loyalty.service.running import Clock, Runner, system_clock
from loyalty.service.spending import MAX_HOLD_TTL
from loyalty.store import Closing, Store
from loyalty.tiers import TierState
from loyalty.transfers import Transfer
from loyalty.vouchers import Voucher

__all__ = ["MAX_HOLD_TTL", "Clock", "Engine", "Maintenance"]


class Engine(EngineReads, OfflineDoors, HistoryDoors, Closing):
    """Runs one :class:`~loyalty.Program` over one :class:`~loyalty.store.Store`.

    ``clock`` gives the engine's own time (``recorded_at``); the till's time
    travels with each command as ``at``. Commands that lose a race with
    another writer are retried up to ``max_attempts`` times in all.

    Each method is a thin door to a use case of :mod:`loyalty.service`.
    """

    def __init__(
        self,
        program: Program | Iterable[Program],
        store: Store,
        *,
        clock: Clock = system_clock,
        max_attempts: int = 10,
    ) -> None:
        if isinstance(program, Program):
            versions: tuple[Program, ...] = (program,)
        elif isinstance(program, Iterable) and not isinstance(program, str | bytes | Mapping):
            versions = check_versions(list(program))
        else:
            raise InvalidInput("program", f"must be a Program or its versions, not {type(program).__name__}")
        if not callable(getattr(store, "unit_of_work", None)):
            raise InvalidInput("store", f"must be a loyalty Store, not {type(store).__name__}")
        if not callable(clock):
            raise InvalidInput("clock", "must be a callable returning an aware datetime")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise InvalidInput("max_attempts", f"must be a positive int, got {max_attempts!r}")
        self.store = store
        runner = Runner(store, clock, max_attempts)
        self._ctx = Context(runner, Programs(versions, runner))

    def close(self) -> None:
        """Close the engine's store (see :meth:`loyalty.store.Store.close`); so does leaving a
        ``with Engine(...) as engine:`` block. Other engines on the same store lose it too."""
        self.store.close()

    @property
    def program(self) -> Program:
        """The latest program version (the one in force now, unless a later one is scheduled)."""
        return self._ctx.programs.latest

    @property
    def versions(self) -> tuple[Program, ...]:
        """Every program version this engine knows (its own and those stored), by ``effective_from``."""
        return self._ctx.programs.all()

    def program_at(self, at: datetime) -> Program:
        """The program version in force at ``at``: the last one whose ``effective_from`` is not after it."""
        check_aware("at", at)
        return self._ctx.programs.at(at)

    def enroll(
        self,
        member_id: str,
        *,
        at: datetime,
        birthday: date | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
        referred_by: str | None = None,
        identifiers: Iterable[str] | None = None,
    ) -> Member:
        """Enroll a member. The same enrollment again returns the member; other details raise.

        ``referred_by`` is another member's referral code (any case, spaces
        and hyphens ignored): the attribution is recorded with the member,
        once and for good (see :meth:`referrals`). An unknown code raises
        :class:`~loyalty.errors.UnknownReferralCode` and enrolls nobody.
        Event rules for the event ``enrolled`` (a sign-up bonus) are paid
        with the enrollment, in its unit of work, once: the same enrollment
        again pays nothing more.

        ``identifiers`` are keys (``"card:1234"``, ``"email:ann@example.com"``) given to the
        member with the enrollment, in its unit of work (see :meth:`add_identifier`): a key
        another member has raises :class:`~loyalty.errors.IdentifierTaken` naming
        ``identifiers[i]`` and enrolls nobody. The same enrollment again checks that the keys
        are the member's.
        """
        return membership.enroll(
            self._ctx,
            member_id,
            at=at,
            birthday=birthday,
            attributes=attributes,
            referred_by=referred_by,
            identifiers=identifiers,
        )

    def add_identifier(self, member_id: str, key: str, *, id: str, at: datetime) -> Identifier:
        """Give the member a card or key, ``kind:value`` (kinds ``card``, ``phone``, ``email``,
        ``other``; the value is kept in its normal form, :mod:`loyalty.identifiers`), found by
        :meth:`find_member` from then on.

        A key another member has raises :class:`~loyalty.errors.IdentifierTaken` and a
        replaced card :class:`~loyalty.errors.IdentifierReplaced` (a lost card is retired for
        good), each naming ``key``; a removed key is given afresh. A closed member gains no
        keys (:class:`~loyalty.errors.MemberNotActive`); a suspended one may. A key the member
        has already is returned as it stands, under a new ``id`` too, and nothing but the
        record is written. Idempotent on ``id``; each key given is an ``identifier_added``
        event in the outbox.
        """
        return identifying.add(self._ctx, member_id, key, id=id, at=at)

    def replace_card(
        self, member_id: str, old_key: str, new_key: str, *, id: str, at: datetime
    ) -> Identifier:
        """Replace the member's card ``old_key`` (lost, stolen, worn) with ``new_key``; returns
        the new card.

        Both are ``card:`` keys; the old one must be the member's and active
        (:class:`~loyalty.errors.UnknownIdentifier` naming ``old_key``), the new one free as
        for :meth:`add_identifier` (errors naming ``new_key``). The old card is kept as
        ``replaced``, naming the new one: the program's ``[identifiers] lost_card`` says
        whether :meth:`find_member` refuses it (``"refuse"``, the default) or finds the member
        (``"redirect"``). A closed member's card is not replaced (``MemberNotActive``).
        Idempotent on ``id``; an ``identifier_replaced`` event goes to the outbox.
        """
        return identifying.replace_card(self._ctx, member_id, old_key, new_key, id=id, at=at)

    def remove_identifier(self, member_id: str, key: str, *, id: str, at: datetime) -> Identifier:
        """Take a key off the member, whatever the member's status (an erased one, whose keys are
        gone, raises :class:`~loyalty.errors.MemberErased`); returns it as removed. It
        finds no one afterwards and may be given again. A key that is not the member's active
        key raises :class:`~loyalty.errors.UnknownIdentifier` naming ``key``. Idempotent on
        ``id``; an ``identifier_removed`` event goes to the outbox.
        """
        return identifying.remove(self._ctx, member_id, key, id=id, at=at)

    def change_status(
        self, member_id: str, status: MemberStatus | str, *, id: str, at: datetime, reason: str, actor: str
    ) -> Member:
        """Suspend (``"suspended"``), reinstate or reopen (``"active"``) or close (``"closed"``) a
        member, with why and who; returns the member as it now stands.

        A suspended member neither earns nor spends (purchases, events, redemptions and new
        holds raise :class:`~loyalty.errors.MemberNotActive`) but is still corrected
        (:meth:`adjust`) and updated; a closed one keeps its history and balance and nothing
        new happens to it. Holds already open are captured, released or expire, and returns
        settle, whatever the status. Each change is a ``member_status_changed`` event in the
        outbox. Idempotent on ``id``; the status it already has raises
        :class:`~loyalty.errors.InvalidInput` naming ``status``. ``actor`` is an id (staff's),
        as every command's actor: at most 128 characters, no control or format character
        (:class:`~loyalty.errors.InvalidId`).
        """
        return membership.change_status(
            self._ctx, member_id, status, id=id, at=at, reason=reason, actor=actor
        )

    def erase(self, member_id: str, *, id: str, at: datetime, reason: str, actor: str) -> Erased:
        """Erase the member's personal data on request (GDPR art. 17): the member's rows in one
        unit of work, then each other member's rows that name it in one of that member's.

        Its birthday, attributes and keys go; the text its commands and staff wrote (reasons,
        actors, event properties, keys) is taken out of its ledger entries, the records of its
        commands and its outbox events; a ``member_erased`` event tells consumers to do the
        same. Its balance, lots, entries' figures, the reports and :meth:`verify` stay as they
        were, under a pseudonym that replaces the member id everywhere the store keeps it
        (``Erased.pseudonym``, a keyed hash of the id: docs/erasure.md). From then on every
        command naming the id or the pseudonym, and the retry of one kept before, raises
        :class:`~loyalty.errors.MemberErased`. Idempotent on ``id``. ``actor`` is an id, as
        for :meth:`change_status`.
        """
        return erasure.erase(self._ctx, member_id, key=id, at=at, reason=reason, actor=actor)

    def referral_code(self, member_id: str, *, code: str | None = None) -> str:
        """The member's referral code, made the first time it is asked for.

        A generated code is eight characters from :data:`loyalty.referrals.ALPHABET`
        (no 0/O, 1/I/L), checked unused; ``code`` gives the member the
        merchant's own instead, which an erasure keeps (so it must say nothing about the
        member: docs/erasure.md). Asking again returns the same code; another
        ``code`` for a member who has one, or a code another member has,
        raises :class:`~loyalty.errors.ReferralCodeTaken`.
        """
        return referring.code(self._ctx, member_id, code)

    def record_purchase(self, purchase: Purchase) -> Receipt:
        """Earn points for a purchase, under the program version in force at ``purchase.at``.

        Idempotent on ``purchase.id``: a retry returns the original receipt.
        """
        return purchases.record_purchase(self._ctx, purchase)

    def record_event(
        self,
        member_id: str,
        name: str,
        *,
        id: str,
        at: datetime,
        properties: Mapping[str, AttributeValue] | None = None,
    ) -> Receipt:
        """Earn points for a non-purchase event (``survey_completed``) under the event rules.

        Idempotent on ``id`` like a purchase; an event no rule rewards is
        still recorded (it may count towards a frequency limit later). The
        name ``enrolled`` is refused (:class:`InvalidInput` naming ``name``):
        :meth:`enroll` records it and pays its rules.
        """
        event = purchases.till_event(self._ctx, id, member_id, name, at, properties)
        return purchases.record_till_event(self._ctx, event)

    def update_member(
        self,
        member_id: str,
        *,
        id: str,
        at: datetime,
        birthday: date | Unset | None = UNSET,
        attributes: Mapping[str, AttributeValue] | Unset = UNSET,
    ) -> Member:
        """Change a member's birthday or attributes; ``id`` is the POS's key for the change.

        A changed birthday records the engine's time (not the till's, which
        could be backdated) as ``birthday_changed_at``, which a
        birthday rule's ``cooloff_days`` counts from.
        """
        return membership.update_member(
            self._ctx, member_id, id=id, at=at, birthday=birthday, attributes=attributes
        )

    def redeem(
        self,
        member_id: str,
        points: int,
        *,
        id: str,
        at: datetime,
        reason: str = "redemption",
        purchase_id: str | None = None,
        offline: bool = False,
        terminal: str | None = None,
    ) -> Entry:
        """Spend points. Raises :class:`InsufficientPoints` on a short balance, writing no entry.

        The decline itself is remembered under ``id``: the same request retried
        later is declined again with the same figures, even if the balance has
        grown since, because the till already told the customer no.
        ``purchase_id`` names the recorded purchase the points paid for: a
        return of its goods gives them back in proportion.

        ``offline=True`` sends a redemption ``terminal`` made while cut off (see
        :meth:`grant_offline_allowance` and ``docs/offline.md``).
        """
        if offline is not False or terminal is not None:
            return offline_service.redeem(
                self._ctx,
                member_id,
                points,
                key=id,
                at=at,
                reason=reason,
                purchase_id=purchase_id,
                offline=offline,
                terminal=terminal,
            )
        return spending.redeem(
            self._ctx, member_id, points, key=id, at=at, reason=reason, purchase_id=purchase_id
        )

    def adjust(self, member_id: str, points: int, *, id: str, at: datetime, reason: str, actor: str) -> Entry:
        """A staff correction, positive or negative; ``reason`` and ``actor`` (an id, as for
        :meth:`change_status`) are required."""
        return spending.adjust(self._ctx, member_id, points, key=id, at=at, reason=reason, actor=actor)

    def transfer(
        self,
        from_member: str,
        to_member: str,
        points: int,
        *,
        id: str,
        at: datetime,
        reason: str = "transfer",
    ) -> Transfer:
        """Move ``points`` from one member to another, as one unit of work on both.

        They are drawn from ``from_member``'s available points as a redemption draws them
        (points still pending cannot be sent) and reach ``to_member`` as lots keeping their
        expiry dates. Both sides are ``transfer`` entries saying why, and a
        ``points_transferred`` event goes to the outbox. Refused, writing nothing, for the same
        member twice (:class:`InvalidInput` naming ``to_member``), an unknown member
        (:class:`UnknownMember`) and a sender that may not spend or a receiver that may not earn
        (:class:`MemberNotActive`), each naming ``from_member`` or ``to_member``. The program's
        ``redemption.minimum`` and ``multiple`` apply as to :meth:`redeem` (:class:`InvalidPoints`),
        and the points count toward the sender's ``per_day``. A short balance or day raises
        :class:`InsufficientPoints` (:class:`RedemptionLimit` for the day) and, as for
        :meth:`redeem`, the decline is remembered under ``id``. Idempotent on ``id``.
        """
        return transferring.transfer(self._ctx, from_member, to_member, points, key=id, at=at, reason=reason)

    def redeem_reward(
        self, member_id: str, reward_id: str, *, id: str, at: datetime, purchase_id: str | None = None
    ) -> Voucher:
        """Buy the catalogue's reward ``reward_id`` with its ``cost`` in points: a voucher with a code.

        The points are spent as :meth:`redeem` spends them (points past their date written
        off first, then soonest-expiring first) and count toward the day's
        ``redemption.per_day``; ``minimum``, ``multiple`` and the limits on paying for a
        purchase do not apply (the catalogue sets the cost). A short balance raises
        :class:`InsufficientPoints` and, as for :meth:`redeem`, the decline is remembered under
        ``id``. A reward not in the catalogue of the version in force at ``at``, or not on
        offer that day, raises :class:`~loyalty.errors.UnknownReward`; ``purchase_id`` names a
        recorded purchase of the member's it was bought against, whose return in full revokes
        the voucher unused (its points come back). Suspended and closed members are refused
        (:class:`MemberNotActive`). Idempotent on ``id``: a retry returns the voucher as issued,
        with the same code; a ``voucher_issued`` event goes to the outbox.
        """
        return rewarding.redeem_reward(
            self._ctx, member_id, reward_id, key=id, at=at, purchase_id=purchase_id
        )

    def use_voucher(
        self,
        code: str,
        *,
        id: str,
        at: datetime,
        purchase_id: str | None = None,
        member_id: str | None = None,
    ) -> Voucher:
        """Use a voucher at the till: once, before it expires on the engine clock.

        ``member_id`` (the card the till scanned) and ``purchase_id`` (the recorded purchase it
        goes to) must be the voucher's member's, or :class:`~loyalty.errors.VoucherNotOwned`
        is raised. A used, voided, revoked or expired voucher raises
        :class:`~loyalty.errors.VoucherEnded` (:class:`~loyalty.errors.VoucherExpired` once its
        time is up), an unknown code :class:`~loyalty.errors.UnknownVoucher`, each naming
        ``code`` and writing nothing; a use dated before the voucher was issued raises
        :class:`~loyalty.errors.InvalidInput` naming ``at``. Idempotent on ``id``; a
        ``voucher_used`` event.
        """
        return rewarding.use_voucher(
            self._ctx, code, key=id, at=at, purchase_id=purchase_id, member_id=member_id
        )

    def void_voucher(self, code: str, *, id: str, at: datetime) -> Voucher:
        """Take an unused voucher back: its points return to the lots they were drawn from (a
        ``release`` entry; points whose date passed meanwhile are written off as usual).

        Refused like :meth:`use_voucher` for an ended or expired voucher; allowed for a
        suspended member (a correction). Idempotent on ``id``; a ``voucher_voided`` event.
        """
        return rewarding.void_voucher(self._ctx, code, key=id, at=at)

    def merge_members(self, survivor: str, absorbed: str, *, id: str, at: datetime, reason: str) -> Merge:
        """Merge ``absorbed`` into ``survivor``, two members found to be one person, as one member's
        unit of work after another: the absorbed member's, the survivor's, each referee's (see
        :mod:`loyalty.merges` and :mod:`loyalty.service.merging`).

        The survivor receives the absorbed member's points (``merge`` entries on both sides, a lot
        per lot keeping its expiry date), its tier progress in the current window, its habits
        (visits, monthly spend, first and last visit), the referrals it made and its cards and
        keys, which find the survivor from then on (:meth:`find_member`); the absorbed member is
        closed. ``member_merged`` and ``member_status_changed`` events go to the outbox, and the
        :class:`~loyalty.merges.Merge` returned lists everything carried.

        Refused, writing nothing: the same member twice (:class:`InvalidInput` naming
        ``absorbed``), an unknown member (:class:`UnknownMember`), a survivor that may not earn
        or an absorbed member that may not spend, closed or merged already
        (:class:`MemberNotActive`), each naming ``survivor`` or ``absorbed``; an absorbed member
        with open holds, unused vouchers, points still pending or points owed from a return
        (:class:`MergeBlocked` naming ``absorbed``). Idempotent on ``id``: a retry returns the
        original merge, finishing first what a crash between the parts left unwritten (as
        :meth:`run_due` does).
        """
        return merging.merge(self._ctx, survivor, absorbed, key=id, at=at, reason=reason)

    def run_due(
        self,
        now: datetime | None = None,
        *,
        batch: int = 500,
        progress: Callable[[Maintenance], None] | None = None,
    ) -> Maintenance:
        """Write off every lot whose expiry date has passed, ``batch`` lots per unit of work; end holds
        whose time ran out; carry out tier reviews; re-date earlier points under a version that says
        so; announce points about to expire (``remind_days``) as ``points_expiring`` events; and end
        vouchers unused past their time (no points come back).

        ``now`` defaults to the engine clock and may not be ahead of it
        (points never expire early). Running it again changes nothing more;
        its cost grows with the lots due, which are found through an index
        on their expiry date, not with the number of members. Pending
        points need nothing here: they are available once their date passes.

        ``progress``, if given, is called after each unit of work commits
        with what the run has done so far (a scheduler's log line, a
        progress display); how much is due is not known in advance.
        """
        return maintenance.run_due(self._ctx, now, batch, progress)

    def announce_at_risk(self, report: AtRiskReport | None = None, *, batch: int = 500) -> int:
        """Write a ``member_at_risk`` event for every member in ``report`` (default: :meth:`at_risk`
        now, with its defaults), once per spell: a member is announced again only after a new
        visit. Returns the events written.

        :meth:`at_risk` reads every member's habits, so run this as a daily job, not on every
        maintenance run.
        """
        retention.check_batch(batch)
        if report is None:
            report = self.at_risk()
        elif not isinstance(report, AtRiskReport):
            raise InvalidInput("report", f"must be an AtRiskReport, not {type(report).__name__}")
        return retention.announce_at_risk(self._ctx, report, batch)

    def assign_tier(
        self,
        member_id: str,
        tier: str,
        *,
        until: datetime,
        id: str,
        at: datetime,
        reason: str,
        actor: str,
    ) -> TierState:
        """Give the member ``tier`` as a floor until ``until`` (a status match, a goodwill gesture).

        While it lasts the member holds at least ``tier``; activity can still
        lift it higher, and reviews judge only the tier earned by activity.
        When it ends the member falls back to the earned tier. No entry bonus
        is paid for an assigned tier. The assignment is a ``tier`` ledger
        entry naming ``actor`` and ``reason``; idempotent on ``id``. An erased
        member is refused (:class:`~loyalty.errors.MemberErased`).
        """
        return tiering.assign_tier(
            self._ctx, member_id, tier, until=until, id=id, at=at, reason=reason, actor=actor
        )

    def record_return(self, returned: Return) -> ReturnReceipt:
        """Take back what returned goods earned, and give back points spent on them.

        The purchase is recomputed without every unit returned so far, under
        the program version it was earned with and with the tallies it was
        evaluated with (its visit count, caps, budgets), and the difference
        from the previous state is taken back: bonuses whose minimum the rest
        no longer meets go too, and a void also takes back a first-purchase
        bonus and gives the visit back. The take-backs of all returns of a
        purchase never exceed what it earned. Under ``returns =
        "proportional"`` the points taken back are what the amount returned
        earns at the base rate instead (:mod:`loyalty.proportional`). Points
        come first out of the purchase's own lot (pending, if still in the return window), then
        other pending points, then available ones; if the member spent them,
        the program's ``clawback`` decides (:class:`~loyalty.returns.Clawback`).
        Points redeemed to pay for the purchase (``redeem(..., purchase_id=)``)
        are given back in proportion to the amount returned, as a new lot.
        Idempotent on ``returned.id``.
        """
        return returning.record_return(self._ctx, returned)

    def hold(self, member_id: str, points: int, *, id: str, at: datetime, ttl: timedelta) -> Hold:
        """Reserve ``points`` the moment the till asks, for ``ttl`` on the engine clock.

        The points leave the member's available balance at once (a ``hold``
        entry draws them from the lots in the program's draw order), so they
        cannot be spent twice. The hold then ends exactly once, with
        :meth:`capture`, :meth:`release`, or expiry by :meth:`run_due` once
        ``ttl`` has passed on the engine's clock (never the till's).
        Idempotent on ``id`` (which is also the hold's id): a retry returns
        the hold as it was made; a hold declined for want of points stays
        declined.
        """
        return spending.hold(self._ctx, member_id, points, id=id, at=at, ttl=ttl)

    def capture(self, hold_id: str, *, id: str, at: datetime, points: int | None = None) -> Hold:
        """Spend a hold's points: all of them, or ``points`` of them with the rest given back.

        Idempotent on ``id``. Raises :class:`~loyalty.errors.HoldExpired` once
        the hold's time has run out on the engine clock, and
        :class:`~loyalty.errors.HoldEnded` for a hold already captured or
        released, and :class:`~loyalty.errors.InvalidInput` naming ``at`` for a capture dated
        before the hold was placed; none writes anything.
        """
        return spending.capture(self._ctx, hold_id, id=id, at=at, points=points)

    def release(self, hold_id: str, *, at: datetime) -> Hold:
        """Give a hold's points back (the sale was cancelled). A released or expired hold is
        returned as it is, so a retry is harmless; a captured one raises
        :class:`~loyalty.errors.HoldEnded`. A hold whose time is up ends as
        expired, as maintenance would have ended it.
        """
        return spending.release(self._ctx, hold_id, at=at)
