"""The program's ``offline`` table: loaded from TOML and JSON, refused at its exact path, written
back, stated in the program file schema, and filled into a grant that leaves figures out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from loyalty.checks import MAX_POINTS
from loyalty.errors import ConfigError, InvalidDatetime, InvalidInput, InvalidPoints
from loyalty.json_schema import program_file_schema
from loyalty.offline import MAX_HOURS, OfflineAllowance, OfflineTerms, resolve_grant
from loyalty.program import Program

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
HEAD = 'name = "Club"\ncurrency = "EUR"\n\n[offline]\n'


def from_toml(table: str) -> Program:
    return Program.from_toml(HEAD + table)


def from_json(table: dict[str, Any]) -> Program:
    return Program.from_json(json.dumps({"name": "Club", "currency": "EUR", "offline": table}))


def test_the_table_loads_from_toml_and_json_alike() -> None:
    toml = from_toml("per_member = 300\ntotal = 1500\nhours = 12\n")
    assert toml.offline == OfflineTerms(per_member=300, total=1500, hours=12)
    assert from_json({"per_member": 300, "total": 1500, "hours": 12}) == toml


def test_the_table_round_trips_and_a_program_without_it_writes_nothing_of_it() -> None:
    program = from_toml("per_member = 1\ntotal = 1\nhours = 720\n")
    assert program.to_dict()["offline"] == {"per_member": 1, "total": 1, "hours": 720}
    assert Program.from_dict(program.to_dict()) == program
    assert "offline" not in Program("Club", "EUR").to_dict()
    assert Program("Club", "EUR").offline is None


BAD: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    ({"per_member": 0, "total": 5, "hours": 1}, [("offline.per_member", "must be positive, got 0")]),
    ({"per_member": 1, "total": -5, "hours": 1}, [("offline.total", "must be positive, got -5")]),
    ({"per_member": 1, "total": 5, "hours": 0}, [("offline.hours", "must be positive, got 0")]),
    (
        {"per_member": 1, "total": 5, "hours": MAX_HOURS + 1},
        [("offline.hours", f"must be at most {MAX_HOURS}, got {MAX_HOURS + 1}")],
    ),
    (
        {"per_member": 500, "total": 200, "hours": 8},
        [("offline.total", "must be at least offline.per_member (500), got 200")],
    ),
    ({"per_member": "5", "total": 5, "hours": 1}, [("offline.per_member", "must be an int, not str '5'")]),
    ({"per_member": 5, "total": 5, "hours": True}, [("offline.hours", "must be an int, not bool True")]),
    ({"per_member": 5, "total": 5}, [("offline.hours", "missing required key")]),
    (
        {"per_member": 5, "total": 5, "hours": 1, "days": 2},
        [("offline.days", "unknown key")],
    ),
    (
        {"per_member": 0, "total": 5, "hours": 0},
        [("offline.per_member", "must be positive, got 0"), ("offline.hours", "must be positive, got 0")],
    ),
]


@pytest.mark.parametrize(("table", "problems"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_a_bad_table_is_refused_at_its_exact_path_from_toml_and_json(
    table: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    toml = "".join(f"{key} = {json.dumps(value)}\n" for key, value in table.items())
    with pytest.raises(ConfigError) as in_toml:
        from_toml(toml)
    with pytest.raises(ConfigError) as in_json:
        from_json(table)
    assert list(in_toml.value.problems) == list(in_json.value.problems) == problems


def test_a_table_that_is_not_a_table_is_refused_naming_offline() -> None:
    with pytest.raises(ConfigError) as info:
        Program.from_toml('name = "Club"\ncurrency = "EUR"\noffline = 5\n')
    assert [path for path, _ in info.value.problems] == ["offline"]


def test_the_python_class_refuses_the_same_figures_naming_its_field() -> None:
    with pytest.raises(InvalidInput) as info:
        OfflineTerms(per_member=500, total=200, hours=8)
    assert (info.value.field, info.value.message) == (
        "total",
        "must be at least offline.per_member (500), got 200",
    )
    with pytest.raises(InvalidInput) as big:
        OfflineTerms(per_member=MAX_POINTS + 1, total=MAX_POINTS + 1, hours=8)
    assert big.value.field == "per_member"
    with pytest.raises(InvalidInput) as wrong:
        Program("Club", "EUR", offline={"per_member": 1, "total": 1, "hours": 1})  # type: ignore[arg-type]
    assert wrong.value.field == "offline"


def test_the_schema_states_the_table_as_the_loader_reads_it() -> None:
    document = program_file_schema()
    terms = document["$defs"]["OfflineTerms"]
    assert terms["required"] == ["per_member", "total", "hours"]
    assert terms["additionalProperties"] is False
    assert terms["properties"]["hours"]["maximum"] == MAX_HOURS
    assert terms["properties"]["per_member"]["minimum"] == 1
    validator = Draft202012Validator(document)
    club = {"name": "Club", "currency": "EUR"}
    assert not list(validator.iter_errors(club | {"offline": {"per_member": 5, "total": 9, "hours": 3}}))
    assert list(validator.iter_errors(club | {"offline": {"per_member": 0, "total": 9, "hours": 3}}))
    assert list(validator.iter_errors(club | {"offline": {"per_member": 5, "total": 9}}))


TERMS = OfflineTerms(per_member=300, total=1500, hours=12)


def test_a_grant_leaving_figures_out_takes_the_programs_and_until_is_at_plus_hours() -> None:
    allowance = resolve_grant(
        TERMS, "A1", "till-7", T0, "ops", per_member=None, total=None, until=None, version="1"
    )
    assert allowance == OfflineAllowance("A1", "till-7", 300, 1500, T0, T0 + timedelta(hours=12), "ops")


def test_a_grants_own_figures_override_the_programs_one_by_one() -> None:
    until = T0 + timedelta(hours=2)
    assert (
        resolve_grant(
            TERMS, "A1", "t", T0, "ops", per_member=50, total=None, until=None, version="1"
        ).per_member
        == 50
    )
    assert (
        resolve_grant(TERMS, "A1", "t", T0, "ops", per_member=None, total=400, until=None, version="1").total
        == 400
    )
    chosen = resolve_grant(TERMS, "A1", "t", T0, "ops", per_member=None, total=None, until=until, version="1")
    assert (chosen.per_member, chosen.total, chosen.until) == (300, 1500, until)


@pytest.mark.parametrize(
    ("given", "error", "field"),
    [
        ({"total": 5, "until": T0 + timedelta(hours=1)}, InvalidPoints, "per_member"),
        ({"per_member": 5, "until": T0 + timedelta(hours=1)}, InvalidPoints, "total"),
        ({"per_member": 5, "total": 5}, InvalidDatetime, "until"),
        ({}, InvalidPoints, "per_member"),
    ],
)
def test_without_program_terms_a_figure_left_out_is_refused_naming_it(
    given: dict[str, Any], error: type[InvalidInput], field: str
) -> None:
    figures: dict[str, Any] = {"per_member": None, "total": None, "until": None} | given
    with pytest.raises(error) as info:
        resolve_grant(None, "A1", "till-7", T0, "ops", version="spring", **figures)
    assert info.value.field == field
    assert info.value.message == (
        "not given, and the program (version 'spring', in force at 2024-03-01T09:30:00+00:00) "
        "has no offline table to take it from"
    )


def test_without_program_terms_a_grant_stating_every_figure_is_taken_as_stated() -> None:
    until = T0 + timedelta(hours=1)
    allowance = resolve_grant(
        None, "A1", "till-7", T0, "ops", per_member=5, total=9, until=until, version="1"
    )
    assert allowance == OfflineAllowance("A1", "till-7", 5, 9, T0, until, "ops")
