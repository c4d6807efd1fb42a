"""loyalty export --history: a store's commands written back as the history that made it, which
loyalty import and loyalty simulate --history read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loyalty import Engine, Program, history, open_store
from loyalty.cli import main
from loyalty.simulation import generate, to_jsonl

PROGRAM = 'name = "Club"\ncurrency = "EUR"\n'


def test_a_history_export_imports_into_a_new_store_and_simulates_to_the_points_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = tmp_path / "club.toml"
    program.write_text(PROGRAM, encoding="utf-8")
    traffic = tmp_path / "traffic.jsonl"
    workload = generate(members=15, purchases=300, seed=3)
    with traffic.open("w", encoding="utf-8") as out:
        out.writelines(to_jsonl(workload.events))
    url = f"sqlite:///{tmp_path / 'club.db'}"
    assert main(["migrate", "--store", url]) == 0
    assert main(["import", str(traffic), "--store", url, "--program", str(program)]) == 0
    capsys.readouterr()

    exported = tmp_path / "history.jsonl"
    assert main(["export", "--history", "--store", url, "--output", str(exported)]) == 0
    records = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    kinds = {
        kind: sum(r["type"] == kind for r in records) for kind in ("enrollment", "purchase", "redemption")
    }
    assert capsys.readouterr().out == (
        f"{exported}: {kinds['enrollment']} enrollment, {kinds['purchase']} purchase, "
        f"{kinds['redemption']} redemption\n"
    )
    assert kinds["enrollment"] == 15
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["migrate", "--store", other]) == 0
    assert main(["import", str(exported), "--store", other, "--program", str(program)]) == 0
    assert main(["simulate", "--history", str(exported), "--program", str(program),
                 "--proposed", str(program), "--json"]) == 0  # fmt: skip
    found = json.loads(capsys.readouterr().out.splitlines()[-1])

    members = sorted({r["member_id"] for r in records})
    exported_ids = {r["id"] for r in records}
    with (
        Engine(Program("Club", "EUR"), open_store(url)) as first,
        Engine(Program("Club", "EUR"), open_store(other)) as again,
    ):
        recorded = [first.balance(m) for m in members]
        assert [again.balance(m) for m in members] == recorded
        # Every purchase is exported, one that earned nothing (and wrote no entry) too.
        assert {e.id for e in workload.events if isinstance(e, history.Sale)} <= exported_ids
    assert found["current"]["figures"]["outstanding"] == sum(b.total for b in recorded)
    assert found["current"]["figures"]["issued"] == found["proposed"]["figures"]["issued"] > 0
