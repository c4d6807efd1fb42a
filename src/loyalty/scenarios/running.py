"""Run a scenario through the engine, step by step, and say what differed from what it expected.

Each scenario runs on a fresh store with a clock of its own that starts at the
scenario's ``start``; a step's ``at`` moves the clock forward to that instant and
the step happens then (the till's time and the engine's are the same). The first
step whose outcome differs from its ``expect`` ends the scenario: the
:class:`Failure` names the step and lists each mismatch, expected against actual,
with the step's explanation (a receipt's rule-by-rule breakdown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from loyalty.engine import Engine
from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.holds import Hold
from loyalty.identifiers import Identifier
from loyalty.ledger import Entry
from loyalty.members import Member
from loyalty.purchases import Line, Purchase
from loyalty.receipts import Receipt
from loyalty.returns import Return, Returned, ReturnReceipt
from loyalty.scenarios import format as fmt
from loyalty.store import Store, open_store
from loyalty.transfers import Transfer
from loyalty.vouchers import Voucher

__all__ = ["Failure", "Mismatch", "Outcome", "run_scenario"]


@attrs.frozen
class Mismatch:
    """One expectation not met: what, expected and actual (as the file would write them)."""

    what: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.what}: expected {self.expected!r}, got {self.actual!r}"


@attrs.frozen
class Failure:
    """The step that did not come out as expected."""

    #: The step's index in the scenario (``steps[i]``).
    step: int
    #: What the step did, in a few words ("purchase P1").
    label: str
    mismatches: tuple[Mismatch, ...]
    #: The step's explanation: a receipt's breakdown, or the error it raised.
    explanation: str = ""

    def report(self) -> str:
        """The failure as text: the step, each mismatch on a line, then the explanation."""
        lines = [f"steps[{self.step}] ({self.label}):"]
        lines += [f"  {mismatch}" for mismatch in self.mismatches]
        if self.explanation:
            lines.append("  explanation:")
            lines += [f"    {line}".rstrip() for line in self.explanation.splitlines()]
        return "\n".join(lines)


@attrs.frozen
class Outcome:
    """How a scenario ran: ``failure`` is ``None`` when every expectation was met."""

    name: str
    steps: int
    failure: Failure | None = None

    @property
    def passed(self) -> bool:
        return self.failure is None


class _Clock:
    """The scenario's time: read by the engine, moved by the steps."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _quantity(value: Decimal) -> int | Decimal:
    # "2" and 2 are two units; "0.452" is weighed goods. Rules counting units see the difference.
    return int(value) if value == value.to_integral_value() and value.as_tuple().exponent == 0 else value


def _line(spec: fmt.LineSpec) -> Line:
    return Line(
        spec.sku,
        _quantity(spec.quantity),
        spec.unit_price,
        category=spec.category,
        labels=spec.labels,
        discount=spec.discount if spec.discount is not None else Decimal(0),
        tax=spec.tax if spec.tax is not None else Decimal(0),
    )


