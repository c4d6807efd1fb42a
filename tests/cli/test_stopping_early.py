"""A command stopped from outside: Ctrl-C exits 130 with one line and a consistent store; a reader
that goes away (``| head``) ends it quietly with 141; progress is drawn only on a terminal."""

from __future__ import annotations

import io
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from loyalty import Engine, balance_of, open_store
from loyalty.cli import main
from loyalty.cli.examples import find
from loyalty.cli.programs import program_versions
from loyalty.cli.progress import progress


def _script() -> str:
    script = shutil.which("loyalty", path=str(Path(sys.executable).parent))
    assert script, "the loyalty console script is not installed next to this Python"
    return script


def _ctrl_c_as_a_terminal_sends_it() -> list[str]:
    """A command prefix that runs the rest with SIGINT's default action, then execs it (same pid).

    A run started in the background by a non-interactive shell (``cmd &`` in a script) ignores
    SIGINT, and an ignored signal stays ignored across exec: the demo then never saw the Ctrl-C
    and ran to its end (exit 0), or past the wait (a timeout). A terminal's Ctrl-C reaches a
    process that has the default action, which Python turns into KeyboardInterrupt.
    """
    restore = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", restore]


def _entries(path: Path) -> int:
    """The ledger entries committed so far, read while the demo writes (0 before its tables exist)."""
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as raw:
            return int(raw.execute("SELECT count(*) FROM entries").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_ctrl_c_exits_130_with_one_line_and_the_ledger_agrees_with_the_balances(tmp_path: Path) -> None:
    path = tmp_path / "cut.db"
    # Far more traffic than replays in the time allowed, so the signal lands mid-replay.
    command = [*_ctrl_c_as_a_terminal_sends_it(), _script(), "demo", "--db", str(path), "--members", "3000"]
    command += ["--weeks", "8"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as run:
        # Generous: on a loaded machine generating the traffic alone took over 30 s; the wait
        # ends as soon as 300 entries are committed.
        deadline = time.monotonic() + 120
        while _entries(path) < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, "the demo ended before it could be interrupted"
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=30)
    assert (run.returncode, out, err) == (130, "", "interrupted\n")
    with closing(sqlite3.connect(path)) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        members = [row[0] for row in raw.execute("SELECT DISTINCT member_id FROM entries ORDER BY 1")]
    store = open_store(f"sqlite:///{path}")
    try:
        engine = Engine(program_versions(find("grocer-club")), store)
        assert len(members) > 10
        for member in members:
            # The total: points past their date (the system clock is years on) are still the ledger's.
            assert engine.balance(member).total == balance_of(engine.history(member, limit=10_000))
    finally:
        store.close()


class _GoneReader(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_main_turns_a_broken_pipe_into_status_141(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.toml").write_text('name = "Club"\ncurrency = "EUR"\n', encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", _GoneReader())
    assert main(["validate", str(tmp_path / "p.toml")]) == 141
    assert capsys.readouterr().err == ""


def test_a_piped_command_that_loses_its_reader_exits_141_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('name = "Club"\ncurrency = "EUR"\n', encoding="utf-8")
    with subprocess.Popen(
        [_script(), "validate", str(tmp_path / "p.toml")], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as run:
        assert run.stdout is not None and run.stderr is not None
        run.stdout.close()
        err = run.stderr.read()
        status = run.wait(timeout=30)
    assert (status, err) == (141, b"")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_only() -> None:
    terminal, redirected = _Terminal(), io.StringIO()
    for stream in (terminal, redirected):
        with progress("replaying till traffic", 4, stream=stream) as advance:
            advance(2)
            advance(2, description="replaying till traffic, nearly done")
    assert "replaying till traffic" in terminal.getvalue()
    assert redirected.getvalue() == ""


def test_without_rich_there_is_no_progress_and_no_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.progress", None)  # as if the cli extra were not installed
    terminal = _Terminal()
    with progress("replaying", 1, stream=terminal) as advance:
        advance(1)
    assert terminal.getvalue() == ""
