"""What-if: a history replayed under the current program and a proposed one, side by side.

:func:`simulate` reads a history (:mod:`loyalty.history`, JSON Lines: a file a
store exported, or :mod:`loyalty.simulation`'s traffic) one record at a time and
replays each record through two :class:`~loyalty.Engine` instances, one per
program, each over its own in-memory store (or SQLite file: ``on_disk``) and each with its clock at the
record's time; maintenance (:meth:`~loyalty.Engine.run_due`) runs as each new
day begins, and once more at the end, so points expire and tiers are reviewed
as they would have been. Nothing is written anywhere else.

The result, a :class:`Comparison`, has for each program the period's
:class:`~loyalty.figures.Figures` (points issued, redeemed, expired, taken back,
outstanding, the liability at the value of a point, breakage), the members per
tier, the points each rule gave (what each campaign cost), the redemptions it
declined, and the members who gain or lose most under the proposed program. Those
values, and the side-by-side table :meth:`Comparison.render` draws of them, are
:mod:`loyalty.comparison`'s.

>>> from loyalty import Program
>>> from loyalty.rules import ProductBonus
>>> lines = [
...     '{"type": "enrollment", "id": "E1", "member_id": "M1", "at": "2024-03-01T09:00:00+01:00"}',
...     '{"type": "purchase", "id": "T1", "member_id": "M1", "at": "2024-03-01T09:30:00+01:00",'
...     ' "currency": "EUR", "lines": [{"sku": "cake", "quantity": 3, "unit_price": "4.15"}]}',
...     '{"type": "redemption", "id": "T2", "member_id": "M1", "at": "2024-03-02T10:00:00+01:00",'
...     ' "points": 14}',
... ]
>>> current = Program("Club", "EUR")
>>> cake = ProductBonus(id="cake", name="Cake bonus", points=6, skus=["cake"])
>>> proposed = Program("Club", "EUR", version="2", rules=[cake])
>>> found = simulate(lines, current, proposed)
>>> found.current.figures.issued, found.proposed.figures.issued
(12, 18)
>>> found.current.declined, found.proposed.declined
(1, 0)
>>> [(rule.rule, rule.points) for rule in found.proposed.rules]
[('base', Decimal('12.45')), ('cake', Decimal('6'))]
"""

from __future__ import annotations

import contextlib
import heapq
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs

