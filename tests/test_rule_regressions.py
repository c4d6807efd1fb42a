"""Review of the earning-rules slice (issue 3): each test reproduces one defect.

Every test asserts the correct behaviour, so it fails until the defect is fixed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Purchase, open_store
from loyalty.errors import IdempotencyConflict
from loyalty.program import EarnRate, Program
from loyalty.rules import (
    EventRule,
    FirstPurchase,
    PurchaseBonus,
    StampCard,
)
from loyalty.store import Store
from loyalty.store.sqlite import _MIGRATIONS

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
D = Decimal


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'review.db'}"
    opened = open_store(url)
    yield opened
    opened.close()


def engine_for(store: Store, program: Program, **enroll: object) -> Engine:
    engine = Engine(program, store, clock=lambda: T0)
    engine.enroll("M1", at=T0, **enroll)  # type: ignore[arg-type]
    return engine


def sale(pid: str, *lines: Line, at: datetime = T0) -> Purchase:
    return Purchase(pid, "M1", at, list(lines) or [Line("sku", 1, D("10.00"))], "EUR")


# -- arithmetic --------------------------------------------------------------------------------


def test_carry_with_non_terminating_per_adds_up_to_a_whole_point(store: Store) -> None:
    # The carry's promise: three 1.00 purchases earn what one 3.00 purchase earns.
    engine = engine_for(store, Program("Club", "EUR", rate=EarnRate(1, D("3.00")), carry=True))
    for i in range(3):
        engine.record_purchase(sale(f"P{i}", Line("a", 1, D("1.00"))))
    assert engine.balance("M1").available == 1


@pytest.mark.parametrize("rounding", ["half_up", "half_even"])
def test_carry_with_per_line_rounding_keeps_the_total_exact(store: Store, rounding: str) -> None:
    # round_per=line + carry: a line rounded up leaves a negative carry, but the carried
    # amount is rounded on its own and clamped at 0, so it is never paid back and grows
    # without bound (-0.5, -1.0, -1.5, ...). Four 1.50 purchases must earn 6, not 8.
    program = Program(
        "Club", "EUR", rate=EarnRate(1, D("1.00")), rounding=rounding, round_per="line", carry=True
    )
    engine = engine_for(store, program)
    for i in range(4):
        engine.record_purchase(sale(f"P{i}", Line("a", 1, D("1.50"))))
    assert engine.balance("M1").available == 6


# -- combination order: groups and stop ---------------------------------------------------------


def test_explain_gives_the_same_points_as_quote_with_a_group_around_a_stop(store: Store) -> None:
    # A group is resolved where its first member stands in the rule list. explain() walks all
    # rules (A first), quote()/record walk only candidates (A is not one), so B is evaluated
    # before the stop rule S in explain and after it in quote: 51 points vs 1. explain also
    # lists B both in the breakdown and as "stopped by S".
    program = Program(
        "Club",
        "EUR",
        rate=None,
        rules=[
            PurchaseBonus(id="A", points=100, priority=10, group="G", skus=["X"]),
            PurchaseBonus(id="S", points=1, priority=5, stop=True),
            PurchaseBonus(id="B", points=50, priority=0, group="G"),
        ],
    )
    engine = engine_for(store, program)
    purchase = sale("Q1", Line("y", 1, D("1.00")))
    explained = engine.explain(purchase)
    assert explained.points == engine.quote(purchase).points
    skipped = {s.rule for s in explained.skipped}
    assert not skipped & set(explained.rules), "a rule is both given and skipped"


def test_a_stamp_card_visit_without_a_bonus_does_not_stop(store: Store) -> None:
    # A stamp collected (0 points) counts as "fired": the stop flag then cancels every
    # later rule on 2 visits out of 3.
    program = Program(
        "Club",
        "EUR",
        rate=None,
        rules=[
            StampCard(id="card", points=50, every=3, stop=True),
            PurchaseBonus(id="bonus", points=1),
        ],
    )
    engine = engine_for(store, program)
    assert [engine.record_purchase(sale(f"P{i}")).points for i in range(3)] == [1, 1, 50]


def test_a_stamp_card_in_an_exclusive_group_still_collects_stamps(store: Store) -> None:
    # A visit that is not the Nth gives 0, so the card always loses its group and its stamp
    # delta is dropped with it: the card never reaches its 3rd stamp.
    program = Program(
        "Club",
        "EUR",
        rate=None,
        rules=[
            StampCard(id="card", points=50, every=3, group="G"),
            PurchaseBonus(id="visit", points=1, group="G"),
        ],
    )
    engine = engine_for(store, program)
    assert [engine.record_purchase(sale(f"P{i}")).points for i in range(3)] == [1, 1, 50]


# -- conditions ---------------------------------------------------------------------------------


# -- idempotency --------------------------------------------------------------------------------


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


# -- versions -----------------------------------------------------------------------------------


def test_the_same_version_with_effective_from_in_another_offset_is_not_a_change(store: Store) -> None:
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


# -- upgrading a schema-1 file ------------------------------------------------------------------

_V1_REQUEST = (
    '{"at":"2024-03-01T09:30:00+00:00","currency":"EUR","lines":[{"category":null,"quantity":"1",'
    '"sku":"a","unit_price":"10.00"}],"member_id":"M1","store_id":null,"terminal_id":null}'
)
# Exactly what the issue-2 engine (commit f93a468) kept for a 10.00 purchase.
_V1_RESULT = (
    '{"amount":{"amount":"10.00","currency":"EUR"},"balance_after":10,"breakdown":[{"detail":'
    '"1 point per 1 EUR on 10.00 EUR","points":"10.00","rule":"base"}],"member_id":"M1",'
    '"occurred_at":"2024-03-01T09:30:00+00:00","points":10,"purchase_id":"P1","rounding":"floor",'
    '"rounding_adjustment":"0.00"}'
)


def _version_1_file(path: Path) -> None:
    """An SQLite file as the issue-2 engine left it after one 10.00 purchase by M1."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for statement in _MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    at = "2024-03-01T09:30:00+00:00"
    conn.execute("INSERT INTO members VALUES ('M1', ?, 0, NULL, '{}', 10)", (at,))
    conn.execute(
        "INSERT INTO entries VALUES (1, 'M1', 'earn', 10, 10, ?, 0, ?, 0, 'P1', 'purchase', NULL, 'base')",
        (at, at),
    )
    conn.execute(
        "INSERT INTO operations VALUES ('P1', 'purchase', ?, ?, ?, 0)", (_V1_REQUEST, _V1_RESULT, at)
    )
    conn.execute("COMMIT")
    conn.close()


