"""``loyalty check``: scenario files run without pytest, the schema printed, bad files reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loyalty.cli import main
from loyalty.scenarios import scenario_file_schema
from tests.paths import EXAMPLES


def test_the_schema_is_printed_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == scenario_file_schema()


def test_without_a_file_it_says_what_to_give(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 2
    assert capsys.readouterr().err == "error: FILE: name at least one scenario file (*.loyalty.toml)\n"


def test_a_bad_or_missing_file_fails_and_the_others_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.loyalty.toml"
    bad.write_text('format = 2\nstart = 2024-03-01T09:00:00Z\nprogram_file = "p.toml"\nscenarios = []\n')
    hotel = EXAMPLES / "scenarios" / "hotel.loyalty.toml"
    # A file that could not be read is a refused input, status 2 as for any command.
    assert main(["check", str(bad), str(tmp_path / "none.loyalty.toml"), str(hotel)]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"{bad}: format: this release reads format 1, not 2",
        f"{bad}: program_file: {tmp_path / 'p.toml'}: no such file",
        f"error: {tmp_path / 'none.loyalty.toml'}: no such file",
    ]
    assert out.splitlines()[-1] == "2 passed, 2 failed"
    # Every file read, one with problems: the stories failed, status 1.
    assert main(["check", str(bad), str(hotel)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "2 passed, 1 failed"
    assert main(["check", str(tmp_path)]) == 2  # a folder is no scenario file