from loyalty import history
from loyalty.checks import check_aware
from loyalty.comparison import Comparison, MemberChange, Outcome, RulePoints, TierCount
from loyalty.earning_keys import ENROLLED
from loyalty.engine import MAX_HOLD_TTL, Engine
from loyalty.errors import (
    InsufficientPoints,
    InvalidInput,
    LoyaltyError,
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
from loyalty.store import Store, open_store
from loyalty.store.memory import MemoryStore
from loyalty.store.memory.spilled import BATCH as SPILL_BATCH
from loyalty.time_guards import PreEnrollment

__all__ = ["Comparison", "MemberChange", "Outcome", "RulePoints", "TierCount", "simulate"]

_DAY = 86_400
_PROGRESS = 1_000
# Figures' periods end before their end: the last record's own instant must fall inside.
_TICK = timedelta(microseconds=1)
# The clock before the first record, and the period of an empty history.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


class _Run:
    """One program replaying the history: its engine, clock and running totals."""

    def __init__(self, program: Program | Sequence[Program], store: Store) -> None:
        self.now = _EPOCH
        self.started = False
        self.engine = Engine(_replaying(program), store, clock=lambda: self.now)
        self.versions = self.engine.versions
        self.signup = any(
            isinstance(rule, EventRule) and rule.event == ENROLLED for v in self.versions for rule in v.rules
        )
        self.day = -1
        self.rules: dict[str, Decimal] = {}
        self.names: dict[str, str] = {}
        self.rounding = Decimal(0)
        self.tier_bonus = 0
        self.declined = 0
        self.declined_points = 0
        #: Each member's net points, in the program's units.
        self.earned: dict[str, int] = {}

    def at(self, when: datetime, day: int) -> None:
        """Move the clock to ``when`` (never back), running maintenance as a new day begins
        (``day``, ``when``'s day since the epoch, is worked out once for both programs)."""
        if self.started and when <= self.now:
            return
        self.started = True
        self.now = when
        if day != self.day:
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

    def _whole(self, units: int) -> Decimal:
        scale = self.versions[-1].scale
        return Decimal(units).scaleb(-scale, context=EXACT) if scale else Decimal(units)

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


_RECORDS = tuple(history.TYPE_OF)


def _records(source: Iterable[str | history.Event]) -> Iterable[tuple[int, history.Event]]:
    """Each record with its line number (or its position, for records given as values)."""
    for number, item in enumerate(source, start=1):
        if isinstance(item, str):
            event = history.parse(number, item, utc=True)
            if event is None:
                continue
            yield number, event
        elif isinstance(item, _RECORDS):
            yield number, item
        else:
            raise InvalidInput(
                f"line {number}", f"must be a line of text or a history record, not {type(item).__name__}"
            )


def _day(when: datetime) -> int:
    """The day since the epoch ``when`` falls on, in UTC."""
    return int(when.timestamp()) // _DAY


def _changes(
    current: _Run, proposed: _Run, top: int
) -> tuple[tuple[MemberChange, ...], tuple[MemberChange, ...]]:
    """The ``top`` members who gain and lose most, by a heap: ``top`` changes held, not one a member."""

    def changes() -> Iterator[MemberChange]:
        for member, points in current.earned.items():
            yield MemberChange(
                member, current._whole(points), proposed._whole(proposed.earned.get(member, 0))
            )

    def order(change: MemberChange) -> tuple[Decimal, str]:
        return change.difference, change.member_id

    losses = tuple(change for change in heapq.nsmallest(top, changes(), key=order) if change.difference < 0)
    gains = tuple(change for change in heapq.nlargest(top, changes(), key=order) if change.difference > 0)
    return gains, losses


def simulate(
    history_lines: Iterable[str | history.Event],
    current: Program | Sequence[Program],
    proposed: Program | Sequence[Program],
    *,
    point_value: Decimal | None = None,
    until: datetime | None = None,
    top: int = 5,
    progress: Callable[[int], None] | None = None,
    over_time: bool = False,
    on_disk: bool = False,
) -> Comparison:
    """Replay ``history_lines`` (lines of a history file, or its records) under ``current`` and
    ``proposed`` (a program or its versions) and compare what came of it.

    The history is read one record at a time: a file of any length is never held in memory
    (the two in-memory stores keep what the records wrote, as an engine would). ``until``
    (at or after the last record) runs maintenance up to then, so points that expire after the
    last record but before ``until`` expire too. ``point_value`` prices the outstanding points
    of both programs; by default each program's own ``redemption.point_value``. ``top``
    members who gain and lose most are listed. Times read from text are taken in UTC, the same
    instants (the program's timezone decides days and hours, as always). ``progress``, if given,
    is called with the records replayed so far after every thousand of them. ``over_time``
    adds each program's figures per day, week or month and its members at risk at the end
    (:attr:`Outcome.periods`, :attr:`Outcome.at_risk`: what the HTML report draws).

    Memory: by default each program replays into an in-memory store, which keeps every
    entry and lot the history wrote, so memory grows with the history (about 2.4 KiB a record
    for the two programs); its operation records go to a temporary SQLite file as they are
    written (:mod:`loyalty.store.memory.spilled`). ``on_disk=True`` replays into two SQLite files in a
    temporary folder instead (removed afterwards), the same engine over its own SQLite store:
    the same results, several times slower, with no record kept in Python's memory (what
    the replay keeps itself grows with the members: their running totals).

    A redemption, negative adjustment, reward, transfer or hold a program cannot afford is
    declined and counted (:attr:`Outcome.declined`), as the engine declines it, and so is a merge
    the program does not allow then (:class:`~loyalty.errors.MergeBlocked`: the absorbed member's
    points still pending, say); any other refusal (a purchase of a
    member never enrolled, a malformed record) raises :class:`~loyalty.InvalidInput` naming the
    line and field.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise InvalidInput("top", f"must be an int of at least 0, got {top!r}")
    if not isinstance(over_time, bool):
        raise InvalidInput("over_time", f"must be True or False, got {over_time!r}")
    if not isinstance(on_disk, bool):
        raise InvalidInput("on_disk", f"must be True or False, got {on_disk!r}")
    if until is not None:
        check_aware("until", until)
    with ExitStack() as stack:
        stores = stack.enter_context(_stores(on_disk))
        runs = (_Run(current, stores[0]), _Run(proposed, stores[1]))
        return _replay(runs, history_lines, point_value, until, top, progress, over_time)


@contextmanager
def _stores(on_disk: bool) -> Iterator[tuple[Store, Store]]:
    """The two programs' stores: in memory, or SQLite files in a folder removed afterwards."""
    if not on_disk:
        # Operation records (a retry's and a return's reading) go to a temporary file as the
        # replay writes them, a batch at a time: the largest part of what a long history leaves.
        with MemoryStore(spill=SPILL_BATCH) as current, MemoryStore(spill=SPILL_BATCH) as proposed:
            yield current, proposed
        return
    with tempfile.TemporaryDirectory(prefix="loyalty-whatif-") as folder, ExitStack() as closing:
        # A commit that survives an application crash is all a throwaway replay needs.
        opened = [
            open_store(f"sqlite:///{Path(folder) / name}.db?synchronous=normal")
            for name in ("current", "proposed")
        ]
        for store in opened:
            closing.callback(store.close)
        yield opened[0], opened[1]


def _replay(
    runs: tuple[_Run, _Run],
    history_lines: Iterable[str | history.Event],
    point_value: Decimal | None,
    until: datetime | None,
    top: int,
    progress: Callable[[int], None] | None,
    over_time: bool,
) -> Comparison:
    start: datetime | None = None
    end: datetime | None = None
    count = 0
    for number, event in _records(history_lines):
        at = event.at
        if start is None or at < start:
            start = at
        if end is None or at > end:
            end = at
        day = _day(at)
        for run in runs:
            try:
                run.at(at, day)
                run.apply(event)
            except LoyaltyError as exc:
                where = f"line {number}: {exc.field}" if exc.field else f"line {number}"
                side = "" if run is runs[0] else " (under the proposed program)"
                raise InvalidInput(where, f"{exc.message}{side}") from exc
        count += 1
        if progress is not None and not count % _PROGRESS:
            progress(count)
    if until is not None:
        if end is not None and until < end:
            raise InvalidInput("until", f"must not be before the last record, at {end.isoformat()}")
        end = until
        start = until if start is None else start
    if start is None or end is None:
        empty = [run.outcome(_EPOCH, _EPOCH, point_value) for run in runs]
        return Comparison(0, None, None, empty[0], empty[1], (), ())
    for run in runs:
        run.at(end, _day(end))
        run.engine.run_due(end)
    gains, losses = _changes(runs[0], runs[1], top)
    return Comparison(
        count,
        start,
        end,
        runs[0].outcome(start, end, point_value, over_time=over_time),
        runs[1].outcome(start, end, point_value, over_time=over_time),
        gains,
        losses,
    )
