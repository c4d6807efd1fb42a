"""Returns and voids through the engine, with exact numbers, on every adapter."""

from __future__ import annotations

import decimal
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import (
    AlreadyReturned,
    Balance,
    EarnRate,
    Engine,
    EntryKind,
    FirstPurchase,
    IdempotencyConflict,
    InsufficientPoints,
    Line,
    LoyaltyError,
    Multiplier,
    Program,
    Purchase,
    PurchaseBonus,
    ReturnPolicy,
    ReturnReceipt,
    SpendRule,
    open_store,
)
from loyalty.lots import lots_of
from loyalty.returns import Clawback, Return, Returned
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from tests.pg import postgres_dsn, store_schema_url

T0 = datetime(2024, 6, 3, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def club(**options: object) -> Program:
    rules = [PurchaseBonus(id="big-basket", points=50, min_amount=Decimal("100.00"))]
    return Program("Club", "EUR", rules=rules, **options)  # type: ignore[arg-type]


def sale(key: str, *lines: tuple[str, int, str], member: str = "M1", at: datetime = T0) -> Purchase:
    return Purchase(key, member, at, [Line(sku, qty, Decimal(price)) for sku, qty, price in lines], "EUR")


def engine_for(store: Store, clock: ManualClock, program: Program | list[Program]) -> Engine:
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=T0 - timedelta(days=30))
    return engine


def history_kinds(engine: Engine) -> list[tuple[EntryKind, int]]:
    return [(entry.kind, entry.points) for entry in engine.history("M1")]


def test_a_return_takes_back_what_the_rest_no_longer_earns(store: Store, clock: ManualClock) -> None:
    engine = engine_for(store, clock, club())
    assert engine.record_purchase(sale("P1", ("shirt", 2, "60.00"), ("socks", 1, "5.00"))).points == 175
    first = engine.record_return(Return("R1", "P1", T0, (Returned("shirt", 1),)))
    # 65.00 left earns 65 and no longer reaches the 100.00 bonus: 175 - 65 = 110 back.
    assert (first.earned, first.now_earns, first.taken_back, first.void) == (175, 65, 110, False)
    assert first.balance_after == 65 == engine.balance("M1").available
    second = engine.record_return(Return("R2", "P1", T0, (Returned("socks", 1),)))
    assert (second.now_earns, second.taken_back) == (60, 5)
    void = engine.record_return(Return("R3", "P1", T0))
    assert (void.void, void.now_earns, void.taken_back, void.balance_after) == (True, 0, 60, 0)
    assert 110 + 5 + 60 == 175  # never more than the purchase earned
    with pytest.raises(AlreadyReturned) as info:
        engine.record_return(Return("R4", "P1", T0))
    assert info.value.field == "purchase_id"
    assert engine.lots("M1") == lots_of(engine.history("M1"))


def test_a_void_takes_back_the_welcome_and_gives_the_visit_back(store: Store, clock: ManualClock) -> None:
    engine = engine_for(store, clock, Program("Club", "EUR", rules=[FirstPurchase(id="welcome", points=50)]))
    assert engine.record_purchase(sale("P1", ("cake", 2, "5.00"))).points == 60
    partial = engine.record_purchase(sale("P2", ("cake", 2, "10.00")))
    assert partial.points == 20
    # Returning part of the first purchase keeps its welcome: it is still the first purchase.
    assert engine.record_return(Return("R0", "P1", T0, (Returned("cake", 1),))).taken_back == 5
    engine.record_return(Return("R1", "P2", T0))
    void = engine.record_return(Return("R2", "P1", T0))
    assert void.taken_back == 55
    assert engine.balance("M1") == Balance(available=0)
    # Both purchases are gone: the next one is the member's first again.
    assert engine.record_purchase(sale("P3", ("cake", 1, "10.00"))).points == 60


