"""loyalty simulate: a history file compared under two program files, as text or JSON; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loyalty import whatif, whatif_process
from loyalty.simulation import generate, to_jsonl
from tests.cli.helpers import outside_references, run_cli, tree_of
from tests.extras import need_matplotlib

CURRENT = """
name = "Club"
currency = "EUR"
rate = {points = 1, per = "1.00"}
redemption = {point_value = "0.01"}
expiry = {policy = "lifetime", days = 60}
"""

PROPOSED = (
    CURRENT.replace('name = "Club"', 'name = "Club"\nversion = "2"')
    + """
[[rules]]
kind = "product_bonus"
id = "dairy-week"
name = "Dairy week"
points = 5
categories = ["dairy"]
"""
)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "current.toml").write_text(CURRENT, encoding="utf-8")
    (tmp_path / "proposed.toml").write_text(PROPOSED, encoding="utf-8")
    workload = generate(members=15, purchases=200, seed=4)
    with (tmp_path / "history.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(to_jsonl(workload.events))
    return tmp_path


def _args(folder: Path, *more: str) -> list[str]:
    return [
        "simulate",
        "--history",
        str(folder / "history.jsonl"),
        "--program",
        str(folder / "current.toml"),
        "--proposed",
        str(folder / "proposed.toml"),
        *more,
    ]


def test_simulate_prints_both_programs_side_by_side(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_of(files)
    status, out, err = run_cli(capsys, *_args(files))
    assert (status, err) == (0, "")
    assert out.startswith("What-if: 225 records from ")
    header = out.splitlines()[1].split()
    assert header == ["current", "proposed", "change"]
    for label in (
        "points issued",
        "points expired",
        "liability",
        "breakage rate",
        "declined",
        "dairy-week (Dairy week)",
    ):
        assert label in out
    assert "members who gain most" in out
    assert tree_of(files) == before


def test_simulate_json_is_the_comparisons_json_form(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(
        capsys, *_args(files, "--json", "--top", "2", "--until", "2024-06-30T00:00:00+00:00")
    )
    assert status == 0
    found = json.loads(out)
    assert found["history"] == str(files / "history.jsonl")
    assert found["end"] == "2024-06-30T00:00:00+00:00"
    current, proposed = found["current"], found["proposed"]
    assert (current["version"], proposed["version"]) == ("1", "2")
    assert [rule["rule"] for rule in proposed["rules"]] == ["base", "dairy-week"]
    assert proposed["figures"]["issued"] > current["figures"]["issued"]
    assert current["figures"]["liability"] == {
        "amount": f"{current['figures']['outstanding'] / 100:.2f}",
        "currency": "EUR",
    }
    assert len(found["gains"]) == 2 and found["losses"] == []


def test_a_bad_line_exits_2_naming_the_line_and_field(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = files / "history.jsonl"
    lines = history.read_text(encoding="utf-8").splitlines(keepends=True)
    record = json.loads(lines[40])
    record["at"] = "yesterday"
    lines[40] = json.dumps(record) + "\n"
    history.write_text("".join(lines), encoding="utf-8")
    status, out, err = run_cli(capsys, *_args(files))
    assert (status, out) == (2, "")
    assert err == "error: line 41: at: not an ISO 8601 timestamp: 'yesterday'\n"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"history": "missing.jsonl"}, "missing.jsonl: no such file"),
        ({"proposed": "missing.toml"}, "missing.toml: no such file"),
        ({"history": "latin1.jsonl"}, "line 1: not UTF-8 text: byte 0xe9 at character 31"),
    ],
)
def test_missing_or_unreadable_files_exit_2(
    files: Path, capsys: pytest.CaptureFixture[str], change: dict[str, str], expected: str
) -> None:
    (files / "latin1.jsonl").write_bytes('{"type": "enrollment", "id": "é"}\n'.encode("latin-1"))
    paths = {"history": "history.jsonl", "program": "current.toml", "proposed": "proposed.toml"} | change
    args = ["simulate"] + [part for key, name in paths.items() for part in (f"--{key}", str(files / name))]
    status, out, err = run_cli(capsys, *args)
    assert (status, out) == (2, "")
    assert expected in err


def test_a_broken_program_exits_1(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (files / "proposed.toml").write_text(PROPOSED.replace("points = 5", "points = -5"), encoding="utf-8")
    status, _, err = run_cli(capsys, *_args(files))
    assert status == 1
    assert "rules[0].points" in err


def test_simulate_html_charts_both_programs_in_one_page(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_matplotlib()
    page = files / "what-if.html"
    status, out, err = run_cli(capsys, *_args(files, "--json", "--html", str(page)))
    assert (status, err) == (0, f"HTML report written to {page}\n")
    found = json.loads(out)
    # The page asked for figures over time: the JSON has them too.
    assert len(found["current"]["periods"]) > 1 and found["proposed"]["at_risk"] is not None
    html = page.read_text(encoding="utf-8")
    assert "<title>What-if: Club</title>" in html and html.count("<svg") == 4  # no tiers
    assert "current: Club 1" in html and "proposed: Club 2" in html and "Dairy week" in html
    assert outside_references(html) == []


def test_simulate_html_into_no_directory_exits_2_before_replaying(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_matplotlib()
    status, out, err = run_cli(capsys, *_args(files, "--html", str(files / "no" / "what-if.html")))
    assert (status, out) == (2, "")
    assert err == f"error: html: no directory {files / 'no'} to write what-if.html in\n"


def test_simulate_on_disk_prints_the_same_comparison(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_of(files)
    status, in_memory, _ = run_cli(capsys, *_args(files, "--json"))
    assert status == 0
    status, on_disk, _ = run_cli(capsys, *_args(files, "--json", "--on-disk"))
    assert status == 0
    assert json.loads(on_disk) == json.loads(in_memory)
    assert tree_of(files) == before  # the SQLite files went into a temporary folder, since removed


def test_a_long_history_replays_in_two_processes_unless_sequential(
    files: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every file is long here, and the machine has two cores.
    monkeypatch.setattr(whatif, "_LARGE_BYTES", 1)
    monkeypatch.setattr(whatif, "_cores", lambda: 2)
    started: list[object] = []

    class Counted(whatif_process.SecondProcess):
        def __init__(self, *args: Any) -> None:
            started.append(self)
            super().__init__(*args)

    monkeypatch.setattr(whatif, "SecondProcess", Counted)
    outputs = []
    for more in ((), ("--sequential",)):
        status, out, err = run_cli(capsys, *_args(files, "--json", *more))
        assert (status, err) == (0, "")
        outputs.append(json.loads(out))
    assert outputs[0] == outputs[1]
    assert len(started) == 1
