"""A store's history exported (enrollments, then its commands in commit order) and imported into
an empty store of another adapter leaves the same balances, lots, tiers and receipts; the same
file replayed by the what-if gives the points the store recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import Engine, Line, Program, Purchase, history, open_store
from loyalty.config import program_from_dict
from loyalty.errors import MemberErased, TransientStorageError
from loyalty.returns import Return, Returned
from loyalty.service.history_export import HistoryExport
from loyalty.store import Closing, Store, UnitOfWork
from loyalty.whatif import simulate
from tests.service.helpers import SILVER_AT_60, WatchedStore, lot_dates

#: A point a euro, a cake bonus, a survey bonus, points pending 14 days and expiring after a
#: year, tiers by balance.
PROGRAM = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "pending_days": 14,
        "expiry": {"policy": "lifetime", "months": 12},
        "rules": [
            {"kind": "product_bonus", "id": "cake", "points": 5, "skus": ["cake"]},
            {"kind": "event", "id": "survey", "event": "survey_completed", "points": 7},
        ],
        "tiers": SILVER_AT_60,
    }
)
T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
NOW = datetime(2024, 5, 20, tzinfo=UTC)
MEMBERS = ["M1", "M2", "M3"]


def _purchase(id: str, member: str, days: int, cakes: int, bread: int = 1) -> Purchase:
    lines = [Line("cake", cakes, Decimal("10.00"), "bakery"), Line("bread", bread, Decimal("2.35"))]
    return Purchase(id, member, T0 + timedelta(days=days), lines, "EUR", "S1", "S1-T2")


PURCHASES = [
    _purchase("T1", "M1", 1, 3),
    _purchase("T2", "M2", 2, 1, 4),
    _purchase("T3", "M1", 10, 2),
    _purchase("T4", "M3", 20, 1),
    _purchase("T5", "M2", 40, 4),
]


def _history(engine: Engine) -> None:
    """Every kind of command the history carries, in an order that is not the members'."""
    engine.enroll("M1", at=T0, birthday=date(1981, 2, 28), attributes={"segment": "student"},
                  identifiers=["card:1001"])  # fmt: skip
    engine.enroll("M2", at=T0)
    engine.enroll("M3", at=T0 + timedelta(days=5))
    engine.add_opening_balance("M3", 30, id="OB-M3", at=T0, expires_at=T0 + timedelta(days=500))
    for purchase in PURCHASES[:3]:
        engine.record_purchase(purchase)
    engine.record_return(Return("RT1", "T1", T0 + timedelta(days=12), [Returned("cake", 1)]))
    engine.redeem("M1", 20, id="X1", at=T0 + timedelta(days=30), reason="coffee")
    engine.record_event("M2", "survey_completed", id="SV1", at=T0 + timedelta(days=31))
    engine.adjust("M2", -3, id="A1", at=T0 + timedelta(days=32), reason="double scan", actor="staff-3")
    for purchase in PURCHASES[3:]:
        engine.record_purchase(purchase)
    engine.record_return(Return("RT2", "T4", T0 + timedelta(days=45)))  # a void


def _state(engine: Engine) -> list[Any]:
    return [
        (
            engine.balance(m),
            lot_dates(engine, m),
            engine.tier(m).tier.id,
            [i.key for i in engine.identifiers(m)],
        )
        for m in MEMBERS
    ]


def test_an_exported_history_imports_into_another_adapter_with_the_same_points_tiers_and_receipts(
    two_stores: tuple[Store, Store],
) -> None:
    from_store, other_store = two_stores
    source = Engine(PROGRAM, from_store, clock=lambda: NOW)
    _history(source)
    counts = HistoryExport()
    lines = list(history.write(source.export_history(page=2, counts=counts)))
    assert [json.loads(line)["type"] for line in lines[3:]] == [
        "opening_balance", "purchase", "purchase", "purchase", "return", "redemption", "event",
        "adjustment", "purchase", "purchase", "return",
    ]  # fmt: skip
    assert counts.written["purchase"] == 5
    assert not counts.skipped

    target = Engine(PROGRAM, other_store, clock=lambda: NOW)
    summary = target.import_events(lines)
    assert not summary.rejected
    assert _state(target) == _state(source)
    assert [s[2] for s in _state(target)] == ["silver", "silver", "member"]
    # A retry of each purchase in the new store is answered with the receipt the first store gave.
    for purchase in PURCHASES:
        assert target.record_purchase(purchase) == source.record_purchase(purchase)


