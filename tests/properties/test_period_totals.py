"""Period figures added up in the store equal a brute-force count from the whole ledger, on every adapter."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import (
    Engine,
    EntryKind,
    Expiry,
    InsufficientPoints,
    Line,
    Program,
    Purchase,
    PurchaseBonus,
    Receipt,
    Return,
    open_store,
)
from loyalty.figures import PeriodTotals
from loyalty.ledger import shares_of
from loyalty.store import Store
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.clock import ManualClock
from tests.pg import postgres_dsn, store_schema_url

START = datetime(2024, 3, 1, tzinfo=UTC)


BEFORE, END = START - timedelta(days=30), START + timedelta(days=30)


# A big basket earns by two rules: its entry keeps each one's share for the figures by rule.
BIG = PurchaseBonus(id="big", name="Big basket", points=7, min_amount=Decimal("150"))
PROGRAM = Program("Club", "EUR", expiry=Expiry("lifetime", days=20), rules=[BIG])


MEMBERS = ("a", "b", "c", "d")


actions = st.lists(
    st.tuples(
        st.sampled_from(["buy", "buy", "buy", "redeem", "void", "transfer"]),
        st.sampled_from(MEMBERS),
        st.integers(0, 89 * 24),  # hours after enrollment, spanning before, during and after the period
        st.integers(1, 30_000),  # cents
    ),
    max_size=25,
)


@contextlib.contextmanager
def fresh(kind: str) -> Iterator[Store]:
    if kind == "memory":
        store: Store = open_store("memory://")
        yield store
        store.close()
    elif kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            store = SQLiteStore(Path(folder) / "f.db", synchronous="normal")
            yield store
            store.close()
    else:
        url, drop = store_schema_url(postgres_dsn())
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()
            drop()


def brute_force(
    engine: Engine, sold: list[tuple[str, datetime, Decimal]], receipts: dict[str, Receipt]
) -> PeriodTotals:
    """The same totals, from every member's whole history, the purchases as recorded and their
    receipts (each rule's exact points, shared out as the entry's)."""
    by_kind: dict[str, int] = {}
    by_rule: dict[str, int] = {}
    outstanding = transferred = 0
    for member in MEMBERS:
        for entry in engine.history(member):
            if entry.occurred_at < END:
                outstanding += entry.points
                if entry.occurred_at >= START:
                    by_kind[entry.kind.value] = by_kind.get(entry.kind.value, 0) + entry.points
                    if entry.kind is EntryKind.TRANSFER and entry.points > 0:
                        transferred += entry.points
                    shares: tuple[int, ...] = (entry.points,) if entry.rules else ()
                    if len(entry.rules) > 1:
                        receipt = receipts[entry.source_id]
                        shares = shares_of([receipt.points_of(rule) for rule in entry.rules], entry.points)
                    for rule, points in zip(entry.rules, shares, strict=True):
                        by_rule[rule] = by_rule.get(rule, 0) + points
    now = {member for member, at, _ in sold if START <= at < END}
    then = {member for member, at, _ in sold if BEFORE <= at < START}
    spend = sum((amount for _, at, amount in sold if START <= at < END), Decimal(0))
    purchases = sum(1 for _, at, _ in sold if START <= at < END)
    return PeriodTotals(
        by_kind,
        outstanding,
        len(MEMBERS),
        len(now),
        len(then),
        len(now & then),
        purchases,
        spend,
        transferred,
        by_rule,
    )


def check_against_brute_force(kind: str, history: list[tuple[str, str, int, int]]) -> None:
    with fresh(kind) as store:
        enrolled = BEFORE - timedelta(days=30)
        clock = ManualClock(enrolled)
        engine = Engine(PROGRAM, store, clock=clock)
        for member in MEMBERS:
            engine.enroll(member, at=enrolled)
        sold: list[tuple[str, datetime, Decimal]] = []
        receipts: dict[str, Receipt] = {}
        keys: list[str] = []
        for n, (action, member, hours, cents) in enumerate(sorted(history, key=lambda a: a[2])):
            at = enrolled + timedelta(hours=hours)
            clock.now = at
            amount = Decimal(cents).scaleb(-2)
            if action == "buy":
                purchase = Purchase(f"P{n}", member, at, [Line("goods", 1, amount)], "EUR")
                receipts[purchase.id] = engine.record_purchase(purchase)
                sold.append((member, at, amount))
                keys.append(f"P{n}")
            elif action == "redeem":
                with contextlib.suppress(InsufficientPoints):
                    engine.redeem(member, cents % 50 + 1, id=f"R{n}", at=at)
            elif action == "transfer":
                receiver = MEMBERS[(MEMBERS.index(member) + 1) % len(MEMBERS)]
                with contextlib.suppress(InsufficientPoints):
                    engine.transfer(member, receiver, cents % 50 + 1, id=f"X{n}", at=at)
            elif keys:
                engine.record_return(Return(f"V{n}", keys.pop(0), at))  # a void keeps its purchase counted
        clock.now = END + timedelta(days=60)
        engine.run_due()
        with store.unit_of_work(readonly=True) as uow:
            totals = uow.period_totals(START, END, BEFORE)
        assert totals == brute_force(engine, sold, receipts)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(actions)
def test_memory_totals_match_the_ledger(history: list[tuple[str, str, int, int]]) -> None:
    check_against_brute_force("memory", history)


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(actions)
def test_sqlite_totals_match_the_ledger(history: list[tuple[str, str, int, int]]) -> None:
    check_against_brute_force("sqlite", history)


@pytest.mark.postgres
@settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(actions)
def test_postgres_totals_match_the_ledger(history: list[tuple[str, str, int, int]]) -> None:
    check_against_brute_force("postgres", history)
