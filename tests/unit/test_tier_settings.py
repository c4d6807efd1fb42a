"""Tiers as values: settings checked when built and kept through TOML; windows in the program's timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from loyalty import ConfigError, InvalidInput, Program, PurchaseBonus, Tier, Tiers
from tests.tiered_club import AMS, LEVELS, club


def test_the_lowest_tier_must_start_at_zero_and_thresholds_must_climb() -> None:
    with pytest.raises(ConfigError) as info:
        Program.from_dict(
            {
                "name": "Club",
                "currency": "EUR",
                "tiers": {"levels": [{"id": "silver", "threshold": 500}, {"id": "gold", "threshold": "400"}]},
            }
        )
    assert list(info.value.problems) == [
        ("tiers.levels[0].threshold", "the lowest tier must have threshold 0, got 500"),
    ]
    with pytest.raises(InvalidInput, match=r"levels\[2\].threshold: must be above levels\[1\]'s \(500\)"):
        Tiers(levels=[*LEVELS[:2], Tier(id="gold", threshold=500)])
    with pytest.raises(InvalidInput, match="visits are whole"):
        Tiers(levels=[Tier(id="a"), Tier(id="b", threshold=Decimal("2.5"))], metric="visits")


def test_tier_options_are_checked_and_round_trip_through_toml() -> None:
    program = club(
        metric="spend", window="rolling", months=12, downgrade="review", review="fixed", review_on="01-01"
    )
    assert Program.from_toml(program_toml(program)) == program
    assert Program.from_dict(program.to_dict()) == program
    counting = club(count_transfers=True)
    assert "count_transfers = true" in program_toml(counting)
    assert Program.from_toml(program_toml(counting)) == counting != club()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"window": "rolling"}, "months"),
        ({"months": 3}, "months"),
        ({"downgrade": "review", "review": "fixed"}, "review_on"),
        ({"review_on": "01-01"}, "review_on"),
        ({"grace_days": 5}, "grace_days"),
        ({"downgrade": "review", "one_step": 1}, "one_step"),
        ({"downgrade": "review", "review": "fixed", "review_on": "02-29"}, "review_on"),
        ({"count_transfers": "yes"}, "count_transfers"),
    ]
    for options, field in cases:
        with pytest.raises(InvalidInput) as info:
            Tiers(levels=LEVELS, **options)
        assert info.value.field == field, options
    with pytest.raises(InvalidInput, match=r"rules\[0\].id: 'tier-gold' is the id of tiers.levels\[2\]"):
        club(program={"rules": [PurchaseBonus(id="tier-gold", points=5)]})


def program_toml(program: Program) -> str:
    from loyalty.config import program_to_toml

    return program_to_toml(program)


def test_tier_configurations_that_cannot_work_are_refused() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"downgrade": "review", "review": "fixed", "review_on": " 1-01"}, "review_on"),
        ({"review": "fixed", "review_on": "01-01"}, "review"),
        ({"downgrade": "review", "window": "calendar_year"}, "review"),
        (
            {"downgrade": "review", "window": "membership_year", "review": "fixed", "review_on": "01-01"},
            "review",
        ),
        # A transfer is neither spend nor a visit; a balance follows it whatever is asked.
        ({"metric": "spend", "count_transfers": True}, "count_transfers"),
        ({"metric": "visits", "count_transfers": True}, "count_transfers"),
        ({"metric": "balance", "downgrade": "immediate", "count_transfers": True}, "count_transfers"),
    ]
    for options, field in cases:
        with pytest.raises(InvalidInput) as info:
            Tiers(levels=LEVELS, **options)
        assert info.value.field == field, options
    with pytest.raises(InvalidInput) as info:
        Tiers(levels=[Tier(id="member", bonus=5), LEVELS[1]])
    assert info.value.field == "levels[0].bonus"


def ams(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=AMS)


def test_windows_count_in_the_programs_timezone_across_dst_and_leap_days() -> None:
    enrolled = ams(2024, 2, 29, 10, 0)
    rolling = Tiers(levels=LEVELS, window="rolling", months=3)
    # 23:30 UTC on 31 March is already April in Amsterdam (summer time began that night).
    late = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)
    assert rolling.bucket(late, AMS, enrolled) == "2024-04"
    assert rolling.buckets(late, AMS, enrolled) == ["2024-02", "2024-03", "2024-04"]
    assert rolling.next_boundary(ams(2024, 3, 15), AMS, enrolled) == datetime(2024, 3, 31, 22, 0, tzinfo=UTC)
    yearly = Tiers(levels=LEVELS, window="membership_year", downgrade="review")
    # Enrolled on a leap day: the membership year turns on 28 February.
    assert yearly.bucket(ams(2025, 2, 28, 9, 59), AMS, enrolled) == "y0"
    assert yearly.bucket(ams(2025, 2, 28, 10, 0), AMS, enrolled) == "y1"
    assert yearly.next_review(ams(2024, 6, 1), AMS, enrolled) == ams(2025, 2, 28, 10, 0).astimezone(UTC)
    assert (
        Tiers(levels=LEVELS, window="calendar_year").bucket(
            datetime(2024, 12, 31, 23, 30, tzinfo=UTC), AMS, enrolled
        )
        == "2025"
    )
