"""What activity, reviews and assignments do to a member's tier, decided purely
(:mod:`loyalty.tier_moves`): when a review or the end of an assigned tier takes effect on the
program's wall clock, which review a move up schedules, what a floor holds, and the progress a
downgrade sets aside in the window of the program's zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from loyalty import Tiers
from loyalty.tier_moves import TierChange, assign, progress_without_resets, review, upgrade, without_resets
from loyalty.tiers import TierState
from tests.tiered_club import AMS, LEVELS, yearly

NEW_YORK = ZoneInfo("America/New_York")
ENROLLED = datetime(2024, 1, 10, 12, 0, tzinfo=AMS)


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS).astimezone(UTC)


def by_bucket(values: dict[str, Decimal], tiers: Tiers, zone: tzinfo) -> Callable[[datetime], Decimal]:
    """The metric at an instant: the sum of ``values`` over the stretches of its window."""

    def measure(at: datetime) -> Decimal:
        return sum((values.get(b, Decimal(0)) for b in tiers.buckets(at, zone, ENROLLED)), Decimal(0))

    return measure


def progress_in(values: dict[str, Decimal]) -> Callable[[str], Decimal]:
    return lambda bucket: values.get(bucket, Decimal(0))


def state(
    tier: str,
    earned: str,
    *,
    review_at: datetime | None = None,
    due_at: datetime | None = None,
    floor: str | None = None,
    floor_until: datetime | None = None,
) -> TierState:
    """A member enrolled on 10 January 2024, with the entry bonuses up to ``earned`` paid."""
    ids = [level.id for level in LEVELS]
    reached = tuple(ids[: ids.index(earned) + 1])
    return TierState("M1", tier, earned, ams(2024, 1, 10, 12), review_at, due_at, floor, floor_until, reached)


# -- a review's grace period and the end of an assigned tier, on the wall clock ---------------

# Reviewed on 15 March, a downgrade taking effect 30 days later: after summer time began.
MARCH = Tiers(
    levels=LEVELS,
    window="rolling",
    months=12,
    downgrade="review",
    review="fixed",
    review_on="03-15",
    grace_days=30,
)


def test_a_downgrade_takes_effect_grace_days_after_its_review_at_midnight_in_the_programs_zone() -> None:
    gold = state("gold", "gold", review_at=ams(2026, 3, 15), due_at=ams(2026, 4, 14))
    measure = by_bucket({"2025-09": Decimal(600)}, MARCH, AMS)
    not_yet, none = review(gold, MARCH, ams(2026, 4, 13, 23, 59), AMS, ENROLLED, measure, progress_in({}))
    assert (not_yet.tier, not_yet.due_at, none) == ("gold", ams(2026, 4, 14), [])
    after, moves = review(gold, MARCH, ams(2026, 4, 14, 0, 30), AMS, ENROLLED, measure, progress_in({}))
    assert moves == [
        TierChange(
            ams(2026, 4, 14),
            "gold",
            "silver",
            "review of 2026-03-15: 600 points, below Gold's 1500",
            earned="silver",
        )
    ]
    assert (after.tier, after.since) == ("silver", ams(2026, 4, 14))
    assert (after.review_at, after.due_at) == (ams(2027, 3, 15), ams(2027, 4, 14))


def test_the_end_of_an_assigned_tier_leaves_the_next_review_due_at_midnight_in_the_programs_zone() -> None:
    floored = state(
        "gold",
        "silver",
        review_at=ams(2026, 3, 15),
        floor="gold",
        floor_until=ams(2026, 2, 1),
        due_at=ams(2026, 2, 1),
    )
    measure = by_bucket({"2025-09": Decimal(600)}, MARCH, AMS)
    after, moves = review(floored, MARCH, ams(2026, 2, 2), AMS, ENROLLED, measure, progress_in({}))
    assert moves == [
        TierChange(ams(2026, 2, 1), "gold", "silver", "the assigned tier's term ended", earned="silver")
    ]
    assert (after.tier, after.earned, after.floor, after.floor_until) == ("silver", "silver", None, None)
    assert after.due_at == ams(2026, 4, 14)


def test_an_assigned_tier_ending_once_the_member_has_earned_it_records_nothing() -> None:
    floored = state("gold", "gold", review_at=ams(2027, 3, 15), floor="gold", floor_until=ams(2026, 2, 1))
    measure = by_bucket({"2025-09": Decimal(1600)}, MARCH, AMS)
    after, moves = review(floored, MARCH, ams(2026, 2, 2), AMS, ENROLLED, measure, progress_in({}))
    assert moves == []
    assert (after.tier, after.floor, after.floor_until, after.due_at) == (
        "gold",
        None,
        None,
        ams(2027, 4, 14),
    )


# -- assigned tiers -------------------------------------------------------------------------


def test_an_assigned_tier_above_the_earned_one_is_in_force_until_the_next_review_falls_due() -> None:
    silver = state("silver", "silver", review_at=ams(2026, 3, 15))
    after, moves = assign(silver, MARCH, AMS, "gold", ams(2026, 6, 1), ams(2026, 2, 1), "goodwill")
    assert moves == [TierChange(ams(2026, 2, 1), "silver", "gold", "goodwill", earned="silver")]
    assert (after.tier, after.earned, after.floor, after.floor_until) == (
        "gold",
        "silver",
        "gold",
        ams(2026, 6, 1),
    )
    assert after.due_at == ams(2026, 4, 14)  # the review's effect comes before the floor's end


def test_assigning_a_tier_below_the_earned_one_moves_nothing_but_is_on_the_record() -> None:
    gold = state("gold", "gold", review_at=ams(2027, 3, 15))
    after, moves = assign(gold, MARCH, AMS, "silver", ams(2026, 6, 1), ams(2026, 2, 1), "goodwill")
    assert moves == [TierChange(ams(2026, 2, 1), "gold", "gold", "goodwill")]
    assert (after.tier, after.earned, after.floor) == ("gold", "gold", "silver")


def test_a_move_of_the_earned_tier_under_an_assigned_one_is_noted_with_the_assignments_last_local_day() -> (
    None
):
    floored = state("gold", "member", floor="gold", floor_until=ams(2026, 6, 1))
    after, moves = upgrade(floored, MARCH, Decimal(600), ams(2026, 2, 1), AMS, ENROLLED)
    note = (
        "reached Silver: 600 points (threshold 500); earned tier now Silver;"
        " gold stays assigned until 2026-06-01"
    )
    assert moves == [TierChange(ams(2026, 2, 1), "gold", "gold", note, bonuses=("silver",))]
    assert (after.tier, after.earned) == ("gold", "silver")


def test_reaching_the_assigned_tier_after_its_term_ended_notes_the_earned_tier_alone() -> None:
    # The floor ended on 1 February and no review has carried out its end yet.
    floored = state("gold", "silver", floor="gold", floor_until=ams(2026, 2, 1))
    after, moves = upgrade(floored, MARCH, Decimal(1600), ams(2026, 2, 3), AMS, ENROLLED)
    note = "reached Gold: 1600 points (threshold 1500); earned tier now Gold"
    assert moves == [TierChange(ams(2026, 2, 3), "gold", "gold", note, bonuses=("gold",))]
    assert (after.tier, after.floor, after.floor_until) == ("gold", None, None)


def test_a_tier_assigned_under_a_version_that_dropped_it_does_not_hold_a_downgrade() -> None:
    # "platinum" was assigned until 2027; the version in force has no such tier.
    floored = state(
        "silver", "silver", review_at=ams(2026, 3, 15), floor="platinum", floor_until=ams(2027, 1, 1)
    )
    measure = by_bucket({"2025-09": Decimal(100)}, MARCH, AMS)
    after, moves = review(floored, MARCH, ams(2026, 5, 1), AMS, ENROLLED, measure, progress_in({}))
    assert [(m.old, m.new) for m in moves] == [("silver", "member")]
    assert after.tier == "member"


# -- moves up and the review they schedule --------------------------------------------------

EVERY_90_DAYS = Tiers(
    levels=LEVELS, window="rolling", months=4, downgrade="review", review="days", review_days=90
)


def test_a_move_up_keeps_a_review_already_scheduled_later() -> None:
    # Scheduled under an earlier version that reviewed once a year.
    silver = state("silver", "silver", review_at=ams(2025, 1, 10, 12))
    after, _ = upgrade(silver, EVERY_90_DAYS, Decimal(1600), ams(2024, 3, 1), AMS, ENROLLED)
    assert (after.tier, after.review_at) == ("gold", ams(2025, 1, 10, 12))


def test_a_move_up_past_an_overdue_review_schedules_the_review_after_the_window_it_qualified_in() -> None:
    silver = state("silver", "silver", review_at=ams(2024, 4, 9, 12))
    after, _ = upgrade(silver, EVERY_90_DAYS, Decimal(1600), ams(2024, 5, 1), AMS, ENROLLED)
    assert (after.tier, after.review_at) == ("gold", ams(2024, 7, 8, 12))


def test_a_move_up_of_a_member_never_reviewed_schedules_its_first_review() -> None:
    # Silver under an earlier version that never moved members down.
    silver = state("silver", "silver")
    after, _ = upgrade(silver, EVERY_90_DAYS, Decimal(1600), ams(2024, 3, 1), AMS, ENROLLED)
    assert (after.tier, after.review_at, after.due_at) == ("gold", ams(2024, 4, 9, 12), ams(2024, 4, 9, 12))


def test_a_member_back_at_the_base_tier_under_a_downgrade_at_once_is_due_for_nothing() -> None:
    tiers = Tiers(levels=LEVELS, window="rolling", months=3, downgrade="immediate")
    start = TierState.initial("M1", tiers, ENROLLED)
    silver, _ = upgrade(start, tiers, Decimal(600), ams(2024, 1, 15), AMS, ENROLLED)
    assert (silver.tier, silver.due_at) == ("silver", ams(2024, 2, 1))
    after, moves = upgrade(silver, tiers, Decimal(100), ams(2024, 1, 20), AMS, ENROLLED)
    assert [m.reason for m in moves] == ["down to Member: 100 points, below Silver's 500"]
    assert (after.tier, after.due_at) == ("member", None)


# -- straight to the base tier, in the program's zone ---------------------------------------


@pytest.mark.parametrize("zone", [AMS, NEW_YORK], ids=["east of UTC", "west of UTC"])
def test_to_base_still_holds_what_the_new_years_activity_meets(zone: ZoneInfo) -> None:
    # The window in force on 1 January is the new year, which the review did not judge.
    tiers = yearly(to_base=True)
    review_at = datetime(2026, 1, 1, tzinfo=zone).astimezone(UTC)
    gold = state("gold", "gold", review_at=review_at)
    values = {"2025": Decimal(600), "2026": Decimal(700)}
    now = datetime(2026, 2, 1, tzinfo=zone)
    after, moves = review(
        gold, tiers, now, zone, ENROLLED, by_bucket(values, tiers, zone), progress_in(values)
    )
    assert [(m.at, m.new, m.reason) for m in moves] == [
        (review_at, "silver", "review of 2026-01-01: 600 points, below Gold's 1500")
    ]
    assert after.tier == "silver"


def test_to_base_still_holds_what_the_new_membership_years_activity_meets() -> None:
    tiers = Tiers(levels=LEVELS, window="membership_year", downgrade="review", to_base=True)
    gold = state("gold", "gold", review_at=ams(2025, 1, 10, 12))
    values = {"y0": Decimal(600), "y1": Decimal(700)}
    after, moves = review(
        gold, tiers, ams(2025, 2, 1), AMS, ENROLLED, by_bucket(values, tiers, AMS), progress_in(values)
    )
    assert [(m.new, m.reason) for m in moves] == [
        ("silver", "review of 2025-01-10: 600 points, below Gold's 1500")
    ]
    assert after.tier == "silver"


# -- progress set aside on the way down -----------------------------------------------------


def test_a_review_the_member_passes_sets_no_progress_aside() -> None:
    tiers = yearly(reset_on_downgrade=True)
    values = {"2025": Decimal(1500), "2026": Decimal(300)}
    gold = state("gold", "gold", review_at=ams(2026, 1, 1))
    after, moves = review(
        gold, tiers, ams(2026, 2, 1), AMS, ENROLLED, by_bucket(values, tiers, AMS), progress_in(values)
    )
    assert (moves, after.tier, after.review_at) == ([], "gold", ams(2027, 1, 1))


def test_reviews_caught_up_years_later_each_set_aside_their_own_years_progress() -> None:
    tiers = yearly(reset_on_downgrade=True)
    values = {"2025": Decimal(600), "2026": Decimal(300), "2027": Decimal(200)}
    gold = state("gold", "gold", review_at=ams(2026, 1, 1))
    after, moves = review(
        gold, tiers, ams(2027, 2, 1), AMS, ENROLLED, by_bucket(values, tiers, AMS), progress_in(values)
    )
    assert [(m.at, m.new, m.reset, m.reason) for m in moves] == [
        (
            ams(2026, 1, 1),
            "silver",
            (("2026", Decimal(300)),),
            "review of 2026-01-01: 600 points, below Gold's 1500;"
            " progress restarts at 0 (300 points set aside)",
        ),
        (
            ams(2027, 1, 1),
            "member",
            (("2027", Decimal(200)),),
            "review of 2027-01-01: 0 points, below Silver's 500;"
            " progress restarts at 0 (200 points set aside)",
        ),
    ]
    assert (after.tier, after.review_at) == ("member", None)


def test_the_new_years_activity_at_the_threshold_holds_the_tier_a_caught_up_review_would_take() -> None:
    # 2026's 700 points were set aside by the first review; the second finds 2026 empty, but
    # 2027 (the window in force when it takes effect, from midnight in Amsterdam) holds 500.
    tiers = yearly(reset_on_downgrade=True)
    values = {"2025": Decimal(600), "2026": Decimal(700), "2027": Decimal(500)}
    gold = state("gold", "gold", review_at=ams(2026, 1, 1))
    after, moves = review(
        gold, tiers, ams(2027, 2, 1), AMS, ENROLLED, by_bucket(values, tiers, AMS), progress_in(values)
    )
    assert [(m.new, m.reset) for m in moves] == [("silver", (("2026", Decimal(700)),))]
    assert (after.tier, after.review_at) == ("silver", ams(2028, 1, 1))


def test_membership_year_reviews_set_aside_the_progress_of_the_year_each_begins() -> None:
    tiers = Tiers(levels=LEVELS, window="membership_year", downgrade="review", reset_on_downgrade=True)
    values = {"y0": Decimal(600), "y1": Decimal(300), "y2": Decimal(100)}
    gold = state("gold", "gold", review_at=ams(2025, 1, 10, 12))
    after, moves = review(
        gold, tiers, ams(2026, 2, 1), AMS, ENROLLED, by_bucket(values, tiers, AMS), progress_in(values)
    )
    assert [(m.at, m.new, m.reset) for m in moves] == [
        (ams(2025, 1, 10, 12), "silver", (("y1", Decimal(300)),)),
        (ams(2026, 1, 10, 12), "member", (("y2", Decimal(100)),)),
    ]
    assert after.tier == "member"


def test_progress_set_aside_twice_in_one_stretch_is_taken_off_for_each() -> None:
    tiers = Tiers(levels=LEVELS, downgrade="review", reset_on_downgrade=True)
    changes = [
        TierChange(
            ams(2025, 1, 10, 12), "gold", "silver", "review", earned="silver", reset=(("all", Decimal(300)),)
        ),
        TierChange(
            ams(2026, 1, 10, 12),
            "silver",
            "member",
            "review",
            earned="member",
            reset=(("all", Decimal(200)),),
        ),
    ]
    counted = without_resets(lambda _: Decimal(1000), changes, tiers, AMS, ENROLLED)
    assert counted(ams(2026, 2, 1)) == Decimal(500)
    assert progress_without_resets(progress_in({"all": Decimal(1000)}), changes)("all") == Decimal(500)


def test_progress_set_aside_in_one_month_leaves_the_others_whole() -> None:
    tiers = Tiers(levels=LEVELS, window="rolling", months=3, downgrade="review", reset_on_downgrade=True)
    values = {"2026-01": Decimal(100), "2026-02": Decimal(50), "2026-03": Decimal(20)}
    changes = [
        TierChange(
            ams(2026, 1, 20), "gold", "silver", "review", earned="silver", reset=(("2026-01", Decimal(100)),)
        )
    ]
    assert without_resets(by_bucket(values, tiers, AMS), changes, tiers, AMS, ENROLLED)(ams(2026, 3, 5)) == 70
    progress = progress_without_resets(progress_in(values), changes)
    assert [progress(month) for month in values] == [Decimal(0), Decimal(50), Decimal(20)]
