"""loyalty demo: every section printed, figures agreeing with the ledger, deterministic, arguments checked."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from loyalty import Engine, Program, balance_of, open_store
from loyalty.cli import main

# Figures are plain digits, as in --json and the other commands: no thousands separators to parse.
_ROW = re.compile(r"^(M\d+) +(\d+) +(\d+\.\d\d) +(\d+) +(\d+) +(\d+)$", re.MULTILINE)


def _figure(text: str) -> int:
    return int(text)


def _run_demo(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["demo", *args]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    # One run shared by the read-only tests below (capsys is function-scoped, hence redirect_stdout).
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["demo", "--db", str(path), "--members", "40", "--weeks", "3", "--seed", "5"]) == 0
    return path, out.getvalue()


def test_demo_prints_every_section(demo_db: tuple[Path, str]) -> None:
    path, out = demo_db
    assert f"Demo store: {path}" in out
    assert "synchronous=normal" in out
    assert "Top 10 members by balance" in out
    assert "Latest receipt of M" in out
    assert "points earned" in out
    for label in ("members", "purchases", "redemptions", "points issued", "points redeemed", "elapsed"):
        assert re.search(rf"^  {label} +\S", out, re.MULTILINE), label
    assert re.search(r"^  purchases/s +\d+$", out, re.MULTILINE)
    assert int(re.findall(r"^  points issued +(\d+)$", out, re.MULTILINE)[0]) > 1000
    assert re.search(r"^  members +40$", out, re.MULTILINE)
    assert re.search(r"^  purchases +240$", out, re.MULTILINE)  # 40 members x 3 weeks x 2 visits


def test_demo_table_agrees_with_the_reopened_ledger(demo_db: tuple[Path, str]) -> None:
    path, out = demo_db
    rows = _ROW.findall(out)
    assert len(rows) == 10
    balances = [_figure(row[5]) for row in rows]
    assert balances == sorted(balances, reverse=True)
    store = open_store(f"sqlite:///{path}")
    try:
        engine = Engine(Program("Demo Grocer", "EUR"), store)
        for member, _, _, earned, redeemed, balance in rows:
            entries = engine.history(member)
            assert engine.balance(member).available == balance_of(entries) == _figure(balance)
            assert _figure(earned) - _figure(redeemed) == _figure(balance)
    finally:
        store.close()


def test_demo_summary_adds_up(demo_db: tuple[Path, str]) -> None:
    _, out = demo_db
    figures = dict(re.findall(r"^  (points \w+) +(\d+)$", out, re.MULTILINE))
    issued, redeemed = _figure(figures["points issued"]), _figure(figures["points redeemed"])
    assert redeemed > 0
    assert _figure(figures["points outstanding"]) == issued - redeemed


def test_demo_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def stable(out: str, path: Path) -> str:
        out = out.replace(str(path), "<db>")
        return re.sub(r"^  (elapsed|purchases/s) .*$", "", out, flags=re.MULTILINE)

    args = ("--members", "15", "--weeks", "1", "--seed", "9")
    first = stable(_run_demo(capsys, "--db", str(tmp_path / "a.db"), *args), tmp_path / "a.db")
    second = stable(_run_demo(capsys, "--db", str(tmp_path / "b.db"), *args), tmp_path / "b.db")
    assert first == second


def test_demo_refuses_an_existing_database_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.db"
    _run_demo(capsys, "--db", str(path), "--members", "5", "--weeks", "1")
    assert main(["demo", "--db", str(path), "--members", "5", "--weeks", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --db: ") and "--force" in err
    out = _run_demo(capsys, "--db", str(path), "--members", "5", "--weeks", "1", "--force")
    assert re.search(r"^  members +5$", out, re.MULTILINE)


def test_demo_full_synchronous_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "d.db")
    out = _run_demo(capsys, "--db", db, "--members", "3", "--weeks", "1", "--synchronous", "full")
    assert "synchronous=full" in out


def test_demo_defaults_to_a_fresh_temporary_directory(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_demo(capsys, "--members", "3", "--weeks", "1")
    match = re.search(r"^Demo store: (.+)$", out, re.MULTILINE)
    assert match
    path = Path(match.group(1))
    try:
        assert path.is_file() and path.name == "demo.db"
    finally:
        shutil.rmtree(path.parent)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--members", "0"], "--members: must be at least 1"),
        (["demo", "--weeks", "two"], "--weeks: expected a whole number"),
        (["demo", "--synchronous", "off"], "invalid choice"),
        (["demo", "--frobnicate"], "unrecognized arguments"),
        ([], "required: COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", ["missing-dir/demo.db", ".", "what?.db"])
def test_bad_db_path_is_a_loyalty_error(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--db", str(tmp_path / name)]) == 2
    assert capsys.readouterr().err.startswith("error: --db: ")


def test_demo_json_tells_what_the_text_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = _run_demo(capsys, "--db", str(tmp_path / "t.db"), "--members", "30", "--weeks", "2", "--seed", "4")
    found = json.loads(
        _run_demo(
            capsys, "--db", str(tmp_path / "j.db"), "--members", "30", "--weeks", "2", "--seed", "4", "--json"
        )
    )
    assert found["store"] == f"sqlite:///{tmp_path / 'j.db'}"
    assert Program.from_dict(found["program"]) == Program("Demo Grocer", "EUR")
    assert [tuple(str(value) for value in row.values()) for row in found["top"]] == _ROW.findall(text)
    figures = dict(re.findall(r"^  (points \w+) +(\d+)$", text, re.MULTILINE))
    assert found["points_issued"] == _figure(figures["points issued"])
    assert found["points_outstanding"] == found["points_issued"] - found["points_redeemed"]
    receipt = found["receipt"]
    assert receipt["member_id"] == found["top"][0]["member"]
    (earned,) = re.findall(r"^  points earned +(\d+)$", text, re.MULTILINE)
    assert receipt["points"] == int(earned)
