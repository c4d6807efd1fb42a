"""Regressions for defects a second review of the rules engine found (each failed before its fix)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from loyalty import Engine, Line, Program, Purchase, open_store
from loyalty.rules import PurchaseBonus, StampCard

T = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def _sale(pid: str, *lines: Line, at: datetime = T) -> Purchase:
    return Purchase(pid, "M1", at, list(lines), "EUR")


def _engine(program: Program) -> Engine:
    engine = Engine(program, open_store("memory://"), clock=lambda: T)
    engine.enroll("M1", at=T)
    return engine


def test_stamp_card_losing_its_group_does_not_spend_its_budget() -> None:
    program = Program(
        "Club",
        "EUR",
        rate=None,
        rules=[
            StampCard(id="card", points=5, every=1, budget=5, group="g"),
            PurchaseBonus(id="big", points=50, group="g", min_amount=Decimal("100.00")),
        ],
    )
    engine = _engine(program)
    first = engine.record_purchase(_sale("P1", Line("a", 1, Decimal("150.00"))))
    assert first.points == 50  # the big bonus wins the group; the card gave nothing
    second = engine.record_purchase(_sale("P2", Line("a", 1, Decimal("5.00"))))
    assert second.points == 5  # the budget of 5 was never spent


def test_refused_purchase_writes_no_program_version() -> None:
    import pytest

    from loyalty import InvalidInput

    store = open_store("memory://")
    engine = Engine(Program("Club", "EUR", effective_from=T), store, clock=lambda: T)
    early = Purchase("P1", "M1", datetime(2024, 2, 1, tzinfo=UTC), [Line("a", 1, Decimal("1"))], "EUR")
    with pytest.raises(InvalidInput):
        engine.record_purchase(early)
    with store.unit_of_work(readonly=True) as uow:
        assert uow.program_versions() == []
