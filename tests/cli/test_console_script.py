"""The installed loyalty console script, and --version."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import loyalty
from loyalty.cli import main
from tests.cli.helpers import CORNER


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"loyalty {loyalty.__version__}"


def test_installed_console_script(tmp_path: Path) -> None:
    script = shutil.which("loyalty", path=str(Path(sys.executable).parent))
    assert script, "the loyalty console script is not installed next to this Python"
    path = tmp_path / "script.db"
    done = subprocess.run(
        [script, "demo", "--db", str(path), "--members", "10", "--weeks", "1", "--no-html"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"\n  store   {path}\n" in done.stdout
    assert path.stat().st_size > 0


def test_installed_script_validate_exits_1_listing_problems(files: Path) -> None:
    script = shutil.which("loyalty", path=str(Path(sys.executable).parent))
    assert script
    Path("broken.toml").write_text(CORNER.replace('factor = "2"', 'factor = "-1"'), encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [script, "validate", "broken.toml"], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        "rules[2].factor: must not be negative, got -1\n",
    )


@pytest.mark.parametrize("module", ["loyalty", "loyalty.cli"])
def test_python_dash_m_runs_the_command(module: str) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", module, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    done = run("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"loyalty {loyalty.__version__}")
    done = run("no-such-command")
    assert done.returncode == 2
    assert "invalid choice: 'no-such-command'" in done.stderr


def test_verbose_flags_log_the_library_to_stderr_without_member_ids(tmp_path: Path) -> None:
    script = shutil.which("loyalty", path=str(Path(sys.executable).parent))
    assert script

    def demo(*flags: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / f"demo{len(flags)}{''.join(flags)}.db"
        command = [script, *flags, "demo", "--db", str(path), "--members", "5", "--weeks", "1", "--no-html"]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    quiet, info, debug = demo(), demo("-v"), demo("-vv")
    assert [done.returncode for done in (quiet, info, debug)] == [0, 0, 0]
    assert quiet.stderr == ""
    new_file = tmp_path / "demo1-v.db"
    migrated = f"INFO loyalty.store.sqlite: SQLite store {new_file}: schema migrated from version 0 to"
    assert info.stderr.startswith(migrated), info.stderr
    assert "DEBUG" not in info.stderr
    lines = debug.stderr.splitlines()
    assert "DEBUG loyalty.service.membership: enroll: recorded" in lines
    purchases = [line for line in lines if line.startswith("DEBUG loyalty.service.idempotency: purchase '")]
    assert purchases and all(line.endswith("': recorded") for line in purchases)
    # The demo's members (M00001...) are on stdout, never in the log.
    assert "M0000" in debug.stdout and "M0000" not in debug.stderr
