"""loyalty member show|history and loyalty events: a store's answers in text or JSON, nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Program, Purchase, open_store
from loyalty.testing.clock import ManualClock
from tests.cli.helpers import run_cli, tree_of

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = """
name = "Lookup Club"
currency = "EUR"
rate = {points = 1, per = "1.00"}

[expiry]
policy = "lifetime"
days = 20

[tiers]
metric = "spend"
window = "rolling"
months = 12
upgrade = "this_purchase"
downgrade = "review"
review = "anniversary"

[[tiers.levels]]
id = "member"

[[tiers.levels]]
id = "silver"
name = "Silver"
threshold = "500.00"
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store where M1 bought for 41.50 on 1 March 2024 (points expiring on the 21st), put 5
    points on a hold that expired, and the store's URL in LOYALTY_STORE_URL. The clock is
    10 March 2024 for the engine that wrote it; the lookups run at the real clock."""
    url = f"sqlite:///{tmp_path / 'club.db'}"
    clock = ManualClock(T0)
    with Engine(Program.from_toml(PROGRAM), open_store(url), clock=clock) as engine:
        engine.enroll("M1", at=T0)
        engine.record_purchase(Purchase("T1-1", "M1", T0, [Line("cake", 10, Decimal("4.15"))], "EUR"))
        engine.hold("M1", 5, id="H1", at=T0, ttl=timedelta(hours=1))
        clock.advance(timedelta(days=9))
        engine.run_due()
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    return url


def test_member_show_gives_the_balance_tier_and_what_expires(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # At the real clock (years later) the member's points are overdue, nothing expires soon, and
    # the 12-month window of the tier's spend holds none of the member's purchases.
    assert run_cli(capsys, "member", "show", "M1") == (
        0,
        "Member M1, enrolled 2024-03-01T09:30:00+00:00\n"
        "  available  0\n"
        "  pending    0\n"
        "  overdue    41\n"
        "  held       0\n"
        "  tier       member since 2024-03-01T09:30:00+00:00\n"
        "  to Silver  500.00 more (spend)\n"
        "  expiring within 30 days: none\n"
        "  open holds: none\n"
        "  open vouchers: none\n",
        "",
    )
    status, out, _ = run_cli(capsys, "member", "show", "M1", "--json")
    shown = json.loads(out)
    assert status == 0
    assert shown["balance"] == {"available": 0, "pending": 0, "overdue": 41, "held": 0}
    assert shown["tier"]["tier"]["id"] == "member" and shown["tier"]["to_next"] == "500.00"
    assert shown["member"]["id"] == "M1" and shown["expiring"] == [] and shown["holds"] == []
    assert shown["vouchers"] == []


def test_member_history_pages_through_the_ledger(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "member", "history", "M1")
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith("Member M1: entries ")
    kinds = [line.split()[2] for line in lines[1:]]
    assert kinds == ["earn", "hold", "release"]
    status, out, _ = run_cli(capsys, "member", "history", "M1", "--limit", "1", "--json")
    (first,) = json.loads(out)
    assert (first["kind"], first["points"], first["source_id"]) == ("earn", 41, "T1-1")
    status, out, _ = run_cli(capsys, "member", "history", "M1", "--after", str(first["seq"]), "--json")
    assert [entry["kind"] for entry in json.loads(out)] == ["hold", "release"]
    _, out, _ = run_cli(capsys, "member", "history", "M1", "--after", "999")
    assert out == "Member M1: no entries after 999\n"


def test_events_reads_the_outbox(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "events", "--json")
    found = json.loads(out)
    assert status == 0
    assert [(e["kind"], e["member_id"]) for e in found] == [("hold_expired", "M1")]
    assert found[0]["data"]["hold_id"] == "H1"
    status, out, _ = run_cli(capsys, "events")
    assert "hold_expired  M1  " in out and '"hold_id": "H1"' in out
    last = found[0]["seq"]
    assert run_cli(capsys, "events", "--after", str(last))[1] == f"no events after {last}\n"


def test_lookups_refuse_what_they_cannot_answer_and_write_nothing(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_of(tmp_path)
    assert run_cli(capsys, "member", "show", "nobody") == (2, "", "error: member_id: no member 'nobody'\n")
    assert run_cli(capsys, "member", "history", "M1", "--after", "-1")[0] == 2
    missing = tmp_path / "missing.db"
    assert run_cli(capsys, "events", "--store", f"sqlite:///{missing}") == (
        2,
        "",
        f"error: store: no SQLite file at {missing}: `loyalty migrate` creates one\n",
    )
    assert tree_of(tmp_path) == before


def test_a_member_is_looked_up_by_a_card_or_key(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    with Engine(Program.from_toml(PROGRAM), open_store(store), clock=lambda: T0) as engine:
        engine.add_identifier("M1", "card:0042-1234", id="K1", at=T0)
        engine.add_identifier("M1", "card:0042-9999", id="K2", at=T0)
        engine.replace_card("M1", "card:00429999", "card:77", id="K3", at=T0)
    by_id = run_cli(capsys, "member", "show", "M1")
    assert run_cli(capsys, "member", "show", "--key", "card:0042 1234") == by_id
    status, out, _ = run_cli(capsys, "member", "history", "--key", "card:00421234", "--json")
    assert status == 0 and [entry["kind"] for entry in json.loads(out)] == ["earn", "hold", "release"]
    assert run_cli(capsys, "member", "history", "--key", "card:00421234", "--limit", "1")[1].startswith(
        "Member M1: entries "
    )
    assert run_cli(capsys, "member", "show", "--key", "card:9") == (
        2,
        "",
        "error: key: no member has card:9\n",
    )
    assert run_cli(capsys, "member", "show", "--key", "card:0042-9999") == (
        2,
        "",
        "error: key: card:00429999 was replaced by another card and no longer finds its member\n",
    )
    assert run_cli(capsys, "member", "history", "--key", "fax:1")[2] == (
        "error: key: the kind must be one of 'card', 'phone', 'email', 'other', got 'fax'\n"
    )
    for both_or_neither in (("M1", "--key", "card:00421234"), ()):
        assert run_cli(capsys, "member", "show", *both_or_neither) == (
            2,
            "",
            "error: member_id: give the member's ID or --key KEY, one of the two\n",
        )


def test_member_show_lists_the_vouchers_not_yet_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'cafe.db'}"
    menu = (
        'name = "Cafe"\ncurrency = "EUR"\n[[rewards]]\nid = "coffee"\nname = "A coffee"\ncost = 3\n'
        'gives = "voucher"\nvalid_for_days = 3660\n'
    )
    with Engine(Program.from_toml(menu), open_store(url), clock=lambda: T0) as engine:
        engine.enroll("M1", at=T0)
        engine.record_purchase(Purchase("T1", "M1", T0, [Line("cake", 2, Decimal("4.15"))], "EUR"))
        kept = engine.redeem_reward("M1", "coffee", id="R1", at=T0)
        used = engine.redeem_reward("M1", "coffee", id="R2", at=T0)
        engine.use_voucher(used.code, id="U1", at=T0)
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    status, out, _ = run_cli(capsys, "member", "show", "M1")
    assert status == 0
    assert out.endswith(f"  open vouchers:\n    {kept.code}: coffee until 2034-03-09T09:30:00+00:00\n")
    status, out, _ = run_cli(capsys, "member", "show", "M1", "--json")
    assert [voucher["code"] for voucher in json.loads(out)["vouchers"]] == [kept.code]
