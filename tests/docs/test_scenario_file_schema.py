"""Every scenario file in the repository is valid under the scenario file schema, and the schema
refuses a misspelt step or field at its path, as the loader does.

TOML dates and date-times are given to the schema as ISO 8601 text, as for program files
(tests/docs/test_program_file_schema.py).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from loyalty.errors import ConfigError
from loyalty.scenarios import load_scenario_file, scenario_file_from_dict, scenario_file_schema
from tests.docs.test_program_file_schema import as_text
from tests.paths import ROOT

VALIDATOR = Draft202012Validator(scenario_file_schema())
SCENARIO_FILES = sorted(
    path for folder in ("examples", "tests", "docs") for path in (ROOT / folder).rglob("*.loyalty.toml")
)


def schema_errors(data: Any) -> list[tuple[str, str]]:
    return [(error.json_path, error.message) for error in VALIDATOR.iter_errors(as_text(data))]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(VALIDATOR.schema)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[path.name for path in SCENARIO_FILES])
def test_every_scenario_file_in_the_repository_is_valid(path: Path) -> None:
    assert load_scenario_file(path).scenarios  # the loader reads it too
    assert schema_errors(tomllib.loads(path.read_text(encoding="utf-8"))) == []


def test_there_are_scenario_files_for_every_example_program() -> None:
    programs = {p.stem for p in (ROOT / "examples").iterdir() if p.suffix in (".toml", ".json")}
    named = {path.name.removesuffix(".loyalty.toml") for path in SCENARIO_FILES}
    assert programs <= named


MINIMAL = {
    "format": 1,
    "start": "2024-03-01T09:00:00+01:00",
    "program": {"name": "Club", "currency": "EUR"},
    "scenarios": [{"name": "s", "steps": [{"enroll": {"member": "M1"}, "expect": {"points": 0}}]}],
}


@pytest.mark.parametrize(
    ("path", "change", "where", "loader_says"),
    [
        (("scenarios", 0, "steps", 0), {"enrol": {"member": "M1"}}, "$.scenarios[0].steps[0]", "'enroll'"),
        (("scenarios", 0, "steps", 0, "expect"), {"pionts": 3}, "$.scenarios[0].steps[0].expect", "'points'"),
        (
            ("scenarios", 0, "steps", 0, "enroll"),
            {"membr": "M1"},
            "$.scenarios[0].steps[0].enroll",
            "'member'",
        ),
    ],
)
def test_a_misspelt_step_or_field_is_refused_at_its_path(
    path: tuple[Any, ...], change: dict[str, Any], where: str, loader_says: str
) -> None:
    data: Any = as_text(MINIMAL)
    assert schema_errors(data) == []
    target = data
    for key in path:
        target = target[key]
    target.update(change)
    errors = schema_errors(data)
    assert [at for at, _ in errors] == [where] and "unexpected" in errors[0][1]
    with pytest.raises(ConfigError) as info:
        scenario_file_from_dict(data)
    (problem,) = info.value.problems
    misspelt = next(iter(change))
    assert problem == (f"{where[2:]}.{misspelt}", f"unknown key (did you mean {loader_says}?)")
