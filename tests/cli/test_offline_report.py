"""loyalty offline-report: a terminal's allowances reconciled, per member, nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, InsufficientPoints, Line, Program, Purchase, open_store
from tests.cli.helpers import run_cli, tree_of

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A till that went offline: two members redeemed under its allowance, one was declined."""
    path = tmp_path / "club.db"
    url = f"sqlite:///{path}"
    with Engine(Program("Offline Club", "EUR"), open_store(url), clock=lambda: T0 + 10 * HOUR) as engine:
        engine.enroll("M3", at=T0)
        # A purchase keeps the program with the data, which the command reads it from.
        engine.record_purchase(Purchase("T1", "M3", T0, [Line("cake", 1, Decimal("4.15"))], "EUR"))
        for member_id in ("M1", "M2"):
            engine.enroll(member_id, at=T0)
            engine.adjust(member_id, 50, id=f"welcome {member_id}", at=T0, reason="welcome", actor="staff")
        engine.grant_offline_allowance(
            "till-7", id="A1", at=T0, per_member=80, total=200, until=T0 + 8 * HOUR, actor="ops"
        )
        engine.redeem("M1", 70, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
        engine.redeem("M2", 30, id="R2", at=T0 + HOUR, offline=True, terminal="till-7")
        with pytest.raises(InsufficientPoints):
            engine.redeem("M1", 20, id="R3", at=T0 + 2 * HOUR, offline=True, terminal="till-7")
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    return path


def test_offline_report_prints_each_members_use_and_writes_nothing(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_of(tmp_path)
    assert run_cli(capsys, "offline-report", "till-7") == (
        0,
        "till-7: allowance A1 from 2024-03-01T09:30:00+00:00 until 2024-03-01T17:30:00+00:00,"
        " granted by ops\n"
        "  per member 80, total 200: 100 used, 100 left, 20 short, 1 declined\n"
        "  M1: 1 redeemed for 70 points, 20 short, 1 declined\n"
        "  M2: 1 redeemed for 30 points, 0 short, 0 declined\n",
        "",
    )
    status, out, _ = run_cli(capsys, "offline-report", "till-7", "--json")
    [report] = json.loads(out)
    assert status == 0
    assert (report["used"], report["left"], report["shortfall"], report["declined"]) == (100, 100, 20, 1)
    assert report["allowance"]["id"] == "A1"
    assert report["members"][0] == {
        "allowance_id": "A1",
        "member_id": "M1",
        "redemptions": 1,
        "points": 70,
        "shortfall": 20,
        "declined": 1,
    }
    assert tree_of(tmp_path) == before


def test_offline_report_of_an_unknown_terminal_exits_2_naming_it(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(capsys, "offline-report", "till-9")
    assert (status, out) == (2, "")
    assert err == "error: terminal_id: no offline allowance was ever granted to 'till-9'\n"
