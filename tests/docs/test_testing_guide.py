"""docs/testing-your-program.md shows what really happens: its scenario passes as shown, its
failures read as shown, its plugin test passes, and its reference names every step and expectation."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from loyalty import Engine, Line, Purchase, open_store
from loyalty.cli import main
from loyalty.config import load_programs
from loyalty.scenarios.format import ACTIONS, Expect
from loyalty.testing.assertions import assert_points
from tests.paths import DOCS

GUIDE = (DOCS / "testing-your-program.md").read_text(encoding="utf-8")
SCENARIO, PROGRAM, INI = re.findall(r"```toml\n(.*?)```", GUIDE, re.DOTALL)
SHELL = re.findall(r"```sh\n(.*?)```", GUIDE, re.DOTALL)
TEXT = re.findall(r"```text\n(.*?)```", GUIDE, re.DOTALL)
PYTHON = re.findall(r"```python\n(.*?)```", GUIDE, re.DOTALL)


def run_check(folder: Path, scenario: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    (folder / "program.toml").write_text(PROGRAM, encoding="utf-8")
    (folder / "beer.loyalty.toml").write_text(scenario, encoding="utf-8")
    status = main(["check", str(folder / "beer.loyalty.toml")])
    out, err = capsys.readouterr()
    return status, out.replace(f"{folder}/", ""), err.replace(f"{folder}/", "")


def shown(block: str) -> list[str]:
    """The output a shell block shows, as its comments."""
    return [line.removeprefix("# ") for line in block.splitlines() if line.startswith("# ")]


def test_the_first_scenario_passes_as_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (check,) = [block for block in SHELL if block.startswith("loyalty check beer")]
    assert run_check(tmp_path, SCENARIO, capsys) == (0, "\n".join(shown(check)) + "\n", "")


def test_the_failures_read_as_shown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrong, misspelt = TEXT[0], TEXT[1]
    status, out, _ = run_check(
        tmp_path, SCENARIO.replace("expect = {points = 24,", "expect = {points = 20,"), capsys
    )
    assert status == 1 and out.startswith(wrong)
    status, _, err = run_check(tmp_path, SCENARIO.replace("purchase = {id", "purchse = {id", 1), capsys)
    assert (status, err) == (1, misspelt)


def test_the_plugin_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makefile(".toml", pyproject=INI.replace("# pyproject.toml\n", ""))
    pytester.mkdir("loyalty")
    (pytester.path / "loyalty" / "program.toml").write_text(PROGRAM, encoding="utf-8")
    (pytester.path / "summer.toml").write_text(
        PROGRAM.replace('"FreshWay"', '"FreshWay Summer"'), encoding="utf-8"
    )
    (fixtures,) = [block for block in PYTHON if "loyalty_engine" in block]
    pytester.makepyfile(test_beer=fixtures)
    pytester.runpytest("-p", "loyalty.testing.plugin").assert_outcomes(passed=2)


def test_a_failed_assertion_reads_as_shown() -> None:
    (program,) = load_programs(PROGRAM)
    # Without its beer Tuesday: 12 points where the guide's test wants 24.
    engine = Engine(attrs.evolve(program, rules=()), open_store("memory://"))
    (receipt_text,) = [block for block in TEXT if block.startswith("AssertionError")]
    at = datetime(2024, 3, 5, 10, tzinfo=UTC)
    engine.enroll("M1", at=at)
    beer = Line("six-pack", 1, Decimal("12.00"), category="beer")
    receipt = engine.record_purchase(Purchase("P1", "M1", at, [beer], "EUR"))
    with pytest.raises(AssertionError) as info:
        assert_points(receipt, 24)
    message = str(info.value)
    for line in receipt_text.splitlines():
        assert line.strip().removeprefix("AssertionError: ") in message


def test_the_reference_names_every_step_expectation_and_option() -> None:
    for step in ACTIONS:
        assert f"| `{step}` |" in GUIDE
    for field in attrs.fields(Expect):
        assert f"`{field.name}`" in GUIDE
    for option in ("--loyalty-store", "--loyalty-program", "-p no:loyalty.testing.plugin"):
        assert f"`{option}" in GUIDE
