"""Every example program and every program in docs/rules.md is valid under the program file schema.

TOML dates and date-times are given to the schema as ISO 8601 text, as editors' TOML support
(Taplo) gives them. The snippets follow the reference's convention (tests/docs/test_rules_reference.py):
one without a ``currency`` is a list of rules, checked inside ``name = "Doc"``, ``currency = "EUR"``.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from loyalty.config import load_programs
from loyalty.json_schema import program_file_schema
from loyalty.program import Program
from tests.docs.test_rules_reference import IDS, SNIPPETS, program_text
from tests.paths import DOCS, EXAMPLES

VALIDATOR = Draft202012Validator(program_file_schema())
PROGRAM_FILES = sorted(path for path in EXAMPLES.iterdir() if path.suffix in (".toml", ".json"))


def as_text(data: Any) -> Any:
    """``data`` with TOML's dates, times and date-times as ISO 8601 text."""
    if isinstance(data, dict):
        return {key: as_text(value) for key, value in data.items()}
    if isinstance(data, list):
        return [as_text(item) for item in data]
    if isinstance(data, date | time):  # datetime is a date
        return data.isoformat()
    return data


def schema_errors(data: Any) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in VALIDATOR.iter_errors(as_text(data))]


def test_there_are_example_programs_in_both_formats() -> None:
    assert {path.suffix for path in PROGRAM_FILES} == {".toml", ".json"}


@pytest.mark.parametrize("path", PROGRAM_FILES, ids=[path.name for path in PROGRAM_FILES])
def test_every_example_program_is_valid(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    assert load_programs(path)  # the loader reads it too
    assert schema_errors(data) == []


@pytest.mark.parametrize("snippet", SNIPPETS, ids=IDS)
def test_every_program_in_the_rules_reference_is_valid(snippet: str) -> None:
    assert schema_errors(tomllib.loads(program_text(snippet))) == []


def test_toml_dates_are_checked_as_text() -> None:
    rules = tomllib.loads('[[rules]]\nkind = "spend"\nid = "s"\npoints = 1\nstarts = 2024-05-01T10:00:00Z\n')
    assert schema_errors({"name": "Doc", "currency": "EUR", **rules}) != []  # a date-time is no date


def test_the_editor_guide_shows_the_real_command_and_a_program_the_loader_and_the_schema_accept() -> None:
    text = (DOCS / "editors.md").read_text(encoding="utf-8")
    assert "loyalty schema --output loyalty-program.schema.json" in text
    (program,) = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    assert program.startswith("#:schema ./loyalty-program.schema.json\n")
    assert Program.from_toml(program).rules  # the directive is a comment to the loader
    assert schema_errors(tomllib.loads(program)) == []
    for settings in re.findall(r"```json\n(.*?)```", text, re.DOTALL):
        assert json.loads(settings)  # the settings shown are JSON as VS Code reads it


def test_a_reward_catalogue_is_in_the_schema_with_its_bounds() -> None:
    coffee = {"id": "coffee", "name": "Coffee", "cost": 300, "gives": "product", "sku": "ESP"}
    assert schema_errors({"name": "C", "currency": "EUR", "rewards": [coffee]}) == []
    for change in ({"cost": 0}, {"gives": "cash"}, {"valid_for_days": 3661}, {"id": "free coffee"}, {"x": 1}):
        assert schema_errors({"name": "C", "currency": "EUR", "rewards": [{**coffee, **change}]}), change
