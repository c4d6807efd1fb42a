"""The README's Python example runs as written (the docs' examples run as doctests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.paths import ROOT

README = ROOT / "README.md"


def test_readme_python_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "the README lost its example"
    monkeypatch.chdir(tmp_path)  # the example writes loyalty.db in the working directory
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "points earned" in out
    assert out.strip().endswith("2")  # 7.40 EUR earns 7 points, 5 redeemed
    assert (tmp_path / "loyalty.db").exists()
    # A second run is a retry of the same commands: the same output, nothing written twice.
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    assert capsys.readouterr().out == out


def test_readme_opens_with_the_demo_and_test_commands() -> None:
    first = re.search(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert first is not None
    demo, tests = first.group(1).strip().splitlines()
    assert demo.endswith("loyalty demo")
    assert tests == "bash .ci/run"


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    command = blocks[1].strip()
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert command in [line.strip() for line in ci]
