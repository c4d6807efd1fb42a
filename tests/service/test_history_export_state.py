"""A history export carries, through the commands that made it, the state a program keeps beside
the points: a debt a return left under ``clawback = "negative"``, a rule's per-member cap per
period, and tier progress under the ``points`` and ``spend`` metrics. Imported into an empty
store of another adapter, every member looks as it did, and the next purchase earns the same."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import AlreadyReturned, Engine, Line, Program, Purchase, history, open_store
from loyalty.config import program_from_dict
from loyalty.earning_keys import visits_key
from loyalty.habits import seen_key
from loyalty.returns import Return, debt_key, owed_key
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from tests.service.helpers import lot_dates

T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
NOW = datetime(2024, 3, 20, 12, tzinfo=UTC)
MEMBERS = ["M1", "M2"]


def _sale(id: str, member: str, days: int, amount: str, sku: str = "cake") -> Purchase:
    return Purchase(id, member, T0 + timedelta(days=days), [Line(sku, 1, Decimal(amount))], "EUR")


def _buy(engine: Engine, clock: ManualClock, id: str, member: str, days: int, amount: str) -> None:
    """A till's purchase of ``amount`` EUR of cake, ``days`` after T0, the engine's clock following."""
    clock.catch_up(T0 + timedelta(days=days))
    engine.record_purchase(_sale(id, member, days, amount))


def _view(engine: Engine, keys: Callable[[str], list[str]]) -> list[Any]:
    """Every member in full: as a member export sees it (status, tier state, own tallies, lots),
    its balance, lots with their dates (debts too), tier standing, ledger, and the tallies
    ``keys`` names (caps, tier metrics), which no other view shows."""
    exported = [{k: v for k, v in history.record_of(r).items() if k != "id"} for r in engine.export_members()]
    view: list[Any] = [exported]
    for member in MEMBERS:
        with engine.store.unit_of_work(readonly=True) as uow:
            tallies = uow.tallies(keys(member))
        entries = [
            (e.kind.value, e.points, e.reason, e.occurred_at, e.source_id, e.rules)
            for e in engine.history(member)
        ]
        tier = engine.tier(member) if engine.program.tiers is not None else None
        view.append((engine.balance(member), lot_dates(engine, member), tier, entries, tallies))
    return view


def _round_trip(program: Program, source: Engine, store: Store, clock: ManualClock | None = None) -> Engine:
    """``source``'s history imported into ``store``, by an engine whose clock is ``clock`` (NOW)."""
    lines = list(history.write(source.export_history()))
    target = Engine(program, store, clock=clock or ManualClock(NOW))
    summary = target.import_events(lines)
    assert not summary.rejected, summary.stopped
    # Each purchase retried in the new store is answered with the receipt the first store gave.
    for sale in (r.purchase for r in source.export_history() if isinstance(r, history.Sale)):
        assert target.record_purchase(sale) == source.record_purchase(sale)
    return target


def _source(
    program: Program,
    store: Store,
    commands: Callable[[Engine, ManualClock], None],
    clock: ManualClock | None = None,
) -> Engine:
    """An engine on ``store`` whose clock (``clock``) follows the tills' (as in a shop), M1 and M2
    enrolled, after ``commands``; its clock is NOW at the end."""
    clock = clock or ManualClock(T0)
    engine = Engine(program, store, clock=clock)
    for member in MEMBERS:
        engine.enroll(member, at=T0)
    commands(engine, clock)
    clock.catch_up(NOW)
    return engine


def _next_purchase_earns_the_same(source: Engine, target: Engine, sale: Purchase) -> int:
    earned = [engine.record_purchase(sale) for engine in (source, target)]
    assert earned[0] == earned[1]
    assert target.balance(sale.member_id) == source.balance(sale.member_id)
    if source.program.tiers is not None:
        assert target.tier(sale.member_id) == source.tier(sale.member_id)
    return earned[0].points


# -- a debt under clawback = "negative" ---------------------------------------------------------

NEGATIVE = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "clawback": "negative",
        "expiry": {"policy": "lifetime", "months": 12},
    }
)