class _Run:
    """One scenario on one engine: each action's method returns the step's result."""

    def __init__(self, engine: Engine, clock: _Clock) -> None:
        self.engine = engine
        self.clock = clock
        self.seen = 0  # the outbox's last event seq read
        self.codes: dict[str, str] = {}  # a reward step's id: the code of the voucher it bought
        self.referral_codes: dict[str, str] = {}  # a member: the code its referral_code step gave
        #: The step's receipt explained before it was recorded: recorded receipts leave out the
        #: rules that gave nothing and why, which a failure shows and ``expect.reasons`` checks.
        self.explained: Receipt | None = None
        self.explain = False

    def do(self, key: str, value: Any) -> Any:
        method: Callable[[Any], Any] = getattr(self, f"_{key}")
        return method(value)

    def _enroll(self, a: fmt.Enroll) -> Any:
        return self.engine.enroll(
            a.member,
            at=self.clock.now,
            birthday=a.birthday,
            attributes=a.attributes,
            referred_by=self._referred_by(a.referred_by),
            identifiers=a.identifiers,
        )

    def purchase_of(self, a: fmt.Buy) -> Purchase:
        return Purchase(
            a.id,
            a.member,
            self.clock.now,
            [_line(line) for line in a.lines],
            self.engine.program.currency,
            store_id=a.store,
            terminal_id=a.terminal,
            channel=a.channel,
        )

    def _purchase(self, a: fmt.Buy) -> Receipt:
        purchase = self.purchase_of(a)
        if self.explain:
            self.explained = self.engine.explain(purchase)
        return self.engine.record_purchase(purchase)

    def _event(self, a: fmt.Happen) -> Receipt:
        if self.explain:
            self.explained = self.engine.explain_event(
                a.member, a.name, id=a.id, at=self.clock.now, properties=a.properties
            )
        return self.engine.record_event(a.member, a.name, id=a.id, at=self.clock.now, properties=a.properties)

    def _returned(self, a: fmt.GiveBack) -> ReturnReceipt:
        lines = None if a.lines is None else [Returned(x.sku, _quantity(x.quantity)) for x in a.lines]
        return self.engine.record_return(Return(a.id, a.purchase, self.clock.now, lines))

    def _redeem(self, a: fmt.Redeem) -> Entry:
        return self.engine.redeem(a.member, a.points, id=a.id, at=self.clock.now, purchase_id=a.purchase)

    def _adjust(self, a: fmt.Adjust) -> Entry:
        return self.engine.adjust(
            a.member, a.points, id=a.id, at=self.clock.now, reason=a.reason, actor=a.actor
        )

    def _hold(self, a: fmt.Reserve) -> Hold:
        return self.engine.hold(
            a.member, a.points, id=a.id, at=self.clock.now, ttl=timedelta(minutes=a.minutes)
        )

    def _capture(self, a: fmt.Capture) -> Hold:
        return self.engine.capture(a.hold, id=a.id, at=self.clock.now, points=a.points)

    def _release(self, a: fmt.Release) -> Hold:
        return self.engine.release(a.hold, at=self.clock.now)

    def _advance(self, a: fmt.Advance) -> None:
        try:
            self.clock.now += timedelta(days=a.days, hours=a.hours, minutes=a.minutes)
        except OverflowError:  # a century from a start near the year 9999
            raise InvalidInput(
                "advance", f"moves the clock past the year 9999 from {self.clock.now}"
            ) from None

    def _maintenance(self, _: bool) -> Any:
        return self.engine.run_due()

    def _assign_tier(self, a: fmt.AssignTier) -> Any:
        return self.engine.assign_tier(
            a.member, a.tier, until=a.until, id=a.id, at=self.clock.now, reason=a.reason, actor=a.actor
        )

    def _reward(self, a: fmt.BuyReward) -> Voucher:
        voucher = self.engine.redeem_reward(
            a.member, a.reward, id=a.id, at=self.clock.now, purchase_id=a.purchase
        )
        self.codes[a.id] = voucher.code
        return voucher

    def _use_voucher(self, a: fmt.UseVoucher) -> Voucher:
        code = self.codes.get(a.voucher, a.voucher)
        return self.engine.use_voucher(code, id=a.id, at=self.clock.now, purchase_id=a.purchase)

    def _transfer(self, a: fmt.Move) -> Transfer:
        return self.engine.transfer(a.from_member, a.to_member, a.points, id=a.id, at=self.clock.now)

    def _merge(self, a: fmt.Merge) -> Any:
        return self.engine.merge_members(a.survivor, a.absorbed, id=a.id, at=self.clock.now, reason=a.reason)

    def _void_voucher(self, a: fmt.VoidVoucher) -> Voucher:
        return self.engine.void_voucher(self.codes.get(a.voucher, a.voucher), id=a.id, at=self.clock.now)

    def _status(self, a: fmt.ChangeStatus) -> Member:
        return self.engine.change_status(
            a.member, a.status, id=a.id, at=self.clock.now, reason=a.reason, actor=a.actor
        )

    def _add_identifier(self, a: fmt.KeyChange) -> Identifier:
        return self.engine.add_identifier(a.member, a.key, id=a.id, at=self.clock.now)

    def _remove_identifier(self, a: fmt.KeyChange) -> Identifier:
        return self.engine.remove_identifier(a.member, a.key, id=a.id, at=self.clock.now)

    def _replace_card(self, a: fmt.ReplaceCard) -> Identifier:
        return self.engine.replace_card(a.member, a.old, a.new, id=a.id, at=self.clock.now)

    def _referral_code(self, a: fmt.ReferralCode) -> str:
        self.referral_codes[a.member] = self.engine.referral_code(a.member, code=a.code)
        return self.referral_codes[a.member]

    def _referred_by(self, code: str | None) -> str | None:
        # "@M1": the code M1's referral_code step made (a generated one is not known beforehand).
        if code is not None and code.startswith("@"):
            return self.referral_codes.get(code[1:], code)
        return code

    def _check(self, _: str) -> None:
        return None

    def new_events(self) -> list[str]:
        kinds: list[str] = []
        while batch := self.engine.events(after=self.seen, limit=500):
            kinds += [event.kind.value for event in batch]
            self.seen = batch[-1].seq
        return kinds


