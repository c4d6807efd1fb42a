"""Redemption limits and points as payment, on every adapter: a minimum and steps, a day's most, a
purchase's most, never more than the basket is worth, and a purchase's own points kept off it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import (
    CurrencyMismatch,
    Engine,
    InsufficientPoints,
    InvalidInput,
    InvalidPoints,
    Money,
    Program,
    RedemptionLimit,
    UnknownMember,
    UnknownPurchase,
)
from loyalty.program import EarnRate
from loyalty.redemption import Redemption, day_key
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import T0, WatchedStore, sale

NEXT_DAY = T0 + timedelta(days=1)


def club(**terms: object) -> Program:
    """1 point per 0.01 EUR spent (so a 10.00 purchase earns 1,000), with ``terms`` for redemption."""
    return Program("Club", "EUR", rate=EarnRate(100, Decimal("1.00")), redemption=Redemption(**terms))  # type: ignore[arg-type]


def start(store: Store, program: Program, *, points: str = "50.00") -> Engine:
    """An engine with M1 enrolled and ``points`` EUR of purchases behind it (P0)."""
    engine = Engine(program, store, clock=lambda: NEXT_DAY + timedelta(days=1))
    engine.enroll("M1", at=T0)
    engine.record_purchase(sale("P0", points))
    return engine


def test_a_request_below_the_minimum_or_off_the_steps_is_refused_unwritten(any_store: Store) -> None:
    engine = start(any_store, club(minimum=100, multiple=50))
    before = snapshot(any_store, ["M1"], ["R1", "H1"], [day_key("M1", T0.date())])
    with pytest.raises(InvalidPoints) as low:
        engine.redeem("M1", 50, id="R1", at=T0)
    assert (low.value.field, str(low.value)) == (
        "points",
        "points: redemption.minimum: at least 100 points at a time, got 50",
    )
    with pytest.raises(InvalidPoints, match=r"redemption\.multiple: .* multiples of 50, got 120"):
        engine.hold("M1", 120, id="H1", at=T0, ttl=timedelta(minutes=5))
    assert snapshot(any_store, ["M1"], ["R1", "H1"], [day_key("M1", T0.date())]) == before
    assert engine.redeem("M1", 150, id="R2", at=T0).points == -150


def test_a_day_counts_redemptions_holds_and_captures_and_a_decline_stays(any_store: Store) -> None:
    engine = start(any_store, club(per_day=500))
    engine.redeem("M1", 300, id="R1", at=T0)
    engine.hold("M1", 150, id="H1", at=T0, ttl=timedelta(days=30))
    with pytest.raises(RedemptionLimit) as over:
        engine.redeem("M1", 100, id="R2", at=T0)
    assert (over.value.limit, over.value.available, over.value.requested) == ("per_day", 50, 100)
    assert isinstance(over.value, InsufficientPoints)  # a till handles it like a short balance
    assert str(over.value) == "points: redemption.per_day: 50 points left today; 100 requested"
    # Captured in part: what it spent stays counted on its day, the rest is free again.
    engine.capture("H1", id="C1", at=NEXT_DAY, points=100)
    assert engine.redeem("M1", 100, id="R3", at=T0).points == -100
    with pytest.raises(RedemptionLimit):
        engine.redeem("M1", 1, id="R4", at=T0)
    # Another day has its own allowance; the declined R2 stays declined when retried.
    assert engine.redeem("M1", 500, id="R5", at=NEXT_DAY).points == -500
    with pytest.raises(RedemptionLimit) as again:
        engine.redeem("M1", 100, id="R2", at=T0)
    assert (again.value.limit, again.value.available) == ("per_day", 50)


def test_a_released_hold_gives_its_day_back(any_store: Store) -> None:
    engine = start(any_store, club(per_day=500))
    engine.hold("M1", 400, id="H1", at=T0, ttl=timedelta(days=30))
    with pytest.raises(RedemptionLimit):
        engine.hold("M1", 200, id="H2", at=T0, ttl=timedelta(days=30))
    engine.release("H1", at=T0)
    assert engine.hold("M1", 500, id="H3", at=T0, ttl=timedelta(days=30)).points == 500


def test_points_pay_a_purchase_up_to_its_most_and_never_beyond_its_total(any_store: Store) -> None:
    # 10.00 EUR bought; a point pays 0.01, so 1,000 points cover it, and at most 800 may pay.
    engine = start(any_store, club(per_purchase=800, point_value=Decimal("0.01")))
    engine.record_purchase(sale("P1", "10.00"))
    assert engine.redeem("M1", 500, id="R1", at=T0, purchase_id="P1").points == -500
    with pytest.raises(RedemptionLimit) as most:
        engine.redeem("M1", 400, id="R2", at=T0, purchase_id="P1")
    assert (most.value.limit, most.value.available) == ("per_purchase", 300)
    assert engine.redeem("M1", 300, id="R3", at=T0, purchase_id="P1").points == -300


def test_a_basket_is_never_paid_beyond_its_total(any_store: Store) -> None:
    engine = start(any_store, club(point_value=Decimal("0.05")))
    engine.record_purchase(sale("P1", "5.00"))
    before = snapshot(any_store, ["M1"], ["P1"])
    with pytest.raises(RedemptionLimit) as basket:
        engine.redeem("M1", 101, id="R1", at=T0, purchase_id="P1")
    assert (basket.value.limit, basket.value.available, str(basket.value)) == (
        "basket",
        100,
        "points: the purchase total 5.00 is covered by at most 100 points; 101 requested",
    )
    after = snapshot(any_store, ["M1"], ["P1"])
    assert after["members"] == before["members"]  # declined: only the decline is kept
    assert engine.redeem("M1", 60, id="R2", at=T0, purchase_id="P1").points == -60
    with pytest.raises(RedemptionLimit) as rest:
        engine.redeem("M1", 50, id="R3", at=T0, purchase_id="P1")
    assert rest.value.available == 40
    with pytest.raises(UnknownPurchase):
        engine.redeem("M1", 10, id="R4", at=T0, purchase_id="P9")


def test_a_purchases_own_points_may_be_kept_off_it(any_store: Store) -> None:
    engine = Engine(club(same_purchase=False), any_store, clock=lambda: NEXT_DAY)
    engine.enroll("M1", at=T0)
    engine.record_purchase(sale("P1", "1.00"))  # 100 points, the member's only ones
    with pytest.raises(RedemptionLimit) as own:
        engine.redeem("M1", 50, id="R1", at=T0, purchase_id="P1")
    assert (own.value.limit, own.value.available) == ("same_purchase", 0)
    assert engine.redeem("M1", 50, id="R2", at=T0).points == -50  # not paying for P1: allowed
    engine.record_purchase(sale("P2", "1.00"))
    paid = engine.redeem("M1", 80, id="R3", at=T0, purchase_id="P1")
    lots = {lot.id: lot.remaining for lot in engine.lots("M1")}
    p1_lot = min(lots)
    assert [lot for lot, _ in paid.draws] != [p1_lot] and lots[p1_lot] == 50
    with pytest.raises(RedemptionLimit) as short:
        engine.redeem("M1", 30, id="R4", at=T0, purchase_id="P1")
    assert (short.value.limit, short.value.available) == ("same_purchase", 20)
    with pytest.raises(InsufficientPoints) as plain:
        engine.redeem("M1", 100, id="R5", at=T0, purchase_id="P1")
    assert not isinstance(plain.value, RedemptionLimit)  # short of points whatever their source


def test_a_payment_quote_keeps_a_purchases_own_points_off_it(any_store: Store) -> None:
    # What the quote says is usable, a redemption paying for the purchase takes.
    engine = Engine(club(same_purchase=False, point_value=Decimal("0.01")), any_store, clock=lambda: NEXT_DAY)
    engine.enroll("M1", at=T0)
    engine.adjust("M1", 30, id="A1", at=T0, reason="welcome", actor="ops")
    engine.record_purchase(sale("P1", "1.00"))  # 100 points of its own
    paying = engine.quote_payment("M1", Money(Decimal("5.00"), "EUR"), purchase_id="P1")
    assert (paying.usable, paying.limited_by) == (30, "same_purchase")
    assert engine.redeem("M1", paying.usable, id="R1", at=T0, purchase_id="P1").points == -30
    assert engine.quote_payment("M1", Money(Decimal("5.00"), "EUR"), purchase_id="P1").usable == 0
    # Not paying for P1, the purchase's points may pay.
    assert engine.quote_payment("M1", Money(Decimal("5.00"), "EUR")).usable == 100


def test_a_payment_quote_says_how_many_points_cover_an_amount_and_how_many_can(any_store: Store) -> None:
    terms = club(minimum=100, multiple=10, per_day=400, point_value=Decimal("0.01"))
    engine = start(any_store, terms, points="3.00")
    quote = engine.quote_payment("M1", Money(Decimal("3.25"), "EUR"))
    assert (quote.points, str(quote.value), quote.usable, str(quote.covers), quote.limited_by) == (
        330,
        "3.30 EUR",
        300,
        "3.00 EUR",
        "balance",
    )
    engine.record_purchase(sale("P1", "2.00"))
    paying = engine.quote_payment("M1", Money(Decimal("3.25"), "EUR"), purchase_id="P1")
    assert (paying.usable, str(paying.covers), paying.limited_by) == (200, "2.00 EUR", "basket")
    engine.redeem("M1", 150, id="R1", at=NEXT_DAY + timedelta(days=1))
    assert engine.quote_payment("M1", Money(Decimal("9.00"), "EUR")).limited_by == "per_day"
    assert engine.quote_payment("M1", Money(Decimal("9.00"), "EUR")).usable == 250
    assert quote.to_dict()["covers"] == {"amount": "3.00", "currency": "EUR"}


def test_a_payment_quote_needs_a_point_value_and_the_programs_currency(any_store: Store) -> None:
    engine = start(any_store, club())
    with pytest.raises(InvalidInput, match=r"no redemption\.point_value"):
        engine.quote_payment("M1", Money(Decimal("1.00"), "EUR"))


def test_a_payment_quote_is_in_the_programs_currency(store: Store) -> None:
    engine = start(store, club(point_value=Decimal("0.01")))
    with pytest.raises(CurrencyMismatch) as other:
        engine.quote_payment("M1", Money(Decimal("1.00"), "USD"))
    assert other.value.field == "amount"
    with pytest.raises(UnknownMember):
        engine.quote_payment("M9", Money(Decimal("1.00"), "EUR"))


def test_a_payment_quote_reads_no_day_without_a_per_day_limit(any_store: Store) -> None:
    watched = WatchedStore(any_store, "tallies", "open_holds")
    engine = start(watched, club(point_value=Decimal("0.01")))
    engine.record_purchase(sale("P1", "2.00"))
    watched.calls.clear()
    quote = engine.quote_payment("M1", Money(Decimal("1.00"), "EUR"))
    paying = engine.quote_payment("M1", Money(Decimal("3.00"), "EUR"), purchase_id="P1")
    assert (quote.usable, paying.usable, paying.limited_by) == (100, 200, "basket")
    day = day_key("M1", (NEXT_DAY + timedelta(days=1)).date())
    assert [name for name, _ in watched.calls if name == "open_holds"] == []
    assert [args for name, args in watched.calls if name == "tallies" and day in str(args)] == []


def test_capturing_more_than_the_hold_is_refused_before_the_day_is_touched(any_store: Store) -> None:
    watched = WatchedStore(any_store, "tallies", "add_tallies", "open_holds")
    engine = start(watched, club(per_day=500))
    engine.hold("M1", 100, id="H1", at=T0, ttl=timedelta(days=30))
    spent = day_key("M1", T0.date())
    before = snapshot(any_store, ["M1"], ["H1", "C1"], [spent])
    watched.calls.clear()
    with pytest.raises(InvalidPoints) as over:
        engine.capture("H1", id="C1", at=T0, points=150)
    assert (over.value.field, str(over.value)) == ("points", "points: the hold is of 100 points, not 150")
    assert watched.calls == []  # neither the day's spending nor the last redemption read or counted
    assert snapshot(any_store, ["M1"], ["H1", "C1"], [spent]) == before
    assert engine.capture("H1", id="C1", at=T0, points=100).captured == 100
