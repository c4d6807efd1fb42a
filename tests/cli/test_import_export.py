"""loyalty import: a history applied to a store once, bad lines named or set aside, a killed run resumed."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from loyalty import Engine, Program, open_store
from loyalty.cli import main
from loyalty.simulation import generate, to_jsonl

PROGRAM = 'name = "Club"\ncurrency = "EUR"\n'
ENROLL = '{"type": "enrollment", "id": "ENR-M1", "member_id": "M1", "at": "2024-03-01T09:00:00+01:00"}'
SALE = (
    '{"type": "purchase", "id": "T%d", "member_id": "%s", "at": "2024-03-02T09:00:00+01:00",'
    ' "currency": "EUR", "lines": [{"sku": "cake", "quantity": %s, "unit_price": "10.00"}]}'
)


@pytest.fixture
def club(tmp_path: Path) -> tuple[str, Path]:
    """An empty store, created by ``loyalty migrate``, and the program file to import with."""
    (tmp_path / "club.toml").write_text(PROGRAM, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'club.db'}"
    assert main(["migrate", "--store", url]) == 0
    return url, tmp_path / "club.toml"


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "h.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(url: str, program: Path, path: Path, *more: str) -> int:
    return main(["import", str(path), "--store", url, "--program", str(program), *more])


def test_an_import_applies_the_file_once(
    club: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, program = club
    path = _file(tmp_path, ENROLL, SALE % (1, "M1", 2), SALE % (2, "M1", 1))
    capsys.readouterr()
    assert _import(url, program, path) == 0
    assert capsys.readouterr().out == (
        f"Club: {path} imported\n"
        "  lines read        3\n"
        "  applied           3 (1 enrollment, 2 purchase)\n"
        "  already recorded  0\n"
        "  rejected          0\n"
    )
    assert _import(url, program, path, "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["applied"], again["already"]) == ({}, {"enrollment": 1, "purchase": 2})
    with Engine(Program("Club", "EUR"), open_store(url)) as engine:
        assert engine.balance("M1").available == 30


def test_a_bad_line_stops_the_import_with_status_2_naming_it(
    club: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, program = club
    path = _file(tmp_path, ENROLL, SALE % (1, "M1", 0), SALE % (2, "M1", 1))
    assert _import(url, program, path, "--json") == 2
    out, err = capsys.readouterr()
    assert err == "error: line 2: lines[0].quantity: must be positive, got 0\n"
    assert json.loads(out)["applied"] == {"enrollment": 1}


def test_skipped_lines_go_to_the_rejects_file_ready_to_mend_and_import_again(
    club: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, program = club
    rejects = tmp_path / "rejects.jsonl"
    deep = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError, not a decode error
    path = _file(tmp_path, ENROLL, "not json", SALE % (1, "M9", 2), deep, SALE % (2, "M1", 1))
    assert _import(url, program, path, "--on-error", "skip", "--rejects", str(rejects)) == 4
    bad = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert [x["rejected"] for x in bad] == [
        {"line": 2, "field": None, "reason": "not JSON: Expecting value"},
        {"line": 3, "field": "member_id", "reason": "no member 'M9'"},
        {"line": 4, "field": None, "reason": "not JSON this reader takes: nested too deeply"},
    ]
    assert bad[0]["text"] == "not json"
    # Mended (M9 becomes M1), the rejected sale imports like any other line.
    mended = json.dumps(bad[1] | {"member_id": "M1"})
    rejects.write_text(mended + "\n", encoding="utf-8")
    capsys.readouterr()
    assert _import(url, program, rejects, "--json") == 0
    assert json.loads(capsys.readouterr().out)["applied"] == {"purchase": 1}
    assert main(["import", str(path), "--store", url, "--rejects", str(rejects)]) == 2
    assert "--rejects goes with --on-error skip" in capsys.readouterr().err


def _script() -> str:
    script = shutil.which("loyalty", path=str(Path(sys.executable).parent))
    assert script, "the loyalty console script is not installed next to this Python"
    return script


def _entries(path: Path) -> int:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as raw:
        return int(raw.execute("SELECT count(*) FROM entries").fetchone()[0])


def _state(engine: Engine, members: list[str]) -> list[Any]:
    return [
        (
            engine.balance(m),
            [(lot.points, lot.remaining, lot.earned_at, lot.expires_at) for lot in engine.lots(m)],
            [(e.kind, e.points, e.balance_after, e.occurred_at, e.source_id) for e in engine.history(m)],
        )
        for m in members
    ]


def test_an_import_killed_half_way_resumes_to_the_state_of_one_run(
    club: tuple[str, Path], tmp_path: Path
) -> None:
    url, program = club
    db = tmp_path / "club.db"
    workload = generate(members=20, purchases=800, seed=5)
    path = tmp_path / "h.jsonl"
    with path.open("w", encoding="utf-8") as out:
        out.writelines(to_jsonl(workload.events))
    command = [
        _script(),
        "import",
        str(path),
        "--store",
        url,
        "--program",
        str(program),
        "--batch-size",
        "20",
    ]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as run:
        deadline = time.monotonic() + 120
        while _entries(db) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert run.poll() is None, "the import ended before it could be killed"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    assert run.returncode == -signal.SIGKILL
    done = _entries(db)
    assert 100 <= done < len(workload.events)
    with closing(sqlite3.connect(db)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    assert _import(url, program, path, "--batch-size", "500") == 0
    members = [e.member_id for e in workload.enrollments]
    with (
        Engine(Program("Club", "EUR"), open_store(url)) as resumed,
        Engine(Program("Club", "EUR"), open_store("memory://")) as whole,
    ):
        summary = whole.import_events(path.read_text(encoding="utf-8").splitlines())
        assert summary.total_applied == len(workload.events)
        assert _state(resumed, members) == _state(whole, members)


def test_an_exported_store_imports_into_a_new_one(
    club: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, program = club
    # A hold carried from a store before (its points taken from a lot of their own).
    hold = (
        '{"type": "hold", "id": "H1", "member_id": "M1", "at": "2024-03-03T09:00:00+01:00", "points": 5,'
        ' "expires_at": "2099-01-01T00:00:00+00:00",'
        ' "lots": [{"points": 5, "at": "2024-03-02T09:00:00+01:00"}]}'
    )
    path = _file(tmp_path, ENROLL, SALE % (1, "M1", 2), SALE % (2, "M1", 1), hold)
    assert _import(url, program, path) == 0
    capsys.readouterr()
    assert main(["export", "--store", url]) == 0
    shown = capsys.readouterr().out
    exported = tmp_path / "members.jsonl"
    assert main(["export", "--store", url, "--output", str(exported)]) == 0
    assert capsys.readouterr().out == f"{exported}: 1 members, 2 opening balances, 1 open holds\n"
    assert exported.read_text(encoding="utf-8") == shown
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["migrate", "--store", other]) == 0
    assert _import(other, program, exported) == 0
    with Engine(Program("Club", "EUR"), open_store(other)) as engine:
        assert engine.balance("M1").available == 30
        assert [(lot.points, lot.earned_at.day) for lot in engine.lots("M1")] == [(20, 2), (10, 2)]


@pytest.mark.parametrize("missing", [False, True], ids=["a-directory", "in-a-missing-directory"])
def test_a_rejects_or_output_file_that_cannot_be_written_is_refused_before_anything_runs(
    club: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], missing: bool
) -> None:
    """Refused with status 2 naming the option (it ended with an OSError's traceback), and the
    store is left as it was: the import applies nothing."""
    url, program = club
    target = tmp_path / "no" / "such" / "out.jsonl" if missing else tmp_path
    said = f"directory {target.parent} does not exist" if missing else f"{target} is a directory"
    path = _file(tmp_path, ENROLL, SALE % (1, "M1", 1))
    assert _import(url, program, path, "--on-error", "skip", "--rejects", str(target)) == 2
    assert capsys.readouterr().err.startswith(f"error: --rejects: {said}")
    with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        assert conn.execute("SELECT count(*) FROM members").fetchone() == (0,)
    for history in ([], ["--history"]):
        exported = ["export", "--store", url, "--program", str(program), *history, "--output", str(target)]
        assert main(exported) == 2
        assert capsys.readouterr().err.startswith(f"error: --output: {said}")
    assert not (tmp_path / "no").exists()


def test_a_line_with_a_byte_that_is_not_utf8_is_rejected_alone_and_written_back_as_it_was(
    club: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, program = club
    rejects = tmp_path / "rejects.jsonl"
    latin = (SALE % (1, "M1", 2)).replace("cake", "caf\xe9").encode("latin-1")
    path = tmp_path / "h.jsonl"
    # A byte order mark first, as some editors save UTF-8: no record's.
    path.write_bytes(
        b"\xef\xbb\xbf" + ENROLL.encode() + b"\n" + latin + b"\n" + (SALE % (2, "M1", 1)).encode() + b"\n"
    )
    assert _import(url, program, path, "--on-error", "skip", "--rejects", str(rejects), "--json") == 4
    assert json.loads(capsys.readouterr().out)["applied"] == {"enrollment": 1, "purchase": 1}
    back = rejects.read_bytes()
    assert b'"sku": "caf\xe9"' in back  # the line as it was, for whoever mends it
    assert json.loads(back.decode("latin-1"))["rejected"] == {
        "line": 2,
        "field": None,
        "reason": "not UTF-8 text: byte 0xe9 at character 129",
    }
    assert _import(url, program, path, "--json") == 2
    assert capsys.readouterr().err == "error: line 2: not UTF-8 text: byte 0xe9 at character 129\n"
