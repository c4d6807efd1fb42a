"""loyalty entries: every member's ledger entries in commit order, as JSON lines, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loyalty import Engine, open_store
from loyalty.ledger import Entry
from tests.cli.helpers import CLUB, run_cli, tree_of


@pytest.fixture
def store(ledger: Path) -> str:
    """The ``ledger`` fixture's store, by its URL."""
    return f"sqlite:///{ledger}"


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_entries_prints_the_ledger_feed_as_json_lines(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_of(tmp_path)
    status, out, err = run_cli(capsys, "entries")
    assert (status, err) == (0, "")
    found = _lines(out)
    assert [(e["member_id"], e["kind"], e["points"], e["balance_after"]) for e in found] == [
        ("M1", "earn", 4, 4),
        ("M2", "earn", 12, 12),
        ("M1", "adjust", -2, 2),
    ]
    correction = (found[2]["source_id"], found[2]["reason"], found[2]["actor"])
    assert correction == ("A1", "goodwill reversed", "clerk-7")
    with Engine(CLUB, open_store(store)) as engine:
        assert [Entry.from_dict(e) for e in found] == engine.entries()
    first = found[0]["seq"]
    status, out, _ = run_cli(capsys, "entries", "--after", str(first), "--limit", "1")
    assert [e["source_id"] for e in _lines(out)] == ["T2"]
    assert run_cli(capsys, "entries", "--after", str(found[-1]["seq"])) == (0, "", "")
    assert tree_of(tmp_path) == before


def test_entries_pages_past_the_engines_most_per_call(
    store: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("loyalty.cli.ledger_feed.PAGE", 2)
    assert [e["source_id"] for e in _lines(run_cli(capsys, "entries")[1])] == ["T1", "T2", "A1"]
    assert [e["source_id"] for e in _lines(run_cli(capsys, "entries", "--limit", "2")[1])] == ["T1", "T2"]


def test_entries_refuses_a_bad_cursor_or_a_missing_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(capsys, "entries", "--after", "-1")[0] == 2
    assert run_cli(capsys, "entries", "--limit", "0")[0] == 2
    missing = tmp_path / "missing.db"
    assert run_cli(capsys, "entries", "--store", f"sqlite:///{missing}") == (
        2,
        "",
        f"error: store: no SQLite file at {missing}: `loyalty migrate` creates one\n",
    )
    assert not missing.exists()
