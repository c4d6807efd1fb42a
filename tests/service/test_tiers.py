"""Tiers: scenarios with exact numbers on a fixed clock, in the program's timezone (Amsterdam)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import (
    Engine,
    EntryKind,
    EventRule,
    IdempotencyConflict,
    InvalidInput,
    Line,
    Program,
    Purchase,
    PurchaseBonus,
    Return,
    Returned,
    Tier,
    Tiers,
    UnknownMember,
    UnknownTier,
    open_store,
)
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from loyalty.tiers import Downgrade, Metric, Window
from tests.tiered_club import AMS, LEVELS, YEARLY, club

T0 = datetime(2024, 1, 10, 12, 0, tzinfo=AMS)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def engine_for(program: Program, store: Store, clock: ManualClock, *, enrolled: datetime = T0) -> Engine:
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=clock.catch_up(enrolled))
    return engine


def buy(engine: Engine, clock: ManualClock, key: str, amount: str, at: datetime, *, quantity: int = 1) -> Any:
    """A purchase recorded at its own time (the till is online: the engine clock agrees)."""
    clock.now = at
    line = Line("goods", quantity, Decimal(amount))
    return engine.record_purchase(Purchase(key, "M1", at, [line], "EUR"))


def moves(engine: Engine) -> list[tuple[str, str]]:
    return [(e.source_id, e.reason) for e in engine.history("M1") if e.kind is EntryKind.TIER]


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


# -- configuration ----------------------------------------------------------------------------


# -- upgrades, multipliers and entry bonuses --------------------------------------------------


def test_an_upgrade_is_at_once_and_the_new_rate_starts_with_the_next_purchase(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(club(), store, clock)
    first = buy(engine, clock, "P1", "600.00", T0)
    assert (first.points, first.tier, first.tier_reached, first.tier_bonus) == (600, "member", "silver", 50)
    assert first.balance_after == 650
    assert "tier reached: silver" in first.render() and "entry bonus" in first.render()
    second = buy(engine, clock, "P2", "100.00", T0 + timedelta(hours=1))
    assert (second.points, second.tier, second.rules) == (125, "silver", ("base", "tier-silver"))
    assert second.points_of("tier-silver") == Decimal("25.00")
    status = engine.tier("M1")
    assert (status.tier.id, status.since, status.value) == ("silver", T0.astimezone(UTC), Decimal(725))
    assert (status.next and status.next.id, status.to_next) == ("gold", Decimal(775))
    assert (status.review_at, status.to_keep) == (None, None)  # downgrade never: nothing to keep
    assert [(e.kind.value, e.points, e.reason) for e in engine.history("M1")] == [
        ("earn", 600, "purchase"),
        ("tier", 0, "tier Member -> Silver: reached Silver: 600 points (threshold 500)"),
        ("earn", 50, "entry bonus for reaching Silver"),
        ("earn", 125, "purchase"),
    ]


def test_the_purchase_that_crosses_can_earn_at_the_new_rate(store: Store, clock: ManualClock) -> None:
    engine = engine_for(club(upgrade="this_purchase"), store, clock)
    receipt = buy(engine, clock, "P1", "600.00", T0)
    assert (receipt.points, receipt.tier, receipt.tier_reached) == (750, "silver", "silver")
    assert engine.tier("M1").value == Decimal(750)  # the points it earned count


def test_a_jump_over_two_tiers_pays_both_entry_bonuses_and_never_again(
    store: Store, clock: ManualClock
) -> None:
    program = club(**YEARLY)
    engine = engine_for(program, store, clock)
    jump = buy(engine, clock, "P1", "2000.00", T0)
    assert (jump.points, jump.tier_reached, jump.tier_bonus, jump.balance_after) == (2000, "gold", 250, 2250)
    bonuses = [(e.points, e.rules) for e in engine.history("M1") if e.reason.startswith("entry bonus")]
    assert bonuses == [(50, ("tier-silver:bonus",)), (200, ("tier-gold:bonus",))]
    # 2024 qualified for gold; 2025 has nothing, so the review on 1 January 2026 takes it away.
    clock.now = ams(2025, 1, 2)
    assert engine.run_due().tier_changes == 0
    assert engine.tier("M1").review_at == ams(2026, 1, 1).astimezone(UTC)
    clock.now = ams(2026, 1, 2)
    report = engine.run_due()
    assert (report.tier_reviews, report.tier_changes) == (1, 1)
    assert engine.tier("M1").tier.id == "member"
    again = buy(engine, clock, "P2", "2000.00", ams(2026, 2, 1))
    assert (again.tier_reached, again.tier_bonus, again.balance_after) == ("gold", 0, 4250)
    assert [reason for _, reason in moves(engine)] == [
        "tier Member -> Gold: reached Gold: 2000 points (threshold 1500)",
        "tier Gold -> Member: review of 2026-01-01: 0 points, below Gold's 1500",
        "tier Member -> Gold: reached Gold: 2000 points (threshold 1500)",
    ]


def test_tier_targeted_rules_apply_to_their_tiers_and_explain_why_not(
    store: Store, clock: ManualClock
) -> None:
    gift = PurchaseBonus(id="gold-gift", name="Gold gift", points=20, members={"tier": ["gold"]})
    engine = engine_for(club(program={"rules": [gift]}), store, clock)
    buy(engine, clock, "P1", "600.00", T0)
    basket = Purchase("P2", "M1", T0 + timedelta(hours=1), [Line("goods", 1, Decimal("10.00"))], "EUR")
    explained = engine.explain(basket)
    assert explained.tier == "silver"
    reasons = {s.rule: s.reason for s in explained.skipped}
    assert reasons["gold-gift"] == reasons["tier-gold"] == "member tier=silver is not gold"
    buy(engine, clock, "P3", "1000.00", T0 + timedelta(hours=2))
    receipt = buy(engine, clock, "P4", "10.00", T0 + timedelta(hours=3))
    assert (receipt.tier, receipt.points, receipt.rules) == ("gold", 35, ("base", "tier-gold", "gold-gift"))


def test_events_earn_towards_a_points_tier(store: Store, clock: ManualClock) -> None:
    survey = EventRule(id="survey", event="survey_completed", points=600)
    engine = engine_for(club(program={"rules": [survey]}), store, clock)
    receipt = engine.record_event("M1", "survey_completed", id="E1", at=T0)
    assert (receipt.points, receipt.tier_reached) == (600, "silver")


# -- metrics and windows ----------------------------------------------------------------------


def test_spend_and_visits_qualify_and_a_void_gives_the_visit_back(store: Store, clock: ManualClock) -> None:
    spend = engine_for(club(metric="spend"), store, clock)
    assert buy(spend, clock, "P1", "499.99", T0).tier_reached is None
    assert buy(spend, clock, "P2", "0.01", T0).tier_reached == "silver"
    assert spend.tier("M1").value == Decimal("500.00")
    visits = Tiers(
        levels=[Tier(id="new"), Tier(id="regular", threshold=2)], metric="visits", downgrade="immediate"
    )
    other = open_store("memory://")
    engine = engine_for(Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=visits), other, clock)
    buy(engine, clock, "V1", "1.00", T0)
    assert buy(engine, clock, "V2", "1.00", T0).tier_reached == "regular"
    engine.record_return(Return("V2-void", "V2", T0 + timedelta(minutes=5)))
    assert (engine.tier("M1").tier.id, engine.tier("M1").value) == ("new", Decimal(1))
    assert moves(engine)[-1] == ("V2-void", "tier regular -> new: down to new: 1 visits, below regular's 2")
    other.close()


def test_a_membership_year_is_reviewed_on_the_anniversary(store: Store, clock: ManualClock) -> None:
    program = club(window="membership_year", downgrade="review")
    enrolled = ams(2024, 2, 29, 10, 0)
    engine = engine_for(program, store, clock, enrolled=enrolled)
    buy(engine, clock, "P1", "600.00", ams(2024, 3, 1, 12, 0))
    status = engine.tier("M1")
    anniversary = ams(2025, 2, 28, 10, 0).astimezone(UTC)
    assert (status.tier.id, status.review_at, status.to_keep) == ("silver", anniversary, Decimal(0))
    buy(engine, clock, "P2", "100.00", ams(2025, 2, 28, 10, 0))  # the first day of the second year
    clock.now = ams(2025, 3, 1)
    assert engine.run_due().tier_changes == 0  # the first year had 600 points: silver is kept
    status = engine.tier("M1")
    assert (status.value, status.review_at) == (Decimal(125), ams(2026, 2, 28, 10, 0).astimezone(UTC))
    assert status.to_keep == Decimal(375)


# -- downgrades -------------------------------------------------------------------------------


def test_never_keeps_a_tier_whatever_the_window_says(store: Store, clock: ManualClock) -> None:
    engine = engine_for(club(window="calendar_year"), store, clock)
    buy(engine, clock, "P1", "600.00", T0)
    clock.now = ams(2027, 1, 1)
    assert engine.run_due().tier_reviews == 0
    status = engine.tier("M1")
    assert (status.tier.id, status.value) == ("silver", Decimal(0))
    assert status.review_at is None and status.to_keep is None


def test_a_downgrade_at_once_follows_the_rolling_window(store: Store, clock: ManualClock) -> None:
    engine = engine_for(club(window="rolling", months=3, downgrade="immediate"), store, clock)
    buy(engine, clock, "P1", "600.00", T0)
    status = engine.tier("M1")
    assert (status.review_at, status.to_keep) == (ams(2024, 2, 1).astimezone(UTC), Decimal(0))
    clock.now = ams(2024, 3, 31, 23, 59)
    assert engine.run_due().tier_changes == 0  # January still counts in February and March
    assert engine.tier("M1").tier.id == "silver"
    # No maintenance on 1 April: the next purchase finds the window moved on and earns at the member rate.
    receipt = buy(engine, clock, "P2", "100.00", ams(2024, 4, 2, 9, 0))
    assert (receipt.tier, receipt.points) == ("member", 100)
    assert moves(engine)[-1] == (
        "P2",
        "tier Silver -> Member: the window moved on 2024-04-01: 0 points, below Silver's 500",
    )
    history = [e for e in engine.history("M1") if e.source_id == "P2"]
    assert [e.kind for e in history] == [EntryKind.TIER, EntryKind.EARN]
    assert history[0].occurred_at == ams(2024, 4, 1).astimezone(UTC)


def test_a_review_downgrades_after_its_grace_period_one_tier_at_a_time(
    store: Store, clock: ManualClock
) -> None:
    program = club(
        window="calendar_year",
        downgrade="review",
        review="fixed",
        review_on="01-01",
        grace_days=30,
        one_step=True,
    )
    engine = engine_for(program, store, clock)
    buy(engine, clock, "P1", "2000.00", T0)
    clock.now = ams(2026, 1, 15)
    status = engine.tier("M1")  # 2024 kept gold; 2025 is empty, but the grace period runs
    assert (status.tier.id, status.review_at) == ("gold", ams(2026, 1, 1).astimezone(UTC))
    assert status.to_keep == Decimal(1500)
    clock.now = ams(2026, 1, 31)
    report = engine.run_due()
    assert (report.tier_reviews, report.tier_changes) == (1, 1)
    status = engine.tier("M1")
    assert (status.tier.id, status.since) == ("silver", ams(2026, 1, 31).astimezone(UTC))
    assert status.review_at == ams(2027, 1, 1).astimezone(UTC)
    assert engine.run_due().tier_reviews == 0  # twice changes nothing more
    clock.now = ams(2027, 2, 1)
    engine.run_due()
    assert engine.tier("M1").tier.id == "member"
    assert [reason.split(":")[0] for _, reason in moves(engine)] == [
        "tier Member -> Gold",
        "tier Gold -> Silver",
        "tier Silver -> Member",
    ]


def test_a_return_lowers_the_metric_and_the_policy_decides_when_it_shows(
    store: Store, clock: ManualClock
) -> None:
    at_once = engine_for(club(metric="spend", downgrade="immediate"), store, clock)
    buy(at_once, clock, "P1", "300.00", T0, quantity=2)
    assert at_once.tier("M1").tier.id == "silver"
    at_once.record_return(Return("R1", "P1", clock.catch_up(T0 + timedelta(days=1)), [Returned("goods", 1)]))
    status = at_once.tier("M1")
    assert (status.tier.id, status.value) == ("member", Decimal("300.00"))
    assert moves(at_once)[-1][0] == "R1"

    other = open_store("memory://")
    review = engine_for(
        club(metric="spend", window="calendar_year", downgrade="review", review="fixed", review_on="01-01"),
        other,
        clock,
    )
    buy(review, clock, "P1", "300.00", T0, quantity=2)
    review.record_return(Return("R1", "P1", clock.catch_up(T0 + timedelta(days=1)), [Returned("goods", 1)]))
    status = review.tier("M1")
    assert (status.tier.id, status.value, status.to_keep) == ("silver", Decimal("300.00"), Decimal("200.00"))
    clock.now = ams(2025, 1, 1)
    review.run_due()
    assert review.tier("M1").tier.id == "member"
    other.close()


def test_a_late_offline_purchase_requalifies_after_the_review_that_took_the_tier(
    store: Store, clock: ManualClock
) -> None:
    program = club(**YEARLY)
    engine = engine_for(program, store, clock, enrolled=ams(2023, 1, 5))
    buy(engine, clock, "P0", "600.00", ams(2023, 6, 1))
    clock.now = ams(2025, 1, 2)
    engine.run_due()  # 2024 had nothing: silver is gone
    assert engine.tier("M1").tier.id == "member"
    # A till that was offline since 20 December sends its purchase now, with its own time.
    late = Purchase("P1", "M1", ams(2024, 12, 20, 15, 0), [Line("goods", 1, Decimal("600.00"))], "EUR")
    receipt = engine.record_purchase(late)
    assert (receipt.points, receipt.tier, receipt.tier_reached, receipt.tier_bonus) == (
        600,
        "member",
        "silver",
        0,
    )
    status = engine.tier("M1")
    assert (status.tier.id, status.since, status.review_at) == (
        "silver",
        ams(2025, 1, 1).astimezone(UTC),
        ams(2026, 1, 1).astimezone(UTC),
    )


# -- assigned tiers ---------------------------------------------------------------------------


def test_an_assigned_tier_is_a_floor_until_its_date(store: Store, clock: ManualClock) -> None:
    engine = engine_for(club(), store, clock)
    until = ams(2024, 3, 1)
    state = engine.assign_tier(
        "M1", "gold", until=until, id="A1", at=T0, reason="status match from another chain", actor="staff-7"
    )
    assert (state.tier, state.earned, state.floor_until) == ("gold", "member", until.astimezone(UTC))
    assert (
        engine.assign_tier(
            "M1",
            "gold",
            until=until,
            id="A1",
            at=T0,
            reason="status match from another chain",
            actor="staff-7",
        )
        == state
    )
    with pytest.raises(IdempotencyConflict):
        engine.assign_tier("M1", "silver", until=until, id="A1", at=T0, reason="x", actor="staff-7")
    receipt = buy(engine, clock, "P1", "600.00", T0 + timedelta(hours=1))
    # Gold's rate applies; reaching silver by activity pays silver's bonus; no bonus for the assigned gold.
    assert (receipt.tier, receipt.points, receipt.tier_bonus, receipt.tier_reached) == ("gold", 900, 50, None)
    status = engine.tier("M1")
    assert (status.tier.id, status.earned.id, status.floor, status.floor_until) == (
        "gold",
        "silver",
        LEVELS[2],
        until.astimezone(UTC),
    )
    clock.now = until
    assert engine.tier("M1").tier.id == "silver"  # shown at once, before maintenance writes it
    report = engine.run_due()
    assert (report.tier_reviews, report.tier_changes) == (1, 1)
    entries = [e for e in engine.history("M1") if e.kind is EntryKind.TIER]
    assert [(e.source_id, e.actor) for e in entries] == [
        ("A1", "staff-7"),
        ("P1", None),
        (f"tier-review:M1:{until.astimezone(UTC).isoformat()}", None),
    ]
    assert entries[0].reason.startswith("tier Member -> Gold: assigned by staff-7 until 2024-03-01")
    assert entries[2].reason == "tier Gold -> Silver: the assigned tier's term ended"


def test_bad_tier_commands_write_nothing(store: Store, clock: ManualClock) -> None:
    engine = engine_for(club(), store, clock)
    before = snapshot(store, ["M1"], ["A1"])
    with pytest.raises(UnknownTier) as info:
        engine.assign_tier(
            "M1", "platinum", until=T0 + timedelta(days=1), id="A1", at=T0, reason="x", actor="s"
        )
    assert info.value.field == "tier" and "member, silver, gold" in info.value.message
    with pytest.raises(InvalidInput) as bad:
        engine.assign_tier("M1", "gold", until=T0, id="A1", at=T0, reason="x", actor="s")
    assert bad.value.field == "until"
    with pytest.raises(InvalidInput) as bad:
        engine.assign_tier("M1", "gold", until=T0 + timedelta(days=1), id="A1", at=T0, reason=" ", actor="s")
    assert bad.value.field == "reason"
    with pytest.raises(UnknownMember):
        engine.assign_tier("M9", "gold", until=T0 + timedelta(days=1), id="A1", at=T0, reason="x", actor="s")
    with pytest.raises(UnknownMember):
        engine.tier("M9")
    assert snapshot(store, ["M1"], ["A1"]) == before
    plain = Engine(Program("Club", "EUR"), open_store("memory://"), clock=clock)
    plain.enroll("M1", at=T0)
    with pytest.raises(UnknownTier) as info:
        plain.tier("M1")
    assert info.value.field == "tiers"


# -- every adapter ----------------------------------------------------------------------------


def test_the_tier_lifecycle_is_the_same_on_every_adapter(any_store: Store, clock: ManualClock) -> None:
    program = club(
        window="calendar_year", downgrade="review", review="fixed", review_on="01-01", grace_days=10
    )
    engine = engine_for(program, any_store, clock)
    assert buy(engine, clock, "P1", "2000.00", T0).tier_bonus == 250
    engine.assign_tier("M1", "gold", until=ams(2026, 6, 1), id="A1", at=T0, reason="goodwill", actor="staff")
    clock.now = ams(2026, 1, 11)
    report = engine.run_due()  # 2025 was empty: the earned tier falls, but gold stays assigned until June
    assert (report.tier_reviews, report.tier_changes) == (1, 0)
    status = engine.tier("M1")
    assert (status.tier.id, status.earned.id) == ("gold", "member")
    clock.now = ams(2026, 6, 1)
    engine.run_due()
    assert engine.tier("M1").tier.id == "member"
    assert engine.run_due().tier_reviews == 0
    assert engine.balance("M1").total == 2250
    assert len(moves(engine)) == 4


@pytest.mark.parametrize("policy", [Downgrade.NEVER, Downgrade.IMMEDIATE])
def test_policies_without_reviews_have_no_review_dates_on_lifetime_windows(
    store: Store, clock: ManualClock, policy: Downgrade
) -> None:
    engine = engine_for(club(downgrade=policy.value), store, clock)
    buy(engine, clock, "P1", "600.00", T0)
    status = engine.tier("M1")
    assert (status.tier.id, status.metric, status.review_at) == ("silver", Metric.POINTS, None)
    assert Tiers(levels=LEVELS).window is Window.LIFETIME


# -- found in review: late purchases, grace periods, versions, quotes ---------------------------


def review_club(**options: Any) -> Program:
    return club(window="calendar_year", downgrade="review", review="fixed", review_on="01-01", **options)


def test_a_late_purchase_in_an_old_window_does_not_bring_back_a_lost_tier(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(review_club(), store, clock, enrolled=ams(2023, 1, 5))
    buy(engine, clock, "P0", "600.00", ams(2023, 6, 1))
    clock.now = ams(2025, 1, 2)
    engine.run_due()  # 2024 was empty: silver is gone
    before = moves(engine)
    late = Purchase("P1", "M1", ams(2023, 7, 1), [Line("goods", 1, Decimal("1.00"))], "EUR")
    receipt = engine.record_purchase(late)
    assert (receipt.tier, receipt.tier_reached, receipt.tier_bonus) == ("member", None, 0)
    assert engine.tier("M1").tier.id == "member"
    assert moves(engine) == before  # up and straight down again is no move at all


def test_a_late_purchase_neither_lifts_nor_drops_a_tier_that_follows_the_window_now(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(
        club(window="calendar_year", downgrade="immediate"), store, clock, enrolled=ams(2024, 1, 2)
    )
    buy(engine, clock, "P1", "600.00", ams(2025, 2, 1))
    late = Purchase("P0", "M1", ams(2024, 12, 20), [Line("goods", 1, Decimal("600.00"))], "EUR")
    assert engine.record_purchase(late).tier_reached is None
    small = Purchase("P2", "M1", ams(2024, 12, 21), [Line("goods", 1, Decimal("1.00"))], "EUR")
    assert engine.record_purchase(small).tier == "silver"
    status = engine.tier("M1")
    assert (status.tier.id, status.value) == ("silver", Decimal(600))
    assert len(moves(engine)) == 1


def test_this_purchase_keeps_climbing_while_the_new_rate_reaches_further(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(club(upgrade="this_purchase"), store, clock)
    receipt = buy(engine, clock, "P1", "1300.00", T0)
    # 1300 reaches silver; at silver's rate it earns 1625, which reaches gold; at gold's, 1950.
    assert (receipt.points, receipt.tier, receipt.tier_reached, receipt.tier_bonus) == (
        1950,
        "gold",
        "gold",
        250,
    )
    assert engine.tier("M1").value == Decimal(1950)


def test_this_purchase_keeps_the_rate_that_reached_a_tier_whose_own_rate_would_not(
    store: Store, clock: ManualClock
) -> None:
    # Silver doubles, gold does not: 600 reaches silver, 1200 at silver's rate reaches gold,
    # but 600 at gold's rate would not. The purchase keeps silver's rate; its 1200 points count.
    # (Platinum, out of reach, leaves room for as many ratings as there are tiers.)
    levels = [*LEVELS[:1], Tier(id="silver", threshold=500, multiplier=2), Tier(id="gold", threshold=1000)]
    levels.append(Tier(id="platinum", threshold=100_000))
    tiers = Tiers(levels=levels, upgrade="this_purchase")
    engine = engine_for(Program("Club", "EUR", timezone="Europe/Amsterdam", tiers=tiers), store, clock)
    receipt = buy(engine, clock, "P1", "600.00", T0)
    assert (receipt.points, receipt.tier, receipt.tier_reached) == (1200, "silver", "gold")
    status = engine.tier("M1")
    assert (status.tier.id, status.value) == ("gold", Decimal(1200))


def test_a_quote_shows_what_recording_would_give(store: Store, clock: ManualClock) -> None:
    engine = engine_for(club(upgrade="this_purchase"), store, clock)
    basket = Purchase("P1", "M1", T0, [Line("goods", 1, Decimal("600.00"))], "EUR")
    quoted = engine.quote(basket)
    assert (quoted.points, quoted.tier, quoted.tier_reached, quoted.tier_bonus) == (
        750,
        "silver",
        "silver",
        50,
    )
    assert engine.explain(basket).points == 750
    recorded = engine.record_purchase(basket)
    assert (recorded.points, recorded.tier_reached, recorded.tier_bonus) == (750, "silver", 50)


def test_climbing_during_a_grace_period_cancels_the_review_that_fell_short(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(review_club(grace_days=30), store, clock)
    buy(engine, clock, "P1", "600.00", T0)  # silver for 2024
    # 2025 is empty; the review of 1 January 2026 would take silver on the 31st, but the member climbs first.
    buy(engine, clock, "P2", "2500.00", ams(2026, 1, 10))
    clock.now = ams(2026, 2, 1)
    assert engine.run_due().tier_changes == 0
    status = engine.tier("M1")
    assert (status.tier.id, status.review_at) == ("gold", ams(2027, 1, 1).astimezone(UTC))


def test_the_grace_period_counts_days_on_the_programs_clock_across_dst(
    store: Store, clock: ManualClock
) -> None:
    program = club(
        window="calendar_year", downgrade="review", review="fixed", review_on="10-15", grace_days=30
    )
    assert program.tiers is not None
    review_day = ams(2025, 10, 15)
    # Summer time ends on 26 October: 30 days later is still midnight in Amsterdam.
    assert program.tiers.effective_at(review_day.astimezone(UTC), AMS) == ams(2025, 11, 14).astimezone(UTC)


def test_the_earned_tier_moving_under_a_floor_is_on_the_record(store: Store, clock: ManualClock) -> None:
    engine = engine_for(club(metric="spend", downgrade="immediate"), store, clock)
    engine.assign_tier("M1", "gold", until=ams(2024, 6, 1), id="A1", at=T0, reason="match", actor="staff")
    buy(engine, clock, "P1", "600.00", T0)
    engine.record_return(Return("R1", "P1", clock.catch_up(T0 + timedelta(days=1))))
    reasons = [reason for _, reason in moves(engine)]
    assert reasons[1].startswith("tier Gold: reached Silver")
    assert (
        reasons[2].startswith("tier Gold: down to Member")
        and "gold stays assigned until 2024-06-01" in reasons[2]
    )
    assert engine.tier("M1").earned.id == "member"


def test_the_version_in_force_now_decides_tiers(store: Store, clock: ManualClock) -> None:
    first = club(metric="spend", downgrade="immediate")
    second = Program(
        "Club",
        "EUR",
        timezone="Europe/Amsterdam",
        tiers=Tiers(levels=LEVELS, metric="spend"),
        version="2",
        effective_from=ams(2024, 6, 1),
    )
    engine = Engine([first, second], store, clock=clock)
    engine.enroll("M1", at=T0)
    buy(engine, clock, "P1", "300.00", T0, quantity=2)
    clock.now = ams(2024, 7, 1)
    # Returned under version 2, which never downgrades: silver stays.
    engine.record_return(Return("R1", "P1", ams(2024, 7, 1), [Returned("goods", 1)]))
    assert engine.tier("M1").tier.id == "silver"


def test_a_policy_that_no_longer_downgrades_ignores_reviews_scheduled_before(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(review_club(), store, clock)
    buy(engine, clock, "P1", "600.00", T0)
    never = Program(
        "Club",
        "EUR",
        timezone="Europe/Amsterdam",
        tiers=Tiers(levels=LEVELS),
        version="2",
        effective_from=ams(2024, 6, 1),
    )
    later = Engine([review_club(), never], store, clock=clock)
    clock.now = ams(2026, 1, 2)
    assert later.tier("M1").tier.id == "silver"
    assert later.run_due().tier_changes == 0
    assert later.tier("M1").tier.id == "silver"


def test_an_assignment_retried_with_until_in_another_offset_is_the_same(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(club(), store, clock)
    until = ams(2024, 3, 1)
    first = engine.assign_tier("M1", "gold", until=until, id="A1", at=T0, reason="match", actor="staff")
    again = engine.assign_tier(
        "M1", "gold", until=until.astimezone(UTC), id="A1", at=T0, reason="match", actor="staff"
    )
    assert again == first


def test_activity_during_the_grace_period_keeps_the_tier_it_qualifies_for(
    store: Store, clock: ManualClock
) -> None:
    engine = engine_for(review_club(grace_days=30), store, clock)
    buy(engine, clock, "P1", "2000.00", T0)  # gold for 2024; 2025 stays empty
    buy(engine, clock, "P2", "600.00", ams(2026, 1, 10))  # silver's worth in 2026, during the grace period
    clock.now = ams(2026, 2, 1)
    assert engine.run_due().tier_changes == 1
    status = engine.tier("M1")
    assert (status.tier.id, status.review_at) == ("silver", ams(2027, 1, 1).astimezone(UTC))