def test_a_retry_of_a_purchase_recorded_before_the_upgrade_returns_its_receipt(tmp_path: Path) -> None:
    # The replay record of schema 1 has purchase_id (not source_id) and breakdown rows without
    # a name: structuring it as the new Receipt raises cattrs' ClassValidationError, not even a
    # LoyaltyError, so a till retrying a sale sent just before the upgrade crashes.
    path = tmp_path / "v1.db"
    _version_1_file(path)
    store = open_store(f"sqlite:///{path}")
    try:
        engine = Engine(Program("Club", "EUR"), store, clock=lambda: T0)
        receipt = engine.record_purchase(sale("P1", Line("a", 1, D("10.00"))))
        assert (receipt.points, receipt.balance_after) == (10, 10)
    finally:
        store.close()


def test_first_purchase_is_not_given_to_a_member_who_bought_before_the_upgrade(tmp_path: Path) -> None:
    # "First purchase" reads the visits tally, which starts empty on an upgraded file:
    # every existing customer gets the welcome bonus on their next purchase.
    path = tmp_path / "v1.db"
    _version_1_file(path)
    store = open_store(f"sqlite:///{path}")
    try:
        program = Program("Club", "EUR", rules=[FirstPurchase(id="welcome", points=100)])
        engine = Engine(program, store, clock=lambda: T0)
        receipt = engine.record_purchase(sale("P2", Line("a", 1, D("10.00"))))
        assert "welcome" not in receipt.rules
        assert receipt.points == 10
    finally:
        store.close()


# -- writes and explanations --------------------------------------------------------------------


def test_quote_and_explain_write_nothing(store: Store) -> None:
    # A quote is a read, but the first one takes a write transaction (BEGIN IMMEDIATE on
    # SQLite) and stores the program version; on a read-only replica it would fail.
    engine = engine_for(store, Program("Club", "EUR"))
    engine.quote(sale("Q1"))
    engine.explain(sale("Q1"))
    with store.unit_of_work(readonly=True) as uow:
        assert uow.program_versions() == []