def kept_context(store: Store, key: str) -> dict[str, tuple[int, str]]:
    """The tallies purchase ``key`` keeps for its returns (JSON gives lists back: made tuples)."""
    with store.unit_of_work(readonly=True) as uow:
        found = uow.operation(key)
    assert found is not None
    context = found.result["context"]
    assert isinstance(context, dict)
    return {name: tuple(pair) for name, pair in context.items()}


def test_a_purchase_keeps_for_its_returns_only_the_tallies_its_rules_read(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(store, clock, club())
    engine.record_purchase(sale("P1", ("shirt", 1, "60.00")))
    engine.record_purchase(sale("P2", ("shirt", 1, "60.00"), at=clock.catch_up(T0 + timedelta(days=1))))
    # The visit count, which first-purchase rules read; not the habits or what is owed.
    assert kept_context(store, "P2") == {"visits|M1": (1, "0")}


def test_a_return_sees_the_last_visit_a_win_back_rule_read(store: Store, clock: ManualClock) -> None:
    back = PurchaseBonus(id="welcome-back", points=50, absent_days=30)
    engine = engine_for(store, clock, Program("Club", "EUR", rules=[back]))
    engine.record_purchase(sale("P1", ("cake", 1, "10.00")))
    later = T0 + timedelta(days=30)
    clock.now = later
    assert engine.record_purchase(sale("P2", ("cake", 2, "10.00"), at=later)).points == 70
    assert "seen|M1" in kept_context(store, "P2")
    clock.now = later + timedelta(days=1)
    engine.record_purchase(sale("P3", ("cake", 1, "10.00"), at=clock.now))
    # What is left of P2 still came 30 days after the last visit: the bonus stays.
    assert engine.record_return(Return("R1", "P2", clock.now, (Returned("cake", 1),))).taken_back == 10


def test_caps_stay_right_after_a_return(store: Store, clock: ManualClock) -> None:
    capped = Program("Club", "EUR", rate=None, rules=[SpendRule(id="spend", points=1, cap_per_purchase=100)])
    engine = engine_for(store, clock, capped)
    assert engine.record_purchase(sale("P1", ("tv", 1, "250.00"), ("cable", 1, "30.00"))).points == 100
    returned = engine.record_return(Return("R1", "P1", T0, (Returned("cable", 1),)))
    assert (returned.now_earns, returned.taken_back) == (100, 0)
    assert engine.record_return(Return("R2", "P1", T0)).taken_back == 100


def test_a_void_gives_a_cap_and_a_budget_back_to_the_last_digit(store: Store, clock: ManualClock) -> None:
    # 20.00 at 1 point per 3.00 counts 6.666... towards the cap and the budget; the void takes back
    # exactly that, whatever the caller's decimal context rounds to or traps (it rounded to 28
    # digits, leaving -3.3E-28 that a full cap then read as room).
    fuel = SpendRule(id="fuel", points=1, per=Decimal("3.00"), cap=10, cap_period="month", budget=1000)
    engine = engine_for(store, clock, Program("Fuel", "EUR", rate=None, rules=[fuel]))
    engine.record_purchase(sale("A", ("fuel", 1, "20.00")))
    with decimal.localcontext() as caller:
        caller.traps[decimal.Inexact] = True
        engine.record_return(Return("VA", "A", T0))
    keys = ["cap|fuel|2024-06|M1", "budget|fuel"]
    with store.unit_of_work(readonly=True) as uow:
        assert [tally.points for tally in uow.tallies(keys).values()] == [0, 0]
    engine.record_purchase(sale("B", ("fuel", 1, "30.00")))
    explained = engine.explain(sale("C", ("fuel", 1, "30.00")))
    assert (explained.points, [(s.rule, s.reason) for s in explained.skipped]) == (
        0,
        [("fuel", "cap of 10/month reached")],
    )


def test_a_return_in_the_window_takes_from_pending_points_first(store: Store, clock: ManualClock) -> None:
    engine = engine_for(store, clock, club(pending_days=14))
    engine.adjust("M1", 100, id="A1", at=T0, reason="welcome", actor="staff")
    engine.record_purchase(sale("P1", ("lamp", 2, "20.00")))
    assert engine.balance("M1") == Balance(available=100, pending=40)
    engine.record_return(Return("R1", "P1", T0, (Returned("lamp", 1),)))
    assert engine.balance("M1") == Balance(available=100, pending=20)
    taken = engine.history("M1")[-1]
    assert (taken.kind, taken.points, taken.draws[0][0]) == (EntryKind.RETURN, -20, taken.seq - 1)


def test_points_paid_for_returned_goods_come_back_in_proportion(store: Store, clock: ManualClock) -> None:
    engine = engine_for(store, clock, Program("Club", "EUR", rate=None))
    engine.adjust("M1", 200, id="A1", at=T0, reason="welcome", actor="staff")
    engine.record_purchase(sale("P1", ("chair", 2, "50.00")))
    engine.redeem("M1", 150, id="R0", at=T0, purchase_id="P1")
    half = engine.record_return(Return("R1", "P1", T0, (Returned("chair", 1),)))
    assert (half.refunded, half.taken_back, half.balance_after) == (75, 0, 125)
    rest = engine.record_return(Return("R2", "P1", T0))
    assert (rest.refunded, rest.balance_after) == (75, 200)
    with pytest.raises(AlreadyReturned):  # nothing left to pay for
        engine.redeem("M1", 10, id="R3", at=T0, purchase_id="P1")
    assert engine.balance("M1") == Balance(available=200)
    assert [kind for kind, _ in history_kinds(engine)][-2:] == [EntryKind.REFUND, EntryKind.REFUND]


def spent_then_voided(store: Store, clock: ManualClock, clawback: Clawback) -> Engine:
    engine = engine_for(store, clock, Program("Club", "EUR", clawback=clawback))
    engine.record_purchase(sale("P1", ("bike", 1, "100.00")))
    engine.redeem("M1", 90, id="R0", at=T0)
    return engine


def test_a_void_after_the_points_were_spent_clamps_at_zero(store: Store, clock: ManualClock) -> None:
    engine = spent_then_voided(store, clock, Clawback.CLAMP)
    void = engine.record_return(Return("V1", "P1", T0))
    assert (void.taken_back, void.uncollected, void.owed, void.balance_after) == (10, 90, 0, 0)
    assert history_kinds(engine)[-1] == (EntryKind.RETURN, -10)
    assert engine.record_purchase(sale("P2", ("bell", 1, "30.00"))).points == 30
    assert engine.balance("M1") == Balance(available=30)


def test_a_void_after_the_points_were_spent_can_go_negative(store: Store, clock: ManualClock) -> None:
    engine = spent_then_voided(store, clock, Clawback.NEGATIVE)
    void = engine.record_return(Return("V1", "P1", T0))
    assert (void.taken_back, void.uncollected, void.balance_after) == (100, 0, -90)
    assert engine.balance("M1") == Balance(available=-90)
    (debt,) = engine.lots("M1")
    assert (debt.debt, debt.points, debt.remaining) == (True, -90, -90)
    with pytest.raises(InsufficientPoints) as info:  # nothing is spent while the member is below zero
        engine.redeem("M1", 1, id="R1", at=T0)
    assert info.value.available == 0
    # Every credit repays the debt first: a correction, then earnings.
    engine.adjust("M1", 20, id="A1", at=T0, reason="goodwill", actor="staff")
    assert engine.balance("M1") == Balance(available=-70)
    engine.record_purchase(sale("P2", ("bell", 1, "50.00")))
    assert engine.balance("M1") == Balance(available=-20)
    engine.record_purchase(sale("P3", ("lock", 1, "60.00")))
    assert engine.balance("M1") == Balance(available=40)
    assert [lot.remaining for lot in engine.lots("M1")] == [40]
    assert engine.lots("M1") == lots_of(engine.history("M1"))


def test_a_void_after_the_points_were_spent_takes_the_rest_from_future_earnings(
    store: Store, clock: ManualClock
) -> None:
    engine = spent_then_voided(store, clock, Clawback.FUTURE)
    void = engine.record_return(Return("V1", "P1", T0))
    assert (void.taken_back, void.owed, void.balance_after) == (10, 90, 0)
    assert engine.record_purchase(sale("P2", ("bell", 1, "50.00"))).points == 50
    assert engine.balance("M1") == Balance(available=0)
    # A staff credit is collected from too: it cannot be spent while points are owed.
    assert engine.adjust("M1", 15, id="A1", at=T0, reason="goodwill", actor="staff").points == 15
    assert engine.balance("M1") == Balance(available=0)
    engine.record_purchase(sale("P3", ("lock", 1, "60.00")))
    assert engine.balance("M1") == Balance(available=35)
    collected = [points for kind, points in history_kinds(engine) if kind is EntryKind.COLLECT]
    assert collected == [-50, -15, -25]


def test_a_return_uses_the_version_the_purchase_was_earned_with(store: Store, clock: ManualClock) -> None:
    v1 = Program("Club", "EUR", version="1")
    v2 = Program(
        "Club",
        "EUR",
        version="2",
        effective_from=T0 + timedelta(days=1),
        rules=[PurchaseBonus(id="b", points=500)],
    )
    engine = engine_for(store, clock, [v1, v2])
    engine.record_purchase(sale("P1", ("tea", 4, "5.00")))
    clock.advance(days=2)
    returned = engine.record_return(Return("R1", "P1", clock.now, (Returned("tea", 1),)))
    assert (returned.earned, returned.now_earns, returned.taken_back) == (20, 15, 5)


def test_retries_are_idempotent_and_bad_returns_write_nothing(store: Store, clock: ManualClock) -> None:
    engine = engine_for(store, clock, club())
    engine.record_purchase(sale("P1", ("shirt", 2, "60.00")))
    first = engine.record_return(Return("R1", "P1", T0, (Returned("shirt", 1),)))
    assert engine.record_return(Return("R1", "P1", T0, (Returned("shirt", 1),))) == first
    with pytest.raises(IdempotencyConflict) as conflict:
        engine.record_return(Return("R1", "P1", T0, (Returned("shirt", 2),)))
    assert conflict.value.field == "lines[0].quantity"
    engine.enroll("M2", at=T0)
    engine.record_purchase(sale("Q1", ("hat", 1, "9.00"), member="M2"))
    before = snapshot(store, ["M1", "M2"], ["R2", "R0"])
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: engine.record_return(Return("R2", "P9", T0)), "purchase_id"),
        (lambda: engine.record_return(Return("R2", "P1", T0, (Returned("shirt", 2),))), "lines[0].quantity"),
        (lambda: engine.record_return(Return("R2", "P1", T0, (Returned("shoes", 1),))), "lines[0].sku"),
        (
            lambda: engine.record_return(Return("R2", "P1", T0, (Returned("shirt", Decimal("0.5")),))),
            "lines[0].quantity",
        ),
        (lambda: engine.record_return(Return("R2", "P1", T0 - timedelta(days=1))), "at"),
        (lambda: engine.record_return(Return("R2", "R1", T0)), "purchase_id"),
        (lambda: engine.record_return("P1"), "return"),  # type: ignore[arg-type]
        (lambda: Return("R2", "P1", T0, ()), "lines"),
        (lambda: Return("R2", "P1", T0, (Returned("shirt", 0),)), "quantity"),
        (lambda: Return("R2", "P1", datetime(2024, 6, 3)), "at"),  # naive on purpose
        (lambda: engine.redeem("M1", 5, id="R0", at=T0, purchase_id="P9"), "purchase_id"),
        (lambda: engine.redeem("M1", 5, id="R0", at=T0, purchase_id="Q1"), "purchase_id"),
    ]
    for call, field in cases:
        with pytest.raises(LoyaltyError) as info:
            call()
        assert info.value.field == field, (field, info.value)
        assert snapshot(store, ["M1", "M2"], ["R2", "R0"]) == before


