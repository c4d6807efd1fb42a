"""Expiry policies as values: the dates they give in the program's timezone, their configuration checked."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from loyalty import InvalidInput, LoyaltyError, Program
from loyalty.expiry import MAX_DAYS, MAX_MONTHS, MAX_YEARS, EndOf, Expiry, ExpiryPolicy, reminded_key
from loyalty.lots import DrawOrder

AMS = ZoneInfo("Europe/Amsterdam")


def program(**options: object) -> Program:
    return Program("Club", "EUR", timezone="Europe/Amsterdam", **options)  # type: ignore[arg-type]


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=AMS)


def test_rounding_up_to_the_end_of_the_day_quarter_and_year() -> None:
    earned = local(2024, 10, 26, 18, 30)  # the autumn DST change is the next night
    day = Expiry(ExpiryPolicy.LIFETIME, days=1, round_up=EndOf.DAY)
    assert day.expires_at(earned, AMS) == local(2024, 10, 28)
    quarter = Expiry(ExpiryPolicy.LIFETIME, months=1, round_up=EndOf.QUARTER)
    assert quarter.expires_at(earned, AMS) == local(2025, 1, 1)
    year = Expiry(ExpiryPolicy.LIFETIME, months=3, round_up=EndOf.YEAR)
    assert year.expires_at(earned, AMS) == local(2026, 1, 1)
    # Already on a boundary: valid to the end of the period before it.
    midnight = local(2024, 2, 1)
    assert Expiry(ExpiryPolicy.LIFETIME, months=1, round_up=EndOf.MONTH).expires_at(midnight, AMS) == local(
        2024, 3, 1
    )


def test_round_up_alone_ends_the_points_with_the_period_they_were_earned_in() -> None:
    earned = local(2024, 2, 14, 18, 30)
    ends = {
        to: Expiry(ExpiryPolicy.LIFETIME, round_up=to).expires_at(earned, AMS)
        for to in EndOf
        if to.value != "none"
    }
    assert ends == {
        EndOf.DAY: local(2024, 2, 15),
        EndOf.MONTH: local(2024, 3, 1),
        EndOf.QUARTER: local(2024, 4, 1),
        EndOf.YEAR: local(2025, 1, 1),
    }
    # Earned on the very first instant of a period: valid to its end, not gone at once.
    assert Expiry(ExpiryPolicy.LIFETIME, round_up=EndOf.MONTH).expires_at(local(2024, 3, 1), AMS) == local(
        2024, 4, 1
    )


@pytest.mark.parametrize(
    ("earned", "years", "expires"),
    [
        (local(2024, 2, 10, 9), 1, local(2024, 4, 1)),  # valid through the next 31 March
        (local(2024, 3, 31, 23, 59), 1, local(2025, 4, 1)),  # earned on the day itself: the next one
        (local(2024, 4, 1), 1, local(2025, 4, 1)),
        (local(2024, 2, 10, 9), 2, local(2025, 4, 1)),  # the second 31 March after
    ],
)
def test_an_annual_date_ends_the_points_on_the_nth_such_day_after_they_were_earned(
    earned: datetime, years: int, expires: datetime
) -> None:
    assert Expiry(ExpiryPolicy.ANNUAL, on="03-31", years=years).expires_at(earned, AMS) == expires


def test_an_annual_date_is_read_on_the_programs_wall_clock() -> None:
    # 22:30 UTC on 31 December is already 1 January in Amsterdam: past "12-31", so next year's.
    earned = datetime(2024, 12, 31, 23, 30, tzinfo=UTC)
    assert Expiry(ExpiryPolicy.ANNUAL, on="12-31").expires_at(earned, AMS) == local(2026, 1, 1)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"pending_days": -1}, "pending_days: must be an int from 0 to 36600, got -1"),
        ({"pending_days": 1.5}, "pending_days: must be an int, not float 1.5"),
        (
            {"expiry": {"policy": "lifetime"}},
            "expiry.months: a lifetime needs months or days, or round_up alone (the end of the period",
        ),
        ({"expiry": {"policy": "inactivity"}}, "expiry.months: inactivity needs months or days, got neither"),
        ({"expiry": {"policy": "annual"}}, "expiry.on: an annual policy needs the day, as MM-DD"),
        (
            {"expiry": {"policy": "annual", "on": "02-29"}},
            "expiry.on: must be a day every year has, as MM-DD (\"03-31\"), got '02-29'",
        ),
        ({"expiry": {"policy": "annual", "on": "3-31"}}, "expiry.on: must be a day of the year as MM-DD"),
        # Digits that str.isdigit() takes but are not ASCII: one int() refuses, one it reads as 3.
        ({"expiry": {"policy": "annual", "on": "0²-31"}}, "expiry.on: must be a day of the year as MM-DD"),
        ({"expiry": {"policy": "annual", "on": "０３-３１"}}, "expiry.on: must be a day of the year"),
        ({"expiry": {"policy": "annual", "on": "04-31"}}, "expiry.on: must be a day every year has"),
        ({"expiry": {"policy": "annual", "on": 331}}, "expiry.on: must be a string"),
        (
            {"expiry": {"policy": "annual", "on": "03-31", "years": 0}},
            "expiry.years: must be at least 1, got 0",
        ),
        ({"expiry": {"policy": "calendar", "on": "03-31"}}, "expiry.on: only an annual policy takes on"),
        ({"expiry": {"policy": "forever"}}, "expiry.policy: must be one of 'none', 'lifetime', 'calendar'"),
        (
            {"expiry": {"policy": "calendar", "days": 3}},
            "expiry.days: only a lifetime or inactivity policy takes days",
        ),
        ({"expiry": {"policy": "calendar", "years": 0}}, "expiry.years: must be at least 1, got 0"),
        (
            {"expiry": {"policy": "lifetime", "months": 1, "years": 2}},
            "expiry.years: only a calendar or annual policy",
        ),
        (
            {"expiry": {"policy": "none", "from_vesting": True}},
            "expiry.from_vesting: points that never expire",
        ),
        (
            {"expiry": {"policy": "lifetime", "days": 1, "round_up": "week"}},
            "expiry.round_up: must be one of",
        ),
        ({"expiry": {"policy": "lifetime", "days": 1, "every": 2}}, "expiry.every: unknown key"),
    ],
)
def test_a_malformed_lifecycle_configuration_names_its_path(data: dict[str, object], problem: str) -> None:
    from loyalty import ConfigError

    with pytest.raises(ConfigError) as info:
        Program.from_dict({"name": "Club", "currency": "EUR", **data})
    assert problem in str(info.value)


def test_the_lifecycle_configuration_round_trips() -> None:
    text = """
