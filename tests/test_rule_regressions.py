"""Review of the earning-rules slice (issue 3): each test reproduces one defect.

Every test asserts the correct behaviour, so it fails until the defect is fixed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Purchase, open_store
from loyalty.program import Program
from loyalty.rules import (
    FirstPurchase,
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


# -- combination order: groups and stop ---------------------------------------------------------


# -- conditions ---------------------------------------------------------------------------------


# -- idempotency --------------------------------------------------------------------------------


# -- versions -----------------------------------------------------------------------------------


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


