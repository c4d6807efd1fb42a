"""A retry returns the first result, whatever its representation, the caller's context or the program now."""

from __future__ import annotations

import decimal
from datetime import timedelta, timezone
from decimal import Decimal

import pytest

from loyalty import EarnRate, Engine, EventRule, IdempotencyConflict, Program
from loyalty.store import Store
from tests.service.helpers import PROGRAM, T0, engine_for, sale


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


def test_a_purchase_earning_nothing_writes_no_entry_but_is_idempotent(engine: Engine) -> None:
    receipt = engine.record_purchase(sale("P1", "0.99"))
    assert receipt.points == 0
    assert engine.history("M1") == []
    assert engine.record_purchase(sale("P1", "0.99")) == receipt


def test_retry_is_recognised_across_representations(engine: Engine) -> None:
    receipt = engine.record_purchase(sale("P1", "5.50"))
    same_instant = T0.astimezone(timezone(timedelta(hours=-5)))
    assert engine.record_purchase(sale("P1", "5.500", at=same_instant)) == receipt
    assert len(engine.history("M1")) == 1


def test_enrollment_retry_returns_the_member(engine: Engine) -> None:
    again = engine.enroll("M1", at=T0)
    assert again == engine.member("M1")


def test_retries_are_judged_exactly_whatever_the_callers_decimal_context(engine: Engine) -> None:
    receipt = engine.record_purchase(sale("P1", "123.41"))
    with decimal.localcontext() as ctx:
        # A host application with a coarse context that traps inexact results.
        ctx.prec = 4
        ctx.traps[decimal.Inexact] = True
        ctx.traps[decimal.Rounded] = True
        assert engine.record_purchase(sale("P1", "123.410")) == receipt
        with pytest.raises(IdempotencyConflict) as info:
            engine.record_purchase(sale("P1", "123.44"))
        assert info.value.field == "lines[0].unit_price"
        assert engine.record_purchase(sale("P2", "1.000000000001")).points == 1
    with pytest.raises(IdempotencyConflict):
        engine.record_purchase(sale("P2", "1.000000000009"))
    assert engine.balance("M1").available == 124


def test_an_event_retry_with_1_instead_of_true_is_a_conflict(store: Store) -> None:
    # Rules tell True from 1 (the retry would not match the rule), but the request compare
    # treats event properties as opaque and True == 1 in Python: the retry is taken as the
    # same request and answered with the original 5 points.
    rule = EventRule(id="survey", event="survey", points=5, properties={"verified": [True]})
    engine = engine_for(store, Program("Club", "EUR", rules=[rule]))
    engine.record_event("M1", "survey", id="E1", at=T0, properties={"verified": True})
    with pytest.raises(IdempotencyConflict) as info:
        engine.record_event("M1", "survey", id="E1", at=T0, properties={"verified": 1})
    assert (info.value.field or "").startswith("properties")


def test_an_update_member_retry_with_1_instead_of_true_is_a_conflict(store: Store) -> None:
    # enroll() compares attributes with their types; update_member's replay does not.
    engine = engine_for(store, Program("Club", "EUR"))
    engine.update_member("M1", id="U1", at=T0, attributes={"vip": True})
    with pytest.raises(IdempotencyConflict) as info:
        engine.update_member("M1", id="U1", at=T0, attributes={"vip": 1})
    assert (info.value.field or "").startswith("attributes")


def test_a_retry_returns_the_original_receipt_after_the_program_changed(store: Store) -> None:
    Engine(PROGRAM, store, clock=lambda: T0).enroll("M1", at=T0)
    receipt = Engine(PROGRAM, store, clock=lambda: T0).record_purchase(sale("P1", "50.00"))
    richer_program = Program(
        "Engine", "EUR", rate=EarnRate(10, Decimal(1)), version="2", effective_from=T0 - timedelta(days=1)
    )
    richer = Engine(richer_program, store, clock=lambda: T0)
    assert richer.record_purchase(sale("P1", "50.00")) == receipt
    assert richer.balance("M1").available == 50


def test_retries_with_their_instants_in_another_offset_replay(engine: Engine) -> None:
    # An allowance's opening and an opening balance's dates are instants too, as `at` is: the
    # same instant written in another offset is a retry, not a conflict.
    later = T0.astimezone(timezone(timedelta(hours=2)))
    until, expires = T0 + timedelta(hours=8), T0 + timedelta(days=365)
    granted = engine.grant_offline_allowance(
        "till-1", id="L1", at=T0, per_member=5, total=10, until=until, actor="ops"
    )
    again = engine.grant_offline_allowance(
        "till-1", id="L1", at=later, per_member=5, total=10, until=until.astimezone(later.tzinfo), actor="ops"
    )
    assert again == granted
    opened = engine.add_opening_balance("M1", 50, id="O1", at=T0, expires_at=expires, vests_at=until)
    assert (
        engine.add_opening_balance(
            "M1",
            50,
            id="O1",
            at=later,
            expires_at=expires.astimezone(later.tzinfo),
            vests_at=until.astimezone(later.tzinfo),
        )
        == opened
    )
    with pytest.raises(IdempotencyConflict):
        engine.add_opening_balance(
            "M1", 50, id="O1", at=T0, expires_at=expires + timedelta(seconds=1), vests_at=until
        )
    assert engine.balance("M1").total == 50
