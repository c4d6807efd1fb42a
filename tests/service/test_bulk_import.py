"""A bulk import gives every event the outcome of its own engine call, on every adapter, once."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import Engine, Line, LoyaltyError, Purchase, TimeGuards, history, open_store
from loyalty.config import program_from_dict
from loyalty.returns import Return, Returned
from loyalty.service.importing import Rejected
from loyalty.store import Store
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.clock import ManualClock
from tests.pg import postgres_dsn, store_schema_url

#: Every kind of thing an import must get right: sign-up and first-purchase bonuses, a capped
#: multiplier, a budget shared by all members, a monthly event limit, tiers with an entry bonus
#: and a lifetime expiry.
PROGRAM = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "timezone": "Europe/Amsterdam",
        "expiry": {"policy": "lifetime", "months": 12},
        "tiers": {
            "levels": [
                {"id": "member", "name": "Member"},
                {"id": "silver", "name": "Silver", "threshold": "60", "multiplier": "1.25", "bonus": 5},
            ]
        },
        "rules": [
            {"kind": "first_purchase", "id": "welcome", "points": 10},
            {"kind": "multiplier", "id": "fresh", "factor": "2", "categories": ["fresh"], "cap": 30,
             "cap_period": "month"},
            {"kind": "product_bonus", "id": "launch", "points": 20, "skus": ["oat"], "budget": 50},
            {"kind": "event", "id": "survey", "event": "survey_completed", "points": 7, "limit": 1,
             "limit_period": "month"},
            {"kind": "event", "id": "signup", "event": "enrolled", "points": 3},
        ],
    }
)  # fmt: skip
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
#: The engine clock: after every event, the same for both engines (recorded_at alike).
NOW = datetime(2024, 9, 1, tzinfo=UTC)
#: PROGRAM as an engine that accepts activity before enrollment runs it.
OLD_HISTORY = attrs.evolve(PROGRAM, time_guards=TimeGuards(before_enrollment="accept"))
MEMBERS = ("A", "B", "C")
PRODUCTS = (("bread", None, "2.50"), ("apple", "fresh", "4.00"), ("oat", None, "9.99"))

_runs = itertools.count()


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two fresh stores of one adapter: one imports, the other is called once per event."""
    drops: list[Callable[[], None]] = []

    def one(name: str) -> Store:
        if request.param == "memory":
            return open_store("memory://")
        if request.param == "sqlite":
            return SQLiteStore(tmp_path / f"{name}.db", synchronous="normal")
        url, drop = store_schema_url(postgres_dsn())
        drops.append(drop)
        return open_store(url)

    stores = (one("imported"), one("called"))
    yield stores
    for store in stores:
        store.close()
    for drop in drops:
        drop()


# -- a history --------------------------------------------------------------------------------

_member = st.sampled_from(MEMBERS)
_action = st.one_of(
    st.tuples(st.just("enroll"), _member, st.booleans()),
    st.tuples(st.just("purchase"), _member, st.lists(st.integers(0, 2), min_size=1, max_size=3)),
    st.tuples(st.just("purchase"), _member, st.lists(st.integers(0, 2), min_size=1, max_size=3)),
    st.tuples(st.just("return"), st.integers(0, 20), st.one_of(st.none(), st.integers(1, 2))),
    st.tuples(st.just("redeem"), _member, st.integers(1, 40)),
    st.tuples(st.just("adjust"), _member, st.integers(-20, 20).filter(bool)),
    st.tuples(st.just("event"), _member, st.booleans()),
    st.tuples(st.just("opening"), _member, st.integers(1, 80)),
    st.tuples(st.just("again"), st.integers(0, 20), st.booleans()),
)


def _history(actions: list[tuple[Any, ...]], run: int) -> list[history.Event]:
    """The events ``actions`` describe, with ids and members of their own for this ``run``."""
    events: list[history.Event] = []
    sales: list[Purchase] = []
    for i, (kind, first, second) in enumerate(actions):
        at, key = START + timedelta(days=3 * i, hours=i % 5), f"R{run}-{i}"
        member = f"R{run}-{first}"
        if kind == "enroll":
            keys = (f"card:{run}0{MEMBERS.index(first)}",) if second else ()
            events.append(history.Enrollment(f"ENR-{member}", member, at, identifiers=keys))
        elif kind == "purchase":
            lines = [Line(PRODUCTS[p][0], 1, Decimal(PRODUCTS[p][2]), PRODUCTS[p][1]) for p in second]
            sales.append(Purchase(key, member, at, lines, "EUR"))
            events.append(history.Sale(sales[-1]))
        elif kind == "return" and sales:
            sold = sales[first % len(sales)]
            returned = None if second is None else [Returned(sold.lines[0].sku, second)]
            events.append(history.SaleReturn(sold.member_id, Return(key, sold.id, at, returned)))
        elif kind == "redeem":
            events.append(history.Redemption(key, member, second, at))
        elif kind == "adjust":
            events.append(history.Adjustment(key, member, second, at, "goodwill", "staff-1"))
        elif kind == "event":
            properties = {"score": 5} if second else {}
            events.append(history.CustomEvent(key, member, "survey_completed", at, properties))
        elif kind == "opening":
            events.append(
                history.OpeningBalance(key, member, second, at - timedelta(days=90), at + timedelta(days=200))
            )
        elif kind == "again" and events:
            # A retry of an earlier event, or (for a purchase) the same id for another sale.
            earlier = events[first % len(events)]
            if second and isinstance(earlier, history.Sale):
                changed = Purchase(earlier.id, earlier.member_id, at, earlier.purchase.lines, "EUR")
                events.append(history.Sale(changed))
            else:
                events.append(earlier)
    return events