#: Earns without tax, 9 points a sale on the web, triple on own-brand lines: what a sale's
#: channel and its lines' labels, discounts and taxes change.
DETAILED = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "tax": "exclusive",
        "rules": [
            {"kind": "purchase_bonus", "id": "web", "points": 9, "channels": ["web"]},
            {"kind": "multiplier", "id": "own-brand", "factor": "3", "labels": {"brand": ["own"]}},
        ],
    }
)


def _engines(program: Program, two_stores: tuple[Store, Store]) -> tuple[Engine, Engine]:
    """An engine on the first store with M1 enrolled, and one on the second, empty, to import into."""
    source, target = (Engine(program, store, clock=lambda: NOW) for store in two_stores)
    source.enroll("M1", at=T0)
    return source, target


def test_a_sales_channel_and_its_lines_labels_discounts_and_taxes_earn_the_same_once_imported(
    two_stores: tuple[Store, Store],
) -> None:
    source, target = _engines(DETAILED, two_stores)
    shirt = Line("shirt", 2, Decimal("20.00"), "apparel", {"brand": "own"}, Decimal("5.00"), Decimal("6.00"))
    sales = [
        Purchase("W1", "M1", T0 + timedelta(days=1), [shirt, Line("socks", 1, Decimal("4.00"))], "EUR",
                 channel="web"),
        Purchase("S1", "M1", T0 + timedelta(days=2), [shirt], "EUR", "S1"),
    ]  # fmt: skip
    receipts = [source.record_purchase(sale) for sale in sales]
    # (40 - 5 - 6) x 3 + 4 + 9 on the web, 29 x 3 in the store.
    assert [r.points for r in receipts] == [87 + 4 + 9, 87]
    lines = list(history.write(source.export_history()))

    assert not target.import_events(lines).rejected
    assert target.balance("M1") == source.balance("M1")
    assert [target.record_purchase(sale) for sale in sales] == receipts
    assert simulate(lines, DETAILED, DETAILED, until=NOW).current.figures.issued == 87 + 4 + 9 + 87


def test_a_redemption_keeps_its_reason_and_the_purchase_it_paid_for_whose_return_gives_it_back(
    two_stores: tuple[Store, Store],
) -> None:
    source, target = _engines(PROGRAM, two_stores)
    source.add_opening_balance("M1", 50, id="OB-M1", at=T0, expires_at=None)
    source.record_purchase(PURCHASES[0])
    source.redeem("M1", 20, id="X1", at=T0 + timedelta(days=1), reason="cake", purchase_id="T1")
    source.redeem("M1", 5, id="X2", at=T0 + timedelta(days=2), reason="coffee")
    lines = list(history.write(source.export_history()))
    # The purchase comes back in full in the new store: the 20 points it paid come back too.
    void = Return("RT1", "T1", T0 + timedelta(days=3))

    assert not target.import_events(lines).rejected
    assert source.record_return(void) == target.record_return(void)
    for engine in (source, target):
        spent = [(e.points, e.reason) for e in engine.history("M1") if e.kind.value in ("redeem", "refund")]
        assert spent[:2] == [(-20, "cake"), (-5, "coffee")]
        assert 20 in [points for points, _ in spent[2:]]
    assert target.balance("M1") == source.balance("M1")
    assert simulate(lines, PROGRAM, PROGRAM, until=NOW).current.figures.redeemed == 25


def test_an_exported_history_replays_under_the_current_program_to_the_points_recorded(
    any_store: Store,
) -> None:
    source = Engine(PROGRAM, any_store, clock=lambda: NOW)
    _history(source)
    lines = list(history.write(source.export_history()))

    found = simulate(lines, PROGRAM, PROGRAM, until=NOW)

    issued = sum(e.points for m in MEMBERS for e in source.history(m) if e.kind.value == "earn")
    assert found.current.figures.issued == issued
    assert found.current.figures.outstanding == sum(source.balance(m).total for m in MEMBERS)
    assert found.current.declined == 0


