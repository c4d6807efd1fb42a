"""Every session in docs/cli.md runs as shown, on the files the page shows, and writes nothing."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.cli.helpers import run_cli, tree_of
from tests.paths import DOCS

DOC = DOCS / "cli.md"


_DOC_FILE = re.compile(r"^`([\w.-]+)`:\n\n```(?:toml|json)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


_DOC_SESSION = re.compile(r"^```console\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


def test_docs_examples_run_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = DOC.read_text(encoding="utf-8")
    files = _DOC_FILE.findall(text)
    assert {name for name, _ in files} >= {"corner.toml", "basket.json", "broken.toml", "versions.toml"}
    for name, body in files:
        (tmp_path / name).write_text(body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    before = tree_of(tmp_path)
    sessions = _DOC_SESSION.findall(text)
    commands, status = 0, None
    for session in sessions:
        # "$ command" lines, each followed by what it prints (stdout and stderr, as a terminal shows them).
        for block in re.split(r"^\$ ", session, flags=re.MULTILINE)[1:]:
            command, _, expected = block.partition("\n")
            if command == "echo $?":
                assert expected == f"{status}\n", f"exit status of the command before {block!r}"
                continue
            words = shlex.split(command)
            assert words[0] == "loyalty", command
            status, out, err = run_cli(capsys, *words[1:])
            assert out + err == expected, command
            commands += 1
    assert commands >= 8
    assert tree_of(tmp_path) == before


def test_the_schema_shown_is_the_head_of_what_loyalty_schema_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = DOC.read_text(encoding="utf-8")
    ((count, shown),) = re.findall(
        r"\(`loyalty schema \| head -n (\d+)`\):\n\n```text\n(.*?)^```\n", text, re.M | re.S
    )
    status, out, err = run_cli(capsys, "schema")
    assert (status, err) == (0, "")
    assert "".join(out.splitlines(keepends=True)[: int(count)]) == shown
