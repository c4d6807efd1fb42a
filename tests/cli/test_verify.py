"""loyalty verify: every member's chain recomputed, broken links named, exit status 5, nothing written."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from loyalty.cli.progress import Advance
from tests.cli.helpers import run_cli, tree_of


def test_verify_reports_a_clean_ledger_and_writes_nothing(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree_of(tmp_path)
    assert run_cli(capsys, "verify") == (0, "3 entries of 2 members checked: every chain verified\n", "")
    status, out, _ = run_cli(capsys, "verify", "--json", "--batch", "1")
    assert (status, json.loads(out)) == (0, {"ok": True, "entries": 3, "members": 2, "breaks": []})
    assert tree_of(tmp_path) == before


def test_verify_names_an_entry_edited_behind_the_engine_and_exits_5(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # closing(): a connection's own `with` commits but leaves it open (3.13 warns when collected).
    with closing(sqlite3.connect(ledger)) as conn, conn:
        conn.execute("DROP TRIGGER entries_no_update")
        seq = conn.execute("SELECT seq FROM entries WHERE source_id = 'T2'").fetchone()[0]
        conn.execute("UPDATE entries SET points = 1200, balance_after = 1200 WHERE seq = ?", (seq,))
        conn.execute("UPDATE members SET balance = 1200 WHERE member_id = 'M2'")
    status, out, err = run_cli(capsys, "verify")
    assert (status, err) == (5, "")
    assert out == (f"broken: member 'M2', entry {seq}\n3 entries of 2 members checked: 1 broken link(s)\n")
    status, out, _ = run_cli(capsys, "verify", "--json")
    assert status == 5
    assert json.loads(out)["breaks"] == [{"member_id": "M2", "seq": seq, "problem": "link"}]


def test_verify_names_a_member_whose_last_entry_was_removed(
    ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # closing(): a connection's own `with` commits but leaves it open (3.13 warns when collected).
    with closing(sqlite3.connect(ledger)) as conn, conn:
        conn.execute("DROP TRIGGER entries_no_delete")
        head = conn.execute("SELECT chain_seq FROM members WHERE member_id = 'M1'").fetchone()[0]
        conn.execute("DELETE FROM entries WHERE seq = ?", (head,))
    status, out, _ = run_cli(capsys, "verify")
    assert status == 5
    assert out.splitlines()[0] == f"broken: member 'M1', its head (last entry {head})"


def test_verify_refuses_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.db"
    assert run_cli(capsys, "verify", "--store", f"sqlite:///{missing}") == (
        2,
        "",
        f"error: store: no SQLite file at {missing}: `loyalty migrate` creates one\n",
    )
    assert run_cli(capsys, "verify", "--batch", "0")[0] == 2


def test_verify_shows_a_bar_whose_total_is_the_ledgers_last_seq(
    ledger: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[tuple[str, int | None]] = []
    steps: list[int] = []

    @contextmanager
    def recorded(description: str, total: int | None = None) -> Iterator[Advance]:
        shown.append((description, total))

        def advance(n: int = 0, description: str | None = None) -> None:
            steps.append(n)

        yield advance

    monkeypatch.setattr("loyalty.cli.verify.progress", recorded)
    assert run_cli(capsys, "verify", "--batch", "2")[0] == 0
    assert shown == [("verify: recomputing the ledger's chains", 3)]
    assert steps == [2, 1]


def test_verify_writes_the_heads_and_checks_them_later(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heads = tmp_path / "heads.jsonl"
    status, out, _ = run_cli(capsys, "verify", "--write-heads", str(heads))
    lines = heads.read_text(encoding="utf-8").splitlines()
    digest = json.loads(lines[-1])["digest"]
    assert (status, out.splitlines()) == (
        0,
        [
            "3 entries of 2 members checked: every chain verified",
            f"heads of 2 members written to {heads} (digest {digest})",
        ],
    )
    assert [json.loads(line)["member_id"] for line in lines[:-1]] == ["M1", "M2"]
    assert run_cli(capsys, "verify", "--heads", str(heads)) == (
        0,
        "3 entries of 2 members and 2 exported heads checked: every chain verified\n",
        "",
    )
    status, out, _ = run_cli(capsys, "verify", "--heads", str(heads), "--json")
    assert json.loads(out) == {"ok": True, "entries": 3, "members": 2, "breaks": [], "exported": 2}


def test_verify_names_a_last_entry_removed_with_its_head_and_balance_put_back_once_heads_were_exported(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heads = tmp_path / "heads.jsonl"
    assert run_cli(capsys, "verify", "--write-heads", str(heads))[0] == 0
    # M1's goodwill reversal (its last entry) removed, its row's head and balance put back on the
    # purchase before it, as the row kept them: no hash to work out.
    with closing(sqlite3.connect(ledger)) as conn, conn:
        conn.execute("DROP TRIGGER entries_no_delete")
        last = conn.execute("SELECT chain_seq FROM members WHERE member_id = 'M1'").fetchone()[0]
        seq, link, after = conn.execute(
            "SELECT seq, link, balance_after FROM entries WHERE member_id = 'M1' AND seq < ?"
            " ORDER BY seq DESC LIMIT 1",
            (last,),
        ).fetchone()
        conn.execute("DELETE FROM entries WHERE seq = ?", (last,))
        conn.execute("UPDATE members SET chain_seq = ?, chain_link = ? WHERE member_id = 'M1'", (seq, link))
    status, out, _ = run_cli(capsys, "verify")
    assert (status, out.splitlines()[0]) == (
        5,
        f"broken: member 'M1', its balance (not its last entry's, {seq})",
    )
    with closing(sqlite3.connect(ledger)) as conn, conn:
        conn.execute("UPDATE members SET balance = ? WHERE member_id = 'M1'", (after,))
    assert run_cli(capsys, "verify")[0] == 0  # the chains alone cannot tell
    status, out, _ = run_cli(
        capsys, "verify", "--heads", str(heads), "--write-heads", str(tmp_path / "new.jsonl")
    )
    assert (status, out.splitlines()) == (
        5,
        [
            f"broken: member 'M1', its exported head (entry {last}) is no longer in its chain",
            "2 entries of 2 members and 2 exported heads checked: 1 broken link(s)",
            f"no heads written to {tmp_path / 'new.jsonl'}: the chains did not verify",
        ],
    )
    assert not (tmp_path / "new.jsonl").exists()


def test_verify_refuses_a_heads_file_changed_missing_or_not_writable(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heads = tmp_path / "heads.jsonl"
    assert run_cli(capsys, "verify", "--write-heads", str(heads))[0] == 0
    lines = heads.read_text(encoding="utf-8").splitlines(keepends=True)
    heads.write_text("".join(lines[1:]), encoding="utf-8")  # a member's head taken out
    assert run_cli(capsys, "verify", "--heads", str(heads)) == (
        2,
        "",
        "error: --heads: the digest line does not match the 1 head(s) above it\n",
    )
    missing = tmp_path / "missing.jsonl"
    assert run_cli(capsys, "verify", "--heads", str(missing)) == (
        2,
        "",
        f"error: --heads: no such file: {missing}\n",
    )
    assert run_cli(capsys, "verify", "--write-heads", str(tmp_path)) == (
        2,
        "",
        f"error: --write-heads: {tmp_path} is a directory; name a file inside it\n",
    )