def _label(key: str, value: Any) -> str:
    if isinstance(value, str):  # check = "M1"
        return f"{key} {value}"
    ident = getattr(value, "id", None) or getattr(value, "member", None) or getattr(value, "hold", None)
    return f"{key} {ident}" if ident else key


def _points(result: Any) -> int | None:
    """The step's own figure (see :class:`~loyalty.scenarios.format.Expect`'s ``points``)."""
    if isinstance(result, Receipt | Entry | Transfer | Voucher):
        return result.points
    if isinstance(result, ReturnReceipt):
        return result.taken_back
    if isinstance(result, Hold):
        return result.captured if result.captured else result.points
    return None


def _member(step: fmt.Step, value: Any, result: Any) -> str | None:
    if step.expect is not None and step.expect.member is not None:
        return step.expect.member
    if isinstance(value, str):
        return value
    for name in ("member", "from_member", "survivor"):
        if isinstance(getattr(value, name, None), str):
            return str(getattr(value, name))
    found = getattr(result, "member_id", None)
    return found if isinstance(found, str) else None


def _error_mismatches(expect: fmt.Expect, error: LoyaltyError | None) -> list[Mismatch]:
    if expect.error is None:
        return [] if error is None else [Mismatch("error", None, f"{type(error).__name__}: {error}")]
    if error is None:
        return [Mismatch("error", expect.error, None)]
    out = []
    if expect.error not in {cls.__name__ for cls in type(error).__mro__}:
        out.append(Mismatch("error", expect.error, f"{type(error).__name__}: {error}"))
    if expect.field is not None and expect.field != error.field:
        out.append(Mismatch("error field", expect.field, error.field))
    return out


def _state_mismatches(run: _Run, expect: fmt.Expect, member: str | None) -> list[Mismatch]:
    wanted = [expect.balance, expect.tier, expect.tier_value, expect.to_next, expect.lots]
    if all(item is None for item in wanted):
        return []
    if member is None:
        return [Mismatch("expect.member", "a member to check", "none named by the step")]
    out: list[Mismatch] = []
    engine = run.engine
    if expect.balance is not None:
        balance = engine.balance(member)
        for field in attrs.fields(fmt.ExpectBalance):
            want = getattr(expect.balance, field.name)
            if want is not None and want != getattr(balance, field.name):
                out.append(Mismatch(f"balance.{field.name}", want, getattr(balance, field.name)))
    if expect.tier is not None or expect.tier_value is not None or expect.to_next is not None:
        status = engine.tier(member)
        for what, want, got in (
            ("tier", expect.tier, status.tier.id),
            ("tier_value", expect.tier_value, status.value),
            ("to_next", expect.to_next, status.to_next),
        ):
            if want is not None and want != got:
                out.append(Mismatch(what, want, got))
    if expect.lots is not None:
        zone = engine.program.zone
        lots = [
            fmt.ExpectLot(
                lot.remaining, None if lot.expires_at is None else lot.expires_at.astimezone(zone).date()
            )
            for lot in engine.lots(member)
            if lot.remaining
        ]
        if list(expect.lots) != lots:
            out.append(Mismatch("lots", _lots_text(expect.lots), _lots_text(lots)))
    return out


