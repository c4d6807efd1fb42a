"""Tier policies as pure decisions: straight to the base tier, progress reset on the way down,
reviews every so many days, a metric on the current balance (:func:`loyalty.tier_moves.review`,
:func:`loyalty.tier_moves.upgrade`, :func:`loyalty.tier_decisions.decide`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

from loyalty import ConfigError, InvalidInput, Line, Program, Purchase, Tiers
from loyalty.config import program_to_toml
from loyalty.earning import Event
from loyalty.ledger import EntryKind
from loyalty.members import Member
from loyalty.plans import Account, Planner
from loyalty.tallies import Tally
from loyalty.tier_decisions import Settled, contribution, correction, decide, plan_moves
from loyalty.tier_moves import TierChange, review, upgrade, without_resets
from loyalty.tiers import TierState
from tests.tiered_club import AMS, LEVELS, YEARLY, club, yearly

ENROLLED = datetime(2024, 1, 10, 12, 0, tzinfo=AMS)


def ams(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=AMS)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def at_gold(tiers: Tiers, review_at: datetime) -> TierState:
    return TierState(
        "M1", "gold", "gold", utc(ENROLLED), review_at=utc(review_at), reached=("member", "gold")
    )


def by_year(values: dict[str, Decimal], tiers: Tiers) -> Callable[[datetime], Decimal]:
    """A calendar-year metric read from ``values`` (one bucket per year)."""
    return lambda at: sum((values.get(b, Decimal(0)) for b in tiers.buckets(at, AMS, ENROLLED)), Decimal(0))


def reviewed_by(
    tiers: Tiers, values: dict[str, Decimal], now: datetime
) -> tuple[TierState, list[TierChange]]:
    """A gold member's review of 1 January 2026 (and any due after it) carried out at ``now``."""

    def progress(bucket: str) -> Decimal:
        return values.get(bucket, Decimal(0))

    return review(
        at_gold(tiers, ams(2026, 1, 1)), tiers, utc(now), AMS, ENROLLED, by_year(values, tiers), progress
    )


# -- straight to the base tier ------------------------------------------------------------


def test_a_review_that_finds_the_member_short_drops_it_to_the_base_tier() -> None:
    values = {"2024": Decimal(2000), "2025": Decimal(600)}  # 2025 meets silver's 500, not gold's 1500
    assert reviewed_by(yearly(), values, ams(2026, 1, 2))[0].tier == "silver"
    after, moves = reviewed_by(yearly(to_base=True), values, ams(2026, 1, 2))
    assert (after.tier, after.earned, after.review_at) == ("member", "member", None)
    assert [(m.old, m.new, m.reason) for m in moves] == [
        (
            "gold",
            "member",
            "review of 2026-01-01: 600 points, below Gold's 1500; a downgrade goes to the base tier, Member",
        )
    ]


def test_a_review_that_keeps_the_tier_is_not_affected_by_to_base() -> None:
    tiers = yearly(to_base=True)
    values = {"2025": Decimal(1500)}
    after, moves = reviewed_by(tiers, values, ams(2026, 1, 2))
    assert (after.tier, moves, after.review_at) == ("gold", [], utc(ams(2027, 1, 1)))


def test_activity_during_the_grace_period_still_holds_the_tier_it_qualifies_for() -> None:
    tiers = yearly(to_base=True, grace_days=30)
    values = {"2025": Decimal(600), "2026": Decimal(700)}  # silver's worth in January 2026
    after, moves = reviewed_by(tiers, values, ams(2026, 2, 1))
    assert after.tier == "silver"
    assert moves[0].reason == "review of 2026-01-01: 600 points, below Gold's 1500"


@pytest.mark.parametrize(("to_base", "lands_in"), [(True, "member"), (False, "silver")])
def test_to_base_ignores_a_window_of_then_that_still_holds_what_the_review_judged(
    to_base: bool, lands_in: str
) -> None:
    # A rolling window reviewed every 90 days: the window in force when the downgrade takes
    # effect still holds the 600 points the review found short of gold, which meet silver.
    tiers = Tiers(
        levels=LEVELS,
        window="rolling",
        months=4,
        downgrade="review",
        review="days",
        review_days=90,
        to_base=to_base,
    )
    state = at_gold(tiers, ams(2024, 7, 8, 12))
    after, _ = review(
        state, tiers, utc(ams(2024, 7, 9)), AMS, ENROLLED, lambda _: Decimal(600), lambda _: Decimal(0)
    )
    assert after.tier == lands_in