# -- regressions from the review of returns -------------------------------------------------------


def test_a_part_return_of_a_discounted_taxed_line_recomputes(store: Store, clock: ManualClock) -> None:
    engine = engine_for(store, clock, Program("Club", "EUR", tax="exclusive"))
    line = Line("mug", 3, Decimal("10.00"), discount=Decimal("1.00"), tax=Decimal("2.00"))
    assert engine.record_purchase(Purchase("P1", "M1", T0, [line], "EUR")).points == 27
    back = engine.record_return(Return("R1", "P1", T0, (Returned("mug", 1),)))
    # Two mugs kept: 20.00 less 2/3 of the 1.00 discount and of the 2.00 tax (each cut to
    # 12 places) is 18.000000000001 without tax: 18 points, two thirds of the 27.
    assert (back.now_earns, back.taken_back) == (18, 9)


def test_a_return_recomputes_with_the_member_as_it_was(store: Store, clock: ManualClock) -> None:
    gold = Multiplier(id="gold", factor=Decimal(2), members={"level": ["gold"]})
    engine = engine_for(store, clock, Program("Club", "EUR", rules=[gold]))
    engine.update_member("M1", id="U1", at=T0, attributes={"level": "gold"})
    assert engine.record_purchase(sale("P1", ("coat", 2, "50.00"))).points == 200
    engine.update_member("M1", id="U2", at=T0, attributes={"level": "silver"})
    back = engine.record_return(Return("R1", "P1", T0, (Returned("coat", 1),)))
    assert (back.now_earns, back.taken_back) == (100, 100)


