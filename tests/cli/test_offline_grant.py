"""loyalty offline-grant: an allowance granted to a terminal, once per id, bad figures refused by name."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Program, Purchase, open_store
from loyalty.offline import OfflineTerms
from tests.cli.helpers import run_cli, tree_of

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
AT = T0.isoformat()
GRANT = ("offline-grant", "till-7", "--id", "A1", "--actor", "ops", "--at", AT)
FIGURES = ("--per-member", "80", "--total", "200", "--until", "2024-03-01T17:30:00+00:00")
NEVER_GRANTED = (2, "", "error: terminal_id: no offline allowance was ever granted to 'till-7'\n")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store whose program grants 150 points per member, 2000 in all, for 8 hours by default;
    no terminal has an allowance yet."""
    path = tmp_path / "club.db"
    url = f"sqlite:///{path}"
    program = Program("Offline Club", "EUR", offline=OfflineTerms(per_member=150, total=2000, hours=8))
    with Engine(program, open_store(url)) as engine:
        engine.enroll("M1", at=T0)
        # A purchase keeps the program with the data, which the command reads it from.
        engine.record_purchase(Purchase("T1", "M1", T0, [Line("cake", 1, Decimal("4.15"))], "EUR"))
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    return path


def test_a_grant_prints_the_allowance_and_offline_report_shows_it(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, *GRANT, *FIGURES) == (
        0,
        "till-7: allowance A1 from 2024-03-01T09:30:00+00:00 until 2024-03-01T17:30:00+00:00,"
        " granted by ops; per member 80, total 200\n",
        "",
    )
    status, out, err = run_cli(capsys, "offline-report", "till-7")
    assert (status, err) == (0, "")
    assert out == (
        "till-7: allowance A1 from 2024-03-01T09:30:00+00:00 until 2024-03-01T17:30:00+00:00,"
        " granted by ops\n"
        "  per member 80, total 200: 0 used, 200 left, 0 short, 0 declined\n"
    )


def test_figures_left_out_are_the_programs_and_at_left_out_is_now(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = datetime.now(UTC)
    status, out, err = run_cli(capsys, "offline-grant", "till-7", "--id", "A1", "--actor", "ops", "--json")
    after = datetime.now(UTC)
    assert (status, err) == (0, "")
    granted = json.loads(out)
    opened_at = datetime.fromisoformat(granted.pop("opened_at"))
    until = datetime.fromisoformat(granted.pop("until"))
    assert granted == {"id": "A1", "terminal_id": "till-7", "per_member": 150, "total": 2000, "actor": "ops"}
    assert before <= opened_at <= after
    assert until - opened_at == timedelta(hours=8)


def test_a_retry_with_the_same_id_prints_the_original_allowance_and_writes_nothing_more(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run_cli(capsys, *GRANT, "--per-member", "80", "--json")
    before = tree_of(tmp_path)
    assert run_cli(capsys, *GRANT, "--per-member", "80", "--json") == first
    assert json.loads(first[1]) == {
        "id": "A1",
        "terminal_id": "till-7",
        "per_member": 80,
        "total": 2000,
        "opened_at": "2024-03-01T09:30:00+00:00",
        "until": "2024-03-01T17:30:00+00:00",
        "actor": "ops",
    }
    assert tree_of(tmp_path) == before
    status, out, _ = run_cli(capsys, "offline-report", "till-7", "--json")
    assert status == 0
    assert [report["allowance"]["id"] for report in json.loads(out)] == ["A1"]


def test_a_retry_repeats_at_which_left_out_is_the_time_of_each_run(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = ("offline-grant", "till-7", "--id", "A1", "--actor", "ops", "--json")
    status, out, _ = run_cli(capsys, *first)
    assert status == 0
    before = tree_of(tmp_path)
    status, _, err = run_cli(capsys, *first)
    assert status == 2
    assert err.startswith("error: opened_at: id 'A1' was already used for a different offline_allowance")
    assert tree_of(tmp_path) == before
    # The time the first run printed, given as --at, makes the same request: the original back.
    assert run_cli(capsys, *first, "--at", json.loads(out)["opened_at"]) == (0, out, "")


def test_the_same_id_with_other_figures_exits_2_naming_the_conflict_and_writes_nothing(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    granted = run_cli(capsys, *GRANT, *FIGURES)
    assert granted[0] == 0
    before = tree_of(tmp_path)
    assert run_cli(capsys, *GRANT, "--per-member", "90", "--total", "200") == (
        2,
        "",
        "error: per_member: id 'A1' was already used for a different offline_allowance (was 80, now 90)\n",
    )
    # Leaving out a figure the original stated is another request too.
    status, out, err = run_cli(capsys, *GRANT, "--per-member", "80", "--total", "200")
    assert (status, out) == (2, "")
    assert err.startswith("error: until: id 'A1' was already used for a different offline_allowance")
    assert tree_of(tmp_path) == before
    status, out, _ = run_cli(capsys, "offline-report", "till-7")
    assert status == 0
    assert out.splitlines()[1] == "  per member 80, total 200: 0 used, 200 left, 0 short, 0 declined"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (("--per-member", "-5"), "error: per_member: must be positive, got -5"),
        (("--total", "0"), "error: total: must not be zero"),
        (
            ("--per-member", "300", "--total", "200"),
            "error: per_member: must not exceed total (200), got 300",
        ),
        (
            ("--until", "2024-03-01T08:00:00+00:00"),
            "error: until: must be after at (2024-03-01T09:30:00+00:00), got 2024-03-01T08:00:00+00:00",
        ),
        (
            ("--until", "2024-03-31T09:30:01+00:00"),
            "error: until: must be at most 720 hours (30 days) after at (2024-03-01T09:30:00+00:00),"
            " got 2024-03-31T09:30:01+00:00",
        ),
        (
            ("--at", "2024-03-01T09:30:00"),
            "loyalty offline-grant: error: argument --at: must carry a UTC offset (+01:00, Z):"
            " '2024-03-01T09:30:00' is ambiguous, e.g. \"2024-03-05T15:10:00+01:00\"",
        ),
        (
            ("--until", "2024-03-01T17:30:00"),
            "loyalty offline-grant: error: argument --until: must carry a UTC offset (+01:00, Z):"
            " '2024-03-01T17:30:00' is ambiguous, e.g. \"2024-03-05T15:10:00+01:00\"",
        ),
    ],
)
def test_bad_input_exits_2_naming_the_field_and_grants_nothing(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], given: tuple[str, ...], message: str
) -> None:
    before = tree_of(tmp_path)
    # The last --at given is the one argparse keeps: a naive one replaces GRANT's.
    status, out, err = run_cli(capsys, *GRANT, *given)
    assert (status, out) == (2, "")
    assert err.splitlines()[-1] == message
    assert tree_of(tmp_path) == before
    assert run_cli(capsys, "offline-report", "till-7") == NEVER_GRANTED
