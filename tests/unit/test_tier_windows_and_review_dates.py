"""Which tier a value meets, which stretch of time activity counts in, and when the window moves on
and reviews fall: on the program's wall clock, around midnight, new year and the end of the
calendar (:class:`loyalty.tiers.Tiers`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from loyalty import Tiers
from tests.tiered_club import AMS, LEVELS

NEW_YORK = ZoneInfo("America/New_York")


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# -- levels -----------------------------------------------------------------------------------


def test_a_value_reaches_every_tier_up_to_the_highest_threshold_it_meets() -> None:
    tiers = Tiers(levels=LEVELS)  # member, silver from 500, gold from 1,500
    reached = {
        value: [tier.id for tier in tiers.reached(Decimal(value))] for value in ("499.99", "500", "1499")
    }
    assert reached == {"499.99": ["member"], "500": ["member", "silver"], "1499": ["member", "silver"]}
    assert [tier.id for tier in tiers.reached(Decimal(1500))] == ["member", "silver", "gold"]
    assert tiers.level_for(Decimal(1500)) == 2


def test_progress_below_zero_is_the_lowest_tier() -> None:
    # A return of a purchase whose progress a reset already set aside can leave it negative.
    tiers = Tiers(levels=LEVELS)
    assert tiers.level_for(Decimal(-750)) == 0
    assert [tier.id for tier in tiers.reached(Decimal(-750))] == ["member"]


def test_a_tier_a_later_version_dropped_or_no_tier_counts_as_the_lowest() -> None:
    tiers = Tiers(levels=LEVELS)
    assert (tiers.position("gold"), tiers.position("platinum"), tiers.position(None)) == (2, 0, 0)
    assert tiers.tier("platinum").id == "member"
    assert tiers.tier("silver").id == "silver"


# -- membership years -------------------------------------------------------------------------


def test_a_membership_year_turns_on_the_anniversary_on_the_programs_wall_clock() -> None:
    # 00:30 in Amsterdam is still the day before in UTC: the anniversary is 28 February at 00:30
    # Amsterdam time, not a day later.
    enrolled = ams(2024, 2, 29, 0, 30)
    tiers = Tiers(levels=LEVELS, window="membership_year", downgrade="review")
    assert tiers.bucket(ams(2025, 2, 28, 0, 29), AMS, enrolled) == "y0"
    assert tiers.bucket(ams(2025, 2, 28, 0, 30), AMS, enrolled) == "y1"
    assert tiers.next_boundary(ams(2024, 6, 1), AMS, enrolled) == utc(ams(2025, 2, 28, 0, 30))
    assert tiers.next_review(ams(2024, 6, 1), AMS, enrolled) == utc(ams(2025, 2, 28, 0, 30))
    # Later that day, the next boundary and review are a year on.
    assert tiers.next_boundary(ams(2025, 2, 28, 12), AMS, enrolled) == utc(ams(2026, 2, 28, 0, 30))
    assert tiers.next_review(ams(2025, 2, 28, 12), AMS, enrolled) == utc(ams(2026, 2, 28, 0, 30))


def test_a_membership_year_keeps_the_enrollments_time_of_day_across_summer_time() -> None:
    # Enrolled the day before summer time began in 2024; in 2025 summer time began on that date.
    enrolled = ams(2024, 3, 30, 10)
    tiers = Tiers(levels=LEVELS, window="membership_year")
    assert tiers.next_boundary(ams(2024, 6, 1), AMS, enrolled) == datetime(2025, 3, 30, 8, tzinfo=UTC)


def test_membership_years_are_counted_across_new_year_in_the_programs_timezone() -> None:
    tiers = Tiers(levels=LEVELS, window="membership_year")
    # In Amsterdam, just after midnight on 1 January is still the old year in UTC.
    assert tiers.bucket(ams(2025, 1, 1, 0, 45), AMS, ams(2024, 1, 1, 0, 30)) == "y1"
    # In New York, the evening of 31 December is already the new year in UTC.
    assert tiers.bucket(new_york(2024, 12, 31, 21), NEW_YORK, new_york(2023, 12, 31, 20)) == "y1"
    assert tiers.bucket(new_york(2024, 12, 31, 19), NEW_YORK, new_york(2023, 12, 31, 20)) == "y0"


def test_activity_dated_before_enrollment_counts_in_the_first_membership_year() -> None:
    tiers = Tiers(levels=LEVELS, window="membership_year")
    assert tiers.bucket(ams(2024, 1, 5), AMS, ams(2024, 3, 1)) == "y0"


def test_membership_years_are_counted_to_the_end_of_the_calendar() -> None:
    # The anniversary in the calendar's last year falls after its last instant in UTC.
    enrolled = new_york(2024, 12, 31, 20)
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)  # 18:59 in New York, before the anniversary
    tiers = Tiers(levels=LEVELS, window="membership_year")
    assert tiers.bucket(last, NEW_YORK, enrolled) == "y7974"


# -- calendar years, months and reviews --------------------------------------------------------------


def test_a_calendar_year_ends_at_midnight_on_new_years_eve_in_the_programs_timezone() -> None:
    tiers = Tiers(levels=LEVELS, window="calendar_year")
    boundary = tiers.next_boundary(ams(2024, 6, 1), AMS, ams(2024, 3, 1))
    assert boundary == datetime(2024, 12, 31, 23, tzinfo=UTC)
    assert boundary is not None and boundary.tzinfo is UTC


def test_a_rolling_window_reaches_back_across_new_year() -> None:
    tiers = Tiers(levels=LEVELS, window="rolling", months=3)
    assert tiers.buckets(ams(2024, 2, 10), AMS, ams(2020, 1, 1)) == ["2023-12", "2024-01", "2024-02"]


def test_a_downgrade_at_once_is_looked_at_when_the_window_moves_on() -> None:
    enrolled = ams(2024, 2, 29, 0, 30)
    tiers = Tiers(levels=LEVELS, window="membership_year", downgrade="immediate")
    assert tiers.next_review(ams(2024, 6, 1), AMS, enrolled) == utc(ams(2025, 2, 28, 0, 30))
    assert Tiers(levels=LEVELS).next_review(ams(2024, 6, 1), AMS, enrolled) is None


def test_a_fixed_review_falls_on_its_day_and_month_and_next_year_once_passed() -> None:
    tiers = Tiers(levels=LEVELS, downgrade="review", review="fixed", review_on="10-15")
    enrolled = ams(2024, 3, 1)
    assert tiers.next_review(ams(2024, 6, 1), AMS, enrolled) == utc(ams(2024, 10, 15))
    assert tiers.next_review(ams(2024, 10, 15), AMS, enrolled) == utc(ams(2025, 10, 15))


def test_a_daily_review_still_to_come_that_evening_is_the_next_one() -> None:
    # 21:00 in New York is already the next day in UTC; the day's 22:00 review has not happened yet.
    tiers = Tiers(levels=LEVELS, downgrade="review", review="days", review_days=1)
    enrolled = new_york(2024, 1, 1, 22)
    assert tiers.next_review(new_york(2024, 1, 5, 21), NEW_YORK, enrolled) == utc(new_york(2024, 1, 5, 22))
    assert tiers.next_review(new_york(2024, 1, 5, 22), NEW_YORK, enrolled) == utc(new_york(2024, 1, 6, 22))


def test_a_grace_period_runs_on_the_wall_clock_and_past_the_calendar_to_its_last_instant() -> None:
    tiers = Tiers(levels=LEVELS, downgrade="review", grace_days=10)
    # Summer time begins within the ten days: the effect is at the same time of day.
    assert tiers.effective_at(utc(ams(2025, 3, 25, 12)), AMS) == utc(ams(2025, 4, 4, 12))
    assert tiers.effective_at(datetime(9999, 12, 28, tzinfo=UTC), AMS) == datetime.max.replace(tzinfo=UTC)
    assert Tiers(levels=LEVELS, downgrade="review").effective_at(utc(ams(2025, 3, 25)), AMS) == utc(
        ams(2025, 3, 25)
    )