name = "Club"
currency = "EUR"
timezone = "Europe/Amsterdam"
pending_days = 14

[expiry]
policy = "lifetime"
months = 12
round_up = "month"
from_vesting = true
"""
    loaded = Program.from_toml(text)
    assert loaded.expiry == Expiry(ExpiryPolicy.LIFETIME, months=12, round_up=EndOf.MONTH, from_vesting=True)
    assert loaded.pending_days == 14
    assert Program.from_dict(loaded.to_dict()) == loaded


def test_dates_beyond_the_calendar_never_expire() -> None:
    late = datetime(9998, 12, 31, 12, tzinfo=UTC)
    assert program(expiry=Expiry(ExpiryPolicy.CALENDAR, years=5)).lot_dates(late, pending=False) == (
        None,
        None,
    )


def test_inactivity_and_re_dating_options_are_checked() -> None:
    with pytest.raises(LoyaltyError, match="inactivity needs months or days"):
        Expiry(ExpiryPolicy.INACTIVITY)
    with pytest.raises(LoyaltyError, match="from_vesting"):
        Expiry(ExpiryPolicy.INACTIVITY, months=6, from_vesting=True)
    with pytest.raises(LoyaltyError, match="redate_earlier"):
        Expiry(ExpiryPolicy.INACTIVITY, months=6, redate_earlier=True)
    data = {
        "name": "Club",
        "currency": "EUR",
        "expiry": {"policy": "inactivity", "months": 18, "round_up": "month"},
    }
    assert Program.from_dict(data).to_dict() == data


def test_a_reminder_key_names_the_lot_its_expiry_instant_and_its_member() -> None:
    expires = datetime(2024, 3, 31, 12, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert reminded_key("M1", 7, expires) == "reminded|7|2024-03-31T12:00:00+02:00\x1fM1"
    assert reminded_key("M1", 7, expires.astimezone(UTC)) == "reminded|7|2024-03-31T10:00:00+00:00\x1fM1"


@pytest.mark.parametrize(
    "expiry",
    [
        Expiry(ExpiryPolicy.ANNUAL, on="03-31", years=2),
        Expiry(ExpiryPolicy.LIFETIME, round_up=EndOf.MONTH),
    ],
)
def test_the_new_policies_round_trip_through_the_dict_form(expiry: Expiry) -> None:
    club = program(expiry=expiry)
    assert Program.from_dict(club.to_dict()) == club


def test_an_annual_day_in_other_digits_is_refused_naming_on() -> None:
    from loyalty import InvalidInput

    for text in ("0²-31", "０３-３１"):
        with pytest.raises(InvalidInput) as info:
            Expiry(ExpiryPolicy.ANNUAL, on=text)
        assert info.value.field == "on"


LIFETIME, INACTIVITY = ExpiryPolicy.LIFETIME, ExpiryPolicy.INACTIVITY
CALENDAR, ANNUAL = ExpiryPolicy.CALENDAR, ExpiryPolicy.ANNUAL


@pytest.mark.parametrize(
    ("policy", "options", "message"),
    [
        (LIFETIME, {"months": MAX_MONTHS + 1}, f"months: must be an int from 0 to {MAX_MONTHS}, got 1201"),
        (LIFETIME, {"days": -1}, f"days: must be an int from 0 to {MAX_DAYS}, got -1"),
        (LIFETIME, {"days": True}, f"days: must be an int from 0 to {MAX_DAYS}, got True"),
        (LIFETIME, {"months": 1.0}, f"months: must be an int from 0 to {MAX_MONTHS}, got 1.0"),
        (CALENDAR, {"years": MAX_YEARS + 1}, f"years: must be an int from 0 to {MAX_YEARS}, got 101"),
        (CALENDAR, {"round_up": "month"}, "round_up: only a lifetime or inactivity policy is rounded up"),
        (LIFETIME, {"days": 1, "from_vesting": 1}, "from_vesting: must be true or false, got 1"),
        (LIFETIME, {"days": 1, "redate_earlier": "yes"}, "redate_earlier: must be true or false, got 'yes'"),
        (
            INACTIVITY,
            {"months": 6, "from_vesting": True},
            "from_vesting: inactivity counts from the last activity, not from vesting",
        ),
        (
            INACTIVITY,
            {"months": 6, "redate_earlier": True},
            "redate_earlier: an inactivity policy cannot re-date points earned before it",
        ),
        # Four digits without the dash, and a dash with a letter after it.
        (ANNUAL, {"on": "1231"}, "on: must be a day of the year as MM-DD (\"03-31\"), got '1231'"),
        (ANNUAL, {"on": "03-x1"}, "on: must be a day of the year as MM-DD (\"03-31\"), got '03-x1'"),
        (ANNUAL, {"on": "03-3x"}, "on: must be a day of the year as MM-DD (\"03-31\"), got '03-3x'"),
    ],
)
def test_a_refused_expiry_option_names_its_field_and_says_why(
    policy: ExpiryPolicy, options: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        Expiry(policy, **options)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_the_bounds_of_a_lifetime_and_of_years_are_accepted() -> None:
    assert Expiry(LIFETIME, months=MAX_MONTHS, days=MAX_DAYS).months == MAX_MONTHS
    assert Expiry(LIFETIME, months=0, days=1).days == 1
    assert Expiry(CALENDAR, years=MAX_YEARS).years == MAX_YEARS


def test_options_given_as_the_program_files_words_become_their_enums() -> None:
    expiry = Expiry("lifetime", days=1, round_up="quarter", draw="oldest_earned")
    assert (expiry.policy, expiry.round_up, expiry.draw) == (LIFETIME, EndOf.QUARTER, DrawOrder.OLDEST_EARNED)