def _lots_text(lots: Any) -> list[str]:
    return [f"{lot.points} expiring {lot.expires}" if lot.expires else f"{lot.points}" for lot in lots]


def _explanation(run: _Run, result: Any, error: LoyaltyError | None) -> str:
    if error is not None:
        return f"{type(error).__name__}: {error}"
    if isinstance(result, Receipt):
        return (run.explained or result).render(width=72)
    if isinstance(result, ReturnReceipt):
        return result.detail or f"earned {result.earned}, now earns {result.now_earns}"
    return ""


def _check_step(run: _Run, step: fmt.Step, result: Any, error: LoyaltyError | None) -> list[Mismatch]:
    expect = step.expect or fmt.Expect()
    out = _error_mismatches(expect, error)
    if error is not None:
        return out
    _, value = step.action
    if expect.points is not None and expect.points != _points(result):
        out.append(Mismatch("points", expect.points, _points(result)))
    if expect.rules is not None:
        got = {rule: result.points_of(rule) for rule in expect.rules} if isinstance(result, Receipt) else None
        if got is None or any(got[rule] != want for rule, want in expect.rules.items()):
            out.append(Mismatch("rules", {r: str(p) for r, p in expect.rules.items()}, _rules_text(got)))
    if expect.reasons is not None:
        explained = run.explained if isinstance(result, Receipt) else None
        why = {} if explained is None else {skipped.rule: skipped.reason for skipped in explained.skipped}
        got_reasons = {rule: why.get(rule) for rule in expect.reasons}
        if got_reasons != dict(expect.reasons):
            out.append(Mismatch("reasons", dict(expect.reasons), got_reasons))
    out += _state_mismatches(run, expect, _member(step, value, result))
    return out


def _rules_text(got: dict[str, Decimal] | None) -> dict[str, str] | None:
    return None if got is None else {rule: str(points) for rule, points in got.items()}


@contextmanager
def _engine(document: fmt.ScenarioFile, clock: _Clock, store: Store) -> Iterator[Engine]:
    versions = document.versions
    engine = Engine(versions[0] if len(versions) == 1 else versions, store, clock=clock)
    try:
        yield engine
    finally:
        engine.close()


def run_scenario(document: fmt.ScenarioFile, scenario: fmt.Scenario, store: Store | None = None) -> Outcome:
    """Run ``scenario`` of ``document`` on ``store`` (default: a new memory store), which it closes."""
    clock = _Clock(scenario.start or document.start)
    with _engine(document, clock, store if store is not None else open_store("memory://")) as engine:
        run = _Run(engine, clock)
        for i, step in enumerate(scenario.steps):
            key, value = step.action
            if step.at is not None:
                if step.at < clock.now:
                    problem = Mismatch("at", f"not before {clock.now.isoformat()}", step.at.isoformat())
                    return Outcome(scenario.name, i, Failure(i, _label(key, value), (problem,)))
                clock.now = step.at
            if step.expect is not None and step.expect.events is not None:
                run.new_events()  # what earlier steps wrote is not this step's
            result: Any = None
            error: LoyaltyError | None = None
            run.explain, run.explained = step.expect is not None, None
            try:
                result = run.do(key, value)
            except LoyaltyError as exc:
                error = exc
            try:
                mismatches = _check_step(run, step, result, error)
            except LoyaltyError as exc:
                # An expectation the program or the store cannot answer (a tier under a program
                # without tiers, a member never enrolled): the step fails, saying why.
                mismatches = [
                    Mismatch("expect", "something the scenario can check", f"{type(exc).__name__}: {exc}")
                ]
            if step.expect is not None and step.expect.events is not None:
                kinds = run.new_events()
                if list(step.expect.events) != kinds:
                    mismatches.append(Mismatch("events", list(step.expect.events), kinds))
            if mismatches:
                failure = Failure(i, _label(key, value), tuple(mismatches), _explanation(run, result, error))
                return Outcome(scenario.name, i, failure)
    return Outcome(scenario.name, len(scenario.steps))