# -- progress reset on the way down -----------------------------------------------------------


def test_a_downgrade_sets_the_progress_of_the_window_then_in_force_aside() -> None:
    tiers = yearly(grace_days=30, reset_on_downgrade=True)
    values = {"2025": Decimal(600), "2026": Decimal(700)}
    after, moves = reviewed_by(tiers, values, ams(2026, 2, 1))
    assert after.tier == "silver"
    assert moves[0].reset == (("2026", Decimal(700)),)
    assert moves[0].reason.endswith("; progress restarts at 0 (700 points set aside)")
    assert without_resets(by_year(values, tiers), moves, tiers, AMS, ENROLLED)(utc(ams(2026, 3, 1))) == 0


def test_reviews_caught_up_in_one_go_see_the_progress_an_earlier_one_set_aside() -> None:
    tiers = Tiers(levels=LEVELS, downgrade="review", review="days", review_days=100, reset_on_downgrade=True)
    values = {"all": Decimal(1000)}  # a lifetime window (one bucket), after a return took 1000 back
    # Maintenance did not run: the reviews of 19 April and 28 July are carried out on 1 August.
    state = at_gold(tiers, ams(2024, 4, 19, 12))
    after, moves = review(
        state,
        tiers,
        utc(ams(2024, 8, 1)),
        AMS,
        ENROLLED,
        lambda at: values["all"],
        lambda bucket: values[bucket],
    )
    assert [(m.old, m.new, m.reset) for m in moves] == [
        ("gold", "silver", (("all", Decimal(1000)),)),
        ("silver", "member", ()),  # the second review measured 0, not the 1000 set aside
    ]
    assert after.review_at is None


def test_a_downgrade_without_progress_in_the_window_resets_nothing() -> None:
    tiers = yearly(reset_on_downgrade=True)
    values = {"2025": Decimal(600)}
    _, moves = reviewed_by(tiers, values, ams(2026, 1, 2))
    assert (moves[0].reset, moves[0].reason) == ((), "review of 2026-01-01: 600 points, below Gold's 1500")


# -- reviews every so many days ---------------------------------------------------------------


def test_reviews_every_n_days_count_from_enrollment_on_the_programs_wall_clock() -> None:
    tiers = Tiers(levels=LEVELS, downgrade="review", review="days", review_days=90)
    # 90 days after 10 January is 9 April, after summer time began: still 12:00 in Amsterdam.
    assert tiers.next_review(utc(ENROLLED), AMS, ENROLLED) == utc(ams(2024, 4, 9, 12))
    assert tiers.next_review(utc(ams(2024, 4, 9, 11)), AMS, ENROLLED) == utc(ams(2024, 4, 9, 12))
    assert tiers.next_review(utc(ams(2024, 4, 9, 12)), AMS, ENROLLED) == utc(ams(2024, 7, 8, 12))
    assert tiers.next_review(utc(ams(2023, 6, 1)), AMS, ENROLLED) == utc(ams(2024, 4, 9, 12))
    assert tiers.next_review(utc(ams(2034, 1, 1)), AMS, ENROLLED) == utc(ams(2034, 2, 16, 12))


def test_a_review_every_n_days_schedules_the_next_one_a_cycle_on() -> None:
    tiers = Tiers(
        levels=LEVELS, window="rolling", months=4, downgrade="review", review="days", review_days=90
    )
    state = at_gold(tiers, ams(2024, 4, 9, 12))
    after, moves = review(
        state, tiers, utc(ams(2024, 4, 10)), AMS, ENROLLED, lambda _: Decimal(1600), lambda _: Decimal(0)
    )
    assert (after.tier, after.review_at, moves) == ("gold", utc(ams(2024, 7, 8, 12)), [])


# -- settings ---------------------------------------------------------------------------------