def test_an_erased_members_history_exports_under_its_pseudonym_without_its_personal_data() -> None:
    source = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    _history(source)
    source.adjust("M1", 4, id="A2", at=NOW, reason="goodwill for Ann", actor="bob")
    hidden = source.erase("M1", id="ERASE-1", at=NOW, reason="art. 17 request", actor="dpo").pseudonym

    records = [history.record_of(r) for r in source.export_history()]

    assert [r for r in records if r["member_id"] == "M1"] == []
    own = [r for r in records if r["member_id"] == hidden]
    assert own[0] == {"type": "enrollment", "id": f"ENR-{hidden}", "member_id": hidden,
                      "at": T0.isoformat(), "birthday": None}  # fmt: skip
    kinds = {"enrollment", "purchase", "return", "redemption", "adjustment", "status"}
    assert {r["type"] for r in own} == kinds
    assert own[-1] == {"type": "status", "id": "ERASE-1", "member_id": hidden, "at": NOW.isoformat(),
                       "status": "erased", "reason": "erased", "actor": "erased"}  # fmt: skip
    assert [(r["reason"], r["actor"]) for r in own if r["type"] == "adjustment"] == [("erased", "erased")]
    text = json.dumps(own)
    for personal in ("student", "1981", "card:1001", "Ann", "bob"):
        assert personal not in text
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    assert not target.import_events(history.write(source.export_history())).rejected
    # Erased there, erased here: its points stay as figures, and no command reaches it.
    assert target.member(hidden).status.value == "erased"
    assert target.balance(hidden) == source.balance(hidden)
    with pytest.raises(MemberErased):
        target.redeem(hidden, 1, id="X9", at=NOW)


def test_commands_without_a_record_type_are_counted_as_left_out() -> None:
    source = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    _history(source)
    source.hold("M2", 5, id="H1", at=NOW, ttl=timedelta(minutes=15))
    source.release("H1", at=NOW)  # its points back where they were: left out
    counts = HistoryExport()

    types = [history.record_of(r)["type"] for r in source.export_history(counts=counts)]

    assert counts.skipped == {"hold": 1}
    assert len(types) == sum(counts.written.values()) == 14


@pytest.mark.parametrize("page", [0, 10_001, True, "5"])
def test_a_history_export_page_out_of_range_is_refused(page: Any) -> None:
    engine = Engine(PROGRAM, open_store("memory://"))
    with pytest.raises(Exception, match="page"):
        next(engine.export_history(page=page))


class _DroppedOnce(Closing):
    """A store whose read of the ``n``-th command record fails once, as a dropped connection."""

    def __init__(self, inner: Store, n: int) -> None:
        self.inner, self.n, self.reads = inner, n, 0

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[UnitOfWork]:
        with self.inner.unit_of_work(readonly=readonly) as uow:
            operation = uow.operation

            def dropping(key: str) -> Any:
                self.reads += 1
                if self.reads == self.n:
                    raise TransientStorageError(None, "connection dropped (simulated)")
                return operation(key)

            uow.operation = dropping  # type: ignore[method-assign]
            yield uow

    def close(self) -> None:
        self.inner.close()


def test_a_page_read_again_after_a_dropped_connection_exports_every_command_once() -> None:
    store = open_store("memory://")
    _history(Engine(PROGRAM, store, clock=lambda: NOW))
    expected = [history.record_of(r) for r in Engine(PROGRAM, store).export_history(page=4)]

    again = [history.record_of(r) for r in Engine(PROGRAM, _DroppedOnce(store, 3)).export_history(page=4)]

    assert again == expected


def test_a_history_export_writes_each_page_before_reading_the_next() -> None:
    watched = WatchedStore(open_store("memory://"), "entries")
    _history(Engine(PROGRAM, watched, clock=lambda: NOW))
    watched.calls.clear()
    records = Engine(PROGRAM, watched).export_history(page=2)

    while history.record_of(next(records))["type"] == "enrollment":
        pass

    assert watched.calls == [("entries", ())]
    assert len(list(records)) == 10
    assert len(watched.calls) > 5