def test_a_receipt_shows_the_balance_after_what_a_return_left_owing(store: Store, clock: ManualClock) -> None:
    engine = spent_then_voided(store, clock, Clawback.FUTURE)
    engine.record_return(Return("V1", "P1", T0))
    receipt = engine.record_purchase(sale("P2", ("bell", 1, "60.00")))
    assert (receipt.points, receipt.balance_after) == (60, 0)
    assert engine.record_purchase(sale("P2", ("bell", 1, "60.00"))) == receipt  # a retry, the same


@pytest.mark.postgres
def test_a_return_on_a_one_connection_pool_does_not_wait_on_itself(clock: ManualClock) -> None:
    url, drop = store_schema_url(postgres_dsn())
    store = open_store(url + "&pool_min=1&pool_max=1&pool_timeout=5")
    try:
        first = engine_for(store, clock, club())
        first.record_purchase(sale("P1", ("shirt", 2, "60.00")))
        fresh = Engine(club(), store, clock=clock)  # has not read the stored versions yet
        assert fresh.record_return(Return("R1", "P1", T0, (Returned("shirt", 1),))).taken_back == 110
        fresh = Engine(club(), store, clock=clock)
        assert fresh.adjust("M1", 5, id="A1", at=T0, reason="goodwill", actor="staff").points == 5
    finally:
        store.close()
        drop()


