"""Scenario files are read strictly, every problem at its path, and a failing step says what differed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loyalty.errors import ConfigError
from loyalty.scenarios import run_scenario, scenario_file_from_dict

START = "2024-03-01T09:00:00+01:00"
CLUB = {"name": "Club", "currency": "EUR"}


def document(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "format": 1,
        "start": START,
        "program": CLUB,
        "scenarios": [{"name": "s", "steps": list(steps)}],
        **top,
    }


def problems(data: dict[str, Any], path: Path | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        scenario_file_from_dict(data, path)
    return list(info.value.problems)


def test_a_step_does_exactly_one_thing() -> None:
    both = {"enroll": {"member": "M1"}, "check": "M1"}
    assert problems(document(both, {"expect": {"points": 1}})) == [
        ("scenarios[0].steps[0]", "enroll and check: a step does one thing"),
        (
            "scenarios[0].steps[1]",
            "no action: a step does one of "
            + ", ".join(
                [
                    "enroll",
                    "purchase",
                    "event",
                    "returned",
                    "redeem",
                    "adjust",
                    "hold",
                    "capture",
                    "release",
                    "advance",
                    "maintenance",
                    "assign_tier",
                    "reward",
                    "use_voucher",
                    "transfer",
                    "merge",
                    "void_voucher",
                    "status",
                    "add_identifier",
                    "remove_identifier",
                    "replace_card",
                    "referral_code",
                    "check",
                ]
            ),
        ),
    ]


def test_the_format_version_and_the_program_are_checked() -> None:
    data = document({"check": "M1"}, format=2, program_file="club.toml")
    assert problems(data) == [
        ("format", "this release reads format 1, not 2"),
        ("program", "name the program: program_file = PATH or a [program] table, not both"),
    ]


def test_an_inline_program_is_read_as_a_program_file_at_its_path() -> None:
    data = document({"check": "M1"}, program={"name": "Club", "currency": "EUR", "rounding": "down"})
    assert problems(data) == [
        ("program.rounding", "must be one of 'floor', 'half_up', 'half_even', got 'down'")
    ]


def test_a_program_file_is_found_beside_the_scenario_file_and_its_problems_name_it(tmp_path: Path) -> None:
    (tmp_path / "club.toml").write_text('name = "Club"\ncurrency = "EUR"\nrate = 3\n', encoding="utf-8")
    data = {**document({"check": "M1"}, program_file="club.toml")}
    del data["program"]
    ((where, message),) = problems(data, tmp_path / "club.loyalty.toml")
    assert where == f"program_file: {tmp_path / 'club.toml'}: rate" and "int 3" in message


def test_an_expected_error_field_needs_its_error() -> None:
    assert problems(document({"check": "M1", "expect": {"field": "points"}})) == [
        ("scenarios[0].steps[0].expect.field", "the field of an error: say which error too")
    ]


def scenario_outcome(*steps: dict[str, Any]) -> Any:
    loaded = scenario_file_from_dict(document(*steps))
    return run_scenario(loaded, loaded.scenarios[0])


def test_a_step_that_raises_unexpectedly_fails_with_the_error() -> None:
    outcome = scenario_outcome({"redeem": {"id": "R1", "member": "M1", "points": 5}})
    assert not outcome.passed
    assert outcome.failure.report() == (
        "steps[0] (redeem R1):\n"
        "  error: expected None, got \"UnknownMember: member_id: no member 'M1'\"\n"
        "  explanation:\n"
        "    UnknownMember: member_id: no member 'M1'"
    )


def test_the_clock_never_goes_back() -> None:
    outcome = scenario_outcome({"at": "2024-02-01T00:00:00+00:00", "enroll": {"member": "M1"}})
    assert outcome.failure is not None
    assert str(outcome.failure.mismatches[0]) == (
        "at: expected 'not before 2024-03-01T09:00:00+01:00', got '2024-02-01T00:00:00+00:00'"
    )


def test_a_failure_shows_expected_against_actual_and_the_receipt_explained() -> None:
    line = {"sku": "cake", "quantity": 3, "unit_price": "4.15"}
    outcome = scenario_outcome(
        {"enroll": {"member": "M1"}},
        {"purchase": {"id": "P1", "member": "M1", "lines": [line]}, "expect": {"points": 13}},
    )
    report = outcome.failure.report()
    assert report.startswith("steps[1] (purchase P1):\n  points: expected 13, got 12\n  explanation:\n")
    assert "base (1 point per 1 EUR on cake 12.45)" in report


def test_advance_moves_the_clock_on_and_not_beyond_a_century() -> None:
    assert problems(document({"advance": {"days": -3}}, {"advance": {"days": 4_000_000}})) == [
        ("scenarios[0].steps[0].advance.days", "must not be negative: the clock moves on, never back"),
        ("scenarios[0].steps[1].advance", "moves the clock more than 36,525 days at once"),
    ]
    assert problems(document({"advance": {"minutes": 36_525 * 1440 + 1}})) == [
        ("scenarios[0].steps[0].advance", "moves the clock more than 36,525 days at once")
    ]


def test_a_rule_an_expectation_names_must_be_the_programs() -> None:
    program = {**CLUB, "rules": [{"kind": "purchase_bonus", "id": "beer-tuesday", "points": 5}]}
    step = {"check": "M1", "expect": {"rules": {"beer-tuesdy": "0"}, "reasons": {"base": "x", "nope": "y"}}}
    assert problems(document(step, program=program)) == [
        (
            "scenarios[0].steps[0].expect.rules.beer-tuesdy",
            "the program has no rule 'beer-tuesdy' (did you mean 'beer-tuesday'?)",
        ),
        ("scenarios[0].steps[0].expect.reasons.nope", "the program has no rule 'nope'"),
    ]


def test_a_value_where_a_table_belongs_is_named_by_what_it_is() -> None:
    assert problems(document({"check": "M1", "expect": 5})) == [
        ("scenarios[0].steps[0].expect", "must be a table, not int 5")
    ]
    assert problems({**document(), "scenarios": [{"name": "s", "steps": ["enroll"]}]}) == [
        ("scenarios[0].steps[0]", "must be a table, not str 'enroll'")
    ]


def test_an_expectation_the_program_cannot_answer_fails_the_step() -> None:
    outcome = scenario_outcome({"enroll": {"member": "M1"}, "expect": {"tier": "gold"}})
    assert outcome.failure is not None and outcome.failure.step == 0
    assert str(outcome.failure.mismatches[0]) == (
        "expect: expected 'something the scenario can check', "
        "got \"UnknownTier: tiers: program 'Club' (version 1) has no tiers\""
    )
    unknown = scenario_outcome(
        {"enroll": {"member": "M1"}, "expect": {"member": "M9", "balance": {"available": 0}}}
    )
    assert unknown.failure is not None
    assert "UnknownMember: member_id: no member 'M9'" in str(unknown.failure.mismatches[0])


def test_an_advance_past_the_year_9999_fails_its_step_with_an_error_naming_it() -> None:
    loaded = scenario_file_from_dict(
        {**document({"advance": {"days": 36_000}}), "start": "9990-01-01T00:00:00+00:00"}
    )
    outcome = run_scenario(loaded, loaded.scenarios[0])
    assert outcome.failure is not None and outcome.failure.step == 0
    assert str(outcome.failure.mismatches[0]).startswith(
        "error: expected None, got 'InvalidInput: advance: moves the clock past the year 9999"
    )