def test_the_new_options_round_trip_through_toml_and_json() -> None:
    program = club(
        window="rolling", months=3, downgrade="review", review="days", review_days=30, to_base=True
    )
    reset = club(downgrade="review", reset_on_downgrade=True, one_step=True)
    for each in (program, reset):
        assert Program.from_toml(program_to_toml(each)) == each
        assert Program.from_dict(each.to_dict()) == each


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"downgrade": "review", "review": "days"},
            ("tiers.review_days", "a review every so many days needs its number of days"),
        ),
        (
            {"downgrade": "review", "review": "days", "review_days": 0},
            ("tiers.review_days", "must be None or an int from 1 to 3660, got 0"),
        ),
        (
            {"downgrade": "review", "review": "days", "review_days": 2.5},
            ("tiers.review_days", "must be an int, not float 2.5"),
        ),
        (
            {"downgrade": "review", "review_days": 30},
            ("tiers.review_days", 'only a review every so many days (review = "days") takes them'),
        ),
        (
            {"review": "days", "review_days": 30},
            ("tiers.review", "only a downgrade at review has review dates"),
        ),
        (
            {"downgrade": "immediate", "to_base": True},
            ("tiers.to_base", "only a downgrade at review goes straight to the base tier"),
        ),
        (
            {"to_base": "yes", "downgrade": "review"},
            ("tiers.to_base", "must be true or false, not str 'yes'"),
        ),
        (
            {"downgrade": "review", "to_base": True, "one_step": True},
            ("tiers.to_base", "a downgrade goes one step or straight to the base tier, not both"),
        ),
        (
            {"downgrade": "immediate", "reset_on_downgrade": True},
            ("tiers.reset_on_downgrade", "only a downgrade at review resets progress"),
        ),
        ({"reset_on_downgrade": 1}, ("tiers.reset_on_downgrade", "must be true or false, not int 1")),
        (
            {"window": "membership_year", "downgrade": "review", "review": "days", "review_days": 30},
            ("tiers.review", "a membership-year window is reviewed on the anniversary"),
        ),
        (
            {"window": "calendar_year", "downgrade": "review", "review": "days", "review_days": 30},
            (
                "tiers.review",
                'a calendar-year window is reviewed on a fixed date (review = "fixed", review_on = "01-01")',
            ),
        ),
    ],
)
def test_bad_policy_options_are_refused_by_path(options: dict[str, Any], problem: tuple[str, str]) -> None:
    data = {
        "name": "Club",
        "currency": "EUR",
        "tiers": {"levels": [{"id": "member"}, {"id": "gold", "threshold": 10}], **options},
    }
    with pytest.raises(ConfigError) as info:
        Program.from_dict(data)
    assert list(info.value.problems) == [problem]
    with pytest.raises(InvalidInput):
        Tiers(levels=LEVELS, **options)


# -- the current balance ----------------------------------------------------------------------


def test_a_balance_tier_moves_both_ways_with_the_balance_under_a_downgrade_at_once() -> None:
    tiers = Tiers(levels=LEVELS, metric="balance", downgrade="immediate")
    start = TierState.initial("M1", tiers, ENROLLED)
    up, moves = upgrade(start, tiers, Decimal(1600), utc(ams(2024, 2, 1)), AMS, ENROLLED)
    assert (up.tier, moves[0].bonuses) == ("gold", ("silver", "gold"))
    assert moves[0].reason == "reached Gold: a balance of 1600 (threshold 1500)"
    down, moves = upgrade(up, tiers, Decimal(600), utc(ams(2024, 2, 2)), AMS, ENROLLED)
    assert (down.tier, moves[0].reason) == ("silver", "down to Silver: a balance of 600, below Gold's 1500")
    kept, moves = upgrade(
        up, Tiers(levels=LEVELS, metric="balance"), Decimal(600), utc(ams(2024, 2, 2)), AMS, ENROLLED
    )
    assert (kept.tier, moves) == ("gold", [])  # never: spending does not take a tier away