def proportional(**options: object) -> Program:
    return Program("Club", "EUR", rate=EarnRate(1, Decimal("10.00")), returns="proportional", **options)  # type: ignore[arg-type]


def test_a_proportional_return_takes_what_the_amount_returned_earns(store: Store, clock: ManualClock) -> None:
    rules = [Multiplier(id="double", factor=2)]
    engine = engine_for(store, clock, proportional(rules=rules))
    assert engine.record_purchase(sale("P1", ("shirt", 2, "25.00"), ("socks", 1, "5.00"))).points == 11
    # 25.00 back at 1 point per 10.00: 2 points, whatever the multiplier gave.
    first = engine.record_return(Return("R1", "P1", T0, (Returned("shirt", 1),)))
    assert (first.taken_back, first.now_earns, first.policy) == (2, 9, ReturnPolicy.PROPORTIONAL)
    assert (
        first.detail == "25.00 EUR returned so far at 1 point per 10.00 EUR: 2 points (floor), 0 taken before"
    )
    socks = engine.record_return(Return("R2", "P1", T0, (Returned("socks", 1),)))
    assert (socks.taken_back, socks.now_earns) == (1, 8)  # 30.00 so far: 3 points, 2 taken before
    void = engine.record_return(Return("R3", "P1", T0))
    assert (void.taken_back, void.now_earns, void.balance_after) == (8, 0, 0)  # nothing left: the rest goes
    assert history_kinds(engine)[-1] == (EntryKind.RETURN, -8)
    assert ReturnReceipt.from_dict(void.to_dict()) == void


