"""Period figures: added up in the store, checked against a brute-force count from the ledger."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import (
    Engine,
    Expiry,
    InsufficientPoints,
    InvalidInput,
    Line,
    Program,
    Purchase,
    Return,
    open_store,
)
from loyalty.cli import main
from loyalty.figures import PeriodTotals, figures
from loyalty.store import Store
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.clock import ManualClock
from tests.pg import fresh_schema_url, postgres_dsn

START = datetime(2024, 3, 1, tzinfo=UTC)
BEFORE, END = START - timedelta(days=30), START + timedelta(days=30)
PROGRAM = Program("Club", "EUR", expiry=Expiry("lifetime", days=20))
MEMBERS = ("a", "b", "c", "d")

actions = st.lists(
    st.tuples(
        st.sampled_from(["buy", "buy", "buy", "redeem", "void"]),
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
        url, drop = fresh_schema_url(postgres_dsn())
        store = open_store(url)
        try:
            yield store
        finally:
            store.close()
            drop()


def brute_force(engine: Engine, sold: list[tuple[str, datetime, Decimal]]) -> PeriodTotals:
    """The same totals, from every member's whole history and the purchases as recorded."""
    by_kind: dict[str, int] = {}
    outstanding = 0
    for member in MEMBERS:
        for entry in engine.history(member):
            if entry.occurred_at < END:
                outstanding += entry.points
                if entry.occurred_at >= START:
                    by_kind[entry.kind.value] = by_kind.get(entry.kind.value, 0) + entry.points
    now = {member for member, at, _ in sold if START <= at < END}
    then = {member for member, at, _ in sold if BEFORE <= at < START}
    spend = sum((amount for _, at, amount in sold if START <= at < END), Decimal(0))
    purchases = sum(1 for _, at, _ in sold if START <= at < END)
    return PeriodTotals(
        by_kind, outstanding, len(MEMBERS), len(now), len(then), len(now & then), purchases, spend
    )


def check_against_brute_force(kind: str, history: list[tuple[str, str, int, int]]) -> None:
    with fresh(kind) as store:
        enrolled = BEFORE - timedelta(days=30)
        clock = ManualClock(enrolled)
        engine = Engine(PROGRAM, store, clock=clock)
        for member in MEMBERS:
            engine.enroll(member, at=enrolled)
        sold: list[tuple[str, datetime, Decimal]] = []
        keys: list[str] = []
        for n, (action, member, hours, cents) in enumerate(sorted(history, key=lambda a: a[2])):
            at = enrolled + timedelta(hours=hours)
            clock.now = at
            amount = Decimal(cents).scaleb(-2)
            if action == "buy":
                engine.record_purchase(Purchase(f"P{n}", member, at, [Line("goods", 1, amount)], "EUR"))
                sold.append((member, at, amount))
                keys.append(f"P{n}")
            elif action == "redeem":
                with contextlib.suppress(InsufficientPoints):
                    engine.redeem(member, cents % 50 + 1, id=f"R{n}", at=at)
            elif keys:
                engine.record_return(Return(f"V{n}", keys.pop(0), at))  # a void keeps its purchase counted
        clock.now = END + timedelta(days=60)
        engine.run_due()
        with store.unit_of_work(readonly=True) as uow:
            totals = uow.period_totals(START, END, BEFORE)
        assert totals == brute_force(engine, sold)


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


