"""One program replaying a history for a what-if (:mod:`loyalty.whatif`): its engine, clock and
running totals, and the history's records read one at a time.

A :class:`Run` owns an :class:`~loyalty.Engine` over its own store, its clock set to each
record's time; :func:`loyalty.whatif.simulate` drives two of them, one per program, in this
process or one of them in a second (:mod:`loyalty.whatif_process`).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from loyalty import history
from loyalty.comparison import Outcome, RulePoints, TierCount
from loyalty.earning_keys import ENROLLED
from loyalty.engine import MAX_HOLD_TTL, Engine
from loyalty.errors import (
    InsufficientPoints,
    InvalidInput,
    MergeBlocked,
    UnknownHold,
    UnknownReward,
    UnknownVoucher,
)
from loyalty.figures import Figures, periods
from loyalty.ledger import EntryKind
from loyalty.money import EXACT
from loyalty.program import Program
from loyalty.receipts import Receipt, breakdown_rows
from loyalty.rules import EventRule
from loyalty.store import Store
from loyalty.time_guards import PreEnrollment

__all__ = ["EPOCH", "RECORDS", "Run", "Totals", "day_of", "not_a_record", "records"]

_DAY = 86_400
# Figures' periods end before their end: the last record's own instant must fall inside.
_TICK = timedelta(microseconds=1)
# The clock before the first record, and the period of an empty history.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _replaying(program: Program | Sequence[Program]) -> Program | Sequence[Program]:
    """``program`` (or its versions) as a replay of history runs it: activity dated before its
    member's enrollment is replayed as the history has it (the import that stored it accepted
    it: :meth:`~loyalty.Engine.import_events`). The replay's clock is each record's own time, so
    ``time_guards.max_lead_minutes`` never refuses a record, and it is no bound here either on
    how far a capture, release or voucher use or void comes before its hold or voucher (the
    history's tills had the clocks they had); anything else is left to the engine to refuse (a
    value that is not a program among them too)."""
    if isinstance(program, Program):
        return _accepting(program)
    if isinstance(program, Sequence) and all(isinstance(version, Program) for version in program):
        return [_accepting(version) for version in program]
    return program


def _accepting(version: Program) -> Program:
    guards = attrs.evolve(version.time_guards, before_enrollment=PreEnrollment.ACCEPT, max_lead_minutes=None)
    return attrs.evolve(version, time_guards=guards)


@attrs.frozen
class Totals:
    """Each member's net points under one program (``earned``, in the program's units) and the
    program's ``scale``: what :func:`loyalty.whatif.simulate` compares member by member. Plain
    values: a second process sends it back whole (:mod:`loyalty.whatif_process`)."""

    earned: dict[str, int]
    scale: int

    def whole(self, member: str) -> Decimal:
        """``member``'s net points in whole points (0 for a member this program never saw)."""
        units, scale = self.earned.get(member, 0), self.scale
        return Decimal(units).scaleb(-scale, context=EXACT) if scale else Decimal(units)


