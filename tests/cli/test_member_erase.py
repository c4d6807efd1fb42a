"""loyalty member erase: a member's personal data erased in a store, in text or JSON; a retry does
nothing more, and a refusal exits 2 naming the field with nothing written."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Program, Purchase, open_store
from loyalty.testing.snapshots import snapshot
from tests.cli.helpers import run_cli

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
AT = "2024-03-10T12:00:00+00:00"
ERASE = ("member", "erase", "C-1001", "--id", "GDPR-7", "--reason", "request 7", "--actor", "dpo", "--at", AT)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store where C-1001, with a birthday, a name and an e-mail key, bought for 12.45 on
    1 March 2024 and was given 5 points by a clerk; its URL in LOYALTY_STORE_URL."""
    url = f"sqlite:///{tmp_path / 'club.db'}"
    with Engine(
        Program("Club", "EUR"), open_store(url), clock=lambda: datetime(2024, 3, 10, tzinfo=UTC)
    ) as engine:
        engine.enroll(
            "C-1001",
            at=T0,
            birthday=date(1980, 5, 17),
            attributes={"name": "Ann Lee"},
            identifiers=["email:ann.lee@example.com"],
        )
        engine.record_purchase(Purchase("T1", "C-1001", T0, [Line("cake", 3, Decimal("4.15"))], "EUR"))
        engine.adjust("C-1001", 5, id="A1", at=T0, reason="Ann's lost receipt", actor="clerk Bo")
    monkeypatch.setenv("LOYALTY_STORE_URL", url)
    return url


def test_member_erase_prints_what_it_erased_and_keeps_the_balance(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = (
        "Erased C-1001 (GDPR-7) at {at}\n"
        "  entries  2 (their text)\n"
        "  records  2\n"
        "  events   1\n"
        "  keys     1 removed\n"
        "  kept as  {hidden}\n"
    )
    status, out, err = run_cli(capsys, *ERASE)
    erased_at = out.split(" at ", 1)[1].split("\n", 1)[0]
    hidden = out.rsplit("kept as  ", 1)[1].strip()
    assert hidden.startswith("erased-") and "C-1001" not in hidden
    assert (status, out, err) == (0, printed.format(at=erased_at, hidden=hidden), "")
    # Again: the same erasure, nothing written twice.
    assert run_cli(capsys, *ERASE) == (0, printed.format(at=erased_at, hidden=hidden), "")
    status, out, _ = run_cli(capsys, *ERASE, "--json")
    assert (status, json.loads(out)["member_id"], json.loads(out)["identifiers"]) == (0, "C-1001", 1)
    assert json.loads(out)["pseudonym"] == hidden
    # The store knows the member by its pseudonym only.
    status, out, _ = run_cli(capsys, "member", "show", hidden, "--json")
    shown = json.loads(out)
    assert (shown["member"]["status"], shown["member"]["attributes"], shown["balance"]["available"]) == (
        "erased",
        {},
        17,
    )
    assert "Ann" not in out


def test_member_erase_refuses_naming_the_field_and_writes_nothing(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = open_store(store)
    before = snapshot(shop, ["C-1001"], ["GDPR-7"])
    unknown = ("member", "erase", "Z", "--id", "GDPR-7", "--reason", "r", "--actor", "dpo")
    assert run_cli(capsys, *unknown) == (2, "", "error: member_id: no member 'Z'\n")
    assert run_cli(capsys, "member", "erase", "C-1001", "--id", "GDPR-7", "--reason", "r")[0] == 2  # --actor
    assert snapshot(shop, ["C-1001"], ["GDPR-7"]) == before
    shop.close()
    assert run_cli(capsys, *ERASE)[0] == 0
    again = ("member", "erase", "C-1001", "--id", "GDPR-8", "--reason", "r", "--actor", "dpo")
    assert run_cli(capsys, *again) == (
        2,
        "",
        "error: member_id: member 'C-1001' was erased: nothing more happens to it\n",
    )
