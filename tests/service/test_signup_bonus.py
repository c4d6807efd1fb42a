"""A sign-up bonus: event rules for ``enrolled`` are paid by the enrollment itself, once, on every adapter."""

from __future__ import annotations

from datetime import date, timedelta

import attrs
import pytest

from loyalty import Engine, EntryKind, InvalidInput, MemberAlreadyEnrolled, Program
from loyalty.earning import Event
from loyalty.rules import EventRule
from loyalty.service import purchases
from loyalty.service.idempotency import Command
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import T0

WELCOME = EventRule(id="welcome", name="Welcome", event="enrolled", points=50)
CLUB = Program("Club", "EUR", rules=[WELCOME])


def engine(store: Store, *programs: Program) -> Engine:
    return Engine(programs[0] if len(programs) == 1 else programs, store, clock=lambda: T0)


def test_enrolling_pays_the_sign_up_rules_once(any_store: Store) -> None:
    club = engine(any_store, CLUB)
    club.enroll("M1", at=T0, birthday=date(1990, 5, 1))
    (entry,) = club.history("M1")
    assert (entry.kind, entry.points, entry.rules, entry.reason) == (
        EntryKind.EARN,
        50,
        ("welcome",),
        "event enrolled",
    )
    assert (entry.source_id, entry.occurred_at) == ("enrolled", T0)
    assert club.balance("M1").available == 50
    # The same enrollment again (a till's retry) pays nothing more; another one is refused whole.
    club.enroll("M1", at=T0, birthday=date(1990, 5, 1))
    before = snapshot(any_store, ["M1"], [])
    with pytest.raises(MemberAlreadyEnrolled):
        club.enroll("M1", at=T0, birthday=date(1991, 5, 1))
    assert snapshot(any_store, ["M1"], []) == before
    assert club.balance("M1").available == 50


def test_sign_up_rules_take_the_members_conditions_and_share_a_budget(any_store: Store) -> None:
    vip = attrs.evolve(WELCOME, members={"segment": ("vip",)}, budget=80)
    club = engine(any_store, attrs.evolve(CLUB, rules=[vip]))
    club.enroll("M1", at=T0, attributes={"segment": "vip"})
    club.enroll("M2", at=T0, attributes={"segment": "regular"})
    club.enroll("M3", at=T0, attributes={"segment": "vip"})
    assert [club.balance(m).available for m in ("M1", "M2", "M3")] == [50, 0, 30]  # the budget ran out


def test_no_sign_up_bonus_before_the_programs_first_version_or_without_the_rules(any_store: Store) -> None:
    later = attrs.evolve(CLUB, version="2024", effective_from=T0 + timedelta(days=1))
    clock = ManualClock(T0)
    club = Engine(later, any_store, clock=clock)
    club.enroll("M1", at=T0)
    club.enroll("M2", at=clock.catch_up(T0 + timedelta(days=2)))
    assert (club.history("M1"), club.balance("M2").available) == ([], 50)
    plain = engine(any_store, Program("Club", "EUR"))
    plain.enroll("M3", at=T0)
    assert plain.history("M3") == []


def test_a_till_may_not_record_an_enrollment_event(any_store: Store) -> None:
    club = engine(any_store, CLUB)
    club.enroll("M1", at=T0)
    before = snapshot(any_store, ["M1"], ["E1"])
    for call in (club.record_event, club.explain_event):
        with pytest.raises(InvalidInput) as info:
            call("M1", "enrolled", id="E1", at=T0)
        assert info.value.field == "name"
    assert snapshot(any_store, ["M1"], ["E1"]) == before


def test_a_member_id_at_the_length_limit_gets_its_bonus(any_store: Store) -> None:
    longest = "M" * 128
    club = engine(any_store, CLUB)
    club.enroll(longest, at=T0)
    assert [(e.source_id, e.points) for e in club.history(longest)] == [("enrolled", 50)]


def test_an_enrollment_event_a_till_recorded_before_the_sign_up_bonus_is_replayed(any_store: Store) -> None:
    club = engine(any_store, CLUB)
    club.enroll("M1", at=T0)
    # As an earlier release recorded it, from the till (record_event then took any name).
    earlier = Event("E1", "M1", "enrolled", T0)
    command = Command("E1", "event", purchases.request_of_event(earlier))
    original = purchases.record(club._ctx, earlier, command, "event enrolled")
    before = snapshot(any_store, ["M1"], ["E1"])
    # The till's retry gets the original receipt, as for any id already recorded.
    assert club.record_event("M1", "enrolled", id="E1", at=T0) == original
    assert club.explain_event("M1", "enrolled", id="E1", at=T0) == original
    assert snapshot(any_store, ["M1"], ["E1"]) == before
    with pytest.raises(InvalidInput):
        club.record_event("M1", "enrolled", id="E2", at=T0)
