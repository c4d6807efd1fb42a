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

import functools
import random
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any, TypeVar

import attrs
from dateutil.relativedelta import relativedelta

from loyalty import codec
from loyalty.checks import MAX_POINTS, check_aware, check_id, check_points, check_text
from loyalty.earning import (
    Evaluation,
    Event,
    epoch_micros,
    evaluate,
    evaluate_event,
    redeemed_key,
    tally_keys,
    visits_key,
)
from loyalty.errors import (
    AlreadyReturned,
    ConcurrencyError,
    ConfigError,
    HoldEnded,
    HoldExpired,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    InvalidPoints,
    MemberAlreadyEnrolled,
    PointsOverflow,
    ReferralCodeTaken,
    StorageError,
    TransientStorageError,
    UnknownHold,
    UnknownMember,
    UnknownPurchase,
    UnknownReferralCode,
    UnknownTier,
)
from loyalty.expiry import ExpiryPolicy
from loyalty.figures import Figures, figures
from loyalty.habits import (
    AtRisk,
    AtRiskReport,
    Habit,
    drift,
    instant,
    micros,
    month_key,
    seen_key,
    spent_key,
)
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Balance, Lot, take_back
from loyalty.members import AttributeValue, Member
from loyalty.money import EXACT
from loyalty.outbox import DomainEvent, EventKind, NewEvent
from loyalty.program import Program, check_versions
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.referrals import Referral, ReferralReport, ReferralState, new_code, normalize_code
from loyalty.returns import (
    Clawback,
    Return,
    ReturnReceipt,
    debt_key,
    owed_key,
    paid_key,
    refunded_key,
    remaining,
    returned_after,
    returned_key,
    taken_key,
)
from loyalty.store import Operation, Store, StoredProgram, Tally, UnitOfWork
from loyalty.store.spending import draw_points
from loyalty.tiers import (
    TIER_ATTRIBUTE,
    Downgrade,
    Metric,
    TierChange,
    Tiers,
    TierState,
    TierStatus,
    Upgrade,
    assign,
    metric_key,
    review,
    upgrade,
)

__all__ = ["Clock", "Engine", "Maintenance"]

Clock = Callable[[], datetime]
#: The longest a hold may stay open.
MAX_HOLD_TTL = timedelta(days=366)
T = TypeVar("T")
C = TypeVar("C")


def _repayments(debts: list[Lot], points: int) -> tuple[tuple[int, int], ...]:
    """Positive draws that repay ``debts`` (oldest first) out of ``points``."""
    draws = []
    for lot in sorted(debts, key=lambda lot: lot.id):
        if not points:
            break
        repaid = min(points, -lot.remaining)
        draws.append((lot.id, repaid))
        points -= repaid
    return tuple(draws)


def _in_force(versions: tuple[Program, ...], at: datetime, *, default_first: bool = False) -> Program:
    """The version in force at ``at``: the last whose ``effective_from`` is not after it.

    Before the first, ``default_first`` takes the first; otherwise it is refused.
    """
    if len(versions) == 1 and versions[0].effective_from is None:
        return versions[0]  # the common case, on every purchase
    chosen = None
    for version in versions:
        if version.effective_from is None or version.effective_from <= at:
            chosen = version
    if chosen is None and default_first:
        chosen = versions[0]
    if chosen is None:
        first = versions[0].effective_from
        raise InvalidInput("at", f"{at.isoformat()} is before the first program version (from {first})")
    return chosen


def _merged(*parts: Mapping[str, Tally]) -> dict[str, Tally]:
    """Tally deltas added up key by key."""
    total: dict[str, Tally] = {}
    for part in parts:
        for name, delta in part.items():
            total[name] = total[name] + delta if name in total else delta
    return total


def _tiered(member: Member, tier: str) -> Member:
    """``member`` as rules see it under a tiered program: with its tier as the ``tier`` attribute."""
    return attrs.evolve(member, attributes={**member.attributes, TIER_ATTRIBUTE: tier})


def _contribution(tiers: Tiers, program: Program, subject: Purchase | Event, points: int) -> Tally:
    """What ``subject``, earning ``points`` (stored units), adds to the tier metric."""
    if tiers.metric is Metric.POINTS:
        return Tally(0, Decimal(points).scaleb(-program.scale, context=EXACT))
    if not isinstance(subject, Purchase):
        return Tally()  # an event is neither spend nor a visit
    if tiers.metric is Metric.SPEND:
        return Tally(0, subject.total.amount)
    return Tally(1, Decimal(0))


def _value(tiers: Tiers, tally: Tally) -> Decimal:
    return Decimal(tally.count) if tiers.metric is Metric.VISITS else tally.points


def _system_clock() -> datetime:
    return datetime.now(UTC)


def _typed(value: object) -> object:
    """``value`` with the type of every attribute value, so ``True`` and ``1`` differ."""
    if isinstance(value, Mapping):
        return {key: (type(item), item) for key, item in value.items()}
    return value


