"""Done when: a merchant's project outside this repository, with a program file and a scenario
file, has pytest run the scenario and report a wrong expectation readably, and ``loyalty check``
does the same without pytest.

The project is built in a temporary directory with pytester and uses the current environment,
as the package installed with its ``testing`` extra would be (installing it into a fresh
virtualenv takes longer than CI can give this test): ``-p loyalty.testing.plugin`` names the
plugin the ``pytest11`` entry point loads there.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from loyalty.cli import main

PROGRAM = """
name = "FreshWay"
currency = "EUR"

[[rules]]
kind = "multiplier"
id = "beer-tuesday"
factor = "2"
categories = ["beer"]
days = ["tue"]
"""

SCENARIO = """
format = 1
program_file = "program.toml"
start = 2024-03-05T10:00:00+01:00

[[scenarios]]
name = "two six-packs on a Tuesday earn 48, returning one takes back 24"

[[scenarios.steps]]
enroll = {member = "M1"}

[[scenarios.steps]]
purchase = {id = "P1", member = "M1", lines = [
    {sku = "six-pack", quantity = 2, unit_price = "12.00", category = "beer"},
]}
expect = {points = 48}

[[scenarios.steps]]
returned = {id = "R1", purchase = "P1", lines = [{sku = "six-pack", quantity = 1}]}
expect = {points = POINTS_BACK, balance = {available = 24}}

[[scenarios]]
name = "a Wednesday earns the base rate"

[[scenarios.steps]]
enroll = {member = "M1"}

[[scenarios.steps]]
at = 2024-03-06T10:00:00+01:00
purchase = {id = "P1", member = "M1", lines = [
    {sku = "six-pack", quantity = 1, unit_price = "12.00", category = "beer"},
]}
expect = {points = 12, reasons = {beer-tuesday = "outside window Tue"}}
"""

# `loyalty check` in a process where pytest and Hypothesis cannot be imported.
WITHOUT_PYTEST = (
    "import sys; sys.modules['pytest'] = sys.modules['hypothesis'] = None; from loyalty.cli import main; "
)


def merchant_project(pytester: pytest.Pytester, points_back: int) -> None:
    (pytester.path / "program.toml").write_text(PROGRAM, encoding="utf-8")
    scenario = SCENARIO.replace("POINTS_BACK", str(points_back))
    (pytester.path / "beer.loyalty.toml").write_text(scenario, encoding="utf-8")


def check(pytester: pytest.Pytester) -> subprocess.CompletedProcess[str]:
    code = WITHOUT_PYTEST + "sys.exit(main(['check', 'beer.loyalty.toml']))"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=pytester.path, capture_output=True, text=True, check=False
    )


def test_pytest_runs_each_scenario_as_a_test_named_after_it(pytester: pytest.Pytester) -> None:
    merchant_project(pytester, points_back=24)
    result = pytester.runpytest("-p", "loyalty.testing.plugin", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "beer.loyalty.toml::two six-packs on a Tuesday earn 48, returning one takes back 24 PASSED*",
            "beer.loyalty.toml::a Wednesday earns the base rate PASSED*",
        ]
    )


def test_a_wrong_expectation_fails_readably_in_pytest_and_in_loyalty_check(pytester: pytest.Pytester) -> None:
    merchant_project(pytester, points_back=20)
    result = pytester.runpytest("-p", "loyalty.testing.plugin")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "scenario 'two six-packs on a Tuesday earn 48, returning one takes back 24' failed at "
            "steps[2] (returned R1):",
            "  points: expected 20, got 24",
        ]
    )
    checked = check(pytester)
    assert checked.returncode == 1, checked.stderr
    lines = checked.stdout.splitlines()
    assert lines[0] == (
        "FAIL beer.loyalty.toml: two six-packs on a Tuesday earn 48, returning one takes back 24: "
        "steps[2] (returned R1):"
    )
    assert lines[1] == "  points: expected 20, got 24"
    assert "ok   beer.loyalty.toml: a Wednesday earns the base rate" in lines
    assert lines[-1] == "1 passed, 1 failed"


def test_loyalty_check_passes_a_project_whose_scenarios_hold(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    merchant_project(pytester, points_back=24)
    # In this process (the test above shows the command needs no pytest): a new one costs seconds.
    assert main(["check", str(pytester.path / "beer.loyalty.toml")]) == 0
    out, err = capsys.readouterr()
    assert (out.splitlines()[-1], err) == ("2 passed, 0 failed", "")
