"""loyalty member merge: two members merged into one in a store, in text or JSON; a retry does nothing
more, and a refusal exits 2 naming the field with nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Program, Purchase, open_store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from tests.cli.helpers import run_cli

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = """
name = "Merge Club"
currency = "EUR"
rate = {points = 1, per = "1.00"}
"""
AT = "2024-03-10T12:00:00+00:00"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store where A bought for 41.50 and B, with the card 2000, for 12.00 and 8.00, all on
    1 March 2024; the store's URL in LOYALTY_STORE_URL."""
    url = f"sqlite:///{tmp_path / 'club.db'}"
    clock = ManualClock(T0)
    with Engine(Program.from_toml(PROGRAM), open_store(url), clock=clock) as engine:
        engine.enroll("A", at=T0)
        engine.enroll("B", at=T0, identifiers=["card:2000"])
        for pid, member, amount in (("T1", "A", "41.50"), ("T2", "B", "12.00"), ("T3", "B", "8.00")):
            at = clock.catch_up(T0 + timedelta(hours=len(pid)))
            engine.record_purchase(Purchase(pid, member, at, [Line("cake", 1, Decimal(amount))], "EUR"))
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    return url


def test_member_merge_prints_what_moved(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    merge = ("member", "merge", "A", "B", "--id", "G1", "--reason", "one person", "--at", AT)
    assert run_cli(capsys, *merge) == (
        0,
        "Merged B into A (G1): B is closed\n"
        "  points       20 in 2 lots\n"
        "  A's balance  61\n"
        "  keys         card:2000\n"
        "  referrals    none\n"
        "  carried      first and last visit, spend, visits\n",
        "",
    )
    # Again: the same merge, nothing written twice.
    assert run_cli(capsys, *merge)[0] == 0
    status, out, _ = run_cli(capsys, *merge, "--json")
    made = json.loads(out)
    assert status == 0
    assert (made["survivor"], made["absorbed"], made["points"], made["keys"]) == ("A", "B", 20, ["card:2000"])
    assert [entry["points"] for entry in made["received"]] == [12, 8]
    status, out, _ = run_cli(capsys, "member", "show", "--key", "card:2000", "--json")
    assert json.loads(out)["member"]["id"] == "A"
    status, out, _ = run_cli(capsys, "member", "history", "B", "--json")
    assert [(e["kind"], e["points"]) for e in json.loads(out)][-1] == ("merge", -20)


def test_member_merge_refuses_naming_the_field_and_writes_nothing(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = open_store(store)
    before = snapshot(shop, ["A", "B"], ["G1"])
    assert run_cli(capsys, "member", "merge", "A", "A", "--id", "G1", "--reason", "r") == (
        2,
        "",
        "error: absorbed: must be another member than survivor ('A')\n",
    )
    assert run_cli(capsys, "member", "merge", "A", "Z", "--id", "G1", "--reason", "r") == (
        2,
        "",
        "error: absorbed: no member 'Z'\n",
    )
    assert run_cli(capsys, "member", "merge", "A", "B", "--reason", "r")[0] == 2  # --id is required
    assert snapshot(shop, ["A", "B"], ["G1"]) == before
    shop.close()