def test_a_purchase_adds_what_it_earns_to_a_balance_and_writes_no_metric_tally() -> None:
    program = club(metric="balance", downgrade="immediate")
    assert program.tiers is not None
    purchase = Purchase("P1", "M1", ENROLLED, [Line("goods", 1, Decimal("600.00"))], "EUR")
    decided = decide(
        program,
        program,
        purchase,
        Member("M1", ENROLLED),
        read={},
        balance=0,
        state=TierState.initial("M1", program.tiers, ENROLLED),
        now=utc(ENROLLED),
        measure=lambda _: Decimal(400),  # 400 points before the purchase
        progress=lambda _: Decimal(400),
    )
    assert (decided.state.tier, decided.receipt.tier_reached) == ("silver", "silver")
    assert not [key for key in decided.deltas if key.startswith("tier|")]
    # 1050 more: 1450 reaches silver, whose bonus of 50 takes the balance to gold's 1500.
    chained = decide(
        program,
        program,
        attrs.evolve(purchase, lines=[Line("goods", 1, Decimal("1050.00"))]),
        Member("M1", ENROLLED),
        read={},
        balance=0,
        state=TierState.initial("M1", program.tiers, ENROLLED),
        now=utc(ENROLLED),
        measure=lambda _: Decimal(400),
        progress=lambda _: Decimal(400),
    )
    assert [(m.old, m.new, m.bonuses) for m in chained.moves] == [
        ("member", "silver", ("silver",)),
        ("silver", "gold", ("gold",)),
    ]
    assert (chained.receipt.tier_reached, chained.receipt.tier_bonus) == ("gold", 250)
    assert correction(program, Member("M1", ENROLLED), purchase, 600, purchase, None) == {}


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"window": "calendar_year"},
            ("tiers.window", "a balance is what the member has now: it has no window"),
        ),
        (
            {"downgrade": "review", "reset_on_downgrade": True},
            ("tiers.reset_on_downgrade", "a balance is not progress: it cannot be reset"),
        ),
        (
            {"downgrade": "review", "to_base": True},
            ("tiers.to_base", "a balance tier follows the balance: a review does not skip tiers"),
        ),
    ],
)
def test_a_balance_has_no_window_and_no_reset(options: dict[str, Any], problem: tuple[str, str]) -> None:
    data = {
        "name": "Club",
        "currency": "EUR",
        "tiers": {"levels": [{"id": "member"}], "metric": "balance", **options},
    }
    with pytest.raises(ConfigError) as info:
        Program.from_dict(data)
    assert list(info.value.problems) == [problem]
    program = club(metric="balance", downgrade="review", review="days", review_days=30)
    assert Program.from_toml(program_to_toml(program)) == program


def _bought(*amounts: str) -> Purchase:
    lines = [Line(f"item{i}", 1, Decimal(amount)) for i, amount in enumerate(amounts)]
    return Purchase("P1", "M1", ams(2024, 5, 1, 12), lines, "EUR")


@pytest.mark.parametrize(
    ("metric", "was", "now_is", "change"),
    [
        # A 60.00 shirt back out of a 65.00 receipt, then the rest too (a void).
        ("points", ("60.00", "5.00"), ("5.00",), Tally(0, Decimal(-60))),
        ("spend", ("60.00", "5.00"), ("5.00",), Tally(0, Decimal("-60.00"))),
        ("spend", ("60.00", "5.00"), None, Tally(0, Decimal("-65.00"))),
        ("visits", ("60.00", "5.00"), None, Tally(-1, Decimal(0))),
        # Nothing known of the receipt before: it counts from zero.
        ("spend", None, ("5.00",), Tally(0, Decimal("5.00"))),
    ],
)
def test_a_return_takes_off_the_metric_exactly_what_it_changes(
    metric: str, was: tuple[str, ...] | None, now_is: tuple[str, ...] | None, change: Tally
) -> None:
    program = club(metric=metric)
    before = None if was is None else _bought(*was)
    after = None if now_is is None else _bought(*now_is)
    taken = correction(program, Member("M1", ENROLLED), _bought("1.00"), 60, before, after)
    assert taken == {f"tier|{metric}|all|M1": change}


@pytest.mark.parametrize(
    ("metric", "was", "now_is"),
    [
        ("visits", ("60.00", "5.00"), ("5.00",)),  # the visit stays while any of it is kept
        ("spend", None, None),
        ("points", ("5.00",), ("5.00",)),
    ],
)
def test_a_return_that_changes_no_metric_writes_no_tally(
    metric: str, was: tuple[str, ...] | None, now_is: tuple[str, ...] | None
) -> None:
    program = club(metric=metric)
    before = None if was is None else _bought(*was)
    after = None if now_is is None else _bought(*now_is)
    take = 0 if metric == "points" else 60
    assert correction(program, Member("M1", ENROLLED), _bought("1.00"), take, before, after) == {}


