"""loyalty run-due: what an operator schedules, carried out once, or an error that writes nothing."""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import AbstractContextManager, closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Program, Purchase, balance_of, open_store
from loyalty.cli import main, stores
from loyalty.store import Store, UnitOfWork

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = """
name = "Expiring Club"
currency = "EUR"
rate = {points = 1, per = "1.00"}

[expiry]
policy = "lifetime"
months = 1
"""


@pytest.fixture
def store_file(tmp_path: Path) -> tuple[str, Path]:
    """A store where M1 earned 12 points on 1 March 2024 that expire a month later, and the
    program file it was run with."""
    program_file = tmp_path / "club.toml"
    program_file.write_text(PROGRAM, encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'club.db'}"
    with Engine(Program.from_toml_file(program_file), open_store(url)) as engine:
        engine.enroll("M1", at=T0)
        engine.record_purchase(Purchase("T1-1", "M1", T0, [Line("cake", 3, Decimal("4.15"))], "EUR"))
    return url, program_file


def _balance(url: str) -> int:
    """M1's points on the ledger (whether or not their date has passed: the balance by state
    counts points past their date as overdue until run-due writes them off)."""
    with Engine(Program.from_toml(PROGRAM), open_store(url)) as engine:
        return balance_of(engine.history("M1"))


def test_run_due_writes_off_what_expired_once(
    store_file: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = store_file
    assert main(["run-due", "--store", url, "--at", "2024-06-01T00:00:00+00:00"]) == 0
    assert capsys.readouterr().out == (
        "Expiring Club: everything due by 2024-06-01T00:00:00+00:00\n"
        "  lots expired             1 (12 points)\n"
        "  members who lost points  1\n"
        "  holds expired            0 (0 points back)\n"
        "  tier reviews             0 (0 changed tier)\n"
        "  lots re-dated            0\n"
        "  expiry reminders         0\n"
        "  vouchers expired         0\n"
        "  transfers finished       0\n"
        "  referral bonuses paid    0\n"
        "  merges finished          0\n"
        "  erasures finished        0\n"
    )
    assert _balance(url) == 0
    # Run again (a scheduler that fired twice): nothing more is due.
    assert main(["run-due", "--store", url, "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert done["expired_lots"] == 0 and done["expired_points"] == 0
    assert done["program"] == "Expiring Club" and done["at"] is None


def test_run_due_reads_the_store_from_the_environment_and_the_program_from_a_file(
    store_file: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, program_file = store_file
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    assert main(["run-due", "--program", str(program_file), "--at", "2024-03-15T00:00:00Z", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "program": "Expiring Club",
        "at": "2024-03-15T00:00:00+00:00",
        "expired_lots": 0,  # not due yet on 15 March
        "expired_points": 0,
        "members": 0,
        "expired_holds": 0,
        "released_points": 0,
        "tier_reviews": 0,
        "tier_changes": 0,
        "redated_lots": 0,
        "reminders": 0,
        "expired_vouchers": 0,
        "finished_transfers": 0,
        "paid_referrals": 0,
        "finished_merges": 0,
        "finished_erasures": 0,
    }
    assert _balance(url) == 12


def test_run_due_refuses_what_it_cannot_do_and_writes_nothing(
    store_file: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _ = store_file
    monkeypatch.delenv("LOYALTY_STORE_URL", raising=False)
    assert main(["run-due"]) == 2
    assert capsys.readouterr().err == "error: store: give --store URL or set LOYALTY_STORE_URL\n"
    missing = tmp_path / "missing.db"
    assert main(["run-due", "--store", f"sqlite:///{missing}"]) == 2
    assert (
        capsys.readouterr().err
        == f"error: store: no SQLite file at {missing}: `loyalty migrate` creates one\n"
    )
    assert not missing.exists()
    assert main(["run-due", "--store", url, "--at", "2999-01-01T00:00:00Z"]) == 2
    assert "ahead of the engine clock" in capsys.readouterr().err
    assert _balance(url) == 12


def test_a_store_that_cannot_be_used_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "future.db"
    open_store(f"sqlite:///{path}").close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE schema_version SET version = 999")
        conn.commit()
    assert main(["run-due", "--store", f"sqlite:///{path}"]) == 3
    assert "upgrade loyalty-engine" in capsys.readouterr().err


def test_a_missing_file_is_refused_whatever_the_schemes_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.db"
    assert main(["run-due", "--store", f"SQLite:///{missing}"]) == 2
    assert (
        capsys.readouterr().err
        == f"error: store: no SQLite file at {missing}: `loyalty migrate` creates one\n"
    )
    assert not missing.exists()


class _Bare:
    """Someone else's adapter, as the port asked before stores were context managers."""

    def __init__(self, inner: Store) -> None:
        self.inner, self.closed = inner, False

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        return self.inner.unit_of_work(readonly=readonly)

    def close(self) -> None:
        self.closed = True
        self.inner.close()


def test_an_adapter_that_is_no_context_manager_still_serves_and_is_closed(
    store_file: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = store_file
    opened: list[_Bare] = []

    def open_bare(given: str, *, migrate: bool = True) -> _Bare:
        opened.append(_Bare(open_store(given, migrate=migrate)))
        return opened[-1]

    monkeypatch.setattr(stores, "open_store", open_bare)
    assert main(["run-due", "--store", url, "--at", "2024-06-01T00:00:00+00:00", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["expired_points"] == 12
    assert [bare.closed for bare in opened] == [True]


def test_verbose_run_due_logs_the_run_on_stderr_and_leaves_logging_as_it_was(
    store_file: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = store_file
    logger = logging.getLogger("loyalty")
    before = (list(logger.handlers), logger.level)
    assert main(["-v", "run-due", "--store", url, "--at", "2024-06-01T00:00:00+00:00"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Expiring Club: everything due by 2024-06-01T00:00:00+00:00\n")
    (line,) = err.splitlines()
    assert line.startswith(
        "INFO loyalty.service.maintenance: run_due at 2024-06-01T00:00:00+00:00: "
        "1 lots expired (12 points) of 1 members, 0 holds expired (0 points back), "
    )
    assert (list(logger.handlers), logger.level) == before
    assert main(["run-due", "--store", url]) == 0
    assert capsys.readouterr().err == ""