def test_a_proportional_return_of_spent_points_goes_below_zero_under_negative(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(store, clock, proportional(clawback=Clawback.NEGATIVE))
    engine.record_purchase(sale("P1", ("bike", 1, "100.00"), ("bell", 1, "20.00")))
    engine.redeem("M1", 12, id="X1", at=T0)
    back = engine.record_return(Return("R1", "P1", T0, (Returned("bike", 1),)))
    assert (back.taken_back, back.balance_after) == (10, -10)
    assert engine.record_return(Return("R1", "P1", T0, (Returned("bike", 1),))) == back  # a retry


def test_a_proportional_return_of_spent_points_is_collected_later_under_future(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(store, clock, proportional(clawback=Clawback.FUTURE))
    engine.record_purchase(sale("P1", ("bike", 1, "100.00")))
    engine.redeem("M1", 6, id="X1", at=T0)
    back = engine.record_return(Return("R1", "P1", T0, (Returned("bike", 1),)))
    assert (back.taken_back, back.owed, back.balance_after) == (4, 6, 0)
    engine.record_purchase(sale("P2", ("lock", 1, "80.00")))
    assert engine.balance("M1") == Balance(available=2)


def test_a_return_that_takes_nothing_back_still_writes_its_entry(store: Store, clock: ManualClock) -> None:
    """The goods came back though no point did: the ledger says so, with a 0-point entry, and
    the purchase is returned all the same (a history export follows the ledger to it)."""
    engine = engine_for(store, clock, club())
    engine.record_purchase(sale("P1", ("bell", 1, "30.00")))
    engine.redeem("M1", 30, id="D1", at=T0)
    void = engine.record_return(Return("V1", "P1", T0))
    assert (void.taken_back, void.uncollected, void.balance_after) == (0, 30, 0)
    last = engine.history("M1")[-1]
    assert (last.kind, last.points, last.source_id, last.balance_after) == (EntryKind.RETURN, 0, "V1", 0)
    assert last.reason is not None
    assert last.reason.startswith("void of P1: 0 of the 30 points its goods earned taken back")
    assert engine.record_purchase(sale("P2", ("gum", 1, "0.50"))).points == 0
    back = engine.record_return(Return("V2", "P2", T0))
    assert back.taken_back == 0
    last = engine.history("M1")[-1]
    assert (last.kind, last.points, last.source_id, last.reason) == (
        EntryKind.RETURN,
        0,
        "V2",
        "void of P2: no points to take back",
    )
    # Retried, it writes nothing more; returned again, it is refused.
    assert engine.record_return(Return("V1", "P1", T0)) == void
    with pytest.raises(AlreadyReturned):
        engine.record_return(Return("V3", "P1", T0))
    assert [e.source_id for e in engine.history("M1")].count("V1") == 1
    assert engine.balance("M1") == Balance(available=0)
    assert engine.lots("M1") == lots_of(engine.history("M1"))
