"""Program versions: a purchase earns under the version in force at its own time; each is stored once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from loyalty import Engine, Line, Purchase, Return, Returned, open_store
from loyalty.errors import ConfigError, InvalidInput, PointsOverflow
from loyalty.program import EarnRate, Program
from loyalty.service import programs
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import T0, clocked_engine_for, engine_for, sale

D = Decimal


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


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
        engine, clock = clocked_engine_for(store, self.summer, self.spring)
        june = clock.catch_up(datetime(2024, 6, 2, tzinfo=UTC))
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

    def test_an_engine_running_learns_a_version_another_stored_since(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # A till's engine knows spring alone and has read the store; the back office's stores
        # summer. A return of a purchase earned under summer is recomputed under summer at once
        # (it was recomputed under spring: 30 taken back of 40 where 20 is due), and once what
        # the till read is REFRESH_SECONDS old, its own purchases dated in summer earn under it.
        june = datetime(2024, 6, 5, tzinfo=UTC)
        till = Engine(self.spring, store, clock=lambda: june)
        till.enroll("M1", at=T0)
        till.record_purchase(sale("P0", at=T0))
        office = Engine([self.spring, self.summer], store, clock=lambda: june)
        two = [Line("x", 2, D("10.00"))]
        assert office.record_purchase(Purchase("B1", "M1", june, two, "EUR")).points == 40
        back = till.record_return(Return("R1", "B1", june, [Returned("x", 1)]))
        assert (back.now_earns, back.taken_back) == (20, 20)
        monkeypatch.setattr(programs, "REFRESH_SECONDS", 0.0)
        bought = till.record_purchase(Purchase("A1", "M1", june, two, "EUR"))
        assert (bought.points, bought.program_version) == (40, "summer")

    def test_an_engine_reads_the_stores_versions_again_once_a_minute(
        self, store: Store, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        clock = [1000.0]
        # This module's clock alone (time.monotonic itself is everyone's).
        monkeypatch.setattr("loyalty.service.programs.time", SimpleNamespace(monotonic=lambda: clock[0]))
        engine = engine_for(store, self.spring)
        engine.record_purchase(sale("P1", "100.00"))
        reads = [0]
        unit: Any = type(store.unit_of_work(readonly=True))
        kept = unit.program_versions

        def counted(uow: object) -> object:
            reads[0] += 1
            return kept(uow)

        monkeypatch.setattr(unit, "program_versions", counted)

        def commands(n: int) -> int:
            reads[0] = 0
            for i in range(n):
                engine.quote(sale(f"Q{i}"))
                engine.redeem("M1", 1, id=f"R{clock[0]}-{i}", at=T0)
            return reads[0]

        assert commands(5) == 0
        clock[0] += 61
        assert (commands(5), commands(20)) == (1, 0)

    def test_a_changed_program_needs_a_new_version(self, store: Store) -> None:
        engine_for(store, self.spring).record_purchase(sale("P1"))
        changed = Program("Club", "EUR", rate=EarnRate(5, D("1.00")), version="spring")
        before = snapshot(store, ["M1"], ["P2"], ["visits|M1"], programs=True)
        with pytest.raises(ConfigError) as info:
            # With a new version beside it: neither is stored when one is refused.
            Engine([changed, self.summer], store).record_purchase(sale("P2"))
        assert info.value.field == "version"
        assert snapshot(store, ["M1"], ["P2"], ["visits|M1"], programs=True) == before

    def test_a_later_version_with_another_scale_is_refused_and_nothing_is_written(self, store: Store) -> None:
        # A version that showed hundredths would show every stored balance as a hundredth
        # of what it was, and state its own figures in another unit.
        engine_for(store, self.spring).record_purchase(sale("P1"))
        finer = Program(
            "Club", "EUR", version="autumn", scale=2, effective_from=datetime(2024, 9, 1, tzinfo=UTC)
        )
        before = snapshot(store, ["M1"], ["P2"], ["visits|M1"], programs=True)
        with pytest.raises(ConfigError) as info:
            Engine([self.spring, finer], store).record_purchase(sale("P2"))
        assert info.value.problems == (("versions[1].scale", "must be 0 like versions[0], got 2"),)
        with pytest.raises(ConfigError) as stored_first:
            # An engine given only the new version learns the stored one, and refuses the same way.
            Engine(finer, store).record_purchase(sale("P2"))
        assert stored_first.value.problems == (("versions[1].scale", "must be 0 like versions[0], got 2"),)
        assert snapshot(store, ["M1"], ["P2"], ["visits|M1"], programs=True) == before

    def test_the_same_version_with_effective_from_in_another_offset_is_not_a_change(
        self, store: Store
    ) -> None:
        # The two programs are == (one instant), but their to_dict bodies spell it differently,
        # so a second till configured in local time is refused: "already stored with other rules".
        utc = Program("Club", "EUR", version="v2", effective_from=datetime(2024, 6, 1, tzinfo=UTC))
        local = Program(
            "Club",
            "EUR",
            version="v2",
            effective_from=datetime(2024, 6, 1, 2, tzinfo=timezone(timedelta(hours=2))),
        )
        assert utc == local
        assert [v.version for v in Engine(utc, store, clock=lambda: T0).versions] == ["v2"]
        assert [v.version for v in Engine(local, store, clock=lambda: T0).versions] == ["v2"]

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

    def test_a_replayed_enrollment_after_a_refused_purchase_leaves_the_versions_to_be_stored(
        self, store: Store
    ) -> None:
        engine = engine_for(store, Program("Club", "EUR", rate=EarnRate(100, D("0.0001"))))
        with pytest.raises(PointsOverflow):
            engine.record_purchase(sale("P0", "1e20"))  # refused after the versions were written
        engine.enroll("M1", at=T0)  # a till's retry: a replay, which stores nothing
        engine.record_purchase(sale("P1"))
        with store.unit_of_work(readonly=True) as uow:
            assert [version.version for version in uow.program_versions()] == ["1"]

    def test_refused_purchase_writes_no_program_version(self, store: Store) -> None:
        engine = Engine(Program("Club", "EUR", effective_from=T0), store, clock=lambda: T0)
        early = Purchase("P1", "M1", datetime(2024, 2, 1, tzinfo=UTC), [Line("a", 1, Decimal("1"))], "EUR")
        with pytest.raises(InvalidInput):
            engine.record_purchase(early)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.program_versions() == []
