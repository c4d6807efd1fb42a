"""Updating a member: a birthday change starts a cool-off, attributes change alone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from loyalty import Engine
from loyalty.program import Program
from loyalty.rules import BirthdayBonus
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from tests.service.helpers import T0, sale


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


class TestBirthday:
    def test_cool_off_after_a_birthday_change(self, store: Store) -> None:
        program = Program(
            "Club", "EUR", rate=None, rules=[BirthdayBonus(id="bday", points=50, cooloff_days=30)]
        )
        clock = ManualClock(T0)
        engine = Engine(program, store, clock=clock)
        engine.enroll("M1", at=T0, birthday=date(1990, 7, 1))
        changed = engine.update_member("M1", id="U1", at=T0, birthday=date(1990, 3, 10))
        assert changed.birthday_changed_at == T0
        assert engine.update_member("M1", id="U1", at=T0, birthday=date(1990, 3, 10)) == changed
        assert (
            engine.record_purchase(
                sale("P1", at=clock.catch_up(datetime(2024, 3, 10, 12, tzinfo=UTC)))
            ).points
            == 0
        )
        assert (
            engine.record_purchase(
                sale("P2", at=clock.catch_up(datetime(2025, 3, 10, 12, tzinfo=UTC)))
            ).points
            == 50
        )
        assert (
            engine.record_purchase(
                sale("P3", at=clock.catch_up(datetime(2025, 3, 10, 13, tzinfo=UTC)))
            ).points
            == 0
        )

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
