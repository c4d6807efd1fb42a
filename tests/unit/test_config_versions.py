"""Several versions of a program as data: checked together, ordered, loaded from files and text."""

from __future__ import annotations

import json
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from loyalty.config import (
    load_programs,
    program_to_toml,
    programs_from_dict,
    programs_to_dict,
    programs_to_toml,
)
from loyalty.program import EarnRate, Program
from tests.unit.program_data import BASE, problems, versions_problems


def version(label: str, effective_from: str | None = None, **more: Any) -> dict[str, Any]:
    data = {**BASE, "version": label, **more}
    if effective_from is not None:
        data["effective_from"] = effective_from
    return data


def test_versions_are_sorted_by_effective_from() -> None:
    loaded = programs_from_dict(
        {
            "versions": [
                version("3", "2025-01-01T00:00:00+00:00"),
                version("1"),
                version("2", "2024-06-01T00:00:00+02:00", rate={"points": 2}),
            ]
        }
    )
    assert [p.version for p in loaded] == ["1", "2", "3"]
    assert loaded[1].rate == EarnRate(2)
    assert programs_from_dict(programs_to_dict(loaded)) == loaded
    assert programs_from_dict(tomllib.loads(programs_to_toml(loaded))) == loaded
    assert "[[versions]]" in programs_to_toml(loaded)


def test_a_single_program_is_one_version() -> None:
    assert programs_from_dict(BASE) == (Program("Bakery Club", "EUR"),)


def test_versions_with_the_same_effective_from() -> None:
    data = {
        "versions": [
            version("1", "2024-01-01T00:00:00+00:00"),
            version("2", "2024-01-01T01:00:00+01:00"),  # the same instant, another offset
        ]
    }
    assert versions_problems(data) == (
        ("versions[1].effective_from", "same as versions[0] (2024-01-01T00:00:00+00:00)"),
    )


def test_cross_version_problems() -> None:
    data = {
        "name": "Bakery Club",
        "versions": [
            version("1"),
            version("1", name="Other Club", currency="USD", scale=2),
            version("2", "2024-01-01T00:00:00Z", rules=[{"kind": "spend", "id": "s", "points": 1.5}]),
            version("3"),
        ],
    }
    assert versions_problems(data) == (
        ("name", "unknown key (a file of versions holds only versions = [...])"),
        ("versions[2].rules[0].points", "must be an int, not float 1.5"),
        (
            "versions[1].name",
            "must be the same in every version: 'Other Club' here, 'Bakery Club' in versions[0]",
        ),
        ("versions[1].currency", "must be the same in every version: 'USD' here, 'EUR' in versions[0]"),
        ("versions[1].scale", "must be the same in every version: 2 here, 0 in versions[0]"),
        ("versions[1].version", "'1' is already the version of versions[0]"),
        (
            "versions[1].effective_from",
            "missing, as in versions[0]: only one version may leave it out (the first in force)",
        ),
        (
            "versions[3].effective_from",
            "missing, as in versions[0]: only one version may leave it out (the first in force)",
        ),
    )


def test_bad_versions_lists() -> None:
    assert versions_problems({"versions": []}) == (
        ("versions", "must be a non-empty list of program tables, not an empty list"),
    )
    assert versions_problems({"versions": "v1"}) == (
        ("versions", "must be a non-empty list of program tables, not str 'v1'"),
    )
    assert versions_problems({"versions": [BASE, 3]}) == (
        ("versions[1]", "must be a table of key = value, not int 3"),
    )
    assert problems({"versions": [BASE]}) == (
        ("versions", "this holds several versions of a program: read it with load_programs"),
    )


def test_a_version_that_itself_holds_versions_is_refused_at_its_own_path() -> None:
    nested = {**BASE, "versions": [BASE], "rounding": "down"}
    assert versions_problems({"versions": [BASE, nested]}) == (
        ("versions[1].versions", "this holds several versions of a program: read it with load_programs"),
    )


def test_load_programs_from_files_and_text(tmp_path: Path) -> None:
    versions = (
        Program("Club", "EUR", version="1"),
        Program(
            "Club",
            "EUR",
            version="2",
            effective_from=datetime(2024, 6, 1, tzinfo=timezone(timedelta(hours=2))),
        ),
    )
    toml_file = tmp_path / "club.toml"
    toml_file.write_text(programs_to_toml(versions), encoding="utf-8")
    json_file = tmp_path / "club.json"
    json_file.write_text(json.dumps(programs_to_dict(versions)), encoding="utf-8")
    assert load_programs(toml_file) == versions
    assert load_programs(str(toml_file)) == versions
    assert load_programs(json_file) == versions
    assert load_programs(json.dumps(programs_to_dict(versions))) == versions
    assert load_programs(programs_to_toml(versions)) == versions
    assert load_programs(program_to_toml(versions[0])) == versions[:1]
