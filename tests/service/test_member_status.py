"""A member's status: suspended members neither earn nor spend, closed ones do nothing new, and
what is already open (holds, returns) settles; each change is an outbox event. On every adapter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs
import pytest

from loyalty import (
    Engine,
    EventKind,
    HoldStatus,
    IdempotencyConflict,
    InvalidInput,
    MemberNotActive,
    MemberStatus,
    Return,
    UnknownMember,
)
from loyalty.rules import EventRule
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import PROGRAM, T0, sale

SURVEY = EventRule(id="survey", event="survey_completed", points=5)


def club(store: Store) -> Engine:
    engine = Engine(attrs.evolve(PROGRAM, rules=[SURVEY]), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.record_purchase(sale("P1", "40.00"))
    return engine


def change(engine: Engine, status: str, key: str) -> None:
    engine.change_status("M1", status, id=key, at=T0, reason="chargeback under review", actor="crm")


def test_a_suspended_member_neither_earns_nor_spends_and_nothing_is_written(any_store: Store) -> None:
    engine = club(any_store)
    hold = engine.hold("M1", 10, id="H1", at=T0, ttl=timedelta(hours=1))
    change(engine, "suspended", "S1")
    assert engine.member("M1").status is MemberStatus.SUSPENDED
    before = snapshot(any_store, ["M1"], ["P2", "E1", "R1", "H2"])
    refusals: list[Callable[[], object]] = [
        lambda: engine.record_purchase(sale("P2", "10.00")),
        lambda: engine.quote(sale("P2", "10.00")),
        lambda: engine.record_event("M1", "survey_completed", id="E1", at=T0),
        lambda: engine.redeem("M1", 5, id="R1", at=T0),
        lambda: engine.hold("M1", 5, id="H2", at=T0, ttl=timedelta(hours=1)),
    ]
    for refused in refusals:
        with pytest.raises(MemberNotActive) as info:
            refused()
        assert (info.value.field, info.value.status) == ("member_id", "suspended")
        assert "can neither earn nor spend until reinstated" in info.value.message
    assert snapshot(any_store, ["M1"], ["P2", "E1", "R1", "H2"]) == before
    # What was already under way settles; corrections still reach the member.
    assert engine.capture(hold.id, id="C1", at=T0).status is HoldStatus.CAPTURED
    returned = engine.record_return(Return("RET1", "P1", T0))
    assert (returned.taken_back, returned.uncollected) == (30, 10)  # 10 of the 40 were spent
    assert engine.adjust("M1", 7, id="A1", at=T0, reason="goodwill", actor="crm").points == 7
    change(engine, "active", "S2")
    assert engine.record_purchase(sale("P2", "10.00")).points == 10


def test_a_closed_member_keeps_its_history_and_does_nothing_new_until_reopened(any_store: Store) -> None:
    engine = club(any_store)
    change(engine, "closed", "S1")
    history = engine.history("M1")
    for refused in (
        lambda: engine.adjust("M1", 7, id="A1", at=T0, reason="goodwill", actor="crm"),
        lambda: engine.update_member("M1", id="U1", at=T0, attributes={"segment": "vip"}),
        lambda: engine.record_purchase(sale("P2", "10.00")),
    ):
        with pytest.raises(MemberNotActive) as info:
            refused()
        assert info.value.status == "closed"
    assert (engine.history("M1"), engine.balance("M1").available) == (history, 40)
    change(engine, "active", "S2")
    assert engine.adjust("M1", 7, id="A1", at=T0, reason="goodwill", actor="crm").points == 7


def test_each_status_change_is_an_event_and_idempotent_on_its_id(any_store: Store) -> None:
    engine = club(any_store)
    change(engine, "suspended", "S1")
    change(engine, "suspended", "S1")  # a retry: the original, no second event
    with pytest.raises(IdempotencyConflict) as conflict:
        engine.change_status("M1", "closed", id="S1", at=T0, reason="chargeback under review", actor="crm")
    assert conflict.value.field == "status"
    with pytest.raises(InvalidInput) as already:
        change(engine, "suspended", "S2")
    assert (already.value.field, already.value.message) == ("status", "member 'M1' is already suspended")
    change(engine, "closed", "S3")
    change(engine, "active", "S4")
    changes = [e for e in engine.events() if e.kind is EventKind.MEMBER_STATUS_CHANGED]
    assert [(e.source_id, e.data["old"], e.data["new"]) for e in changes] == [
        ("S1", "active", "suspended"),
        ("S3", "suspended", "closed"),
        ("S4", "closed", "active"),
    ]
    assert changes[0].data["reason"] == "chargeback under review" and changes[0].data["actor"] == "crm"


def test_bad_status_changes_are_refused_and_write_nothing(any_store: Store) -> None:
    engine = club(any_store)
    before = snapshot(any_store, ["M1"], ["S1"])
    with pytest.raises(InvalidInput) as info:
        engine.change_status("M1", "frozen", id="S1", at=T0, reason="r", actor="a")
    assert info.value.field == "status"
    with pytest.raises(InvalidInput) as info:
        engine.change_status("M1", "closed", id="S1", at=T0.replace(tzinfo=None), reason="r", actor="a")
    assert info.value.field == "at"
    with pytest.raises(UnknownMember):
        engine.change_status("nobody", "closed", id="S1", at=T0, reason="r", actor="a")
    assert snapshot(any_store, ["M1"], ["S1"]) == before