@pytest.mark.parametrize(
    ("metric", "adds"),
    [
        ("points", Tally(0, Decimal(40))),
        ("balance", Tally(0, Decimal(40))),
        ("spend", Tally(0, Decimal("65.00"))),
        ("visits", Tally(1, Decimal(0))),
    ],
)
def test_a_purchase_adds_to_the_metric_only_what_it_measures(metric: str, adds: Tally) -> None:
    tiers = Tiers(levels=LEVELS, metric=metric)
    assert contribution(tiers, _bought("60.00", "5.00"), 40) == adds


@pytest.mark.parametrize(
    ("metric", "adds"), [("spend", Tally()), ("visits", Tally()), ("points", Tally(0, Decimal(20)))]
)
def test_an_event_adds_its_points_but_is_neither_spend_nor_a_visit(metric: str, adds: Tally) -> None:
    survey = Event("E1", "M1", "survey", ams(2024, 5, 1, 12))
    assert contribution(Tiers(levels=LEVELS, metric=metric), survey, 20) == adds


@pytest.mark.parametrize(
    ("metric", "held", "taken"),
    [("visits", Decimal(3), Tally(-3, Decimal(0))), ("points", Decimal(700), Tally(0, Decimal(-700)))],
)
def test_a_downgrade_that_resets_writes_the_move_the_event_and_the_progress_taken_off(
    metric: str, held: Decimal, taken: Tally
) -> None:
    program = club(**YEARLY, metric=metric, reset_on_downgrade=True)
    at = utc(ams(2026, 1, 1))
    move = TierChange(at, "gold", "silver", "review of 2026-01-01", earned="silver", reset=(("2025", held),))
    state = TierState("M1", "silver", "silver", utc(ENROLLED), reached=("member", "silver", "gold"))
    planner = Planner([Account("M1", 0)])
    recorded = plan_moves(
        planner, program, "M1", Settled(state, None, [move]), source="S1", now=at, versions=(program,)
    )
    plan = planner.plan()
    assert recorded == state
    assert plan.tallies == {f"tier|{metric}|2025|M1": taken}
    assert [(p.kind, p.points, p.reason, p.program_version) for p in plan.postings] == [
        (EntryKind.TIER, 0, "tier Gold -> Silver: review of 2026-01-01", program.version)
    ]
    assert [e.data for e in plan.events] == [
        {"old": "gold", "new": "silver", "earned": "silver", "reason": "review of 2026-01-01"}
    ]


def test_a_state_as_stored_or_a_member_still_at_the_start_records_nothing() -> None:
    program = club()
    assert program.tiers is not None
    since = utc(ENROLLED)
    start = TierState.initial("M1", program.tiers, since)
    silver = TierState("M1", "silver", "silver", since, reached=("member", "silver"))

    def recorded(settled: Settled) -> TierState | None:
        return plan_moves(
            Planner([Account("M1", 0)]), program, "M1", settled, source="S1", now=since, versions=()
        )

    assert recorded(Settled(silver, silver, [])) is None
    assert recorded(Settled(start, None, [])) is None
    assert recorded(Settled(start, silver, [])) == start  # back at the start: the stored row changes


def test_a_move_past_a_tier_without_a_bonus_still_pays_the_next_ones() -> None:
    program = club()
    at = utc(ams(2024, 5, 1, 12))
    move = TierChange(at, "member", "silver", "600 points", bonuses=("member", "silver"), earned="silver")
    state = TierState("M1", "silver", "silver", at, reached=("member", "silver"))
    planner = Planner([Account("M1", 0)])
    plan_moves(planner, program, "M1", Settled(state, None, [move]), source="S1", now=at, versions=(program,))
    assert [(p.kind, p.points, p.reason, p.program_version) for p in planner.plan().postings] == [
        (EntryKind.TIER, 0, "tier Member -> Silver: 600 points", "1"),
        (EntryKind.EARN, 50, "entry bonus for reaching Silver", "1"),
    ]
