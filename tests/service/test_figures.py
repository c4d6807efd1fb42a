"""Period figures through the engine: members active, retained, points issued and outstanding, spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from loyalty import Engine, InvalidInput, Line, Program, Purchase, PurchaseBonus
from loyalty.expiry import Expiry, ExpiryPolicy
from loyalty.figures import RuleFigures
from loyalty.store import Store
from loyalty.testing.clock import ManualClock

START = datetime(2024, 3, 1, tzinfo=UTC)
BEFORE, END = START - timedelta(days=30), START + timedelta(days=30)


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
    engine.redeem("a", 30, id="R1", at=clock.catch_up(START + timedelta(days=3)))
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


def test_purchases_a_moment_from_the_edges_fall_on_the_right_side(any_store: Store) -> None:
    plus5 = timezone(timedelta(hours=5))
    engine = Engine(Program("Club", "EUR"), any_store, clock=lambda: END)
    engine.enroll("a", at=BEFORE)
    for key, at in (("P1", START - timedelta(microseconds=300)), ("P2", END - timedelta(microseconds=300))):
        engine.record_purchase(Purchase(key, "a", at.astimezone(plus5), [Line("x", 1, Decimal(5))], "EUR"))
    found = engine.figures(START, END)
    assert (found.active, found.active_before, found.retained, found.purchases) == (1, 1, 1, 1)


def earned_before(store: Store, *, days: int) -> tuple[Engine, ManualClock]:
    """a and b enrolled, a with 200 points from the day after BEFORE that last ``days`` days;
    the clock a day into the period."""
    clock = ManualClock(BEFORE)
    lifetime = Expiry(ExpiryPolicy.LIFETIME, days=days)
    engine = Engine(Program("Club", "EUR", expiry=lifetime), store, clock=clock)
    for member in ("a", "b"):
        engine.enroll(member, at=BEFORE)
    clock.now = BEFORE + timedelta(days=1)
    engine.record_purchase(Purchase("P1", "a", clock.now, [Line("goods", 1, Decimal("200.00"))], "EUR"))
    clock.now = START + timedelta(days=1)
    return engine, clock


def test_breakage_counts_the_points_that_ended_in_the_period(any_store: Store) -> None:
    # 200 points earned before the period expire in it, while only 50 are issued and 100
    # redeemed: of the 300 that ended, 200 expired (it was 400% of the points issued).
    engine, clock = earned_before(any_store, days=30)
    engine.record_purchase(Purchase("P2", "b", clock.now, [Line("goods", 1, Decimal("150.00"))], "EUR"))
    engine.redeem("b", 100, id="R1", at=clock.now)
    clock.now = START + timedelta(days=5)
    engine.run_due()
    found = engine.figures(START, END)
    assert (found.issued, found.redeemed, found.expired) == (150, 100, 200)
    assert found.breakage_rate == Decimal("0.6667")


def test_points_transferred_in_the_period_show_both_ways_and_change_nothing_else(any_store: Store) -> None:
    # a earns 200 before the period; in it a sends 120 to b (b redeems 100 of them, the rest
    # expires). Transfers net to zero across members: issuance, redemption, breakage and what is
    # outstanding are the same as had a redeemed and let expire the points itself.
    engine, clock = earned_before(any_store, days=40)
    engine.transfer("a", "b", 120, id="X1", at=clock.now, reason="gift")
    engine.transfer("b", "a", 20, id="X2", at=clock.now, reason="change")
    engine.redeem("b", 100, id="R1", at=clock.now)
    # After the period a's points have expired: it is given 10 to send outside the period.
    late = clock.catch_up(END + timedelta(days=1))
    engine.adjust("a", 10, id="A-late", at=late, reason="goodwill", actor="staff")
    outside = engine.transfer("a", "b", 10, id="X3", at=late, reason="late")
    assert outside.points == 10
    clock.now = START + timedelta(days=15)
    engine.run_due()
    found = engine.figures(START, END, point_value=Decimal("0.01"))
    assert (found.transferred_out, found.transferred_in) == (140, 140)
    assert (found.issued, found.redeemed, found.expired, found.adjusted) == (0, 100, 100, 0)
    assert found.breakage_rate == Decimal("0.5000")
    assert (found.outstanding, str(found.liability)) == (0, "0.00 EUR")
    before = engine.figures(BEFORE, START)
    assert (before.issued, before.transferred_out, before.transferred_in, before.outstanding) == (
        200,
        0,
        0,
        200,
    )


def test_the_figures_by_rule_name_each_campaign_and_what_its_budget_has_spent(store: Store) -> None:
    spring = PurchaseBonus(id="spring", name="Spring week", points=5, min_amount=Decimal("20"), budget=8)
    clock = ManualClock(START)
    engine = Engine(Program("Club", "EUR", rules=[spring]), store, clock=clock)
    engine.enroll("a", at=START)
    for key, day, amount in (("P1", 1, "25.00"), ("P2", 2, "10.00"), ("P3", 40, "30.00")):
        at = clock.catch_up(START + timedelta(days=day))
        engine.record_purchase(Purchase(key, "a", at, [Line("goods", 1, Decimal(amount))], "EUR"))
    found = engine.figures(START, END)
    # The period's purchases earned 25 + 5 and 10; the budget of 8 has spent 5 and, after the
    # period, the 3 left of it (spent now, not at the period's end).
    assert found.by_rule == (
        RuleFigures("base", "base", 35),
        RuleFigures("spring", "Spring week", 5, 8, Decimal(8)),
    )
    assert found.issued == sum(rule.issued for rule in found.by_rule)
    assert RuleFigures.from_dict(found.by_rule[1].to_dict()) == found.by_rule[1]
    later = engine.figures(END, END + timedelta(days=30)).by_rule
    assert later == (RuleFigures("base", "base", 30), RuleFigures("spring", "Spring week", 3, 8, Decimal(8)))


def test_a_campaign_of_whole_points_issues_what_its_budget_spent_beside_a_rate_rounded_down(
    any_store: Store,
) -> None:
    summer = PurchaseBonus(id="summer", name="Summer weekends", points=20, budget=100)
    clock = ManualClock(START)
    engine = Engine(Program("Club", "EUR", rules=[summer]), any_store, clock=clock)
    engine.enroll("a", at=START)
    for key, day, amount in (("P1", 1, "16.95"), ("P2", 2, "9.99")):
        at = clock.catch_up(START + timedelta(days=day))
        receipt = engine.record_purchase(Purchase(key, "a", at, [Line("goods", 1, Decimal(amount))], "EUR"))
        assert receipt.points_of("summer") == 20
    # 16.95 + 20 earned 36 points and 9.99 + 20 earned 29: the rounding is the rate's, so the
    # campaign's figure is its receipts' 20 a purchase, what its budget has spent.
    assert engine.figures(START, END).by_rule == (
        RuleFigures("summer", "Summer weekends", 40, 100, Decimal(40)),
        RuleFigures("base", "base", 16 + 9),
    )


def test_the_same_instants_in_any_offset_give_the_same_figures(any_store: Store) -> None:
    # The period before is the same length on the program's calendar, whichever zone the bounds
    # are written in: the day before a day of 23 hours (clocks go forward on 31 March) is the
    # whole of 30 March, and April's 30 days follow 2 to 31 March.
    amsterdam = ZoneInfo("Europe/Amsterdam")
    engine = Engine(
        Program("Club", "EUR", timezone="Europe/Amsterdam"),
        any_store,
        clock=lambda: datetime(2024, 6, 1, tzinfo=UTC),
    )
    engine.enroll("M1", at=datetime(2024, 1, 1, tzinfo=UTC))
    bought = (
        ("P0", datetime(2024, 3, 30, 0, 30, tzinfo=amsterdam)),  # the first hour of 30 March
        ("P1", datetime(2024, 3, 31, 12, tzinfo=amsterdam)),
        ("P2", datetime(2024, 4, 10, tzinfo=amsterdam)),
    )
    for key, at in bought:
        engine.record_purchase(Purchase(key, "M1", at, [Line("x", 1, Decimal("10"))], "EUR"))
    for start, end, before in (
        (datetime(2024, 3, 31, tzinfo=amsterdam), datetime(2024, 4, 1, tzinfo=amsterdam), 1),
        (datetime(2024, 4, 1, tzinfo=amsterdam), datetime(2024, 5, 1, tzinfo=amsterdam), 1),
    ):
        zoned, plain = engine.figures(start, end), engine.figures(start.astimezone(UTC), end.astimezone(UTC))
        assert (zoned.active_before, zoned.retained) == (before, 1), start
        assert (plain.active_before, plain.retained, plain.purchases) == (
            zoned.active_before,
            zoned.retained,
            zoned.purchases,
        )


def test_the_hour_a_clock_goes_back_is_counted_in_order(any_store: Store) -> None:
    # Two purchases in the repeated hour, given in the zone: the later wall clock is the earlier
    # instant (fold 0), and a period cut between them counts each on its side.
    amsterdam = ZoneInfo("Europe/Amsterdam")
    engine = Engine(Program("Club", "EUR"), any_store, clock=lambda: datetime(2024, 11, 1, tzinfo=UTC))
    engine.enroll("M1", at=datetime(2024, 10, 1, tzinfo=UTC))
    second = datetime(2024, 10, 27, 2, 10, tzinfo=amsterdam, fold=1)  # 01:10 UTC
    first = datetime(2024, 10, 27, 2, 50, tzinfo=amsterdam, fold=0)  # 00:50 UTC
    engine.record_purchase(Purchase("PA", "M1", second, [Line("x", 1, Decimal("10"))], "EUR"))
    engine.record_purchase(Purchase("PB", "M1", first, [Line("x", 1, Decimal("20"))], "EUR"))
    cut = datetime(2024, 10, 27, 1, 0, tzinfo=UTC)
    after = engine.figures(cut, datetime(2024, 10, 28, tzinfo=UTC))
    before = engine.figures(datetime(2024, 10, 26, tzinfo=UTC), cut)
    assert (after.issued, after.purchases) == (10, 1)
    assert (before.issued, before.purchases, before.outstanding) == (20, 1, 20)


def test_a_period_of_hours_across_a_clock_change_compares_the_same_elapsed_time_before(
    any_store: Store,
) -> None:
    # London goes back an hour on 27 October 2024 (02:00 BST is 01:00 GMT) and forward on 31 March:
    # periods that are not whole days are compared with the same elapsed time before, never an
    # empty or backwards one (their local clocks may say 0 or -20 minutes long).
    engine = Engine(
        Program("Club", "EUR", timezone="Europe/London"),
        any_store,
        clock=lambda: datetime(2024, 12, 1, tzinfo=UTC),
    )
    engine.enroll("M1", at=datetime(2024, 1, 1, tzinfo=UTC))
    cases = [
        (datetime(2024, 10, 27, 0, tzinfo=UTC), datetime(2024, 10, 27, 1, tzinfo=UTC)),
        (datetime(2024, 3, 31, 1, 30, tzinfo=UTC), datetime(2024, 3, 31, 2, 30, tzinfo=UTC)),
        (datetime(2024, 10, 27, 0, 30, tzinfo=UTC), datetime(2024, 10, 27, 1, 10, tzinfo=UTC)),
    ]
    for n, (start, end) in enumerate(cases):
        length = end - start
        for key, at in ((f"B{n}", start - length / 2), (f"D{n}", start + length / 2)):
            engine.record_purchase(Purchase(key, "M1", at, [Line("x", 1, Decimal("10"))], "EUR"))
    for start, end in cases:
        found = engine.figures(start, end)
        assert (found.active, found.active_before, found.retained) == (1, 1, 1), start
