"""What a tier program refuses and how the refusal reads: the field or path it names and why, for a
tier's threshold and multiplier, the list of levels, options that do not go together and a member's
stored tier state (:mod:`loyalty.tiers`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from loyalty import ConfigError, InvalidInput, Program, Tier, Tiers
from loyalty.tiers import TierState
from tests.tiered_club import AMS, LEVELS


def refusal(make: Any, *args: Any, **options: Any) -> str:
    with pytest.raises(InvalidInput) as info:
        make(*args, **options)
    return str(info.value)


def tiers_refusal(**options: Any) -> str:
    return refusal(Tiers, levels=LEVELS, **options)


# -- one tier ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "shown"),
    [
        (Decimal(-1), "-1"),
        (Decimal("-0.01"), "-0.01"),
        (Decimal("Infinity"), "Infinity"),
        (Decimal("NaN"), "NaN"),
        ("500", "'500'"),
        (500.0, "500.0"),
        (True, "True"),
    ],
)
def test_a_threshold_is_a_finite_number_of_at_least_zero(threshold: object, shown: str) -> None:
    assert refusal(Tier, id="silver", threshold=threshold) == (
        f"threshold: must be a number of at least 0, got {shown}"
    )


def test_a_whole_threshold_is_taken_as_a_decimal_and_zero_is_allowed() -> None:
    assert Tier(id="silver", threshold=500).threshold == Decimal(500)
    assert isinstance(Tier(id="silver", threshold=500).threshold, Decimal)
    assert Tier(id="member", threshold=Decimal(0)).threshold == 0


@pytest.mark.parametrize(
    ("multiplier", "shown"),
    [
        (Decimal(0), "0"),
        (Decimal("-1.5"), "-1.5"),
        (Decimal("1000.01"), "1000.01"),
        (1001, "1001"),
        (Decimal("Infinity"), "Infinity"),
        (Decimal("NaN"), "NaN"),
        (1.5, "1.5"),
        ("2", "'2'"),
    ],
)
def test_a_multiplier_is_positive_and_at_most_a_thousand(multiplier: object, shown: str) -> None:
    assert refusal(Tier, id="gold", multiplier=multiplier) == (
        f"multiplier: must be positive and at most 1000, got {shown}"
    )


def test_a_multiplier_may_be_as_small_as_a_hundredth_or_as_large_as_a_thousand() -> None:
    assert Tier(id="gold", multiplier=Decimal("0.01")).multiplier == Decimal("0.01")
    assert Tier(id="gold", multiplier=1000).multiplier == Decimal(1000)


def test_a_program_files_tier_error_names_the_tier_and_its_field() -> None:
    levels = [{"id": "member"}, {"id": "silver", "threshold": 500, "multiplier": 0}]
    with pytest.raises(ConfigError) as info:
        Program.from_dict({"name": "Club", "currency": "EUR", "tiers": {"levels": levels}})
    assert info.value.problems == (
        ("tiers.levels[1].multiplier", "must be positive and at most 1000, got 0"),
    )


# -- the levels -------------------------------------------------------------------------------


def test_a_program_has_between_one_and_fifty_tiers() -> None:
    fifty = [Tier(id="t0"), *(Tier(id=f"t{i}", threshold=i) for i in range(1, 50))]
    assert len(Tiers(levels=fifty).levels) == 50
    assert refusal(Tiers, levels=[*fifty, Tier(id="t50", threshold=50)]) == "levels: at most 50 tiers, got 51"
    assert refusal(Tiers, levels=[]) == "levels: at least one tier is needed"
    assert refusal(Tiers, levels=None) == "levels: at least one tier is needed"


@pytest.mark.parametrize(
    ("levels", "problem"),
    [
        ("gold", "levels: must be a list of tiers, not str"),
        (b"gold", "levels: must be a list of tiers, not bytes"),
        ({"id": "member"}, "levels: must be a list of tiers, not dict"),
        (3, "levels: must be a list of tiers, not int"),
        ([LEVELS[0], {"id": "silver"}], "levels[1]: must be a Tier, got {'id': 'silver'}"),
    ],
)
def test_the_levels_are_a_list_of_tiers(levels: object, problem: str) -> None:
    assert refusal(Tiers, levels=levels) == problem


def test_a_repeated_tier_id_names_both_places() -> None:
    again = Tier(id="silver", threshold=3000)
    assert refusal(Tiers, levels=[*LEVELS, again]) == "levels[3].id: 'silver' is already the id of levels[1]"


def test_thresholds_climb_from_zero_and_visits_are_whole() -> None:
    assert refusal(Tiers, levels=[LEVELS[1]]) == (
        "levels[0].threshold: the lowest tier must have threshold 0, got 500"
    )
    assert refusal(Tiers, levels=[LEVELS[0], LEVELS[2], LEVELS[1]]) == (
        "levels[2].threshold: must be above levels[1]'s (1500), got 500"
    )
    halves = [Tier(id="member"), Tier(id="regular", threshold=2), Tier(id="friend", threshold=Decimal("4.5"))]
    assert refusal(Tiers, levels=halves, metric="visits") == "levels[2].threshold: visits are whole, got 4.5"
    assert Tiers(levels=halves).levels[2].threshold == Decimal("4.5")  # points and spend need not be whole


def test_the_lowest_tier_pays_no_entry_bonus() -> None:
    assert refusal(Tiers, levels=[Tier(id="member", bonus=5), LEVELS[1]]) == (
        "levels[0].bonus: members start in the lowest tier: it has no entry bonus"
    )


# -- options that do not go together --------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"window": "rolling"},
            "months: a rolling window needs months, and only a rolling window takes them",
        ),
        ({"months": 3}, "months: a rolling window needs months, and only a rolling window takes them"),
        ({"downgrade": "review", "review": "fixed"}, 'review_on: a fixed review needs its date, "MM-DD"'),
        ({"downgrade": "review", "review_on": "01-01"}, "review_on: only a fixed review takes a date"),
        (
            {"downgrade": "review", "review": "days"},
            "review_days: a review every so many days needs its number of days",
        ),
        (
            {"downgrade": "review", "review_days": 30},
            'review_days: only a review every so many days (review = "days") takes them',
        ),
        (
            {"downgrade": "review", "to_base": True, "one_step": True},
            "to_base: a downgrade goes one step or straight to the base tier, not both",
        ),
        (
            {"metric": "balance", "window": "calendar_year"},
            "window: a balance is what the member has now: it has no window",
        ),
        (
            {"metric": "balance", "downgrade": "review", "to_base": True},
            "to_base: a balance tier follows the balance: a review does not skip tiers",
        ),
        (
            {"metric": "balance", "downgrade": "review", "reset_on_downgrade": True},
            "reset_on_downgrade: a balance is not progress: it cannot be reset",
        ),
        (
            {"metric": "spend", "count_transfers": True},
            "count_transfers: only a points metric counts points received by transfer",
        ),
        (
            {"downgrade": "immediate", "reset_on_downgrade": True},
            "reset_on_downgrade: only a downgrade at review resets progress",
        ),
        (
            {"downgrade": "immediate", "review": "days", "review_days": 30},
            "review: only a downgrade at review has review dates",
        ),
        ({"grace_days": 5}, "grace_days: only a downgrade at review has a grace period"),
        ({"one_step": True}, "one_step: only a downgrade at review goes one step at a time"),
        ({"to_base": True}, "to_base: only a downgrade at review goes straight to the base tier"),
        (
            {"downgrade": "review", "window": "calendar_year"},
            "review: a calendar-year window is reviewed on a fixed date"
            ' (review = "fixed", review_on = "01-01")',
        ),
        (
            {"downgrade": "review", "window": "membership_year", "review": "days", "review_days": 30},
            "review: a membership-year window is reviewed on the anniversary",
        ),
    ],
)
def test_options_that_do_not_go_together_are_refused_by_the_option_at_fault(
    options: dict[str, Any], problem: str
) -> None:
    assert tiers_refusal(**options) == problem


@pytest.mark.parametrize("flag", ["one_step", "to_base", "reset_on_downgrade", "count_transfers"])
def test_a_yes_or_no_option_takes_only_true_or_false(flag: str) -> None:
    assert tiers_refusal(downgrade="review", **{flag: 1}) == f"{flag}: must be true or false, got 1"


# -- a member's stored tier state -------------------------------------------------------------


SINCE = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("field", ["tier", "earned", "floor"])
def test_a_tier_state_refuses_a_tier_that_is_not_an_id(field: str) -> None:
    state = {"member_id": "M1", "tier": "gold", "earned": "gold", "since": SINCE, field: "gold tier"}
    assert refusal(TierState, **state) == (
        f"{field}: must be 1-64 letters, digits or _.:- starting with a letter or digit, got 'gold tier'"
    )


@pytest.mark.parametrize("field", ["since", "review_at", "due_at", "floor_until"])
def test_a_tier_state_refuses_a_naive_time_by_its_field(field: str) -> None:
    state = {"member_id": "M1", "tier": "gold", "earned": "gold", "since": SINCE, field: datetime(2025, 1, 1)}
    assert refusal(TierState, **state) == (f"{field}: must be timezone-aware (naive datetimes are ambiguous)")


def test_a_tier_state_needs_only_the_tier_and_when_it_began() -> None:
    state = TierState("M1", "gold", "gold", SINCE)
    assert (state.review_at, state.due_at, state.floor, state.floor_until, state.reached) == (
        None,
        None,
        None,
        None,
        (),
    )
    assert refusal(TierState, "M1", "gold", "gold", None) == "since: must be a datetime, not NoneType"


def test_a_new_member_is_in_the_lowest_tier_since_enrollment_and_has_reached_it() -> None:
    enrolled = datetime(2024, 3, 5, 10, 0, tzinfo=AMS)
    state = TierState.initial("M1", Tiers(levels=LEVELS), enrolled)
    assert state == TierState("M1", "member", "member", enrolled, reached=("member",))
    assert state.since.tzinfo is UTC
