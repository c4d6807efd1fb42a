"""loyalty schema: the program file schema as JSON on stdout, or in --output's file; nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from loyalty.json_schema import program_file_schema
from tests.cli.helpers import CORNER, run_cli, tree_of


def test_schema_prints_a_valid_draft_2020_12_schema_and_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = run_cli(capsys, "schema")
    assert (status, err) == (0, "")
    document = json.loads(out)
    Draft202012Validator.check_schema(document)
    assert document == program_file_schema()
    assert out.endswith("}\n") and not out.endswith("\n\n")
    assert tree_of(tmp_path) == {}


def test_the_printed_schema_checks_a_program_file(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_cli(capsys, "schema")
    validator = Draft202012Validator(json.loads(out))
    assert list(validator.iter_errors(tomllib.loads(CORNER))) == []
    assert [
        error.message for error in validator.iter_errors({"name": "Club", "currency": "EUR", "scale": -1})
    ] == ["-1 is less than the minimum of 0"]


def test_schema_output_writes_the_file_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "loyalty-program.schema.json"
    assert run_cli(capsys, "schema", "--output", str(target)) == (0, "", "")
    assert json.loads(target.read_text(encoding="utf-8")) == program_file_schema()
    _, printed, _ = run_cli(capsys, "schema")
    assert target.read_text(encoding="utf-8") == printed
    # Run again, it replaces the file with the same text.
    assert run_cli(capsys, "schema", "--output", str(target)) == (0, "", "")
    assert target.read_text(encoding="utf-8") == printed


def test_schema_output_refuses_a_missing_directory_or_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "schema.json"
    assert run_cli(capsys, "schema", "--output", str(missing)) == (
        2,
        "",
        f"error: --output: directory {missing.parent} does not exist\n",
    )
    assert run_cli(capsys, "schema", "--output", str(tmp_path)) == (
        2,
        "",
        f"error: --output: {tmp_path} is a directory; name a file inside it\n",
    )
    assert tree_of(tmp_path) == {}


def test_schema_runs_as_a_command_and_its_output_is_utf8_json(tmp_path: Path) -> None:
    # Through a real process: what an editor set-up script or CI runs, with stdout redirected.
    done = subprocess.run(
        [sys.executable, "-m", "loyalty", "schema"],
        capture_output=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert json.loads(done.stdout.decode("utf-8")) == program_file_schema()