def _state(engine: Engine, members: list[str]) -> list[Any]:
    """What the two engines must agree on, member by member. Entries and lots are numbered by
    their order: a batch rolled back on PostgreSQL leaves a gap in the sequence behind it."""
    found: list[Any] = []
    entries = {m: engine.history(m) for m in members if _known(engine, m)}
    rank = {
        e.seq: i
        for i, e in enumerate(sorted((e for es in entries.values() for e in es), key=lambda e: e.seq))
    }
    for member in members:
        if member not in entries:
            found.append((member, None))
            continue
        history_ = [
            attrs.evolve(e, seq=rank[e.seq], draws=tuple((rank[lot], p) for lot, p in e.draws),
                         redates=tuple((rank[lot], at) for lot, at in e.redates))
            for e in entries[member]
        ]  # fmt: skip
        lots = [attrs.evolve(lot, id=rank[lot.id]) for lot in engine.lots(member)]
        found.append((member, engine.balance(member), lots, history_, engine.tier(member)))
        found.append(engine.identifiers(member))
    mine = [e for e in engine.events(limit=10_000) if e.member_id in members]
    found.append([(e.kind, e.member_id, e.data) for e in mine])
    return found


def _known(engine: Engine, member: str) -> bool:
    try:
        engine.member(member)
    except LoyaltyError:
        return False
    return True


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=st.lists(_action, min_size=1, max_size=14), batch=st.integers(1, 6))
def test_an_import_is_one_engine_call_per_event(
    two_stores: tuple[Store, Store], actions: list[tuple[Any, ...]], batch: int
) -> None:
    run = next(_runs)
    events = _history(actions, run)
    # An import accepts activity before enrollment whatever the program says; the calls it is
    # compared with (and the replays of its sales) run where the program accepts it too.
    imported = Engine(OLD_HISTORY, two_stores[0], clock=lambda: NOW)
    # An import judges each event at its own time (when that is before the engine's): each call
    # it is compared with is made with the engine's clock there.
    clock = ManualClock(NOW)
    called = Engine(OLD_HISTORY, two_stores[1], clock=clock)
    rejects: list[Rejected] = []
    summary = imported.import_events(events, batch_size=batch, on_error="skip", on_reject=rejects.append)

    refused = []
    for number, event in enumerate(events, start=1):
        try:
            clock.now = min(event.at, NOW)
            _call(called, event)
        except LoyaltyError as exc:
            refused.append((number, exc.field, type(exc).__name__))
    clock.now = NOW
    assert [(r.line, r.field, r.error) for r in rejects] == refused
    assert summary.total_rejected == len(refused)
    assert summary.total_applied + summary.total_already + summary.total_rejected == len(events)

    members = [f"R{run}-{m}" for m in MEMBERS]
    assert _state(imported, members) == _state(called, members)
    for event in events:
        if isinstance(event, history.Sale):
            assert _receipt(imported, event) == _receipt(called, event)

    # Run again: what was applied is a retry of itself; what was refused may pass now (an
    # adjustment before its member's enrollment), exactly as calling the engine again would.
    before = _state(imported, members)
    again = imported.import_events(events, batch_size=batch, on_error="skip")
    assert again.total_already >= summary.total_applied + summary.total_already
    for event in events:
        clock.now = min(event.at, NOW)
        with contextlib.suppress(LoyaltyError):
            _call(called, event)
    clock.now = NOW
    assert _state(imported, members) == _state(called, members)
    if not refused:
        assert again.total_applied == 0
        assert _state(imported, members) == before


def _receipt(engine: Engine, sale: history.Sale) -> object:
    """The receipt the engine gives a retry of ``sale`` (or why it refuses it)."""
    try:
        return engine.record_purchase(sale.purchase)
    except LoyaltyError as exc:
        return type(exc).__name__, exc.field


def _call(engine: Engine, event: history.Event) -> None:
    """``event`` as a till or a migration script would send it: one engine call."""
    if isinstance(event, history.Sale):
        engine.record_purchase(event.purchase)
    elif isinstance(event, history.Enrollment):
        engine.enroll(event.member_id, at=event.at, identifiers=event.identifiers or None)
    elif isinstance(event, history.SaleReturn):
        engine.record_return(event.returned)
    elif isinstance(event, history.Redemption):
        engine.redeem(event.member_id, event.points, id=event.id, at=event.at)
    elif isinstance(event, history.Adjustment):
        engine.adjust(event.member_id, event.points, id=event.id, at=event.at, reason=event.reason,
                      actor=event.actor)  # fmt: skip
    elif isinstance(event, history.CustomEvent):
        engine.record_event(
            event.member_id, event.name, id=event.id, at=event.at, properties=event.properties
        )
    else:
        assert isinstance(event, history.OpeningBalance)
        engine.add_opening_balance(
            event.member_id, event.points, id=event.id, at=event.at, expires_at=event.expires_at
        )