class Run:
    """One program replaying the history: its engine, clock and running totals."""

    def __init__(self, program: Program | Sequence[Program], store: Store) -> None:
        self.now = EPOCH
        self.engine = Engine(_replaying(program), store, clock=lambda: self.now)
        self.versions = self.engine.versions
        self.signup = any(
            isinstance(rule, EventRule) and rule.event == ENROLLED for v in self.versions for rule in v.rules
        )
        self.day = -1
        #: The rule ids of the tiers' entry bonuses (``tier-gold:bonus``), if any tier pays one.
        self.bonus_rules = {
            level.bonus_rule_id
            for version in self.versions
            if version.tiers is not None
            for level in version.tiers.levels
            if level.bonus
        }
        self.rules: dict[str, Decimal] = {}
        self.names: dict[str, str] = {}
        self.rounding = Decimal(0)
        self.tier_bonus = 0
        self.declined = 0
        self.declined_points = 0
        #: Each member's net points, in the program's units.
        self.earned: dict[str, int] = {}

    def at(self, when: datetime, day: int, *, enrollment: bool = False) -> None:
        """Set the clock to ``when``, a record's time, running maintenance as a later day begins
        than any before (``day``, ``when``'s day since the epoch, is worked out once for both
        programs).

        Back too: a record out of order (an offline till's, or one after the enrollments a
        history export places first) is judged at its own time, as an import judges it, not at
        the latest time seen (which took a redemption's points as past their date). An
        ``enrollment`` runs no maintenance: the first of a history export's records, it would
        run the day of the last one enrolled before any points were earned.
        """
        self.now = when
        if day > self.day and not enrollment:
            self.day = day
            self.engine.run_due(when)

    def receipt(self, receipt: Receipt) -> None:
        rules = self.rules
        # The rows as the evaluation left them: making the receipt's Contributions to read
        # three of their fields would cost more than the adding up.
        for rule, name, points, _, _ in breakdown_rows(receipt):
            total = rules.get(rule)
            if total is None:
                self.names[rule] = name
                rules[rule] = points
            else:
                rules[rule] = EXACT.add(total, points)
        if receipt.rounding_adjustment:
            self.rounding = EXACT.add(self.rounding, receipt.rounding_adjustment)
        bonus = receipt.tier_bonus
        self.tier_bonus += bonus
        earned = self.earned
        member = receipt.member_id
        earned[member] = earned.get(member, 0) + receipt.points + bonus

    def apply(self, event: history.Event) -> None:
        """Replay ``event`` under this program, adding up what it earned."""
        if not self.bonus_rules or not isinstance(event, _MAY_LIFT):
            self._apply(event)
            return
        # Points that lift a tier outside a purchase (a correction, points received, a merge, an
        # opening balance) pay its entry bonus with no receipt to say so: read from the ledger.
        before = self.engine.last_seq()
        self._apply(event)
        member = event.to_member if isinstance(event, history.PointsSent) else event.member_id
        for entry in self.engine.history(member, after=before):
            if entry.kind is EntryKind.EARN and len(entry.rules) == 1 and entry.rules[0] in self.bonus_rules:
                self.tier_bonus += entry.points
                self.earned[member] = self.earned.get(member, 0) + entry.points

    def _apply(self, event: history.Event) -> None:
        engine = self.engine
        if isinstance(event, history.Sale):
            self.receipt(engine.record_purchase(event.purchase))
        elif isinstance(event, history.Enrollment):
            member = event.member_id
            engine.enroll(member, at=event.at, birthday=event.birthday, attributes=event.attributes)
            self.earned.setdefault(member, 0)
            if self.signup:
                self._signup(member)
        elif isinstance(event, history.Redemption):
            try:
                reason, paid = event.reason, event.purchase_id
                engine.redeem(
                    event.member_id, event.points, id=event.id, at=event.at, reason=reason, purchase_id=paid
                )
            except InsufficientPoints:
                self.declined += 1
                self.declined_points += event.points
        elif isinstance(event, history.SaleReturn):
            receipt = engine.record_return(event.returned)
            if receipt.member_id != event.member_id:
                raise InvalidInput("member_id", f"purchase {event.purchase_id!r} is {receipt.member_id!r}'s")
            self.earned[receipt.member_id] = self.earned.get(receipt.member_id, 0) - receipt.taken_back
        elif isinstance(event, history.Adjustment):
            try:
                engine.adjust(
                    event.member_id,
                    event.points,
                    id=event.id,
                    at=event.at,
                    reason=event.reason,
                    actor=event.actor,
                )
            except InsufficientPoints:
                self.declined += 1
                self.declined_points += -event.points
        elif isinstance(event, history.RewardBought):
            self._reward(event)
        elif isinstance(event, history.PointsSent):
            try:
                member, to, points, reason = event.member_id, event.to_member, event.points, event.reason
                engine.transfer(member, to, points, id=event.id, at=event.at, reason=reason)
            except InsufficientPoints:
                self.declined += 1
                self.declined_points += event.points
        elif isinstance(event, history.MembersMerged):
            member, gone, reason = event.member_id, event.absorbed, event.reason
            try:
                engine.merge_members(member, gone, id=event.id, at=event.at, reason=reason)
            except MergeBlocked:
                # Points still pending (or held, on a voucher, owed) under this program: the
                # two members stay apart, as the engine would leave them; no points are spent.
                self.declined += 1
        elif isinstance(event, history.OpenVoucher | history.OpenHold):
            pass  # made before the history, with points it never had: the same under both programs
        elif isinstance(event, history.VoucherVoided):
            # Unknown when its reward was declined under this program: nothing to void.
            with contextlib.suppress(UnknownVoucher):
                engine.void_voucher(event.code, id=event.id, at=event.at)
        elif isinstance(event, history.HeldPoints):
            self._held(event)
        elif isinstance(event, history.HoldCaptured):
            # Unknown when its hold was declined under this program: nothing to capture.
            with contextlib.suppress(UnknownHold):
                engine.capture(event.hold_id, id=event.id, at=event.at, points=event.points)
        elif isinstance(event, history.Referred):
            pass  # members are enrolled without codes here: no referral bonus under either program
        elif isinstance(event, history.StatusChanged):
            # An erased member's records end there: its status needs no change to stop them.
            member = event.member_id
            if event.status != "erased" and engine.member(member).status.value != event.status:
                reason, actor = event.reason, event.actor
                engine.change_status(
                    member, event.status, id=event.id, at=event.at, reason=reason, actor=actor
                )
        elif isinstance(event, history.OpeningBalance):
            # Points carried from a former program: the same under both programs.
            member, points, at, expires = event.member_id, event.points, event.at, event.expires_at
            vests = event.vests_at
            engine.add_opening_balance(member, points, id=event.id, at=at, expires_at=expires, vests_at=vests)
        else:
            self.receipt(
                engine.record_event(
                    event.member_id, event.name, id=event.id, at=event.at, properties=event.properties
                )
            )

    def _reward(self, event: history.RewardBought) -> None:
        """Buy the reward under this program: declined when the member cannot afford it or the
        program's catalogue does not offer it then."""
        try:
            member, reward, paid = event.member_id, event.reward_id, event.purchase_id
            bought = self.engine.redeem_reward(member, reward, id=event.id, at=event.at, purchase_id=paid)
        except (InsufficientPoints, UnknownReward):
            offered = self.versions[-1].reward(event.reward_id)
            self.declined += 1
            self.declined_points += 0 if offered is None else offered.cost
            return
        if event.used_at is not None:
            # Used as it was, so that a return of its purchase does not revoke it here either.
            self.engine.use_voucher(bought.code, id=f"use:{bought.code}", at=event.at)

    def _held(self, event: history.HeldPoints) -> None:
        """Make the hold and capture what was captured of it, at once, or at its ``capture``
        record when it gave points back (as an import does)."""
        engine, captured = self.engine, event.captured
        try:
            engine.hold(event.member_id, event.points, id=event.id, at=event.at, ttl=event.ttl(MAX_HOLD_TTL))
        except InsufficientPoints:
            self.declined += 1
            self.declined_points += event.points
            return
        if captured is not None and event.captured_at is None:
            engine.capture(event.id, id=event.capture_id, at=event.at, points=captured)

    def _signup(self, member: str) -> None:
        """What the sign-up rules paid the member just enrolled, by rule (its only entries so far)."""
        for entry in self.engine.history(member):
            if entry.kind is EntryKind.EARN and entry.points:
                rule = "+".join(entry.rules) or ENROLLED
                self.rules[rule] = EXACT.add(self.rules.get(rule, Decimal(0)), Decimal(entry.points))
                named = {r.id: r.name or r.id for version in self.versions for r in version.rules}
                self.names.setdefault(rule, named.get(rule, rule))
                self.earned[member] += entry.points

    def totals(self) -> Totals:
        """Each member's net points and the program's scale, to set beside the other program's."""
        return Totals(self.earned, self.versions[-1].scale)

    def outcome(
        self, start: datetime, end: datetime, point_value: Decimal | None, *, over_time: bool = False
    ) -> Outcome:
        latest = self.versions[-1]
        engine = self.engine
        value = latest.redemption.point_value if point_value is None else point_value
        found = engine.figures(start, end + _TICK, point_value=value)
        series: tuple[Figures, ...] = ()
        drifting = None
        if over_time:
            series = tuple(
                engine.figures(a, b, point_value=value) for a, b in periods(start, end + _TICK, latest.zone)
            )
            drifting = len(engine.at_risk(end).at_risk)
        tiers: tuple[TierCount, ...] = ()
        if latest.tiers is not None:
            counts = Counter(engine.tier(member).tier.id for member in self.earned)
            tiers = tuple(TierCount(level.id, counts[level.id]) for level in latest.tiers.levels)
        rules = tuple(RulePoints(rule, self.names[rule], points) for rule, points in self.rules.items())
        return Outcome(
            latest.name,
            latest.version,
            latest.scale,
            found,
            rules,
            self.rounding,
            self.tier_bonus,
            tiers,
            self.declined,
            self.declined_points,
            series,
            drifting,
        )


#: The records whose points may lift a tier, and pay its entry bonus, with no receipt.
_MAY_LIFT = (history.Adjustment, history.PointsSent, history.MembersMerged, history.OpeningBalance)

#: The classes of the history's records.
RECORDS = tuple(history.TYPE_OF)


def records(source: Iterable[str | history.Event]) -> Iterable[tuple[int, history.Event]]:
    """Each record with its line number (or its position, for records given as values)."""
    for number, item in enumerate(source, start=1):
        if isinstance(item, str):
            event = history.parse(number, item, utc=True)
            if event is None:
                continue
            yield number, event
        elif isinstance(item, RECORDS):
            yield number, item
        else:
            raise not_a_record(number, item)


def not_a_record(number: int, item: object) -> InvalidInput:
    """The error for ``item``, on line ``number``, neither a line of text nor a history record."""
    return InvalidInput(
        f"line {number}", f"must be a line of text or a history record, not {type(item).__name__}"
    )


def day_of(when: datetime) -> int:
    """The day since the epoch ``when`` falls on, in UTC."""
    return int(when.timestamp()) // _DAY