def _same_body(stored: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether two ``to_dict`` forms are one program: ``effective_from`` compares as an instant."""
    if stored.keys() != body.keys():
        return False
    for key, value in stored.items():
        other = body[key]
        if key == "effective_from" and isinstance(value, str) and isinstance(other, str):
            if codec.canonical_instant(value) != codec.canonical_instant(other):
                return False
        elif value != other:
            return False
    return True


class _Unset:
    """The default of an optional change: "leave as it is", distinct from ``None``."""

    def __repr__(self) -> str:
        return "<unchanged>"


_UNSET = _Unset()


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


@attrs.frozen
class _TierDecision:
    """What a purchase under a tiered program earns, and the tier moves it causes."""

    receipt: Receipt
    deltas: Mapping[str, Tally]
    tallies: Mapping[str, Tally]
    member: Member
    after: TierState
    moves: list[TierChange]


@attrs.frozen
class _Declined:
    """A command decided as declined: kept, so a retry is declined the same way."""

    error: InsufficientPoints


class Engine:
    """Runs one :class:`~loyalty.Program` over one :class:`~loyalty.store.Store`.

    ``clock`` gives the engine's own time (``recorded_at``); the till's time
    travels with each command as ``at``. Commands that lose a race with
    another writer are retried up to ``max_attempts`` times in all.
    """

    def __init__(
        self,
        program: Program | Iterable[Program],
        store: Store,
        *,
        clock: Clock = _system_clock,
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
        self._versions = versions
        self._synced = False
        self._stored_versions = False
        self.store = store
        self._clock = clock
        self._max_attempts = max_attempts

    @property
    def program(self) -> Program:
        """The latest program version (the one in force now, unless a later one is scheduled)."""
        return self._versions[-1]

    @property
    def versions(self) -> tuple[Program, ...]:
        """Every program version this engine knows (its own and those stored), by ``effective_from``."""
        return self._sync_versions()

    def program_at(self, at: datetime) -> Program:
        """The program version in force at ``at``: the last one whose ``effective_from`` is not after it."""
        check_aware("at", at)
        return self._version_at(at, write=False)

    def _version_at(self, at: datetime, *, write: bool) -> Program:
        return _in_force(self._sync_versions(write=write), at)

    def _versions_in(self, uow: UnitOfWork) -> tuple[Program, ...]:
        """Every version, read in the command's own unit of work (a second one could wait on
        a connection the first holds)."""
        return self._versions if self._synced else self._merge_versions(uow, write=False)

    # -- commands ---------------------------------------------------------------------------

    def enroll(
        self,
        member_id: str,
        *,
        at: datetime,
        birthday: date | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
        referred_by: str | None = None,
    ) -> Member:
        """Enroll a member. The same enrollment again returns the member; other details raise.

        ``referred_by`` is another member's referral code (any case, spaces
        and hyphens ignored): the attribution is recorded with the member,
        once and for good (see :meth:`referrals`). An unknown code raises
        :class:`~loyalty.errors.UnknownReferralCode` and enrolls nobody.
        """
        member = Member(member_id, at, birthday, attributes)
        code = None if referred_by is None else normalize_code(referred_by, "referred_by")

        def command(uow: UnitOfWork) -> Member:
            referrer = None if code is None else uow.code_owner(code)
            if code is not None and referrer is None:
                raise UnknownReferralCode("referred_by", f"no member has the referral code {code!r}")
            existing = uow.member(member.id)
            if existing is None:
                uow.add_member(member)
                if code is not None and referrer is not None:
                    self._attribute(uow, member, referrer, code)
                uow.commit()
                return member
            for field in ("enrolled_at", "birthday", "attributes"):
                if _typed(getattr(existing, field)) != _typed(getattr(member, field)):
                    name = "at" if field == "enrolled_at" else field
                    raise MemberAlreadyEnrolled(
                        name, f"member {member.id!r} is already enrolled with another {name}"
                    )
            attributed = uow.referral(member.id)
            if (attributed.code if attributed else None) != code:
                raise MemberAlreadyEnrolled(
                    "referred_by",
                    f"member {member.id!r} is already enrolled, with another referral (or none)",
                )
            return existing

        return self._run(command)

    def _attribute(self, uow: UnitOfWork, member: Member, referrer_id: str, code: str) -> None:
        """Record who referred a new member; a self-referral is recorded rejected, with why."""
        program = _in_force(self._versions_in(uow), self._now(), default_first=True)
        terms = program.referrals
        state, reason = ReferralState.PENDING, None
        referrer = uow.member(referrer_id)
        assert referrer is not None  # it owns a code
        if terms is not None and terms.identity is not None:
            mine = member.attributes.get(terms.identity)
            if mine is not None and _typed({"v": mine}) == _typed(
                {"v": referrer.attributes.get(terms.identity)}
            ):
                state, reason = ReferralState.REJECTED, f"same {terms.identity} as the referrer"
        now = self._now()
        uow.put_referral(
            Referral(
                member.id,
                referrer_id,
                code,
                member.enrolled_at,
                state,
                reason,
                decided_at=now.astimezone(UTC) if state is ReferralState.REJECTED else None,
            )
        )

    def referral_code(self, member_id: str, *, code: str | None = None) -> str:
        """The member's referral code, made the first time it is asked for.

        A generated code is eight characters from :data:`loyalty.referrals.ALPHABET`
        (no 0/O, 1/I/L), checked unused; ``code`` gives the member the
        merchant's own instead. Asking again returns the same code; another
        ``code`` for a member who has one, or a code another member has,
        raises :class:`~loyalty.errors.ReferralCodeTaken`.
        """
        check_id("member_id", member_id)
        wanted = None if code is None else normalize_code(code)

        def command(uow: UnitOfWork) -> str:
            self._balance_for_update(uow, member_id)
            mine = uow.referral_code(member_id)
            if mine is not None:
                if wanted is not None and wanted != mine:
                    raise ReferralCodeTaken("code", f"member {member_id!r} already has the code {mine!r}")
                return mine
            if wanted is not None:
                if uow.code_owner(wanted) is not None:
                    raise ReferralCodeTaken("code", f"the code {wanted!r} is another member's")
                chosen = wanted
            else:
                for _ in range(32):
                    chosen = new_code()
                    if uow.code_owner(chosen) is None:
                        break
                else:  # pragma: no cover - 32 collisions in 8.5e11 codes
                    raise StorageError("code", "could not find an unused referral code")
            uow.add_referral_code(member_id, chosen)
            uow.commit()
            return chosen

        return self._run(command)

    def referrals(self, member_id: str) -> ReferralReport:
        """The member's code, who referred it, whom it referred (each as it stands) and points earned."""
        check_id("member_id", member_id)
        now = self._now()
        with self.store.unit_of_work(readonly=True) as uow:
            self._known(uow, member_id)
            code = uow.referral_code(member_id)
            mine = uow.referral(member_id)
            theirs = [referral.at(now) for referral in uow.referrals_by(member_id)]
        earned = sum(r.referrer_points for r in theirs if r.state is not ReferralState.REJECTED)
        return ReferralReport(member_id, code, None if mine is None else mine.at(now), theirs, earned)

    def quote(self, purchase: Purchase) -> Receipt:
        """What :meth:`record_purchase` would give now, writing nothing.

        For a purchase already recorded that is its original receipt, as a
        retry would get; a different purchase under a recorded id raises
        :class:`IdempotencyConflict`, as recording it would.
        """
        return self._evaluate_readonly(purchase, explain=False)

    def explain(self, purchase: Purchase) -> Receipt:
        """:meth:`quote`, plus every rule that gives nothing with its reason in ``receipt.skipped``.

        Reasons are worked out for a purchase not yet recorded; for one
        already recorded the original receipt comes back, with its breakdown.
        """
        return self._evaluate_readonly(purchase, explain=True)

    def record_purchase(self, purchase: Purchase) -> Receipt:
        """Earn points for a purchase, under the program version in force at ``purchase.at``.

        Idempotent on ``purchase.id``: a retry returns the original receipt.
        """
        self._check_purchase(purchase)
        return self._earn(purchase, codec.purchase_request(purchase), "purchase", "purchase")

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
        still recorded (it may count towards a frequency limit later).
        """
        event = Event(id, member_id, name, at, properties)
        request = {
            "member_id": event.member_id,
            "name": event.name,
            "at": event.at.isoformat(),
            "properties": dict(event.properties),
        }
        return self._earn(event, request, "event", f"event {event.name}")

    def update_member(
        self,
        member_id: str,
        *,
        id: str,
        at: datetime,
        birthday: date | _Unset | None = _UNSET,
        attributes: Mapping[str, AttributeValue] | _Unset = _UNSET,
    ) -> Member:
        """Change a member's birthday or attributes; ``id`` is the POS's key for the change.

        A changed birthday records the engine's time (not the till's, which
        could be backdated) as ``birthday_changed_at``, which a
        birthday rule's ``cooloff_days`` counts from.
        """
        check_id("member_id", member_id)
        check_id("id", id)
        check_aware("at", at)
        if not isinstance(birthday, _Unset):
            Member(member_id, at, birthday)  # validates the birthday alone
        if not isinstance(attributes, _Unset):
            attributes = Member(member_id, at, attributes=attributes).attributes
        request = {
            "member_id": member_id,
            "at": at.isoformat(),
            "birthday": None
            if isinstance(birthday, _Unset)
            else {"set": None if birthday is None else str(birthday)},
            "attributes": None if isinstance(attributes, _Unset) else dict(attributes),
        }

        def command(uow: UnitOfWork) -> Member:
            replay = self._replay(uow, id, "member_update", request)
            if replay is not None:
                return codec.structure(replay.result, Member)
            existing = uow.member(member_id)
            if existing is None:
                raise UnknownMember("member_id", f"no member {member_id!r}")
            changes: dict[str, Any] = {}
            if not isinstance(birthday, _Unset) and birthday != existing.birthday:
                changes.update(birthday=birthday, birthday_changed_at=self._now())
            if not isinstance(attributes, _Unset):
                changes["attributes"] = attributes
            member = attrs.evolve(existing, **changes)
            uow.update_member(member)
            uow.add_operation(Operation(id, "member_update", request, codec.unstructure(member), self._now()))
            uow.commit()
            return member

        return self._run(command)

    def redeem(
        self,
        member_id: str,
        points: int,
        *,
        id: str,
        at: datetime,
        reason: str = "redemption",
        purchase_id: str | None = None,
    ) -> Entry:
        """Spend points. Raises :class:`InsufficientPoints` on a short balance, writing no entry.

        The decline itself is remembered under ``id``: the same request retried
        later is declined again with the same figures, even if the balance has
        grown since, because the till already told the customer no.
        ``purchase_id`` names the recorded purchase the points paid for: a
        return of its goods gives them back in proportion.
        """
        check_points("points", points)
        check_text("reason", reason)
        if purchase_id is not None:
            check_id("purchase_id", purchase_id)
        return self._debit_or_credit(
            "redeem", EntryKind.REDEEM, member_id, -points, id, at, reason, None, purchase_id
        )

    def adjust(self, member_id: str, points: int, *, id: str, at: datetime, reason: str, actor: str) -> Entry:
        """A staff correction, positive or negative; ``reason`` and ``actor`` are required."""
        check_points("points", points, allow_negative=True)
        check_id("actor", actor)
        check_text("reason", reason)
        if not reason.strip():
            raise InvalidInput("reason", "a correction must say why")
        return self._debit_or_credit("adjust", EntryKind.ADJUST, member_id, points, id, at, reason, actor)

    # -- queries ----------------------------------------------------------------------------

    def balance(self, member_id: str) -> Balance:
        """The member's points now: available, pending and overdue (see :class:`~loyalty.lots.Balance`).

        It costs what is pending or past due, not the member's history: the
        total is maintained and the lots are found through their date indexes.
        Vesting needs no maintenance: a lot is available once its date passes.
        """
        check_id("member_id", member_id)
        now = self._now()
        with self.store.unit_of_work(readonly=True) as uow:
            found = uow.balance_by_state(member_id, now)
        if found is None:
            raise UnknownMember("member_id", f"no member {member_id!r}")
        return found

    def lots(self, member_id: str) -> list[Lot]:
        """The member's open lots (points not yet spent or expired), by id."""
        check_id("member_id", member_id)
        with self.store.unit_of_work(readonly=True) as uow:
            self._known(uow, member_id)
            return uow.lots(member_id)

    def expiring(self, member_id: str, *, within: timedelta) -> list[Lot]:
        """The member's lots that expire after now and no later than ``within`` from now, soonest first.

        For reminders ("120 points expire on 31 March"): each lot's
        ``remaining`` points and ``expires_at``.
        """
        check_id("member_id", member_id)
        if not isinstance(within, timedelta) or within < timedelta(0):
            raise InvalidInput("within", f"must be a non-negative timedelta, got {within!r}")
        now = self._now()
        try:
            until = now.astimezone(UTC) + within
        except OverflowError:
            until = datetime.max.replace(tzinfo=UTC)
        with self.store.unit_of_work(readonly=True) as uow:
            self._known(uow, member_id)
            due = uow.due_lots(until, member_id=member_id)
        return [lot for lot in due if not lot.expired_at(now)]

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        """The member's ledger entries in recording order, from ``seq > after``, at most ``limit``."""
        check_id("member_id", member_id)
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_POINTS:
            raise InvalidInput("after", f"must be an int from 0 to {MAX_POINTS}, got {after!r}")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= MAX_POINTS
        ):
            raise InvalidInput("limit", f"must be None or an int from 1 to {MAX_POINTS}, got {limit!r}")
        with self.store.unit_of_work(readonly=True) as uow:
            self._known(uow, member_id)
            return uow.history(member_id, after=after, limit=limit)

    def member(self, member_id: str) -> Member:
        """The enrolled member."""
        check_id("member_id", member_id)
        with self.store.unit_of_work(readonly=True) as uow:
            member = uow.member(member_id)
        if member is None:
            raise UnknownMember("member_id", f"no member {member_id!r}")
        return member

    # -- maintenance ------------------------------------------------------------------------

    def run_due(self, now: datetime | None = None, *, batch: int = 500) -> Maintenance:
        """Write off every lot whose expiry date has passed, ``batch`` lots per unit of work; end holds
        whose time ran out; carry out tier reviews; re-date earlier points under a version that says
        so; and announce points about to expire (``remind_days``) as ``points_expiring`` events.

        ``now`` defaults to the engine clock and may not be ahead of it
        (points never expire early). Running it again changes nothing more;
        its cost grows with the lots due, which are found through an index
        on their expiry date, not with the number of members. Pending
        points need nothing here: they are available once their date passes.
        """
        clock = self._now()
        at = clock if now is None else check_aware("now", now)
        if at > clock:
            raise InvalidInput("now", f"{at.isoformat()} is ahead of the engine clock ({clock.isoformat()})")
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 100_000:
            raise InvalidInput("batch", f"must be an int from 1 to 100000, got {batch!r}")

        def command(uow: UnitOfWork) -> tuple[bool, list[Entry], int, int]:
            due = [hold.member_id for hold in uow.due_holds(at, limit=batch)]
            due += [lot.member_id for lot in uow.due_lots(at, limit=batch)]
            due += [state.member_id for state in uow.due_tier_states(at, limit=batch)]
            written: list[Entry] = []
            reviewed = moved = 0
            # Once per unit of work, not per review (reading the versions costs more than a review).
            program = _in_force(self._versions_in(uow), at, default_first=True)
            # Members locked in one order, so two maintenance runs cannot deadlock each other.
            for member_id in sorted(set(due)):
                if len(written) + reviewed >= batch:
                    break  # the rest is found again by the next unit of work
                self._balance_for_update(uow, member_id)
                written += self._expire_due(uow, member_id, at, limit=batch - len(written))
                done, moves = self._review_due(uow, program, member_id, at)
                reviewed += done
                moved += moves
            uow.commit()
            return bool(due), written, reviewed, moved

        report = Maintenance(redated_lots=self._redate_earlier(at, batch))
        members: set[str] = set()
        while True:
            found, written, reviewed, moved = self._run(command)
            # Nothing found, or all of it ended by another engine meanwhile: done. (Stopping
            # on a batch that did nothing also bounds the loop whatever an adapter returns.)
            if not found or not (written or reviewed):
                return attrs.evolve(report, members=len(members), reminders=self._remind(at, batch))
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

    def _remind(self, at: datetime, batch: int) -> int:
        """A ``points_expiring`` event per member whose points newly fall within ``remind_days``.

        Found through the expiry-date index (its cost is what expires in the
        window); each lot is announced once per expiry date, marked by a
        tally written with the event under the member's lock.
        """
        program = _in_force(self._sync_versions(), at, default_first=True)
        if not program.remind_days:
            return 0
        try:
            until = at.astimezone(UTC) + timedelta(days=program.remind_days)
        except OverflowError:
            until = datetime.max.replace(tzinfo=UTC)

        def first_of(lot: Lot) -> datetime:
            assert lot.expires_at is not None  # found by its expiry date
            return lot.expires_at

        def key(lot: Lot) -> str:
            return f"reminded|{lot.id}|{first_of(lot).isoformat()}"

        with self.store.unit_of_work(readonly=True) as uow:
            window = [lot for lot in uow.due_lots(until) if not lot.expired_at(at) and lot.remaining > 0]
            marked = uow.tallies([key(lot) for lot in window])
        members = sorted({lot.member_id for lot in window if not marked[key(lot)].count})

        def command(uow: UnitOfWork, chunk: list[str]) -> int:
            now = self._now()
            sent = 0
            for member_id in chunk:
                self._balance_for_update(uow, member_id)
                lots = [
                    lot
                    for lot in uow.due_lots(until, member_id=member_id)
                    if not lot.expired_at(at) and lot.remaining > 0
                ]
                seen = uow.tallies([key(lot) for lot in lots])
                new = [lot for lot in lots if not seen[key(lot)].count]
                if not new:
                    continue  # another engine announced them meanwhile
                first = min(first_of(lot) for lot in new)
                data = {
                    "points": sum(lot.remaining for lot in new),
                    "expires_at": first.isoformat(),
                    "lots": [[lot.id, lot.remaining, first_of(lot).isoformat()] for lot in new],
                }
                source = f"remind:{member_id}:{first.isoformat()}"
                uow.add_event(NewEvent(EventKind.POINTS_EXPIRING, member_id, at, now, source, data))
                uow.add_tallies({key(lot): Tally(1, Decimal(0)) for lot in new})
                sent += 1
            uow.commit()
            return sent

        return self._in_chunks(members, batch, command)

    def _redate_earlier(self, at: datetime, batch: int) -> int:
        """Once per program version that says ``redate_earlier``: give every open lot earned
        before it the dates its policy gives (a pass over the open lots, by id, ``batch`` at a
        time, each member's lots moved by one ``redate`` entry under the member's lock).

        A tally marks the version done, so later runs cost one read. Returns the lots moved.
        """
        program = _in_force(self._sync_versions(), at, default_first=True)
        if not program.expiry.redate_earlier:
            return 0
        done = f"redated|{program.version}"
        with self.store.unit_of_work(readonly=True) as uow:
            if uow.tallies([done])[done].count:
                return 0
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
                for hold in uow.due_holds(datetime.max.replace(tzinfo=UTC)):
                    due.setdefault(hold.member_id, set()).update(lot for lot, _ in hold.draws)
            now = self._now()
            moved = 0
            for member_id in sorted(due):
                self._balance_for_update(uow, member_id)
                # Read again under the lock: the member may have spent or earned meanwhile.
                found = {lot.id: lot for lot in uow.lots(member_id)}
                for hold in uow.open_holds(member_id):
                    for lot_id, _ in hold.draws:
                        if lot_id not in found:
                            held = uow.lot(member_id, lot_id)
                            if held is not None:
                                found[lot_id] = held
                redates = tuple(
                    (lot.id, new_date(lot))
                    for lot in found.values()
                    if lot.id in due[member_id] and moves(lot)
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
            after, moved = self._run(functools.partial(command, after=cursor))
            total += moved
        return total

    def _review_due(self, uow: UnitOfWork, program: Program, member_id: str, at: datetime) -> tuple[int, int]:
        """Carry out the member's tier reviews due by ``at`` (its balance is locked): (1 if any were
        due, the moves of the tier in force they made)."""
        stored = uow.tier_state(member_id)
        if stored is None or stored.due_at is None or stored.due_at > at:
            return 0, 0
        member = uow.member(member_id)
        assert member is not None  # it has a balance
        now = self._now()
        if program.tiers is None:
            # The program in force has no tiers any more: nothing to review, ever.
            uow.put_tier_state(attrs.evolve(stored, due_at=None))
            return 1, 0
        tiers = program.tiers
        measure = self._measure(uow, program, tiers, member)
        state, moves = review(stored, tiers, at, program.zone, member.enrolled_at, measure)
        source = f"tier-review:{member_id}:{stored.due_at.isoformat()}"
        self._write_tier(uow, program, tiers, member_id, state, stored, moves, source, now)
        return 1, sum(move.moved for move in moves)

    def _expire_due(
        self, uow: UnitOfWork, member_id: str, at: datetime, *, limit: int | None = None
    ) -> list[Entry]:
        """End the member's holds whose time ran out by ``at``, then write off its lots due by then.

        The member's balance is locked. Holds go first: the points they give
        back may themselves be past their date. At most ``limit`` of them.
        """
        written = []
        now = self._now()
        due = [hold for hold in uow.open_holds(member_id) if hold.expires_at <= at]
        for hold in due[:limit]:
            written.append(self._give_back(uow, hold, hold.points, now, "hold expired"))
            uow.end_hold(hold.id, HoldStatus.EXPIRED, 0, now.astimezone(UTC))
            self._hold_expired(uow, hold, now)
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

    @staticmethod
    def _mark_redeemed(uow: UnitOfWork, member_id: str, at: datetime) -> None:
        """Remember the member's latest redemption (for rules with ``redeemed_within_days``)."""
        key = redeemed_key(member_id)
        last = uow.tallies([key])[key].points
        when = Decimal(epoch_micros(at))
        if when > last:
            uow.add_tallies({key: Tally(0, when - last)})

    @staticmethod
    def _hold_expired(uow: UnitOfWork, hold: Hold, now: datetime) -> None:
        data = {"hold_id": hold.id, "points": hold.points, "expires_at": hold.expires_at.isoformat()}
        uow.add_event(NewEvent(EventKind.HOLD_EXPIRED, hold.member_id, hold.expires_at, now, hold.id, data))

    @staticmethod
    def _give_back(uow: UnitOfWork, hold: Hold, points: int, now: datetime, why: str) -> Entry:
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
                    hold.member_id,
                    EntryKind.REDATE,
                    0,
                    now,
                    now,
                    hold.id,
                    reason,
                    rolling=True,
                    redates=moved,
                )
                uow.append(redate)
        return entry

    # -- retention ----------------------------------------------------------------------------

    def at_risk(
        self,
        now: datetime | None = None,
        *,
        factor: Decimal = Decimal(2),
        drop: Decimal = Decimal("0.5"),
        recent_months: int = 3,
        baseline_months: int = 12,
        min_visits: int = 3,
        page: int = 500,
    ) -> AtRiskReport:
        """Members drifting away at ``now`` (default: the engine clock), each with why and the figures.

        A member is at risk when the time since the last visit is more than
        ``factor`` times its own typical gap between visits, or when it spent
        more than ``drop`` (a share) less per month over the last
        ``recent_months`` (the current one counted for the part that has
        passed) than over the ``baseline_months`` before. Members with fewer
        than ``min_visits`` visits have no baseline: they are listed in
        ``no_baseline``, not judged. Reads every member's habits, ``page``
        members per query (:mod:`loyalty.habits`).
        """
        at = self._now() if now is None else check_aware("now", now)
        for name, value, least in (("factor", factor, Decimal(1)), ("drop", drop, Decimal(0))):
            if not isinstance(value, Decimal) or not value.is_finite() or value < least:
                raise InvalidInput(name, f"must be a Decimal of at least {least}, got {value!r}")
        if drop >= 1:
            raise InvalidInput("drop", f"must be below 1 (a share of the baseline), got {drop}")
        limits = (
            ("recent_months", recent_months, 1, 24),
            ("baseline_months", baseline_months, 1, 120),
            ("min_visits", min_visits, 2, 10_000),
            ("page", page, 1, 10_000),
        )
        for name, number, low, top in limits:
            if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= top:
                raise InvalidInput(name, f"must be an int from {low} to {top}, got {number!r}")
        program = _in_force(self._sync_versions(), at, default_first=True)
        local = at.astimezone(program.zone)
        index = local.year * 12 + local.month - 1
        months = [
            f"{(index - m) // 12:04d}-{(index - m) % 12 + 1:02d}"
            for m in range(recent_months + baseline_months)
        ]
        start = datetime(local.year, local.month, 1, tzinfo=program.zone)
        end = start + relativedelta(months=1)
        month_done = Decimal((at - start) / (end - start)).quantize(Decimal("0.0001"))
        risky: list[AtRisk] = []
        unknown: list[str] = []
        checked = 0
        after = ""
        while True:
            with self.store.unit_of_work(readonly=True) as uow:
                ids = uow.member_ids(after=after, limit=page)
                keys = [
                    key
                    for member_id in ids
                    for key in (
                        visits_key(member_id),
                        seen_key(member_id),
                        *(spent_key(member_id, month) for month in months),
                    )
                ]
                read = uow.tallies(keys)
            for member_id in ids:
                checked += 1
                visits = read[visits_key(member_id)].count
                first, last = read[seen_key(member_id)].count, read[seen_key(member_id)].points
                if visits < min_visits or not last:
                    unknown.append(member_id)
                    continue
                habit = Habit(member_id, visits, instant(first), instant(last))
                spend = {m: read[spent_key(member_id, month)].points for m, month in enumerate(months)}
                found = drift(
                    habit, at, spend, min_visits, factor, drop, recent_months, baseline_months, month_done
                )
                if found.reasons:
                    risky.append(found)
            if len(ids) < page:
                return AtRiskReport(at, risky, unknown, checked)
            after = ids[-1]

    def announce_at_risk(self, report: AtRiskReport | None = None, *, batch: int = 500) -> int:
        """Write a ``member_at_risk`` event for every member in ``report`` (default: :meth:`at_risk`
        now, with its defaults), once per spell: a member is announced again only after a new
        visit. Returns the events written.

        :meth:`at_risk` reads every member's habits, so run this as a daily job, not on every
        maintenance run.
        """
        if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 100_000:
            raise InvalidInput("batch", f"must be an int from 1 to 100000, got {batch!r}")
        if report is None:
            report = self.at_risk()
        elif not isinstance(report, AtRiskReport):
            raise InvalidInput("report", f"must be an AtRiskReport, not {type(report).__name__}")
        found = report
        drifting = sorted(found.at_risk, key=lambda risk: risk.member_id)

        def command(uow: UnitOfWork, chunk: list[AtRisk]) -> int:
            written = 0
            recorded = self._now()
            for risk in chunk:
                self._balance_for_update(uow, risk.member_id)
                key = f"atrisk|{risk.member_id}"
                marked = uow.tallies([key])[key].points
                spell = Decimal(micros(risk.last_visit))
                if marked == spell:
                    continue  # announced already, and no visit since
                data = {
                    "reasons": list(risk.reasons),
                    "last_visit": risk.last_visit.isoformat(),
                    "days_since": str(risk.days_since),
                    "typical_gap_days": str(risk.typical_gap_days),
                    "recent_spend": str(risk.recent_spend),
                    "baseline_spend": str(risk.baseline_spend),
                }
                source = f"at-risk:{risk.member_id}:{risk.last_visit.isoformat()}"
                uow.add_event(
                    NewEvent(EventKind.MEMBER_AT_RISK, risk.member_id, report.at, recorded, source, data)
                )
                uow.add_tallies({key: Tally(0, spell - marked)})
                written += 1
            uow.commit()
            return written

        return self._in_chunks(drifting, batch, command)

    def figures(self, start: datetime, end: datetime, *, point_value: Decimal | None = None) -> Figures:
        """The program's figures for ``[start, end)`` (:mod:`loyalty.figures`), added up in the store.

        Retention compares with the period of the same length just before;
        ``point_value`` (money per point) prices the outstanding points.
        """
        check_aware("start", start)
        check_aware("end", end)
        if end <= start:
            raise InvalidInput("end", f"must be after start ({start.isoformat()}), got {end.isoformat()}")
        if point_value is not None and (
            not isinstance(point_value, Decimal)
            or not point_value.is_finite()
            or not 0 <= point_value <= 1_000_000
        ):
            raise InvalidInput(
                "point_value",
                f"must be None or a Decimal from 0 to 1000000 (money per point), got {point_value!r}",
            )
        try:
            before = start - (end - start)
        except OverflowError:
            before = datetime.min.replace(tzinfo=UTC)
        with self.store.unit_of_work(readonly=True) as uow:
            totals = uow.period_totals(start, end, before)
        program = self.program
        return figures(totals, start, end, program.currency, point_value=point_value, scale=program.scale)

    # -- events for integrations ----------------------------------------------------------------

    def events(self, *, after: int = 0, limit: int = 100) -> list[DomainEvent]:
        """Domain events with ``seq > after``, in the order they were committed, at most ``limit``.

        Keep the ``seq`` of the last event handled and pass it as ``after``
        next time: each event is seen once, none is skipped (see
        :mod:`loyalty.outbox`).
        """
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_POINTS:
            raise InvalidInput("after", f"must be an int from 0 to {MAX_POINTS}, got {after!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise InvalidInput("limit", f"must be an int from 1 to 10000, got {limit!r}")
        with self.store.unit_of_work(readonly=True) as uow:
            return uow.events(after=after, limit=limit)

    # -- tiers ------------------------------------------------------------------------------

    def tier(self, member_id: str) -> TierStatus:
        """Where the member stands in the program's tiers now (:class:`~loyalty.tiers.TierStatus`).

        Reviews that fell due are taken into account even if maintenance has
        not run yet (nothing is written). Raises
        :class:`~loyalty.errors.UnknownTier` if the program has no tiers.
        """
        check_id("member_id", member_id)
        now = self._now()
        with self.store.unit_of_work(readonly=True) as uow:
            member = uow.member(member_id)
            if member is None:
                raise UnknownMember("member_id", f"no member {member_id!r}")
            program = _in_force(self._versions_in(uow), now, default_first=True)
            tiers = program.tiers
            if tiers is None:
                raise UnknownTier(
                    "tiers", f"program {program.name!r} (version {program.version}) has no tiers"
                )
            state = self._tier_settled(uow, program, tiers, member, now)[0]
            measure = self._measure(uow, program, tiers, member)
            value = measure(now)
            earned = tiers.tier(state.earned)
            review_at = state.review_at if tiers.position(state.earned) > 0 else None
            to_keep = None
            if review_at is not None:
                to_keep = max(
                    Decimal(0), EXACT.subtract(earned.threshold, measure(tiers.measured_at(review_at)))
                )
        position = tiers.position(state.tier)
        following = tiers.levels[position + 1] if position + 1 < len(tiers.levels) else None
        floor = state.floor if state.floor_until is not None and now < state.floor_until else None
        return TierStatus(
            member_id,
            tiers.tier(state.tier),
            state.since,
            tiers.metric,
            value,
            following,
            None if following is None else max(Decimal(0), EXACT.subtract(following.threshold, value)),
            review_at,
            to_keep,
            earned,
            None if floor is None else tiers.tier(floor),
            None if floor is None else state.floor_until,
        )

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
        entry naming ``actor`` and ``reason``; idempotent on ``id``.
        """
        check_id("member_id", member_id)
        check_id("tier", tier)
        check_id("id", id)
        check_aware("at", at)
        check_aware("until", until)
        check_id("actor", actor)
        check_text("reason", reason)
        if not reason.strip():
            raise InvalidInput("reason", "an assignment must say why")
        if until <= at:
            raise InvalidInput("until", f"must be after at ({at.isoformat()}), got {until.isoformat()}")
        request = {
            "member_id": member_id,
            "tier": tier,
            "until": until.isoformat(),
            "at": at.isoformat(),
            "reason": reason,
            "actor": actor,
        }

        def command(uow: UnitOfWork) -> TierState:
            replay = self._replay(uow, id, "tier_assign", request)
            if replay is not None:
                return codec.structure(replay.result, TierState)
            self._balance_for_update(uow, member_id)
            member = uow.member(member_id)
            assert member is not None  # it has a balance
            now = self._now()
            program = _in_force(self._versions_in(uow), now, default_first=True)
            tiers = program.tiers
            if tiers is None:
                raise UnknownTier(
                    "tier", f"program {program.name!r} (version {program.version}) has no tiers"
                )
            if tier not in {level.id for level in tiers.levels}:
                known = ", ".join(level.id for level in tiers.levels)
                raise UnknownTier("tier", f"no tier {tier!r} in the program (its tiers: {known})")
            if until <= now:
                raise InvalidInput("until", f"must be after now ({now.isoformat()}), got {until.isoformat()}")
            state, stored, moves = self._tier_settled(uow, program, tiers, member, now)
            why = f"assigned by {actor} until {until.isoformat()}: {reason}"
            state, more = assign(state, tiers, program.zone, tier, until, at, why)
            self._write_tier(uow, program, tiers, member_id, state, stored, moves + more, id, now, actor)
            uow.add_operation(Operation(id, "tier_assign", request, codec.unstructure(state), now))
            uow.commit()
            return state

        return self._run(command)

    # -- returns and voids -------------------------------------------------------------------

    def record_return(self, returned: Return) -> ReturnReceipt:
        """Take back what returned goods earned, and give back points spent on them.

        The purchase is recomputed without every unit returned so far, under
        the program version it was earned with and with the tallies it was
        evaluated with (its visit count, caps, budgets), and the difference
        from the previous state is taken back: bonuses whose minimum the rest
        no longer meets go too, and a void also takes back a first-purchase
        bonus and gives the visit back. The take-backs of all returns of a
        purchase never exceed what it earned. Points come first out of the
        purchase's own lot (pending, if still in the return window), then
        other pending points, then available ones; if the member spent them,
        the program's ``clawback`` decides (:class:`~loyalty.returns.Clawback`).
        Points redeemed to pay for the purchase (``redeem(..., purchase_id=)``)
        are given back in proportion to the amount returned, as a new lot.
        Idempotent on ``returned.id``.
        """
        if not isinstance(returned, Return):
            raise InvalidInput("return", f"must be a Return, not {type(returned).__name__}")
        request = {
            "purchase_id": returned.purchase_id,
            "at": returned.at.isoformat(),
            "lines": None
            if returned.lines is None
            else [{"sku": line.sku, "quantity": str(line.quantity)} for line in returned.lines],
        }

        def command(uow: UnitOfWork) -> ReturnReceipt:
            replay = self._replay(uow, returned.id, "return", request)
            if replay is not None:
                return codec.structure(replay.result, ReturnReceipt)
            return self._return(uow, returned, request)

        return self._run(command)

    def _return(self, uow: UnitOfWork, returned: Return, request: dict[str, Any]) -> ReturnReceipt:
        sold = uow.operation(returned.purchase_id)
        if sold is None or sold.kind != "purchase":
            raise UnknownPurchase("purchase_id", f"no purchase {returned.purchase_id!r} was recorded")
        pid = returned.purchase_id
        purchase = codec.purchase_from_request(pid, sold.request)
        receipt = codec.receipt_from_result(sold.result)
        member_id = purchase.member_id
        if returned.at < purchase.at:
            raise InvalidInput(
                "at",
                f"the return ({returned.at.isoformat()}) is before its purchase ({purchase.at.isoformat()})",
            )
        self._lock_with_referrer(uow, member_id)
        # A retry that waited on the lock for the original: its result is there now.
        replay = self._replay(uow, returned.id, "return", request)
        if replay is not None:
            return codec.structure(replay.result, ReturnReceipt)
        lines = range(len(purchase.lines))
        state = uow.tallies(
            [*(returned_key(pid, i) for i in lines), taken_key(pid), paid_key(pid), refunded_key(pid)]
        )
        before = {i: state[returned_key(pid, i)].points for i in lines if state[returned_key(pid, i)].points}
        if all(before.get(i, 0) >= Decimal(line.quantity) for i, line in enumerate(purchase.lines)):
            raise AlreadyReturned("purchase_id", f"everything of purchase {pid!r} has already been returned")
        after = returned_after(purchase, before, returned.lines)
        program = self._version_of(uow, receipt.program_version, purchase.at)
        kept_member = sold.result.get("member")
        if isinstance(kept_member, dict):
            member: Member | None = codec.structure(kept_member, Member)
        else:  # recorded before members were kept with purchases, or not needed then
            member = uow.member(member_id) if program.index.needs_member else None
        context = self._context(uow, program, purchase, member, sold.result)
        was, now_is = remaining(purchase, before), remaining(purchase, after)
        was_eval = evaluate(program, was, member=member, tallies=context) if was is not None else None
        new_eval = evaluate(program, now_is, member=member, tallies=context) if now_is is not None else None
        earned_before = receipt.points if not before else (was_eval.receipt.points if was_eval else 0)
        earns_now = new_eval.receipt.points if new_eval is not None else 0
        taken_so_far = int(state[taken_key(pid)].points)
        take = max(0, min(earned_before - earns_now, receipt.points - taken_so_far))
        # What the returned units counted for (visits, caps, budgets, stamps) is given back.
        corrections = _merged(
            new_eval.tallies if new_eval is not None else {},
            {k: Tally(-t.count, -t.points) for k, t in (was_eval.tallies if was_eval else {}).items()},
        )
        now = self._now()
        self._expire_due(uow, member_id, now)
        refund = self._refund_due(state, pid, purchase, now_is)
        if refund:
            _, expires = self._dates(program, returned.at, pending=False, now=now)
            self._credit(
                uow,
                Posting(
                    member_id,
                    EntryKind.REFUND,
                    refund,
                    returned.at,
                    now,
                    returned.id,
                    f"{refund} points paid for returned goods of {pid}",
                    expires_at=expires,
                ),
                program=program,
            )
        owed = uncollected = taken = 0
        if take:
            lots = uow.lots(member_id)
            own = sold.result.get("lot")
            draws = take_back(lots, take, own if isinstance(own, int) else None, now)
            short = take + sum(points for _, points in draws)  # the draws are negative
            points = -take
            what = "void" if now_is is None else "return"
            if short and program.clawback is Clawback.NEGATIVE:
                corrections = _merged(corrections, {debt_key(member_id): Tally(0, Decimal(short))})
            elif short:
                points = -(take - short)
                if program.clawback is Clawback.FUTURE:
                    owed = short
                    corrections = _merged(corrections, {owed_key(member_id): Tally(0, Decimal(short))})
                else:
                    uncollected = short
            taken = -points
            if points:
                rest = f", {owed} owed" if owed else f", {uncollected} not collected" if uncollected else ""
                uow.append(
                    Posting(
                        member_id,
                        EntryKind.RETURN,
                        points,
                        returned.at,
                        now,
                        returned.id,
                        f"{what} of {pid}: {taken} of the {take} points its goods earned taken back{rest}",
                        draws=draws,
                    )
                )
        returned_now = {
            returned_key(pid, i): Tally(0, q - before.get(i, Decimal(0))) for i, q in after.items()
        }
        bookkeeping = {taken_key(pid): Tally(1, Decimal(take)), refunded_key(pid): Tally(0, Decimal(refund))}
        current = self._tiered_now(uow)
        enrolled = uow.member(member_id) if current is not None else None
        metric: dict[str, Tally] = {}
        if current is not None and enrolled is not None:
            metric = self._tier_correction(current, program, enrolled, purchase, take, was, now_is)
        month = spent_key(member_id, month_key(purchase.at.astimezone(program.zone)))
        before_amount = was.total.amount if was is not None else Decimal(0)
        after_amount = now_is.total.amount if now_is is not None else Decimal(0)
        habit = {month: Tally(-1 if now_is is None else 0, EXACT.subtract(after_amount, before_amount))}
        uow.add_tallies(_merged(corrections, returned_now, bookkeeping, metric, habit))
        if current is not None and current.tiers is not None and enrolled is not None:
            # The metric fell: a downgrade at once follows it; a review will see it.
            tiers = current.tiers
            tiered, stored, moves = self._tier_settled(uow, current, tiers, enrolled, now)
            if tiers.downgrade is Downgrade.IMMEDIATE:
                value = self._measure(uow, current, tiers, enrolled)(now)
                tiered, more = upgrade(tiered, tiers, value, now, current.zone, enrolled.enrolled_at)
                moves += more
            self._write_tier(uow, current, tiers, member_id, tiered, stored, moves, returned.id, now)
        referral = uow.referral(member_id)
        if (
            referral is not None
            and referral.purchase_id == pid
            and referral.state in (ReferralState.QUALIFIED, ReferralState.REWARDED)
        ):
            minimum = program.referrals.min_spend if program.referrals is not None else None
            if now_is is None or (minimum is not None and now_is.total.amount < minimum):
                # What is left no longer qualifies: no reward for it.
                self._take_back_referral(uow, program, referral, returned, now)
        balance = uow.balance(member_id)
        assert balance is not None
        result = ReturnReceipt(
            returned.id,
            pid,
            member_id,
            now_is is None,
            receipt.points,
            earns_now,
            taken,
            refund,
            owed,
            uncollected,
            balance,
        )
        uow.add_operation(Operation(returned.id, "return", request, codec.unstructure(result), now))
        uow.commit()
        return result

    @staticmethod
    def _tier_correction(
        current: Program,
        program: Program,
        member: Member,
        purchase: Purchase,
        take: int,
        was: Purchase | None,
        now_is: Purchase | None,
    ) -> dict[str, Tally]:
        """What a return takes off the tier metric (of ``current``'s tiers), in the stretch its
        purchase counted in; ``take`` is in the units of ``program``, its version."""
        tiers = current.tiers
        assert tiers is not None
        if tiers.metric is Metric.POINTS:
            delta = Tally(0, -Decimal(take).scaleb(-program.scale, context=EXACT))
        elif tiers.metric is Metric.SPEND:
            before = was.total.amount if was is not None else Decimal(0)
            after = now_is.total.amount if now_is is not None else Decimal(0)
            delta = Tally(0, EXACT.subtract(after, before))
        else:
            delta = Tally(-1 if now_is is None else 0, Decimal(0))  # a void gives the visit back
        if not (delta.count or delta.points):
            return {}
        bucket = tiers.bucket(purchase.at, current.zone, member.enrolled_at)
        return {metric_key(tiers.metric, member.id, bucket): delta}

    def _version_of(self, uow: UnitOfWork, label: str, at: datetime) -> Program:
        """The program version a purchase was earned with: by its label, else the one in force at ``at``."""
        versions = self._versions_in(uow)
        for version in versions:
            if version.version == label:
                return version
        return _in_force(versions, at, default_first=True)

    @staticmethod
    def _context(
        uow: UnitOfWork, program: Program, purchase: Purchase, member: Member | None, result: dict[str, Any]
    ) -> dict[str, Tally]:
        """The tallies the purchase was evaluated with, kept with it (recorded before they were kept:
        today's tallies less what the purchase itself added)."""
        kept = result.get("context")
        if isinstance(kept, dict):
            return {name: Tally(int(count), Decimal(points)) for name, (count, points) in kept.items()}
        own, shared = tally_keys(program, purchase, member)
        today = uow.tallies([*own, *shared])
        added = evaluate(program, purchase, member=member, tallies=today).tallies
        return {
            name: tally + Tally(-added[name].count, -added[name].points) if name in added else tally
            for name, tally in today.items()
        }

    @staticmethod
    def _refund_due(state: Mapping[str, Tally], pid: str, purchase: Purchase, left: Purchase | None) -> int:
        """Points paid for the purchase owed back once it is down to ``left``, less those refunded."""
        paid = int(state[paid_key(pid)].points)
        if not paid:
            return 0
        total = purchase.total.amount
        if left is None or not total:
            due = paid
        else:
            share = EXACT.divide(EXACT.subtract(total, left.total.amount), total)
            due = int(
                EXACT.multiply(Decimal(paid), share).to_integral_value(rounding=ROUND_FLOOR, context=EXACT)
            )
        return max(0, due - int(state[refunded_key(pid)].points))

    # -- holds at the till -------------------------------------------------------------------

    def hold(self, member_id: str, points: int, *, id: str, at: datetime, ttl: timedelta) -> Hold:
        """Reserve ``points`` the moment the till asks, for ``ttl`` on the engine clock.

        The points leave the member's available balance at once (a ``hold``
        entry draws them from the lots, soonest-expiring first), so they
        cannot be spent twice. The hold then ends exactly once, with
        :meth:`capture`, :meth:`release`, or expiry by :meth:`run_due` once
        ``ttl`` has passed on the engine's clock (never the till's).
        Idempotent on ``id`` (which is also the hold's id): a retry returns
        the hold as it was made; a hold declined for want of points stays
        declined.
        """
        check_id("member_id", member_id)
        check_points("points", points)
        check_id("id", id)
        check_aware("at", at)
        if not isinstance(ttl, timedelta) or not timedelta(0) < ttl <= MAX_HOLD_TTL:
            raise InvalidInput(
                "ttl", f"must be a timedelta above 0 and at most {MAX_HOLD_TTL.days} days, got {ttl!r}"
            )
        request = {
            "member_id": member_id,
            "points": points,
            "at": at.isoformat(),
            "ttl": ttl // timedelta(microseconds=1),
        }

        def command(uow: UnitOfWork) -> Hold | _Declined:
            replay = self._replay(uow, id, "hold", request)
            if replay is not None:
                if "declined" in replay.result:
                    return _Declined(self._insufficient(**replay.result["declined"]))
                return codec.structure(replay.result, Hold)
            self._balance_for_update(uow, member_id)
            now = self._now()
            self._expire_due(uow, member_id, now)
            try:
                draws = draw_points(uow, member_id, points, now)
            except InsufficientPoints as short:
                return self._decline(uow, Operation(id, "hold", request, {}, now), short)
            # Elapsed time, whatever zone the clock answers in (wall-clock arithmetic would
            # stretch a hold across a DST change).
            hold = Hold(id, member_id, points, draws, at, now.astimezone(UTC) + ttl)
            uow.append(Posting(member_id, EntryKind.HOLD, -points, at, now, id, "hold", draws=draws))
            uow.add_hold(hold)
            uow.add_operation(Operation(id, "hold", request, codec.unstructure(hold), now))
            uow.commit()
            return hold

        return self._run_or_decline(command)

    def capture(self, hold_id: str, *, id: str, at: datetime, points: int | None = None) -> Hold:
        """Spend a hold's points: all of them, or ``points`` of them with the rest given back.

        Idempotent on ``id``. Raises :class:`~loyalty.errors.HoldExpired` once
        the hold's time has run out on the engine clock, and
        :class:`~loyalty.errors.HoldEnded` for a hold already captured or
        released; neither writes anything.
        """
        check_id("hold_id", hold_id)
        check_id("id", id)
        check_aware("at", at)
        if points is not None:
            check_points("points", points)
        request = {"hold_id": hold_id, "at": at.isoformat(), "points": points}

        def command(uow: UnitOfWork) -> Hold:
            replay = self._replay(uow, id, "capture", request)
            if replay is not None:
                return codec.structure(replay.result, Hold)
            hold = self._locked_hold(uow, hold_id)
            # A retry that waited on the lock for the original: its result is there now.
            replay = self._replay(uow, id, "capture", request)
            if replay is not None:
                return codec.structure(replay.result, Hold)
            now = self._now()
            if hold.status is HoldStatus.EXPIRED:
                raise HoldExpired(
                    "hold_id", f"hold {hold_id!r} expired at {hold.expires_at.isoformat()}", status="expired"
                )
            if not hold.open:
                raise HoldEnded(
                    "hold_id", f"hold {hold_id!r} was already {hold.status.value}", status=hold.status.value
                )
            if now >= hold.expires_at:
                raise HoldExpired(
                    "hold_id", f"hold {hold_id!r} expired at {hold.expires_at.isoformat()}", status="expired"
                )
            captured = hold.points if points is None else points
            if captured:
                self._mark_redeemed(uow, hold.member_id, at)
            if captured > hold.points:
                raise InvalidPoints("points", f"the hold is of {hold.points} points, not {captured}")
            if captured < hold.points:
                self._give_back(uow, hold, hold.points - captured, now, f"hold captured for {captured}")
            ended = uow.end_hold(hold_id, HoldStatus.CAPTURED, captured, now.astimezone(UTC))
            uow.add_operation(Operation(id, "capture", request, codec.unstructure(ended), now))
            uow.commit()
            return ended

        return self._run(command)

    def release(self, hold_id: str, *, at: datetime) -> Hold:
        """Give a hold's points back (the sale was cancelled). A released or expired hold is
        returned as it is, so a retry is harmless; a captured one raises
        :class:`~loyalty.errors.HoldEnded`. A hold whose time is up ends as
        expired, as maintenance would have ended it.
        """
        check_id("hold_id", hold_id)
        check_aware("at", at)

        def command(uow: UnitOfWork) -> Hold:
            hold = self._locked_hold(uow, hold_id)
            if hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
                return hold
            if hold.status is HoldStatus.CAPTURED:
                raise HoldEnded("hold_id", f"hold {hold_id!r} was already captured", status="captured")
            now = self._now()
            # Past its time the hold has expired, whether or not maintenance has said so yet.
            status = HoldStatus.EXPIRED if now >= hold.expires_at else HoldStatus.RELEASED
            self._give_back(uow, hold, hold.points, now, f"hold {status.value}")
            ended = uow.end_hold(hold_id, status, 0, now.astimezone(UTC))
            if status is HoldStatus.EXPIRED:
                self._hold_expired(uow, hold, now)
            uow.commit()
            return ended

        return self._run(command)

    def holds(self, member_id: str) -> list[Hold]:
        """The member's open holds, by id."""
        check_id("member_id", member_id)
        with self.store.unit_of_work(readonly=True) as uow:
            self._known(uow, member_id)
            return uow.open_holds(member_id)

    def _locked_hold(self, uow: UnitOfWork, hold_id: str) -> Hold:
        """The hold, read again once its member's balance is locked (so it cannot end under us)."""
        found = uow.hold(hold_id)
        if found is None:
            raise UnknownHold("hold_id", f"no hold {hold_id!r}")
        self._balance_for_update(uow, found.member_id)
        hold = uow.hold(hold_id)
        assert hold is not None  # holds are never deleted
        return hold

    # -- internals --------------------------------------------------------------------------

    def _earn(self, subject: Purchase | Event, request: dict[str, Any], kind: str, reason: str) -> Receipt:
        """Evaluate a purchase or event with the version of its time and write what it earned."""
        program = self._version_at(subject.at, write=False)

        def command(uow: UnitOfWork) -> Receipt:
            self._stored_versions = False
            replay = self._replay(uow, subject.id, kind, request)
            if replay is not None:
                # The original receipt, even if the program has changed since.
                return codec.receipt_from_result(replay.result)
            if isinstance(subject, Purchase) and program.referrals is not None:
                balance = self._lock_with_referrer(uow, subject.member_id)
            else:
                balance = self._balance_for_update(uow, subject.member_id)
            if program.expiry.policy is ExpiryPolicy.INACTIVITY:
                balance = self._keep_active(uow, program, subject)
            current = self._tiered_now(uow)
            needs_member = program.index.needs_member or current is not None
            member = uow.member(subject.member_id) if needs_member else None
            if current is not None and member is not None:
                return self._earn_tiered(
                    uow, program, current, subject, member, balance, request, kind, reason
                )
            tallies = self._tallies(uow, program, subject, member)
            outcome = self._evaluate(program, subject, member, tallies, balance)
            referral = self._referral_due(uow, subject, tallies)
            return self._post(
                uow,
                program,
                outcome.receipt,
                outcome.tallies,
                subject.id,
                request,
                kind,
                reason,
                tallies,
                member,
                None if referral is None else self._rewarding(uow, program, subject, referral),
            )

        receipt = self._run(command)
        if self._stored_versions:
            self._synced = True
        return receipt

    def _lock_with_referrer(self, uow: UnitOfWork, member_id: str) -> int:
        """Lock the member's balance, and its referrer's with it if a referral may reward or take back
        points from both, in member-id order like maintenance, so no two writers wait on each other.
        Returns the member's balance."""
        referral = uow.referral(member_id)
        members = {member_id}
        if referral is not None and referral.state is not ReferralState.REJECTED:
            members.add(referral.referrer)
        balances = {m: self._balance_for_update(uow, m) for m in sorted(members)}
        return balances[member_id]

    @staticmethod
    def _referral_due(
        uow: UnitOfWork, subject: Purchase | Event, tallies: Mapping[str, Tally]
    ) -> Referral | None:
        """The referee's pending referral, if ``subject`` is its first purchase (the visit count read)."""
        if not isinstance(subject, Purchase):
            return None
        visits = tallies.get(visits_key(subject.member_id))
        if visits is not None and visits.count:
            return None
        referral = uow.referral(subject.member_id)
        return referral if referral is not None and referral.state is ReferralState.PENDING else None

    def _rewarding(
        self, uow: UnitOfWork, program: Program, purchase: Purchase | Event, referral: Referral
    ) -> Callable[[Receipt], Entry | None]:
        """What a referee's first purchase does to its referral, once its own points are written:
        rewards both members (the referrer's balance locked after the referee's: referrers
        enrolled first, so locks are always taken newer to older) or rejects it, with why."""
        assert isinstance(purchase, Purchase)

        def reward(receipt: Receipt) -> Entry | None:
            now = self._now()
            terms = program.referrals
            if terms is None:
                return None  # this version has no referral terms: the referral waits
            member = uow.member(purchase.member_id)
            assert member is not None
            zone = program.zone
            reject = None
            amount = purchase.total.amount
            if terms.min_spend is not None and amount < terms.min_spend:
                reject = f"first purchase of {amount} is below the minimum of {terms.min_spend}"
            elif terms.within_days is not None:
                deadline = member.enrolled_at.astimezone(zone) + relativedelta(days=terms.within_days)
                if purchase.at > deadline:
                    reject = f"first purchase more than {terms.within_days} days after enrolling"
            if reject is None and terms.identity is not None:
                referrer = uow.member(referral.referrer)
                own_id = member.attributes.get(terms.identity)
                their_id = None if referrer is None else referrer.attributes.get(terms.identity)
                if own_id is not None and _typed({"v": own_id}) == _typed({"v": their_id}):
                    reject = f"same {terms.identity} as the referrer"
            cap_key = None
            if terms.cap is not None and terms.cap_period is not None:
                self._balance_for_update(uow, referral.referrer)
                period = terms.cap_period.key(purchase.at.astimezone(zone))
                cap_key = f"referrals|{period}|{referral.referrer}"
                if reject is None and uow.tallies([cap_key])[cap_key].count >= terms.cap:
                    period_name = terms.cap_period.value
                    reject = f"the referrer already has {terms.cap} rewarded referrals this {period_name}"
            points = Decimal(receipt.points).scaleb(-program.scale, context=EXACT)
            shares = {
                side: int(
                    EXACT.multiply(terms.bonus(side, points), Decimal(10) ** program.scale).to_integral_value(
                        rounding=ROUND_FLOOR, context=EXACT
                    )
                )
                for side in ("referee", "referrer")
            }
            if reject is None and not any(shares.values()):
                reject = "the first purchase earned no points to share"
            if reject is not None:
                uow.put_referral(
                    attrs.evolve(
                        referral,
                        state=ReferralState.REJECTED,
                        reason=reject,
                        purchase_id=purchase.id,
                        decided_at=now.astimezone(UTC),
                    )
                )
                return None
            vests = program.lot_dates(purchase.at, pending=True)[0] if terms.pending else None
            expires = self._dates(program, purchase.at, pending=False, now=now)[1]
            written: dict[str, tuple[Entry, Entry] | None] = {}
            for side, member_id, why in (
                ("referee", purchase.member_id, f"referral bonus: welcome, referred by {referral.referrer}"),
                (
                    "referrer",
                    referral.referrer,
                    f"referral bonus: {purchase.member_id} made a first purchase",
                ),
            ):
                units = shares[side]
                written[side] = None
                if units:
                    balance = self._balance_for_update(uow, member_id)
                    self._check_range(balance + units)
                    posting = Posting(
                        member_id,
                        EntryKind.EARN,
                        units,
                        purchase.at,
                        now,
                        purchase.id,
                        why,
                        rules=(f"referral:{side}",),
                        program_version=program.version,
                        vests_at=vests,
                        expires_at=expires,
                    )
                    written[side] = self._credit(uow, posting, program=program)
            mine, theirs = written["referee"], written["referrer"]
            rewarded = attrs.evolve(
                referral,
                state=ReferralState.QUALIFIED if vests is not None else ReferralState.REWARDED,
                purchase_id=purchase.id,
                referee_points=0 if mine is None else mine[0].points,
                referrer_points=0 if theirs is None else theirs[0].points,
                referee_lot=None if mine is None else mine[0].seq,
                referrer_lot=None if theirs is None else theirs[0].seq,
                vests_at=vests,
                decided_at=now.astimezone(UTC),
            )
            uow.put_referral(rewarded)
            if cap_key is not None:
                uow.add_tallies({cap_key: Tally(1, Decimal(0))})
            data = {
                "referee": purchase.member_id,
                "purchase_id": purchase.id,
                "referrer_points": rewarded.referrer_points,
                "referee_points": rewarded.referee_points,
                "vests_at": None if vests is None else vests.isoformat(),
            }
            uow.add_event(
                NewEvent(EventKind.REFERRAL_REWARDED, referral.referrer, purchase.at, now, purchase.id, data)
            )
            return None if mine is None else mine[1]

        return reward

    def _take_back_referral(
        self, uow: UnitOfWork, program: Program, referral: Referral, returned: Return, now: datetime
    ) -> None:
        """The referee's qualifying purchase came back: both bonuses go, under the program's clawback."""
        terms = program.referrals
        for member_id, points, lot in (
            (referral.referee, referral.referee_points, referral.referee_lot),
            (referral.referrer, referral.referrer_points, referral.referrer_lot),
        ):
            if not points:
                continue
            self._balance_for_update(uow, member_id)
            self._expire_due(uow, member_id, now)
            draws = take_back(uow.lots(member_id), points, lot, now)
            short = points + sum(p for _, p in draws)
            taken, rest = points - short, ""
            if short and program.clawback is Clawback.NEGATIVE:
                taken = points
                uow.add_tallies({debt_key(member_id): Tally(0, Decimal(short))})
            elif short and program.clawback is Clawback.FUTURE:
                uow.add_tallies({owed_key(member_id): Tally(0, Decimal(short))})
                rest = f", {short} owed"
            elif short:
                rest = f", {short} not collected"
            if taken:
                why = f"referral bonus taken back, {referral.purchase_id} returned: {taken} of {points}{rest}"
                uow.append(
                    Posting(
                        member_id, EntryKind.RETURN, -taken, returned.at, now, returned.id, why, draws=draws
                    )
                )
        if terms is not None and terms.cap is not None and terms.cap_period is not None:
            assert referral.decided_at is not None
            sold = uow.operation(referral.purchase_id or "")
            at = datetime.fromisoformat(sold.request["at"]) if sold is not None else referral.decided_at
            period = terms.cap_period.key(at.astimezone(program.zone))
            uow.add_tallies({f"referrals|{period}|{referral.referrer}": Tally(-1, Decimal(0))})
        reason = f"the qualifying purchase {referral.purchase_id} was returned: bonuses taken back"
        uow.put_referral(
            attrs.evolve(
                referral, state=ReferralState.REJECTED, reason=reason, decided_at=now.astimezone(UTC)
            )
        )
        data = {
            "referee": referral.referee,
            "purchase_id": referral.purchase_id,
            "return_id": returned.id,
            "referrer_points": referral.referrer_points,
            "referee_points": referral.referee_points,
        }
        uow.add_event(
            NewEvent(EventKind.REFERRAL_REVOKED, referral.referrer, returned.at, now, returned.id, data)
        )

    def _tiered_now(self, uow: UnitOfWork) -> Program | None:
        """The program version in force now, if it has tiers: its tiers decide every member's."""
        current = _in_force(self._versions_in(uow), self._now(), default_first=True)
        return current if current.tiers is not None else None

    def _keep_active(self, uow: UnitOfWork, program: Program, subject: Purchase | Event) -> int:
        """A purchase or event under an inactivity policy: points already past their date are
        written off, and the member's other rolling lots move on to the new date. Returns
        the balance left."""
        member_id = subject.member_id
        now = self._now()
        self._expire_due(uow, member_id, now)
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
            reason = (
                f"activity on {subject.at.astimezone(program.zone).date().isoformat()}: points expire {when}"
            )
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

    @staticmethod
    def _evaluate(
        program: Program,
        subject: Purchase | Event,
        member: Member | None,
        tallies: Mapping[str, Tally],
        balance: int,
    ) -> Evaluation:
        if isinstance(subject, Purchase):
            return evaluate(program, subject, member=member, tallies=tallies, balance_before=balance)
        return evaluate_event(program, subject, member=member, tallies=tallies, balance_before=balance)

    def _earn_tiered(
        self,
        uow: UnitOfWork,
        program: Program,
        current: Program,
        subject: Purchase | Event,
        member: Member,
        balance: int,
        request: dict[str, Any],
        kind: str,
        reason: str,
    ) -> Receipt:
        """:meth:`_earn` under a tiered program: at the member's tier, moving it up if the metric says so.

        ``program`` is the version the purchase earns under; ``current`` the
        one in force now, whose tiers decide. Reviews that fell due before
        the purchase are carried out first (as maintenance would have), so
        it earns at the tier they left.
        """
        tiers = current.tiers
        assert tiers is not None
        now = self._now()
        state, stored, moves = self._tier_settled(uow, current, tiers, member, now)
        if moves:
            self._write_tier(uow, current, tiers, member.id, state, stored, moves, subject.id, now)
            stored = state
        decided = self._tier_decide(uow, program, current, subject, member, balance, state, now)
        receipt = decided.receipt

        referral = self._referral_due(uow, subject, decided.tallies)
        rewarding = None if referral is None else self._rewarding(uow, program, subject, referral)

        def then(earned: Receipt) -> Entry | None:
            written = self._write_tier(
                uow, current, tiers, member.id, decided.after, stored, decided.moves, subject.id, now
            )
            last = rewarding(earned) if rewarding is not None else None
            return last or (written[-1] if written else None)

        return self._post(
            uow,
            program,
            receipt,
            decided.deltas,
            subject.id,
            request,
            kind,
            reason,
            decided.tallies,
            decided.member,
            then,
        )

    def _tier_decide(
        self,
        uow: UnitOfWork,
        program: Program,
        current: Program,
        subject: Purchase | Event,
        member: Member,
        balance: int,
        state: TierState,
        now: datetime,
    ) -> _TierDecision:
        """Evaluate ``subject`` at the member's tier and decide the moves it causes. Writes nothing.

        The metric is judged in the window of the purchase's own time (a
        downgrade at once: the window of now, which a late purchase from an
        earlier one does not change); reviews that fell between a late
        purchase's time and now are carried out again with it counted.
        """
        tiers = current.tiers
        assert tiers is not None
        zone, enrolled = current.zone, member.enrolled_at
        measure = self._measure(uow, current, tiers, member)
        bucket = tiers.bucket(subject.at, zone, enrolled)
        # The windows the purchase can lift: its own time's (not under a downgrade at once,
        # which follows the window of now alone) and now's, if it counts there too.
        windows = [now] if tiers.downgrade is Downgrade.IMMEDIATE else [subject.at, now]
        windows = [at for at in windows if bucket in tiers.buckets(at, zone, enrolled)] or [now]
        if len(windows) == 2 and tiers.buckets(windows[0], zone, enrolled) == tiers.buckets(
            now, zone, enrolled
        ):
            windows = windows[:1]  # a till online: the purchase's window is now's, read once
        bases = [(at, measure(at)) for at in windows]
        counts = bucket in tiers.buckets(windows[0], zone, enrolled)
        earned_at = state.tier
        seen = _tiered(member, earned_at)
        tallies = self._tallies(uow, program, subject, seen)
        outcome = self._evaluate(program, subject, seen, tallies, balance)
        after, moves = state, list[TierChange]()
        gained = Tally()
        # With this_purchase the purchase is rated again at each tier it reaches, until it stays.
        for _ in range(len(tiers.levels)):
            gained = _contribution(tiers, program, subject, outcome.receipt.points)
            # The window where it reaches furthest decides (the first on a tie: its own time's).
            when, value = max(
                ((at, EXACT.add(base, _value(tiers, gained)) if counts else base) for at, base in bases),
                key=lambda pair: tiers.level_for(pair[1]),
            )
            after, moves = upgrade(state, tiers, value, when, zone, enrolled)
            if tiers.upgrade is not Upgrade.THIS_PURCHASE or after.tier == earned_at:
                break
            earned_at = after.tier
            seen = _tiered(member, earned_at)
            outcome = self._evaluate(program, subject, seen, tallies, balance)

        def with_purchase(at: datetime) -> Decimal:
            counted = measure(at)
            if bucket in tiers.buckets(at, zone, enrolled):
                counted = EXACT.add(counted, _value(tiers, gained))
            return counted

        after, later = review(after, tiers, now, zone, enrolled, with_purchase)
        moves += later
        if (after.tier, after.earned) == (state.tier, state.earned):
            # Up and down again (a late purchase in a window a later review judged): only
            # first-time bonuses are left to record.
            moves = [attrs.evolve(move, old=state.tier, new=state.tier) for move in moves if move.bonuses]
        deltas: Mapping[str, Tally] = outcome.tallies
        if gained.count or gained.points:
            deltas = _merged(deltas, {metric_key(tiers.metric, member.id, bucket): gained})
        bonus = sum(tiers.tier(tier).bonus for move in moves for tier in move.bonuses) * 10**current.scale
        up = tiers.position(after.tier) > tiers.position(state.tier)
        receipt = attrs.evolve(
            outcome.receipt, tier=earned_at, tier_reached=after.tier if up else None, tier_bonus=bonus
        )
        return _TierDecision(receipt, deltas, tallies, seen, after, moves)

    @staticmethod
    def _measure(
        uow: UnitOfWork, program: Program, tiers: Tiers, member: Member
    ) -> Callable[[datetime], Decimal]:
        """The member's tier metric over the window at a given instant, read from its tallies."""

        def measure(at: datetime) -> Decimal:
            buckets = tiers.buckets(at, program.zone, member.enrolled_at)
            total = Decimal(0)
            for tally in uow.tallies([metric_key(tiers.metric, member.id, b) for b in buckets]).values():
                total = EXACT.add(total, _value(tiers, tally))
            return total

        return measure

    def _tier_settled(
        self, uow: UnitOfWork, program: Program, tiers: Tiers, member: Member, now: datetime
    ) -> tuple[TierState, TierState | None, list[TierChange]]:
        """The member's tier state with every review due by ``now`` carried out: (state, as stored, moves)."""
        stored = uow.tier_state(member.id)
        state = stored if stored is not None else TierState.initial(member.id, tiers, member.enrolled_at)
        measure = self._measure(uow, program, tiers, member)
        state, moves = review(state, tiers, now, program.zone, member.enrolled_at, measure)
        return state, stored, moves

    def _write_tier(
        self,
        uow: UnitOfWork,
        program: Program,
        tiers: Tiers,
        member_id: str,
        state: TierState,
        stored: TierState | None,
        moves: list[TierChange],
        source: str,
        now: datetime,
        actor: str | None = None,
    ) -> list[Entry]:
        """Write each move as a zero-point ``tier`` entry, each entry bonus due as a credit, and the state."""
        written: list[Entry] = []
        for move in moves:
            old, new = tiers.tier(move.old), tiers.tier(move.new)
            what = f"tier {old.label} -> {new.label}" if move.old != move.new else f"tier {new.label}"
            posting = Posting(
                member_id,
                EntryKind.TIER,
                0,
                move.at,
                now,
                source,
                f"{what}: {move.reason}",
                actor,
                program_version=program.version,
            )
            written.append(uow.append(posting))
            if move.moved:
                data = {"old": move.old, "new": move.new, "earned": move.earned, "reason": move.reason}
                uow.add_event(NewEvent(EventKind.TIER_CHANGED, member_id, move.at, now, source, data))
            for tier_id in move.bonuses:
                tier = tiers.tier(tier_id)
                if not tier.bonus:
                    continue
                units = tier.bonus * 10**program.scale
                self._check_range(written[-1].balance_after + units)
                _, expires = self._dates(program, move.at, pending=False, now=now)
                bonus = Posting(
                    member_id,
                    EntryKind.EARN,
                    units,
                    move.at,
                    now,
                    source,
                    f"entry bonus for reaching {tier.label}",
                    rules=(f"{tier.rule_id}:bonus",),
                    program_version=program.version,
                    expires_at=expires,
                )
                written += dict.fromkeys(self._credit(uow, bonus, program=program))
        # A member still where it started (no row, no move) needs no row.
        untouched = stored is None and state == TierState.initial(member_id, tiers, state.since)
        if state != stored and not untouched:
            uow.put_tier_state(state)
        return written

    def _evaluate_readonly(self, purchase: Purchase, *, explain: bool) -> Receipt:
        self._check_purchase(purchase)
        program = self._version_at(purchase.at, write=False)
        with self.store.unit_of_work(readonly=True) as uow:
            replay = self._replay(uow, purchase.id, "purchase", codec.purchase_request(purchase))
            if replay is not None:
                return codec.receipt_from_result(replay.result)
            balance = uow.balance(purchase.member_id)
            if balance is None:
                raise UnknownMember("member_id", f"no member {purchase.member_id!r}")
            current = self._tiered_now(uow)
            needs_member = explain or program.index.needs_member or current is not None
            member = uow.member(purchase.member_id) if needs_member else None
            if current is not None and member is not None:
                assert current.tiers is not None
                now = self._now()
                state = self._tier_settled(uow, current, current.tiers, member, now)[0]
                decided = self._tier_decide(uow, program, current, purchase, member, balance, state, now)
                if not explain:
                    return attrs.evolve(decided.receipt, balance_after=None)
                member = decided.member
                tier = decided.receipt
            else:
                tier = None
            own, shared = tally_keys(program, purchase, member)
            tallies = uow.tallies([*own, *shared]) if own or shared else {}
        receipt = evaluate(program, purchase, member=member, tallies=tallies, explain=explain).receipt
        if tier is None:
            return receipt
        return attrs.evolve(
            receipt, tier=tier.tier, tier_reached=tier.tier_reached, tier_bonus=tier.tier_bonus
        )

    @staticmethod
    def _tallies(
        uow: UnitOfWork, program: Program, subject: Purchase | Event, member: Member | None
    ) -> Mapping[str, Tally]:
        own, shared = tally_keys(program, subject, member)
        # What returns left the member owing, read with the rest: earnings repay it first.
        own += (debt_key(subject.member_id), owed_key(subject.member_id))
        if isinstance(subject, Purchase):
            # The member's first and last visits, kept with every purchase (loyalty.habits).
            # (The month's spend is read with them so the adapter need not read it to add to it.)
            month = month_key(subject.at.astimezone(program.zone))
            own += (seen_key(subject.member_id), spent_key(subject.member_id, month))
        # The member's own tallies are already guarded by the lock on its balance.
        tallies = uow.tallies(own)
        if shared:
            tallies = {**tallies, **uow.tallies(shared, for_update=True)}
        return tallies

    def _post(
        self,
        uow: UnitOfWork,
        program: Program,
        receipt: Receipt,
        deltas: Mapping[str, Tally],
        key: str,
        request: dict[str, Any],
        kind: str,
        reason: str,
        read: Mapping[str, Tally],
        member: Member | None,
        then: Callable[[Receipt], Entry | None] | None = None,
    ) -> Receipt:
        """Write what an evaluation decided: the entry, the tallies and the operation.

        ``then`` writes what follows from it (a tier move and its entry bonus,
        a referral's bonuses) and returns the member's last entry it wrote,
        whose balance the receipt shows.

        The operation keeps, besides the receipt, the tallies the evaluation
        read and the lot the points went into, so a later return can
        recompute the purchase as it was.
        """
        if not self._synced:
            # With the command's own writes: a refused command stores no version either.
            self._versions = self._merge_versions(uow, write=True)
            self._stored_versions = True
        now = self._now()
        lot: int | None = None
        member_id = receipt.member_id
        debt = int(read[debt_key(member_id)].points)
        owed = int(read[owed_key(member_id)].points)
        settled: dict[str, Tally] = {}  # filled by _credit, written with the evaluation's tallies
        if receipt.points:
            assert receipt.balance_after is not None
            self._check_range(receipt.balance_after)
            vests, expires = self._dates(program, receipt.occurred_at, pending=kind == "purchase", now=now)
            posting = Posting(
                receipt.member_id,
                EntryKind.EARN,
                receipt.points,
                receipt.occurred_at,
                now,
                key,
                reason,
                None,
                receipt.rules,
                receipt.program_version,
                vests,
                expires,
            )
            entry, last = self._credit(uow, posting, debt=debt, owed=owed, settled=settled, program=program)
            if entry.balance_after != receipt.balance_after:
                # The balance was read under the write lock: only a broken adapter gets here.
                raise StorageError("balance", "the store's balance moved during the unit of work")
            lot = entry.seq
            if last is not entry:
                # After a collection the receipt shows the balance left.
                receipt = attrs.evolve(receipt, balance_after=last.balance_after)
        if kind == "purchase":
            deltas = _merged(deltas, self._habit(program, receipt, read))
        if deltas or settled:
            uow.add_tallies(_merged(deltas, settled))
        if then is not None:
            last_written = then(receipt)
            if last_written is not None:
                receipt = attrs.evolve(receipt, balance_after=last_written.balance_after)
        result = codec.receipt_result(receipt, occurred_at=request["at"])
        # What a return needs to recompute the purchase as it was: its lot, the tallies
        # and the member it was evaluated with.
        result["lot"] = lot
        # Only tallies that are not zero: a missing one reads as zero (this is on every purchase).
        result["context"] = {
            name: [t.count, str(t.points)] for name, t in read.items() if t.count or t.points
        }
        if member is not None:
            result["member"] = codec.unstructure(member)
        uow.add_operation(Operation(key, kind, request, result, now))
        uow.commit()
        return receipt

    @staticmethod
    def _habit(program: Program, receipt: Receipt, read: Mapping[str, Tally]) -> dict[str, Tally]:
        """What a purchase adds to the member's habits: first and last visit, the month's spend."""
        member_id, at = receipt.member_id, receipt.occurred_at
        when = micros(at)
        changes: dict[str, Tally] = {}
        seen = read.get(seen_key(member_id), Tally())
        # Deltas that make the count the earliest visit and the points the latest (a late
        # offline sale may be either, or neither).
        earlier = when - seen.count if not seen.count or when < seen.count else 0
        later = Decimal(when) - seen.points if when > seen.points else Decimal(0)
        if earlier or later:
            changes[seen_key(member_id)] = Tally(earlier, later)
        amount = receipt.amount.amount if receipt.amount is not None else Decimal(0)
        changes[spent_key(member_id, month_key(at.astimezone(program.zone)))] = Tally(1, amount)
        return changes

    def _credit(
        self,
        uow: UnitOfWork,
        posting: Posting,
        *,
        debt: int | None = None,
        owed: int | None = None,
        settled: dict[str, Tally] | None = None,
        program: Program | None = None,
    ) -> tuple[Entry, Entry]:
        """Append a credit that first repays what returns left the member owing.

        Under ``program``'s inactivity expiry the credit's lot rolls with the
        member's others: it expires with them, or later.

        A debt (clawback ``negative``) is repaid out of the credit's own
        points, oldest debt first; what is owed (``future``) is collected from
        the lot the credit opens by a ``collect`` entry. Returns the credit's
        entry and the last one written. ``debt`` and ``owed`` are read here
        unless the caller already has them; the tally changes go into
        ``settled`` if given (the caller writes them), else straight to the store.
        """
        member_id = posting.member_id
        if program is not None and program.expiry.policy is ExpiryPolicy.INACTIVITY:
            dates = [lot.expires_at for lot in uow.lots(member_id) if lot.rolling and lot.expires_at]
            latest = max([*dates, posting.expires_at] if posting.expires_at else dates, default=None)
            posting = attrs.evolve(posting, rolling=True, expires_at=latest)
        if debt is None or owed is None:
            read = uow.tallies([debt_key(member_id), owed_key(member_id)])
            debt, owed = int(read[debt_key(member_id)].points), int(read[owed_key(member_id)].points)
        changes: dict[str, Tally] = {}
        if debt:
            repay = _repayments([lot for lot in uow.lots(member_id) if lot.debt], posting.points)
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
        if settled is not None:
            settled.update(changes)
        elif changes:
            uow.add_tallies(changes)
        return entry, last

    def _dates(
        self, program: Program, at: datetime, *, pending: bool, now: datetime
    ) -> tuple[datetime | None, datetime | None]:
        """When points earned at ``at`` under ``program`` vest and expire: its dates, unless a later
        version in force by ``now`` re-dates points earned before it (``redate_earlier``), whose
        dates they then get, like the others it re-dated."""
        vests, expires = program.lot_dates(at, pending=pending)
        for version in self._versions:
            start = version.effective_from
            if version.expiry.redate_earlier and start is not None and at < start <= now:
                expires = version.lot_dates(at, pending=pending)[1]
        return vests, expires

    def _sync_versions(self, *, write: bool = False) -> tuple[Program, ...]:
        """Every version: this engine's and the ones other engines stored.

        Queries only read, so they work on a read-only replica; commands store
        this engine's versions inside their own unit of work (``_post``), so a
        refused command stores nothing. ``write`` stores them at once.
        """
        if self._synced:
            return self._versions
        if not write:
            with self.store.unit_of_work(readonly=True) as uow:
                return self._merge_versions(uow, write=False)

        def command(uow: UnitOfWork) -> tuple[Program, ...]:
            versions = self._merge_versions(uow, write=True)
            uow.commit()
            return versions

        self._versions = self._run(command)
        self._synced = True
        return self._versions

    def _merge_versions(self, uow: UnitOfWork, *, write: bool) -> tuple[Program, ...]:
        from loyalty import config

        stored = {version.version: version for version in uow.program_versions()}
        for program in self._versions:
            body = program.to_dict()
            previous = stored.get(program.version)
            if previous is None:
                if write:
                    uow.add_program_version(
                        StoredProgram(program.version, program.effective_from, body, self._now())
                    )
            elif not _same_body(previous.body, body):
                raise ConfigError(
                    [
                        (
                            "version",
                            f"version {program.version!r} is already stored with other rules: "
                            "give the changed program a new version",
                        )
                    ]
                )
        known = {version.version for version in self._versions}
        others = [config.program_from_dict(v.body) for k, v in stored.items() if k not in known]
        return check_versions([*others, *self._versions]) if others else self._versions

    def _check_purchase(self, purchase: Purchase) -> None:
        if not isinstance(purchase, Purchase):
            raise InvalidInput("purchase", f"must be a Purchase, not {type(purchase).__name__}")

    def _now(self) -> datetime:
        if self._clock is _system_clock:
            # Aware and in range by construction; an injected clock is checked.
            return datetime.now(UTC)
        return check_aware("clock", self._clock())

    @staticmethod
    def _check_range(balance: int) -> None:
        if not -MAX_POINTS <= balance <= MAX_POINTS:
            raise PointsOverflow("points", "the balance would leave the 64-bit range")

    @staticmethod
    def _known(uow: UnitOfWork, member_id: str) -> None:
        """Refuse an unknown member (for the queries that read more than the member's row)."""
        if uow.member(member_id) is None:
            raise UnknownMember("member_id", f"no member {member_id!r}")

    @staticmethod
    def _balance_for_update(uow: UnitOfWork, member_id: str) -> int:
        balance = uow.balance(member_id, for_update=True)
        if balance is None:
            raise UnknownMember("member_id", f"no member {member_id!r}")
        return balance

    @staticmethod
    def _replay(uow: UnitOfWork, key: str, kind: str, request: dict[str, Any]) -> Operation | None:
        """The earlier operation under ``key`` if this is a retry of it; a conflict raises."""
        previous = uow.operation(key)
        if previous is None:
            return None
        if previous.kind != kind:
            raise IdempotencyConflict(
                "kind", f"id {key!r} was already used for a {previous.kind}, not a {kind}"
            )
        old, new = codec.canonical(previous.request), codec.canonical(request)
        field = codec.first_difference(old, new)
        if field is not None:
            was, now = codec.value_at(old, field), codec.value_at(new, field)
            raise IdempotencyConflict(
                field, f"id {key!r} was already used for a different {kind} (was {was!r}, now {now!r})"
            )
        return previous

    def _debit_or_credit(
        self,
        kind: str,
        entry_kind: EntryKind,
        member_id: str,
        points: int,
        key: str,
        at: datetime,
        reason: str,
        actor: str | None,
        purchase_id: str | None = None,
    ) -> Entry:
        check_id("member_id", member_id)
        check_id("id", key)
        check_aware("at", at)
        request = {
            "member_id": member_id,
            "points": points,
            "at": at.isoformat(),
            "reason": reason,
            "actor": actor,
        }
        if purchase_id is not None:
            request["purchase_id"] = purchase_id

        def command(uow: UnitOfWork) -> Entry | _Declined:
            replay = self._replay(uow, key, kind, request)
            if replay is not None:
                if "declined" in replay.result:
                    return _Declined(self._insufficient(**replay.result["declined"]))
                return codec.structure(replay.result, Entry)
            balance = self._balance_for_update(uow, member_id)
            if purchase_id is not None:
                sold = uow.operation(purchase_id)
                if sold is None or sold.kind != "purchase" or sold.request["member_id"] != member_id:
                    raise UnknownPurchase("purchase_id", f"{member_id!r} has no purchase {purchase_id!r}")
                lines = sold.request["lines"]
                back = uow.tallies([returned_key(purchase_id, i) for i in range(len(lines))])
                if all(
                    back[returned_key(purchase_id, i)].points >= Decimal(line["quantity"])
                    for i, line in enumerate(lines)
                ):
                    raise AlreadyReturned(
                        "purchase_id", f"purchase {purchase_id!r} has been returned in full"
                    )
            now = self._now()
            expires = None
            program: Program | None = None
            draws: tuple[tuple[int, int], ...] = ()
            if points < 0:
                # Points past their date cannot be spent: write them off first.
                self._expire_due(uow, member_id, now)
                try:
                    # A correction may also take points still pending; a redemption only available ones.
                    draws = draw_points(uow, member_id, -points, now, pending=entry_kind is EntryKind.ADJUST)
                except InsufficientPoints as short:
                    return self._decline(uow, Operation(key, kind, request, {}, now), short)
                if purchase_id is not None:
                    uow.add_tallies({paid_key(purchase_id): Tally(0, Decimal(-points))})
                if entry_kind is EntryKind.REDEEM:
                    self._mark_redeemed(uow, member_id, at)
            else:
                self._check_range(balance + points)
                program = _in_force(self._versions_in(uow), at, default_first=True)
                _, expires = self._dates(program, at, pending=False, now=now)
            posting = Posting(
                member_id, entry_kind, points, at, now, key, reason, actor, expires_at=expires, draws=draws
            )
            entry = self._credit(uow, posting, program=program)[0] if points > 0 else uow.append(posting)
            uow.add_operation(Operation(key, kind, request, codec.unstructure(entry), now))
            uow.commit()
            return entry

        return self._run_or_decline(command)

    def _decline(self, uow: UnitOfWork, operation: Operation, short: InsufficientPoints) -> _Declined:
        """Keep the decision to decline under the command's key, so a retry is declined alike."""
        figures = {"available": short.available, "requested": short.requested}
        uow.add_operation(attrs.evolve(operation, result={"declined": figures}))
        uow.commit()
        return _Declined(self._insufficient(**figures))

    def _run_or_decline(self, command: Callable[[UnitOfWork], T | _Declined]) -> T:
        """:meth:`_run`, raising the error of a command that was declined (after it was kept)."""
        outcome = self._run(command)
        if isinstance(outcome, _Declined):
            raise outcome.error
        return outcome

    @staticmethod
    def _insufficient(available: int, requested: int) -> InsufficientPoints:
        return InsufficientPoints(
            "points",
            f"{requested} requested but only {available} available",
            available=available,
            requested=requested,
        )

    def _in_chunks(self, items: list[C], batch: int, command: Callable[[UnitOfWork, list[C]], int]) -> int:
        """Run ``command`` on ``items``, ``batch`` at a time, one unit of work each; the sum of its counts."""
        total = 0
        for start in range(0, len(items), batch):
            part = items[start : start + batch]

            def one(uow: UnitOfWork, part: list[C] = part) -> int:
                return command(uow, part)

            total += self._run(one)
        return total

    def _run(self, command: Callable[[UnitOfWork], T]) -> T:
        """Run ``command`` in a unit of work, retrying when it lost a race with another writer."""
        for attempt in range(1, self._max_attempts + 1):
            try:
                with self.store.unit_of_work() as uow:
                    return command(uow)
            except TransientStorageError as exc:
                if attempt == self._max_attempts:
                    raise ConcurrencyError(None, f"gave up after {attempt} attempts: {exc}") from exc
                # Jittered backoff so colliding writers do not collide again in lockstep.
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover
