"""The engine running rules: versions, tallies, events, explanations, on every adapter."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import Engine, Line, Purchase, open_store
from loyalty.errors import ConfigError, IdempotencyConflict, InvalidInput, UnknownMember
from loyalty.program import EarnRate, Program
from loyalty.rules import BirthdayBonus, EventRule, FirstPurchase, PurchaseBonus, SpendRule, StampCard
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
D = Decimal


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'rules.db'}"
    opened = open_store(url)
    yield opened
    opened.close()


def sale(
    pid: str, amount: str = "10.00", *, member: str = "M1", at: datetime = T0, **line: object
) -> Purchase:
    return Purchase(pid, member, at, [Line("sku", 1, D(amount), **line)], "EUR")  # type: ignore[arg-type]


def engine_for(store: Store, *programs: Program) -> Engine:
    engine = Engine(programs[0] if len(programs) == 1 else programs, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    return engine


class TestVersions:
    spring = Program("Club", "EUR", rate=EarnRate(1, D("1.00")), version="spring")
    summer = Program(
        "Club",
        "EUR",
        rate=EarnRate(2, D("1.00")),
        version="summer",
        effective_from=datetime(2024, 6, 1, tzinfo=UTC),
    )

    def test_a_purchase_uses_the_version_in_force_at_its_own_time(self, store: Store) -> None:
        engine = engine_for(store, self.summer, self.spring)
        june = datetime(2024, 6, 2, tzinfo=UTC)
        assert engine.record_purchase(sale("P1", at=june)).points == 20
        # A late offline sale from May arrives after June's: May's rules apply.
        late = engine.record_purchase(sale("P2", at=datetime(2024, 5, 31, 23, tzinfo=UTC)))
        assert (late.points, late.program_version) == (10, "spring")
        entries = engine.history("M1")
        assert [(e.points, e.program_version, e.rules) for e in entries] == [
            (20, "summer", ("base",)),
            (10, "spring", ("base",)),
        ]

    def test_versions_are_stored_and_a_later_engine_learns_them(self, store: Store) -> None:
        engine_for(store, self.spring, self.summer).record_purchase(sale("P1"))
        later = Engine(self.summer, store, clock=lambda: T0)
        assert [v.version for v in later.versions] == ["spring", "summer"]
        assert later.program_at(T0) == self.spring

    def test_a_changed_program_needs_a_new_version(self, store: Store) -> None:
        engine_for(store, self.spring).record_purchase(sale("P1"))
        changed = Program("Club", "EUR", rate=EarnRate(5, D("1.00")), version="spring")
        before = snapshot(store, ["M1"], ["P2"], ["visits|M1"], programs=True)
        with pytest.raises(ConfigError) as info:
            # With a new version beside it: neither is stored when one is refused.
            Engine([changed, self.summer], store).record_purchase(sale("P2"))
        assert info.value.field == "version"
        assert snapshot(store, ["M1"], ["P2"], ["visits|M1"], programs=True) == before

    def test_a_new_version_never_changes_points_already_given(self, store: Store) -> None:
        first = engine_for(store, self.spring).record_purchase(sale("P1"))
        both = Engine([self.spring, self.summer], store, clock=lambda: T0)
        assert both.record_purchase(sale("P1")) == first
        assert both.balance("M1").available == 10

    def test_versions_with_the_same_start_are_refused(self) -> None:
        twin = Program("Club", "EUR", version="twin", effective_from=datetime(2024, 6, 1, tzinfo=UTC))
        with pytest.raises(ConfigError) as info:
            Engine([self.summer, twin], open_store("memory://"))
        assert info.value.problems == (
            ("versions[1].effective_from", "same as versions[0] (2024-06-01T00:00:00+00:00)"),
        )

    def test_a_purchase_before_the_first_version_is_refused_and_nothing_written(self, store: Store) -> None:
        engine = engine_for(store, self.summer)
        assert [v.version for v in engine.versions] == ["summer"]  # stored before the snapshot
        before = snapshot(store, ["M1"], ["P1"])
        with pytest.raises(InvalidInput) as info:
            engine.record_purchase(sale("P1"))
        assert info.value.field == "at"
        assert snapshot(store, ["M1"], ["P1"]) == before


class TestTallies:
    def test_first_purchase_and_stamp_card_count_visits(self, store: Store) -> None:
        program = Program(
            "Cafe",
            "EUR",
            rate=None,
            rules=[FirstPurchase(id="welcome", points=100), StampCard(id="card", points=30, every=3)],
        )
        engine = engine_for(store, program)
        points = [engine.record_purchase(sale(f"P{i}")).points for i in range(7)]
        assert points == [100, 0, 30, 0, 0, 30, 0]
        # A retry changes no count.
        assert engine.record_purchase(sale("P6")).points == 0
        assert [engine.record_purchase(sale(f"P{i}")).points for i in (7, 8)] == [0, 30]

    def test_member_cap_per_month(self, store: Store) -> None:
        program = Program(
            "Club", "EUR", rate=None, rules=[SpendRule(id="r", points=1, cap=25, cap_period="month")]
        )
        engine = engine_for(store, program)
        points = [engine.record_purchase(sale(f"P{i}")).points for i in range(4)]
        assert points == [10, 10, 5, 0]
        april = engine.record_purchase(sale("P9", at=datetime(2024, 4, 1, 12, tzinfo=UTC)))
        assert april.points == 10
        explained = engine.explain(sale("P10"))
        assert [(s.rule, s.reason) for s in explained.skipped] == [("r", "cap of 25/month reached")]

    def test_campaign_budget_across_members(self, store: Store) -> None:
        program = Program("Club", "EUR", rate=None, rules=[PurchaseBonus(id="launch", points=40, budget=100)])
        engine = engine_for(store, program)
        engine.enroll("M2", at=T0)
        engine.enroll("M3", at=T0)
        got = [engine.record_purchase(sale(f"P{m}", member=m)).points for m in ("M1", "M2", "M3")]
        assert got == [40, 40, 20]
        assert engine.record_purchase(sale("P4", member="M1")).points == 0

    def test_carry_across_purchases(self, store: Store) -> None:
        program = Program("Club", "EUR", rate=EarnRate(1, D("10.00")), carry=True)
        engine = engine_for(store, program)
        assert [engine.record_purchase(sale(f"P{i}", "5.00")).points for i in range(4)] == [0, 1, 0, 1]

    def test_quote_equals_record(self, store: Store) -> None:
        program = Program("Club", "EUR", rules=[FirstPurchase(id="welcome", points=100)])
        engine = engine_for(store, program)
        quoted = engine.quote(sale("P1"))
        recorded = engine.record_purchase(sale("P1"))
        assert quoted.points == recorded.points == 110
        assert quoted.breakdown == recorded.breakdown
        assert engine.quote(sale("P2")).points == 10
        # A recorded purchase quotes as its retry would answer: the original receipt.
        assert engine.quote(sale("P1")) == engine.explain(sale("P1")) == recorded
        with pytest.raises(IdempotencyConflict):
            engine.quote(sale("P1", "11.00"))


class TestEvents:
    survey = EventRule(id="survey", event="survey_completed", points=20, limit=1, limit_period="ever")

    def test_record_event_earns_once_and_is_idempotent(self, store: Store) -> None:
        engine = engine_for(store, Program("Club", "EUR", rules=[self.survey]))
        first = engine.record_event("M1", "survey_completed", id="E1", at=T0)
        assert (first.points, first.event, first.balance_after) == (20, "survey_completed", 20)
        assert engine.record_event("M1", "survey_completed", id="E1", at=T0) == first
        assert engine.record_event("M1", "survey_completed", id="E2", at=T0).points == 0
        with pytest.raises(IdempotencyConflict) as info:
            engine.record_event("M1", "review_posted", id="E1", at=T0)
        assert info.value.field == "name"
        (entry,) = engine.history("M1")
        assert (entry.reason, entry.rules, entry.source_id) == ("event survey_completed", ("survey",), "E1")

    def test_bad_events_write_nothing(self, store: Store) -> None:
        engine = engine_for(store, Program("Club", "EUR", rules=[self.survey]))
        assert engine.versions  # stores the program version before the snapshot
        before = snapshot(store, ["M1"], ["E1"])
        with pytest.raises(UnknownMember):
            engine.record_event("nobody", "survey_completed", id="E1", at=T0)
        with pytest.raises(InvalidInput) as info:
            engine.record_event("M1", "survey_completed", id="E1", at=T0.replace(tzinfo=None))
        assert info.value.field == "at"
        with pytest.raises(InvalidInput) as info:
            engine.record_event("M1", "survey_completed", id="E1", at=T0, properties={"score": 4.5})  # type: ignore[dict-item]
        assert info.value.field == "properties['score']"
        assert snapshot(store, ["M1"], ["E1"]) == before


class TestBirthday:
    def test_cool_off_after_a_birthday_change(self, store: Store) -> None:
        program = Program(
            "Club", "EUR", rate=None, rules=[BirthdayBonus(id="bday", points=50, cooloff_days=30)]
        )
        engine = Engine(program, store, clock=lambda: T0)
        engine.enroll("M1", at=T0, birthday=date(1990, 7, 1))
        changed = engine.update_member("M1", id="U1", at=T0, birthday=date(1990, 3, 10))
        assert changed.birthday_changed_at == T0
        assert engine.update_member("M1", id="U1", at=T0, birthday=date(1990, 3, 10)) == changed
        assert engine.record_purchase(sale("P1", at=datetime(2024, 3, 10, 12, tzinfo=UTC))).points == 0
        assert engine.record_purchase(sale("P2", at=datetime(2025, 3, 10, 12, tzinfo=UTC))).points == 50
        assert engine.record_purchase(sale("P3", at=datetime(2025, 3, 10, 13, tzinfo=UTC))).points == 0

    def test_attributes_change_without_touching_the_birthday(self, store: Store) -> None:
        engine = Engine(Program("Club", "EUR"), store, clock=lambda: T0)
        engine.enroll("M1", at=T0, birthday=date(1990, 7, 1))
        member = engine.update_member("M1", id="U1", at=T0, attributes={"segment": "student"})
        assert (member.birthday, member.birthday_changed_at, dict(member.attributes)) == (
            date(1990, 7, 1),
            None,
            {"segment": "student"},
        )
        assert engine.member("M1") == member


def test_a_shared_budget_is_never_overspent_by_concurrent_members(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'budget.db'}")
    try:
        program = Program("Club", "EUR", rate=None, rules=[PurchaseBonus(id="launch", points=7, budget=100)])
        engine = Engine(program, store)
        members = [f"M{i}" for i in range(8)]
        for member in members:
            engine.enroll(member, at=T0)

        def buy(member: str) -> int:
            return sum(engine.record_purchase(sale(f"{member}-{n}", member=member)).points for n in range(5))

        with ThreadPoolExecutor(8) as pool:
            total = sum(pool.map(buy, members))
        assert total == 100
    finally:
        store.close()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(amounts=st.lists(st.integers(1, 5_000), min_size=1, max_size=12), cap=st.integers(1, 60))
def test_no_cap_or_budget_is_ever_exceeded(amounts: list[int], cap: int) -> None:
    program = Program(
        "Club",
        "EUR",
        rate=None,
        rules=[
            SpendRule(id="capped", points=1, cap=cap, cap_period="ever"),
            PurchaseBonus(id="budgeted", points=7, budget=cap),
            SpendRule(id="per-purchase", points=3, cap_per_purchase=cap),
        ],
    )
    engine = Engine(program, open_store("memory://"), clock=lambda: T0)
    engine.enroll("M1", at=T0)
    given_by: dict[str, Decimal] = {}
    for n, cents in enumerate(amounts):
        receipt = engine.record_purchase(
            sale(f"P{n}", str(D(cents).scaleb(-2)), at=T0 + timedelta(minutes=n))
        )
        assert receipt.points_of("per-purchase") <= cap
        for rule in ("capped", "budgeted"):
            given_by[rule] = given_by.get(rule, D(0)) + receipt.points_of(rule)
    assert given_by["capped"] <= cap
    assert given_by["budgeted"] <= cap
