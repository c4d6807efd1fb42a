"""A Hypothesis state machine that drives the engine over any store against a model.

>>> from loyalty.store.memory import MemoryStore
>>> LedgerMachine = ledger_machine(MemoryStore)
>>> LedgerMachine.__name__
'LedgerMachine'

Use it in a test module as ``TestMyStoreLedger = ledger_machine(factory).TestCase``,
where ``factory()`` returns a store on a fresh, empty location. Random
sequences of enrollments, purchases (under a base rate, a first-purchase
bonus and a stamp card), survey events (earning once per member), retries,
conflicting retries, redemptions, adjustments, transfers between members,
merges of one member into another, the clock moving on by days and maintenance runs go against a plain-Python
model. Purchase points stay pending for a week and every credit expires 20
days after it was earned, so the model keeps its own lots. After every step
the machine checks, for every member, that the maintained balance equals the
model and the sum of the ledger, that it is never negative, that the
available, pending and overdue points equal the model's, that the store's
lots are those the ledger replays to, that everything ever earned or
received is available, pending, overdue, spent, expired or sent, that
transfers and merges create and lose no point, and that no retry ever wrote a second
entry.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
)

from loyalty.checks import MAX_YEAR
from loyalty.engine import Engine, Maintenance
from loyalty.errors import (
    AlreadyReturned,
    HoldEnded,
    InsufficientPoints,
    InvalidInput,
    LoyaltyError,
    MemberAlreadyEnrolled,
    MemberNotActive,
    MergeBlocked,
    UnknownMember,
)
from loyalty.expiry import Expiry, ExpiryPolicy
from loyalty.holds import HoldStatus
from loyalty.ledger import EntryKind, balance_of
from loyalty.lots import lots_of
from loyalty.members import MemberStatus
from loyalty.program import EarnRate, Program
from loyalty.purchases import Line, Purchase
from loyalty.returns import Return, Returned
from loyalty.rules import EventRule, FirstPurchase, StampCard
from loyalty.store import Store
from loyalty.testing.ledger_model import LIFETIME, PENDING, LedgerModel, ModelHold
from loyalty.testing.retries import Sent, send_again, send_differently

__all__ = ["ledger_machine"]

T0 = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
#: When the members enroll: before the earliest sale an offline till brings in (30 days late).
ENROLLED = T0 - timedelta(days=31)
MEMBERS = ("M1", "M2", "M3")
CHANGEABLE = tuple(status for status in MemberStatus if status is not MemberStatus.ERASED)
WELCOME, STAMP, EVERY, SURVEY = 50, 10, 3, 25
# Rules whose effect the model can state on its own: a welcome bonus on the
# first purchase, a stamp card on every third, a survey that earns once.
PROGRAM = Program(
    "Stateful",
    "EUR",
    rate=EarnRate(points=2, per=Decimal("1.00")),
    rules=[
        FirstPurchase(id="welcome", points=WELCOME),
        StampCard(id="card", points=STAMP, every=EVERY),
        EventRule(id="survey", event="survey_completed", points=SURVEY, limit=1, limit_period="ever"),
    ],
    pending_days=PENDING.days,
    expiry=Expiry(ExpiryPolicy.LIFETIME, days=LIFETIME.days),
)


def ledger_machine(store_factory: Callable[[], Store]) -> type[RuleBasedStateMachine]:
    """A state machine class whose every run starts from ``store_factory()``."""

    class LedgerMachine(RuleBasedStateMachine):
        sent = Bundle("sent")
        held = Bundle("held")

        def __init__(self) -> None:
            super().__init__()
            self.store = store_factory()
            self.clock = T0
            self.engine = Engine(PROGRAM, self.store, clock=lambda: self.clock)
            self.balances: dict[str, int] = {}
            self.entries: dict[str, int] = {}
            self.visits: dict[str, int] = {}
            # A stamp card's count: a merge carries the visits (habits), not a rule's stamps.
            self.stamps: dict[str, int] = {}
            self.surveyed: set[str] = set()
            self.returned: dict[str, set[int]] = {}
            # Members suspended or closed: refused what their status does not allow, nothing written.
            self.status: dict[str, MemberStatus] = {}
            self.model = LedgerModel()
            self.counter = 0

        def teardown(self) -> None:
            self.store.close()

        def _key(self) -> str:
            self.counter += 1
            self.clock += timedelta(seconds=1)
            return f"K{self.counter}"

        @rule(member=st.sampled_from(MEMBERS))
        def enroll(self, member: str) -> None:
            self.engine.enroll(member, at=ENROLLED)
            self.balances.setdefault(member, 0)
            self.entries.setdefault(member, 0)
            self.model.enroll(member)

        @initialize()
        def a_member_with_points(self) -> None:
            # One member starts with points to spend, so holds and redemptions get going at once;
            # the others enroll (or not) as the run goes.
            self.enroll("M1")
            self.engine.adjust("M1", 500, id="K0", at=self.clock, reason="welcome", actor="staff")
            self.model.credit("M1", 500, self.clock, pending=False)
            self.balances["M1"] += 500
            self.entries["M1"] += 1

        @rule(
            member=st.sampled_from(MEMBERS),
            # Within the years the engine accepts: a later one is refused as a bad datetime first.
            at=st.datetimes(
                min_value=ENROLLED.replace(tzinfo=None), max_value=datetime(MAX_YEAR, 12, 31, 23, 59)
            ).map(lambda d: d.replace(tzinfo=UTC)),
        )
        def enroll_again_differently(self, member: str, at: datetime) -> None:
            if member not in self.balances or at == ENROLLED:
                return
            with pytest.raises(MemberAlreadyEnrolled):
                self.engine.enroll(member, at=at)

        @rule(
            target=sent,
            member=st.sampled_from(MEMBERS),
            cents=st.lists(st.integers(1, 50_000), min_size=1, max_size=4),
            late=st.integers(0, 30 * 24 * 3600),
        )
        def purchase(self, member: str, cents: list[int], late: int) -> Sent:
            key = self._key()
            # Offline tills: the sale happened up to 30 days before it arrives.
            at = self.clock - timedelta(seconds=late)
            lines = [Line(f"sku{i}", 1, Decimal(c).scaleb(-2)) for i, c in enumerate(cents)]
            purchase = Purchase(key, member, at, lines, "EUR")
            if member not in self.balances:
                with pytest.raises(UnknownMember):
                    self.engine.record_purchase(purchase)
                return Sent(key)
            if self._refused(member):
                with pytest.raises(MemberNotActive):
                    self.engine.record_purchase(purchase)
                return Sent(key)
            receipt = self.engine.record_purchase(purchase)
            visit = self.visits.get(member, 0) + 1
            self.visits[member] = visit
            stamp = self.stamps.get(member, 0) + 1
            self.stamps[member] = stamp
            bonus = (WELCOME if visit == 1 else 0) + (STAMP if stamp % EVERY == 0 else 0)
            assert receipt.points == sum(cents) * 2 // 100 + bonus
            assert receipt.balance_after == self.balances[member] + receipt.points
            self.balances[member] += receipt.points
            self.entries[member] += 1 if receipt.points else 0
            lot = self.model.credit(member, receipt.points, at, pending=True)
            self.returned[key] = set()
            return Sent(key, purchase=purchase, receipt=receipt, lot=lot)

        # Every status change_status gives (``erased`` is Engine.erase's alone).
        @rule(member=st.sampled_from(MEMBERS), status=st.sampled_from(CHANGEABLE))
        def change_status(self, member: str, status: MemberStatus) -> None:
            key = self._key()
            if member not in self.balances:
                with pytest.raises(UnknownMember):
                    self.engine.change_status(
                        member, status, id=key, at=self.clock, reason="r", actor="staff"
                    )
                return
            if self.status.get(member, MemberStatus.ACTIVE) is status:
                with pytest.raises(InvalidInput):
                    self.engine.change_status(
                        member, status, id=key, at=self.clock, reason="r", actor="staff"
                    )
                return
            changed = self.engine.change_status(
                member, status, id=key, at=self.clock, reason="r", actor="staff"
            )
            assert changed.status is status
            self.status[member] = status

        def _refused(self, member: str, *, correction: bool = False) -> bool:
            """Whether the member's status refuses this command: a suspended member takes only
            corrections, a closed one nothing."""
            status = self.status.get(member, MemberStatus.ACTIVE)
            return status is MemberStatus.CLOSED or (status is MemberStatus.SUSPENDED and not correction)

        @rule(sent=sent, which=st.integers(0, 15))
        def give_back_goods(self, sent: Sent, which: int) -> None:
            # Lines whose bit is set come back; 0 voids what is left.
            if sent.purchase is None or sent.receipt is None:
                return
            purchase, receipt = sent.purchase, sent.receipt
            member, done = purchase.member_id, self.returned[purchase.id]
            left = [i for i in range(len(purchase.lines)) if i not in done]
            back = left if not which else [i for i in left if which >> i & 1]
            key = self._key()
            if not left:
                with pytest.raises(AlreadyReturned):
                    self.engine.record_return(Return(key, purchase.id, self.clock))
                return
            if not back:
                return
            lines = None if not which else [Returned(purchase.lines[i].sku, 1) for i in back]
            result = self.engine.record_return(Return(key, purchase.id, self.clock, lines))

            def base(kept: set[int]) -> int:
                return sum(int(purchase.lines[i].unit_price * 100) for i in kept) * 2 // 100

            every = set(range(len(purchase.lines)))
            bonus = receipt.points - base(every)
            before = receipt.points if not done else base(every - done) + bonus
            done.update(back)
            after = base(every - done) + bonus if done != every else 0
            take = min(before - after, receipt.points - self.model.taken_for.get(purchase.id, 0))
            take = max(take, 0)
            self.model.taken_for[purchase.id] = self.model.taken_for.get(purchase.id, 0) + take
            if done == every:
                self.visits[member] -= 1  # a void gives the visit back, and its stamp
                self.stamps[member] -= 1
            self._expire(member)
            taken = self.model.take_back(member, take, sent.lot, self.clock) if take else 0
            assert (result.taken_back, result.uncollected, result.void) == (
                taken,
                take - taken,
                done == every,
            )
            self.balances[member] -= taken
            # Its return entry, of 0 points when it took nothing back (the goods came back).
            self.entries[member] += 1

        # Small redemptions too, so that they often succeed and split lots.
        @rule(target=sent, member=st.sampled_from(MEMBERS), points=st.integers(1, 60) | st.integers(1, 3000))
        def redeem(self, member: str, points: int) -> Sent:
            key = self._key()
            if member not in self.balances:
                with pytest.raises(UnknownMember):
                    self.engine.redeem(member, points, id=key, at=self.clock)
                return Sent(key)
            if self._refused(member):
                with pytest.raises(MemberNotActive):
                    self.engine.redeem(member, points, id=key, at=self.clock)
                return Sent(key)
            # A debit first writes off what is past its date, declined or not.
            self._expire(member)
            if points > self.model.balance(member, self.clock).available:
                with pytest.raises(InsufficientPoints):
                    self.engine.redeem(member, points, id=key, at=self.clock)
                return Sent(key, redeem=(member, points, self.clock))
            entry = self.engine.redeem(member, points, id=key, at=self.clock)
            self.model.debit(member, points, self.clock, pending=False)
            self.model.spent[member] += points
            self.balances[member] -= points
            self.entries[member] += 1
            assert entry.balance_after == self.balances[member]
            return Sent(key, entry=entry, redeem=(member, points, self.clock))

        @rule(
            target=sent,
            sender=st.sampled_from(MEMBERS),
            receiver=st.sampled_from(MEMBERS),
            points=st.integers(1, 60) | st.integers(1, 3000),
        )
        def transfer(self, sender: str, receiver: str, points: int) -> Sent:
            key = self._key()
            asked = (sender, receiver, points, self.clock)
            send = functools.partial(self.engine.transfer, sender, receiver, points, id=key, at=self.clock)
            refusal: type[Exception] | None = None
            if sender == receiver:
                refusal = InvalidInput
            elif sender not in self.balances or receiver not in self.balances:
                refusal = UnknownMember
            elif self._refused(sender) or self._refused(receiver):
                refusal = MemberNotActive
            if refusal is not None:
                with pytest.raises(refusal):
                    send()
                return Sent(key)
            self._expire(sender)  # what a debit writes first, declined or not
            if points > self.model.balance(sender, self.clock).available:
                with pytest.raises(InsufficientPoints):
                    send()
                return Sent(key, transfer=asked)
            made = send()
            self.entries[receiver] += self.model.transfer(sender, receiver, points, self.clock)
            self.entries[sender] += 1
            self.balances[sender] -= points
            self.balances[receiver] += points
            assert (made.from_balance, made.to_balance) == (self.balances[sender], self.balances[receiver])
            return Sent(key, transfer=asked, made=made)

        @rule(target=sent, survivor=st.sampled_from(MEMBERS), absorbed=st.sampled_from(MEMBERS))
        def merge(self, survivor: str, absorbed: str) -> Sent:
            key = self._key()
            asked = (survivor, absorbed, self.clock)
            send = functools.partial(
                self.engine.merge_members, survivor, absorbed, id=key, at=self.clock, reason="duplicate"
            )
            refusal: tuple[type[LoyaltyError], str] | None = None
            if survivor == absorbed:
                refusal = InvalidInput, "absorbed"
            elif unknown := [m for m in sorted(asked[:2]) if m not in self.balances]:
                # The members are locked in id order: the first unknown one is named.
                refusal = UnknownMember, "survivor" if unknown[0] == survivor else "absorbed"
            elif self._refused(survivor):
                refusal = MemberNotActive, "survivor"
            elif self._refused(absorbed):
                refusal = MemberNotActive, "absorbed"
            elif self._blocked(absorbed):
                refusal = MergeBlocked, "absorbed"
            if refusal is not None:
                # Refused: nothing written, not even the write-offs a merge begins with.
                with pytest.raises(refusal[0]) as info:
                    send()
                assert info.value.field == refusal[1]
                return Sent(key)
            self._expire(absorbed)  # what a merge writes first
            made = send()
            points, lots = self.model.merge(survivor, absorbed)
            self.entries[absorbed] += 1
            self.entries[survivor] += max(lots, 1)
            self.balances[absorbed] -= points
            self.balances[survivor] += points
            self.visits[survivor] = self.visits.get(survivor, 0) + self.visits.get(absorbed, 0)
            self.visits[absorbed] = 0
            self.status[absorbed] = MemberStatus.CLOSED
            assert (made.points, made.survivor_balance, made.sent.balance_after) == (
                points,
                self.balances[survivor],
                0,
            )
            return Sent(key, merge=asked, merged=made)

        @rule(target=sent, member=st.sampled_from(MEMBERS), points=st.integers(-500, 500).filter(bool))
        def adjust(self, member: str, points: int) -> Sent:
            key = self._key()
            if member not in self.balances:
                with pytest.raises(UnknownMember):
                    self.engine.adjust(member, points, id=key, at=self.clock, reason="fix", actor="staff")
                return Sent(key)
            if self._refused(member, correction=True):
                with pytest.raises(MemberNotActive):
                    self.engine.adjust(member, points, id=key, at=self.clock, reason="fix", actor="staff")
                return Sent(key)
            if points < 0:
                self._expire(member)
            if self.balances[member] + points < 0:
                with pytest.raises(InsufficientPoints):
                    self.engine.adjust(member, points, id=key, at=self.clock, reason="fix", actor="staff")
                return Sent(key, adjust=(member, points, self.clock))
            entry = self.engine.adjust(member, points, id=key, at=self.clock, reason="fix", actor="staff")
            if points > 0:
                self.model.credit(member, points, self.clock, pending=False)
            else:
                # A correction may take pending points too.
                self.model.debit(member, -points, self.clock, pending=True)
                self.model.spent[member] -= points
            self.balances[member] += points
            self.entries[member] += 1
            return Sent(key, entry=entry, adjust=(member, points, self.clock))

        @rule(target=sent, member=st.sampled_from(MEMBERS))
        def survey(self, member: str) -> Sent:
            key = self._key()
            if member not in self.balances:
                with pytest.raises(UnknownMember):
                    self.engine.record_event(member, "survey_completed", id=key, at=self.clock)
                return Sent(key)
            if self._refused(member):
                with pytest.raises(MemberNotActive):
                    self.engine.record_event(member, "survey_completed", id=key, at=self.clock)
                return Sent(key)
            receipt = self.engine.record_event(member, "survey_completed", id=key, at=self.clock)
            expected = 0 if member in self.surveyed else SURVEY
            self.surveyed.add(member)
            assert receipt.points == expected
            self.balances[member] += expected
            self.entries[member] += 1 if expected else 0
            self.model.credit(member, expected, self.clock, pending=False)
            return Sent(key, receipt=receipt, event=member)

        def _blocked(self, member: str) -> bool:
            """Whether a merge must refuse to absorb ``member`` (what the model knows of)."""
            return self.model.blocked(member, self.clock)

        def _expire(self, member: str) -> tuple[int, list[ModelHold]]:
            """What a debit or maintenance writes first: expired holds back, then due lots off."""
            holds = self.model.expire_holds(member, self.clock)
            self.balances[member] += sum(hold.points for hold in holds)
            before = self.model.expired[member]
            lots = self.model.expire(member, self.clock)
            self.balances[member] -= self.model.expired[member] - before
            self.entries[member] += lots + len(holds)
            return lots, holds

        @rule(
            target=held,
            member=st.sampled_from(MEMBERS),
            share=st.integers(1, 110),
            ttl=st.sampled_from([timedelta(hours=1), timedelta(days=3)]),
        )
        def hold(self, member: str, share: int, ttl: timedelta) -> Sent | MultipleResults[Sent]:
            key = self._key()
            if member not in self.balances:
                with pytest.raises(UnknownMember):
                    self.engine.hold(member, share, id=key, at=self.clock, ttl=ttl)
                return multiple()
            if self._refused(member):
                with pytest.raises(MemberNotActive):
                    self.engine.hold(member, share, id=key, at=self.clock, ttl=ttl)
                return multiple()
            self._expire(member)
            # A share of what is available (past 100%: more than there is, to be declined).
            points = max(1, self.model.balance(member, self.clock).available * share // 100)
            if points > self.model.balance(member, self.clock).available:
                with pytest.raises(InsufficientPoints):
                    self.engine.hold(member, points, id=key, at=self.clock, ttl=ttl)
                return multiple()
            hold = self.engine.hold(member, points, id=key, at=self.clock, ttl=ttl)
            assert hold.expires_at == self.clock + ttl
            self.model.hold(key, member, points, self.clock, ttl)
            self.balances[member] -= points
            self.entries[member] += 1
            return Sent(key, hold=(hold, ttl))

        @rule(sent=held, part=st.integers(0, 100))
        def capture(self, sent: Sent, part: int) -> None:
            if sent.hold is None:
                return
            made, _ = sent.hold
            model = self.model.holds[made.id]
            points = max(1, made.points * part // 100) if part else None
            key = self._key()
            if model.status != "open" or self.clock >= model.expires_at:
                with pytest.raises(HoldEnded):
                    self.engine.capture(made.id, id=key, at=self.clock, points=points)
                return
            ended = self.engine.capture(made.id, id=key, at=self.clock, points=points)
            captured = made.points if points is None else points
            assert (ended.status, ended.captured) == (HoldStatus.CAPTURED, captured)
            self.model.give_back(model, made.points - captured)
            model.status = "captured"
            self.model.spent[made.member_id] += captured
            self.balances[made.member_id] += made.points - captured
            self.entries[made.member_id] += 1 if captured < made.points else 0
            assert self.engine.capture(made.id, id=key, at=self.clock, points=points) == ended

        @rule(sent=held)
        def release(self, sent: Sent) -> None:
            if sent.hold is None:
                return
            made, _ = sent.hold
            model = self.model.holds[made.id]
            if model.status == "captured":
                with pytest.raises(HoldEnded):
                    self.engine.release(made.id, at=self.clock)
                return
            ended = self.engine.release(made.id, at=self.clock)
            if model.status == "open":
                # Past its time a hold ends as expired, as maintenance would have ended it.
                model.status = "expired" if self.clock >= model.expires_at else "released"
                assert ended.status.value == model.status
                self.model.give_back(model, made.points)
                self.balances[made.member_id] += made.points
                self.entries[made.member_id] += 1
            else:
                assert ended.status.value == model.status

        @rule(days=st.integers(1, 12))
        def time_passes(self, days: int) -> None:
            self.clock += timedelta(days=days)

        @rule()
        def maintenance(self) -> None:
            expired_before = sum(self.model.expired.values())
            done = [self._expire(member) for member in list(self.balances)]
            report = self.engine.run_due()
            assert report.expired_lots == sum(lots for lots, _ in done)
            assert report.expired_points == sum(self.model.expired.values()) - expired_before
            assert report.expired_holds == sum(len(holds) for _, holds in done)
            assert report.released_points == sum(hold.points for _, holds in done for hold in holds)
            assert self.engine.run_due() == Maintenance()

        @rule(sent=sent | held)
        def retry(self, sent: Sent) -> None:
            self.clock += timedelta(seconds=1)
            send_again(self.engine, sent)

        @rule(sent=sent, hours=st.integers(-12, 14))
        def retry_spelled_differently(self, sent: Sent, hours: int) -> None:
            # The same sale from a till in another offset, with prices written with an extra zero.
            if sent.purchase is None:
                return
            respelled = attrs.evolve(
                sent.purchase,
                at=sent.purchase.at.astimezone(timezone(timedelta(hours=hours))),
                lines=[
                    attrs.evolve(line, unit_price=line.unit_price.quantize(Decimal("0.001")))
                    for line in sent.purchase.lines
                ],
            )
            assert self.engine.record_purchase(respelled) == sent.receipt

        @rule(sent=consumes(sent), extra=st.integers(1, 5))
        def conflicting_retry(self, sent: Sent, extra: int) -> None:
            send_differently(self.engine, sent, extra)

        @invariant()
        def ledger_agrees(self) -> None:
            moved = 0
            everyone = []
            for member, expected in self.balances.items():
                history = self.engine.history(member)
                everyone += history
                moved += sum(e.points for e in history if e.kind in (EntryKind.TRANSFER, EntryKind.MERGE))
                balance = self.engine.balance(member)
                assert balance.total == expected == balance_of(history) >= 0
                assert len(history) == self.entries[member]
                if history:
                    assert history[-1].balance_after == expected
                model = self.model
                assert balance == model.balance(member, self.clock)
                lots = self.engine.lots(member)
                assert lots == lots_of(history)
                assert all(lot.remaining for lot in lots)
                # The same points left in the same lots: the spending order is the model's.
                assert [(lot.expires_at, lot.vests_at, lot.remaining) for lot in lots] == [
                    (lot.expires_at, lot.vests_at, lot.remaining)
                    for lot in model.lots[member]
                    if lot.remaining
                ]
                expired = -sum(e.points for e in history if e.kind is EntryKind.EXPIRE)
                assert expired == model.expired[member]
                taken = -sum(e.points for e in history if e.kind is EntryKind.RETURN)
                assert taken == model.taken[member]
                # Conservation: every point ever earned or received is still the member's
                # (available, pending, overdue or held), was spent, expired, taken back by a
                # return or sent to another member.
                assert model.earned[member] + model.received[member] == (
                    balance.total + balance.held + model.spent[member] + expired + taken + model.sent[member]
                )
                assert balance.held == sum(hold.points for hold in self.engine.holds(member))
            # The ledger feed: every member's entries, once each, by number.
            assert self.engine.entries(limit=10_000) == sorted(everyone, key=lambda entry: entry.seq)
            # Transfers and merges create and lose nothing: what was sent was received.
            assert moved == 0
            assert sum(self.model.sent.values()) == sum(self.model.received.values())

    return LedgerMachine
