"""A member's history: every entry says why, and pages follow one another."""

from __future__ import annotations

import pytest

from loyalty import Engine, EntryKind, balance_of
from loyalty.store import Store
from tests.service.helpers import T0, sale


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


def test_entries_say_why(engine: Engine) -> None:
    engine.record_purchase(sale("P1", "20.00"))
    engine.redeem("M1", 5, id="R1", at=T0)
    engine.adjust("M1", -3, id="A1", at=T0, reason="double scan on P1", actor="manager-7")
    earn, redeem, adjust = engine.history("M1")
    assert (earn.kind, earn.source_id, earn.reason, earn.rules) == (
        EntryKind.EARN,
        "P1",
        "purchase",
        ("base",),
    )
    assert (redeem.kind, redeem.source_id, redeem.reason) == (EntryKind.REDEEM, "R1", "redemption")
    assert (adjust.kind, adjust.reason, adjust.actor, adjust.points) == (
        EntryKind.ADJUST,
        "double scan on P1",
        "manager-7",
        -3,
    )
    assert engine.balance("M1").available == 12 == balance_of([earn, redeem, adjust])


def test_history_pages(engine: Engine) -> None:
    for i in range(5):
        engine.record_purchase(sale(f"P{i}", "1.00"))
    page = engine.history("M1", limit=2)
    rest = engine.history("M1", after=page[-1].seq)
    assert [e.source_id for e in page + rest] == [f"P{i}" for i in range(5)]