def _owing(member: str) -> list[str]:
    """What a return left the member owing: its debt below zero, or owed from later credits."""
    return [debt_key(member), owed_key(member)]


def _spent_then_returned(engine: Engine, clock: ManualClock) -> None:
    _buy(engine, clock, "T1", "M1", 1, "30.00")
    _buy(engine, clock, "T2", "M2", 1, "10.00")
    engine.redeem("M1", 25, id="X1", at=clock.catch_up(T0 + timedelta(days=2)))
    # The purchase comes back after its points were spent: 25 of its 30 are a debt below zero.
    clock.catch_up(T0 + timedelta(days=3))
    assert engine.record_return(Return("RT1", "T1", T0 + timedelta(days=3))).taken_back == 30


def test_a_debt_a_return_left_under_negative_clawback_is_owed_the_same_once_imported(
    two_stores: tuple[Store, Store],
) -> None:
    from_store, other_store = two_stores
    source = _source(NEGATIVE, from_store, _spent_then_returned)
    assert source.balance("M1").total == -25
    assert [lot[0] for lot in lot_dates(source, "M1")] == [-25]
    with source.store.unit_of_work(readonly=True) as uow:
        assert uow.tallies([debt_key("M1")])[debt_key("M1")].points == 25

    target = _round_trip(NEGATIVE, source, other_store)

    assert _view(target, _owing) == _view(source, _owing)
    # The next purchase repays the debt first, in both stores.
    assert _next_purchase_earns_the_same(source, target, _sale("T3", "M1", 19, "40.00")) == 40
    assert target.balance("M1").total == 15
    assert _view(target, _owing) == _view(source, _owing)


# -- a rule's per-member cap per period ----------------------------------------------------------

CAPPED = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "rules": [
            {"kind": "purchase_bonus", "id": "visit", "points": 10, "cap": 25, "cap_period": "month"},
            {
                "kind": "product_bonus",
                "id": "cake",
                "points": 4,
                "skus": ["cake"],
                "cap": 6,
                "cap_period": "day",
            },
        ],
    }
)


def _cap_keys(member: str) -> list[str]:
    return [f"cap|visit|2024-03|{member}", f"cap|cake|2024-03-20|{member}", f"cap|cake|2024-03-02|{member}"]


def _used_part_of_the_caps(engine: Engine, clock: ManualClock) -> None:
    for i, (member, days) in enumerate([("M1", 1), ("M1", 1), ("M2", 5), ("M1", 10)]):
        _buy(engine, clock, f"T{i}", member, days, "5.00")
    # A purchase on the last day: the cake cap of that day is in use when the import runs.
    clock.catch_up(NOW)
    engine.record_purchase(Purchase("T8", "M1", NOW, [Line("cake", 1, Decimal("5.00"))], "EUR"))


def test_a_rules_cap_per_period_is_as_used_once_imported(two_stores: tuple[Store, Store]) -> None:
    from_store, other_store = two_stores
    source = _source(CAPPED, from_store, _used_part_of_the_caps)
    with source.store.unit_of_work(readonly=True) as uow:
        assert uow.tallies(["cap|visit|2024-03|M1"])["cap|visit|2024-03|M1"].points == 25

    target = _round_trip(CAPPED, source, other_store)

    assert _view(target, _cap_keys) == _view(source, _cap_keys)
    # The month's visit bonus is used up, the day's cake bonus has 2 left: 5 + 0 + 2.
    sale = Purchase("T9", "M1", NOW, [Line("cake", 1, Decimal("5.00"))], "EUR")
    assert _next_purchase_earns_the_same(source, target, sale) == 5 + 2
    # M2 has 15 of the month's visit bonus left.
    sale = Purchase("T10", "M2", NOW, [Line("bread", 1, Decimal("5.00"))], "EUR")
    assert _next_purchase_earns_the_same(source, target, sale) == 5 + 10


# -- tier progress under the points and spend metrics ----------------------------------------------


