"""Defection warnings: members drifting away, with exact figures on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from loyalty import Engine, InvalidInput, Line, Program, Purchase, PurchaseBonus, Return, open_store
from loyalty.habits import at_risk_key, micros
from loyalty.store import Store
from loyalty.testing.clock import ManualClock

T0 = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)


class Shop:
    def __init__(self, store: Store, program: Program | None = None) -> None:
        self.clock = ManualClock(T0)
        self.engine = Engine(program or Program("Club", "EUR"), store, clock=self.clock)
        self.n = 0

    def visit(self, member: str, at: datetime, amount: str = "20.00") -> str:
        self.n += 1
        key = f"P{self.n}"
        self.clock.now = max(self.clock.now, at)
        self.engine.record_purchase(Purchase(key, member, at, [Line("goods", 1, Decimal(amount))], "EUR"))
        return key


def test_a_weekly_shopper_gone_three_weeks_is_at_risk_a_monthly_one_is_not(any_store: Store) -> None:
    shop = Shop(any_store)
    for member in ("weekly", "monthly"):
        shop.engine.enroll(member, at=T0 - timedelta(days=90))  # regulars of long standing
    shop.engine.enroll("new", at=T0)
    for week in range(10):
        shop.visit("weekly", T0 + timedelta(weeks=week))
    for month in range(4):
        shop.visit("monthly", T0 + timedelta(weeks=9) - timedelta(days=30 * (3 - month)))
    shop.visit("new", T0)
    shop.visit("new", T0 + timedelta(days=3))
    now = T0 + timedelta(weeks=12)  # three weeks after both regulars' last visit
    report = shop.engine.at_risk(now)
    assert [(r.member_id, r.reasons) for r in report.at_risk] == [
        ("weekly", ("no visit for 21 days: 3.0 times the usual 7",)),
    ]
    (weekly,) = report.at_risk
    assert (weekly.last_visit, weekly.days_since, weekly.typical_gap_days) == (
        T0 + timedelta(weeks=9),
        Decimal("21.0"),
        Decimal("7.0"),
    )
    assert (report.no_baseline, report.checked) == (["new"], 3)


def test_a_fall_in_monthly_spend_against_the_members_own_baseline(store: Store) -> None:
    shop = Shop(store)
    shop.engine.enroll("M1", at=T0)
    for day, amount in (
        (datetime(2024, 3, 1), "50.00"),
        (datetime(2024, 3, 15), "50.00"),
        (datetime(2024, 4, 1), "50.00"),
        (datetime(2024, 4, 15), "50.00"),
        (datetime(2024, 5, 1), "10.00"),
        (datetime(2024, 5, 15), "5.00"),
        (datetime(2024, 5, 29), "5.00"),
    ):
        shop.visit("M1", day.replace(tzinfo=UTC), amount)
    report = shop.engine.at_risk(datetime(2024, 6, 1, tzinfo=UTC), recent_months=2, baseline_months=2)
    (drifting,) = report.at_risk
    assert drifting.reasons == ("spends 20.00 a month lately: 80% below the usual 100.00",)
    assert (drifting.recent_spend, drifting.baseline_spend) == (Decimal("20.00"), Decimal("100.00"))
    # A void takes its spend and its visit back.
    shop.engine.record_return(Return("R1", "P7", shop.clock.catch_up(datetime(2024, 5, 30, tzinfo=UTC))))
    again = shop.engine.at_risk(datetime(2024, 6, 1, tzinfo=UTC), recent_months=2, baseline_months=2)
    assert again.at_risk[0].recent_spend == Decimal("15.00")


def test_a_win_back_rule_for_members_away_long_enough(store: Store) -> None:
    back = PurchaseBonus(id="welcome-back", name="Welcome back", points=50, absent_days=30)
    shop = Shop(store, Program("Club", "EUR", rules=[back]))
    shop.engine.enroll("M1", at=T0)
    first = Purchase("P0", "M1", T0, [Line("goods", 1, Decimal("1.00"))], "EUR")
    assert {s.rule: s.reason for s in shop.engine.explain(first).skipped}["welcome-back"] == (
        "only for members back after 30 days away; no earlier visit"
    )
    shop.visit("M1", T0)
    soon = Purchase("P9", "M1", T0 + timedelta(days=29), [Line("goods", 1, Decimal("1.00"))], "EUR")
    assert {s.rule: s.reason for s in shop.engine.explain(soon).skipped}["welcome-back"] == (
        "only for members back after 30 days away; last visit 29 days before"
    )
    key = shop.visit("M1", T0 + timedelta(days=30))
    assert [e.points for e in shop.engine.history("M1") if e.source_id == key] == [70]  # 20 + 50


def test_at_risk_refuses_bad_settings() -> None:
    engine = Engine(Program("Club", "EUR"), open_store("memory://"))
    for options, field in (
        ({"factor": Decimal("0.5")}, "factor"),
        ({"drop": Decimal(1)}, "drop"),
        ({"recent_months": 0}, "recent_months"),
        ({"min_visits": 1}, "min_visits"),
    ):
        with pytest.raises(InvalidInput) as info:
            engine.at_risk(T0, **options)
        assert info.value.field == field
    with pytest.raises(InvalidInput):
        engine.at_risk(datetime(2024, 1, 1))


def test_members_at_risk_are_announced_once_per_spell(any_store: Store) -> None:
    shop = Shop(any_store)
    shop.engine.enroll("weekly", at=T0)
    for week in range(10):
        shop.visit("weekly", T0 + timedelta(weeks=week))
    later = T0 + timedelta(weeks=12)
    shop.clock.now = later
    assert shop.engine.announce_at_risk(shop.engine.at_risk(factor=Decimal(2))) == 1
    assert shop.engine.announce_at_risk() == 0  # still the same spell
    (event,) = shop.engine.events()
    assert (event.kind.value, event.member_id, event.data["reasons"]) == (
        "member_at_risk",
        "weekly",
        ["no visit for 21 days: 3.0 times the usual 7"],
    )
    shop.visit("weekly", later)  # back, and then away again
    shop.clock.now = later + timedelta(weeks=4)
    assert shop.engine.announce_at_risk() == 1
    assert [e.kind.value for e in shop.engine.events()] == ["member_at_risk", "member_at_risk"]


def test_an_announced_spell_is_kept_under_the_members_at_risk_key(store: Store) -> None:
    assert at_risk_key("weekly") == "atrisk|weekly"
    shop = Shop(store)
    shop.engine.enroll("weekly", at=T0)
    for week in range(10):
        shop.visit("weekly", T0 + timedelta(weeks=week))
    shop.clock.now = T0 + timedelta(weeks=12)
    assert shop.engine.announce_at_risk() == 1
    with store.unit_of_work(readonly=True) as uow:
        last_visit = uow.tallies([at_risk_key("weekly")])[at_risk_key("weekly")].points
    assert last_visit == micros(T0 + timedelta(weeks=9))


def test_at_risk_gives_the_same_answer_for_an_instant_in_any_offset(any_store: Store) -> None:
    # 100.00 every month; judged at the last second of October, which has a clock change: the
    # share of the month gone is elapsed time whichever offset "now" is written in.
    amsterdam = ZoneInfo("Europe/Amsterdam")
    program = Program("Club", "EUR", timezone="Europe/Amsterdam")
    engine = Engine(program, any_store, clock=lambda: datetime(2024, 11, 2, tzinfo=UTC))
    engine.enroll("M1", at=datetime(2024, 1, 1, tzinfo=UTC))
    for i, month in enumerate((8, 9, 10)):
        at = datetime(2024, month, 5, tzinfo=amsterdam)
        engine.record_purchase(Purchase(f"P{i}", "M1", at, [Line("x", 1, Decimal("100.00"))], "EUR"))
    now = datetime(2024, 10, 31, 23, 59, 59, tzinfo=amsterdam)
    for written in (now, now.astimezone(UTC)):
        found = engine.at_risk(written, recent_months=1, baseline_months=2, drop=Decimal("0.001"))
        assert found.at_risk == [], written