def test_the_figures_of_a_period(store: Store) -> None:
    clock = ManualClock(BEFORE)
    engine = Engine(Program("Club", "EUR"), store, clock=clock)
    for member in ("a", "b", "c"):
        engine.enroll(member, at=BEFORE)
    # a and b shop before; a and c during: one of two stayed.
    for key, member, at, amount in (
        ("P1", "a", BEFORE + timedelta(days=1), "100.00"),
        ("P2", "b", BEFORE + timedelta(days=2), "50.00"),
        ("P3", "a", START + timedelta(days=1), "60.00"),
        ("P4", "c", START + timedelta(days=2), "40.00"),
    ):
        clock.now = at
        engine.record_purchase(Purchase(key, member, at, [Line("goods", 1, Decimal(amount))], "EUR"))
    engine.redeem("a", 30, id="R1", at=START + timedelta(days=3))
    found = engine.figures(START, END, point_value=Decimal("0.01"))
    assert (found.members, found.active, found.active_before, found.retained) == (3, 2, 2, 1)
    assert (found.retention_rate, found.defection_rate) == (Decimal("0.5000"), Decimal("0.5000"))
    assert (found.issued, found.redeemed, found.outstanding) == (100, 30, 220)
    assert (str(found.liability), str(found.spend), str(found.average_spend)) == (
        "2.20 EUR",
        "100.00 EUR",
        "50.00 EUR",
    )
    assert str(found.lifetime_value) == "100.00 EUR"  # 50.00 a period, over 1 / 0.5 periods
    with pytest.raises(InvalidInput) as info:
        engine.figures(END, START)
    assert info.value.field == "end"


def test_loyalty_report_prints_the_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.db"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["demo", "--db", str(path), "--members", "20", "--weeks", "2", "--seed", "3"]) == 0
    url = f"sqlite:///{path}"
    assert (
        main(
            [
                "report",
                url,
                "--from",
                "2024-03-11T00:00:00+00:00",
                "--to",
                "2024-03-25T00:00:00+00:00",
                "--point-value",
                "0.01",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    for label in (
        "members enrolled",
        "retention rate",
        "points outstanding",
        "liability",
        "estimated lifetime value",
    ):
        assert label in out
    store = open_store(url)
    try:
        engine = Engine(Program.from_dict(_stored(store)), store)
        found = engine.figures(datetime(2024, 3, 11, tzinfo=UTC), datetime(2024, 3, 25, tzinfo=UTC))
    finally:
        store.close()
    assert f"{found.active:,} (before: {found.active_before:,}" in out
    assert (
        main(["report", url, "--from", "2024-03-25T00:00:00+00:00", "--to", "2024-03-11T00:00:00+00:00"]) == 2
    )


def _stored(store: Store) -> dict[str, object]:
    with store.unit_of_work(readonly=True) as uow:
        return uow.program_versions()[-1].body


def test_purchases_a_moment_from_the_edges_fall_on_the_right_side(any_store: Store) -> None:
    plus5 = timezone(timedelta(hours=5))
    engine = Engine(Program("Club", "EUR"), any_store, clock=lambda: END)
    engine.enroll("a", at=BEFORE)
    for key, at in (("P1", START - timedelta(microseconds=300)), ("P2", END - timedelta(microseconds=300))):
        engine.record_purchase(Purchase(key, "a", at.astimezone(plus5), [Line("x", 1, Decimal(5))], "EUR"))
    found = engine.figures(START, END)
    assert (found.active, found.active_before, found.retained, found.purchases) == (1, 1, 1, 1)


def test_the_lifetime_value_is_rounded_once() -> None:
    totals = PeriodTotals({}, 0, 3, 3, 3, 2, 3, Decimal("300.00"))
    found = figures(totals, START, END, "EUR")
    assert str(found.lifetime_value) == "300.00 EUR"  # not 300.03 from 100.00 / 0.3333


def test_bad_report_inputs_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"
    assert (
        main(
            [
                "report",
                f"sqlite:///{missing}",
                "--from",
                "2024-01-01T00:00:00Z",
                "--to",
                "2024-02-01T00:00:00Z",
            ]
        )
        == 2
    )
    assert not missing.exists()
    assert "error: store: no SQLite file" in capsys.readouterr().err
    engine = Engine(Program("Club", "EUR"), open_store("memory://"))
    with pytest.raises(InvalidInput) as info:
        engine.figures(START, END, point_value=Decimal("1e30"))
    assert info.value.field == "point_value"