def _tiered(metric: str, threshold: str) -> Program:
    """Silver at ``threshold`` of ``metric`` over the calendar year, reviewed on 1 January."""
    levels = [
        {"id": "member", "name": "Member"},
        {"id": "silver", "name": "Silver", "threshold": threshold, "multiplier": "2", "bonus": 3},
    ]
    tiers = {
        "metric": metric,
        "window": "calendar_year",
        "downgrade": "review",
        "review": "fixed",
        "review_on": "01-01",
        "levels": levels,
    }
    return program_from_dict({"name": "Club", "currency": "EUR", "tiers": tiers})


def _tier_keys(member: str) -> list[str]:
    return [f"tier|{metric}|2024|{member}" for metric in ("points", "spend")]


def _partway_to_silver(engine: Engine, clock: ManualClock) -> None:
    for i, (member, days, amount) in enumerate([("M1", 1, "30.00"), ("M2", 2, "80.00"), ("M1", 4, "25.00")]):
        _buy(engine, clock, f"T{i}", member, days, amount)
    clock.catch_up(T0 + timedelta(days=6))
    engine.record_return(Return("RT1", "T2", T0 + timedelta(days=6)))  # M1's progress goes back to 30


def test_tier_progress_under_the_points_metric_carries_on_once_imported(
    two_stores: tuple[Store, Store],
) -> None:
    program = _tiered("points", "60")
    from_store, other_store = two_stores
    clocks = ManualClock(T0), ManualClock(NOW)
    source = _source(program, from_store, _partway_to_silver, clocks[0])
    assert [source.tier(m).tier.id for m in MEMBERS] == ["member", "silver"]

    target = _round_trip(program, source, other_store, clocks[1])

    assert _view(target, _tier_keys) == _view(source, _tier_keys)
    # 30 more points reach silver (at the member rate, and its entry bonus), in both stores.
    assert _next_purchase_earns_the_same(source, target, _sale("T9", "M1", 19, "30.00")) == 30
    assert target.tier("M1").tier.id == "silver"
    assert _next_purchase_earns_the_same(source, target, _sale("T10", "M2", 19, "10.00")) == 20
    # The next review (1 January) measures the year the history made, in both stores.
    review = datetime(2025, 1, 1, 1, tzinfo=UTC)
    for clock in clocks:
        clock.catch_up(review)
    assert target.run_due() == source.run_due()
    assert _view(target, _tier_keys) == _view(source, _tier_keys)
    later = Purchase("T11", "M1", review, [Line("cake", 1, Decimal("10.00"))], "EUR")
    assert _next_purchase_earns_the_same(source, target, later) == 20


def test_tier_progress_under_the_spend_metric_carries_on_once_imported(
    two_stores: tuple[Store, Store],
) -> None:
    program = _tiered("spend", "60.00")
    from_store, other_store = two_stores
    source = _source(program, from_store, _partway_to_silver)
    assert [source.tier(m).value for m in MEMBERS] == [Decimal("30.00"), Decimal("80.00")]

    target = _round_trip(program, source, other_store)

    assert _view(target, _tier_keys) == _view(source, _tier_keys)
    assert _next_purchase_earns_the_same(source, target, _sale("T9", "M1", 19, "30.00")) == 30
    assert target.tier("M1").tier.id == "silver"


def _visits_too(member: str) -> list[str]:
    """The tier metrics, and the member's visits and first and last visit (habit rules)."""
    return [*_tier_keys(member), visits_key(member), seen_key(member)]


