"""A referrer's change of status racing its referee's first purchase on PostgreSQL, where writers
overlap: the purchase decides the referrer's bonus on the status it reads, and a history export
places the change by the ledger's last ``seq`` it read (``ledger_seq``). The change locks the
referrer as an erasure does, and the purchase holds it before reading its status, so one waits
for the other: the export puts them in the order the bonus was decided in, and an import
decides alike. Each interleaving is forced, one side paused inside its unit of work (found by
review, issue 15: the purchase drew its first entry number with its own member's lock, before
reading the referrer's status, and nothing held the two apart)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from loyalty import Engine, Referrals, history
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.store.memory import MemoryStore
from loyalty.store.postgres import PostgresStore, open_postgres
from loyalty.store.postgres.unit_of_work import PostgresUnitOfWork
from loyalty.testing.clock import ManualClock
from tests.pg import postgres_dsn, schema_of

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("PG", "EUR", referrals=Referrals(referrer_points=20, referee_points=10))

#: Which command a thread runs ("purchase" or "status"): set by the thread.
_role = threading.local()


class _Pause:
    """Where one side stops, inside its unit of work, until the test lets it go."""

    def __init__(self, role: str, method: str, after: bool) -> None:
        self.role, self.method, self.after = role, method, after
        self.reached, self.go = threading.Event(), threading.Event()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = getattr(PostgresUnitOfWork, self.method)

        def paused(uow: PostgresUnitOfWork, *args: Any) -> Any:
            mine = getattr(_role, "name", None) == self.role and not self.reached.is_set()
            if mine and not self.after:
                self._wait()
            found = original(uow, *args)
            if mine and self.after:
                self._wait()
            return found

        monkeypatch.setattr(PostgresUnitOfWork, self.method, paused)

    def _wait(self) -> None:
        self.reached.set()
        assert self.go.wait(30), "never let go"


#: Each interleaving: the side that pauses, in which method, after it (or before), whether the
#: other side then waits for it, and whether the purchase saw the referrer's change of status.
INTERLEAVINGS = {
    # The change has read its ledger_seq: the purchase waits for it at its hold, sees it, and
    # numbers its entries above it.
    "change-read-its-seq": ("status", "add_event", False, True, True),
    # The purchase has locked its own member (where it drew its first entry number before, at or
    # below the seq the change then read); the change commits before the purchase holds the
    # referrer, and the purchase sees it.
    "purchase-locked-its-member": ("purchase", "referral", False, False, True),
    # The purchase holds the referrer: the change waits for its commit.
    "purchase-holds-the-referrer": ("purchase", "keep_named", True, True, False),
}


def _in_thread(
    pool: ThreadPoolExecutor, url: str, name: str, command: Callable[[Engine], object]
) -> Future[object]:
    def run() -> object:
        _role.name = name
        store = open_postgres(url)
        try:
            return command(Engine(PROGRAM, store, clock=ManualClock(T0)))
        finally:
            store.close()
            _role.name = None

    return pool.submit(run)


def _waiting_or_done(url: str, future: Future[object]) -> None:
    """Until ``future`` is done or its backend waits for a row lock on this test's schema (a
    state polled, not a time guessed)."""
    waiting = sql.SQL(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND position({} in query) > 0"
    ).format(sql.Literal(schema_of(url)))
    deadline = time.monotonic() + 30
    with psycopg.connect(postgres_dsn(), autocommit=True) as watcher:
        while not future.done():
            row = watcher.execute(waiting).fetchone()
            if row is not None and row[0]:
                return
            assert time.monotonic() < deadline, "neither done nor waiting"
            time.sleep(0.005)


def _buy(engine: Engine) -> object:
    return engine.record_purchase(Purchase("P1", "C", T0, [Line("x", 1, Decimal("30.00"))], "EUR"))


@pytest.mark.parametrize("status", ["suspended", "active"], ids=["suspension", "reinstatement"])
@pytest.mark.parametrize("interleaving", INTERLEAVINGS)
def test_a_referrers_change_of_status_racing_its_referees_first_purchase_exports_as_it_was_decided(
    postgres_store: PostgresStore,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    interleaving: str,
    status: str,
) -> None:
    role, method, after, waits, saw = INTERLEAVINGS[interleaving]
    pause = _Pause(role, method, after)
    source = Engine(PROGRAM, postgres_store, clock=ManualClock(T0))
    source.enroll("A", at=T0 - timedelta(days=1))
    source.enroll("C", at=T0 - timedelta(days=1), referred_by=source.referral_code("A"))
    if status == "active":  # to be reinstated
        source.change_status("A", "suspended", id="S0", at=T0, reason="fraud check", actor="ops")
    pause.install(monkeypatch)

    def change(engine: Engine) -> object:
        return engine.change_status("A", status, id="S1", at=T0, reason="by hand", actor="ops")

    commands = {"purchase": _buy, "status": change}
    other = "status" if pause.role == "purchase" else "purchase"
    try:
        with ThreadPoolExecutor(2) as pool:
            # One side pauses inside its unit of work; the other runs until it is done or waits
            # for the first; then the first goes on.
            ahead = _in_thread(pool, store_url, pause.role, commands[pause.role])
            assert pause.reached.wait(30)
            behind = _in_thread(pool, store_url, other, commands[other])
            _waiting_or_done(store_url, behind)
            assert behind.done() is not waits
            pause.go.set()
            ahead.result(timeout=30), behind.result(timeout=30)
    finally:
        pause.go.set()
    # The referrer is paid if the purchase saw it active: it saw the reinstatement, or not the
    # suspension.
    assert (source.balance("A").total == 20) is (saw == (status == "active"))
    records = list(source.export_history())
    assert [r.id for r in records if r.id in ("P1", "S1")] == (["S1", "P1"] if saw else ["P1", "S1"])
    target = Engine(PROGRAM, MemoryStore(), clock=ManualClock(T0 + timedelta(days=1)))
    summary = target.import_events(list(history.write(records)))
    assert not summary.rejected, summary.stopped
    for member in ("A", "C"):
        assert target.balance(member).total == source.balance(member).total
    decided = [engine.referrals("C").referred_by for engine in (source, target)]
    assert decided[0] is not None and decided[1] is not None
    assert decided[1].state is decided[0].state