def test_a_purchase_that_earned_nothing_is_spend_toward_the_tier_once_imported(
    two_stores: tuple[Store, Store],
) -> None:
    small = _sale("T5", "M1", 8, "0.50")  # too small to earn a point: a visit and spend all the same

    def small_purchase_too(engine: Engine, clock: ManualClock) -> None:
        _partway_to_silver(engine, clock)
        clock.catch_up(small.at)
        assert engine.record_purchase(small).points == 0

    program = _tiered("spend", "60.00")
    from_store, other_store = two_stores
    source = _source(program, from_store, small_purchase_too)
    assert source.tier("M1").value == Decimal("30.50")
    # It wrote no entry, and is exported all the same, in its place: after the return before it.
    records = [r.id for r in source.export_history() if not isinstance(r, history.Enrollment)]
    assert records == ["T0", "T1", "T2", "RT1", "T5"]

    target = _round_trip(program, source, other_store)

    assert target.tier("M1").value == Decimal("30.50")
    assert _view(target, _visits_too) == _view(source, _visits_too)
    # Retried in the new store, it is answered with the first store's receipt, and counted once.
    receipt = source.record_purchase(small)
    assert target.record_purchase(small) == receipt
    assert receipt.points == 0
    assert _view(target, _visits_too) == _view(source, _visits_too)
    # 29.50 more reaches silver in both stores (60.00 of spend), no sooner.
    assert _next_purchase_earns_the_same(source, target, _sale("T9", "M1", 19, "29.50")) == 29
    assert target.tier("M1").tier.id == "silver"


def test_a_purchase_that_earned_nothing_keeps_its_place_beside_a_status_change_at_one_instant() -> None:
    """A clock that stood still: a purchase is made while its member is active, so it goes
    before an erasure recorded at the same instant, and after a reinstatement (or before the
    suspension it ended)."""
    program = _tiered("spend", "60.00")
    source = Engine(program, open_store("memory://"), clock=ManualClock(T0))
    for member in MEMBERS:
        source.enroll(member, at=T0)
    small = [
        Purchase(f"S{i}", m, T0, [Line("gum", 1, Decimal("0.50"))], "EUR") for i, m in enumerate(MEMBERS)
    ]
    source.change_status("M1", "suspended", id="ST1", at=T0, reason="check", actor="ops")
    source.change_status("M1", "active", id="ST2", at=T0, reason="checked", actor="ops")
    assert source.record_purchase(small[0]).points == 0
    assert source.record_purchase(small[1]).points == 0
    source.erase("M2", id="ER1", at=T0, reason="asked", actor="ops")
    records = [r.id for r in source.export_history() if not isinstance(r, history.Enrollment)]
    # Each purchase goes where its member was active: before the erasure, and not between the
    # suspension and the reinstatement (M1's changes do not hold M2's purchase back).
    assert records in (
        ["ST1", "ST2", "S0", "S1", "ER1"],
        ["S0", "S1", "ST1", "ST2", "ER1"],
        ["S0", "ST1", "ST2", "S1", "ER1"],
    )
    target = Engine(program, open_store("memory://"), clock=ManualClock(T0))
    summary = target.import_events(list(history.write(source.export_history())))
    assert not summary.rejected, summary.stopped
    assert target.tier("M1").value == Decimal("0.50")


def test_a_return_that_took_nothing_back_is_exported_and_stays_returned(
    two_stores: tuple[Store, Store],
) -> None:
    """The member spent the points, then brought the goods back: the void took nothing, but the
    purchase is returned and its visit undone, in the new store too."""
    welcome = {"kind": "first_purchase", "id": "welcome", "points": 10}
    program = program_from_dict({"name": "Club", "currency": "EUR", "rules": [welcome]})

    def spent_then_voided(engine: Engine, clock: ManualClock) -> None:
        _buy(engine, clock, "T1", "M1", 1, "20.00")
        engine.redeem("M1", 30, id="D1", at=clock.catch_up(T0 + timedelta(days=2)))
        clock.catch_up(T0 + timedelta(days=3))
        assert engine.record_return(Return("V1", "T1", T0 + timedelta(days=3))).taken_back == 0

    from_store, other_store = two_stores
    source = _source(program, from_store, spent_then_voided)
    records = [r.id for r in source.export_history() if not isinstance(r, history.Enrollment)]
    assert records == ["T1", "D1", "V1"]

    target = _round_trip(program, source, other_store)

    assert _view(target, _visits_too) == _view(source, _visits_too)
    # The void gave the visit back: the next purchase is a first one again in both stores (the
    # welcome paid with it), and the voided one cannot be returned twice.
    assert _next_purchase_earns_the_same(source, target, _sale("T2", "M1", 4, "20.00")) == 30
    for engine in (source, target):
        with pytest.raises(AlreadyReturned):
            engine.record_return(Return("V2", "T1", NOW))
