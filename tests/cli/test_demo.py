"""loyalty demo: a year told to the merchant, agreeing with the store it leaves, deterministic, every flag."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty import Engine, balance_of, open_store, report_html
from loyalty.cli import main
from loyalty.cli.examples import find
from loyalty.cli.programs import program_versions
from loyalty.errors import MissingExtra

# Small enough to be quick, long enough for points to expire (six months) and tiers to be reviewed.
SMALL = ("--members", "30", "--weeks", "34", "--seed", "5")
SECTIONS = (
    "The program",
    "A receipt, explained: M",
    "Members at risk of leaving: ",
    "Referrals: ",
    "The 34 weeks, 2024-01-01 to 2024-08-25",
    "Points per rule: what each cost",
    "Where it is",
)


def _run_demo(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["demo", *args]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    return captured.out


def _quiet(*args: str) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["demo", *args]) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, Any]]:
    # One text run (which writes the HTML report: matplotlib is in the dev extra) and one JSON run of
    # the same traffic, shared by the read-only tests below.
    folder = tmp_path_factory.mktemp("demo")
    text = _quiet("--db", str(folder / "text.db"), *SMALL)
    found = json.loads(_quiet("--db", str(folder / "json.db"), *SMALL, "--json", "--no-html"))
    return folder, text, found


def _row(out: str, label: str) -> str:
    (value,) = re.findall(rf"^  {label}  +(.+)$", out, re.MULTILINE)
    return str(value)


def test_the_demo_tells_every_part_of_the_story(runs: tuple[Path, str, dict[str, Any]]) -> None:
    folder, out, _ = runs
    positions = [out.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    assert out.startswith("FreshWay Club: 34 weeks of 30 members (seed 5)\n")
    assert "Tiers by spend over 3 months: Member, Silver from 400 EUR" in out
    # The receipt names a rule that gave nothing, and why.
    assert re.search(r"^    not applied:\n      [A-Z][\w ]+: \S", out, re.MULTILINE)
    assert "What the program offers them: Welcome back: 100 points" in out
    assert re.search(r"^  M\d+ brought M\d+", out, re.MULTILINE)
    for label in ("retention", "members lost", "lifetime value", "breakage", "points outstanding"):
        assert _row(out, label)
    assert "liability of" in _row(out, "points outstanding")
    # Storage talk only with --verbose.
    assert "synchronous" not in out and "Storage" not in out
    assert _row(out, "store") == str(folder / "text.db")
    assert _row(out, "HTML report") == str(folder / "text.html")
    assert (folder / "text.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not (folder / "json.html").exists()


def test_an_at_risk_member_is_told_in_words(runs: tuple[Path, str, dict[str, Any]]) -> None:
    _, out, found = runs
    words = [w for member in found["at_risk"] for w in member["words"]]
    assert words
    assert all(
        re.fullmatch(
            r"used to come every \d+ days?, last seen \d+ days ago|spends \d+% less .*"
            r"|has spent nothing lately \(used to spend \d+\.\d\d a month\)",
            w,
        )
        for w in words
    )
    first = found["at_risk"][0]
    assert f"{first['member_id']}" in out


def test_the_printed_figures_agree_with_the_store_left_behind(runs: tuple[Path, str, dict[str, Any]]) -> None:
    folder, out, found = runs
    store = open_store(f"sqlite:///{folder / 'text.db'}")
    try:
        start = datetime.fromisoformat(found["figures"]["start"])
        end = datetime.fromisoformat(found["figures"]["end"])
        # Read as at the year's end, as the demo did: tier reviews due since then are left out.
        engine = Engine(program_versions(find("grocer-club")), store, clock=lambda: end)
        assert end.date() - start.date() == timedelta(weeks=34)
        year = engine.figures(start, end, point_value=Decimal("0.01"))
        assert _row(out, "points issued") == str(year.issued)
        assert _row(out, "points expired") == str(year.expired) != "0"
        assert _row(out, "points redeemed").startswith(f"{year.redeemed} (")
        assert _row(out, "points outstanding") == f"{year.outstanding}, a liability of {year.liability}"
        assert _row(out, "purchases") == f"{year.purchases}, {year.spend} spent"
        middle = datetime.fromisoformat(found["second_half"]["start"])
        assert (middle.date() - start.date()).days == 7 * 34 // 2 and middle.hour == 0
        halves = engine.figures(middle, end, point_value=Decimal("0.01"))
        assert halves.retention_rate is not None
        assert _row(out, "retention").startswith(f"{halves.retention_rate * 100:.1f}%")
        assert _row(out, "members lost").startswith(f"{halves.active_before - halves.retained} ")
        at_risk = engine.at_risk(end)
        assert [risk.member_id for risk in at_risk.at_risk] == [
            risk["member_id"] for risk in found["at_risk"]
        ]
        assert f"Members at risk of leaving: {len(at_risk.at_risk)} of the " in out
        tiers = {member: engine.tier(member).tier.id for member in found["personas"]}
        assert tiers == found["tiers"]
        counts = {
            name: sum(tier == name.lower() for tier in tiers.values())
            for name in ("Member", "Silver", "Gold")
        }
        assert _row(out, "members per tier").startswith(", ".join(f"{k} {v}" for k, v in counts.items()))
        for member, balance in found["balances"].items():
            assert engine.balance(member).available == balance_of(engine.history(member)) == balance
        assert sum(found["balances"].values()) == year.outstanding
        for referrer in found["referrals"]:
            assert engine.referrals(referrer["member_id"]).points == referrer["points"]
    finally:
        store.close()


def test_text_and_json_tell_the_same_year(runs: tuple[Path, str, dict[str, Any]]) -> None:
    folder, out, found = runs
    assert found["store"] == f"sqlite:///{folder / 'json.db'}"
    assert found["program"] == "FreshWay Club" and found["html"] is None
    assert _row(out, "points issued") == str(found["figures"]["issued"])
    receipt = found["receipt"]
    assert f"A receipt, explained: {receipt['member_id']} on " in out
    assert re.search(rf"^    points earned +{receipt['points']}$", out, re.MULTILINE)
    assert receipt["skipped"]
    rewarded = sum(len(r["referred"]) for r in found["referrals"])
    assert f"brought {rewarded} friends" in out
    assert found["maintenance"]["expired_points"] == found["figures"]["expired"]


def test_the_same_seed_tells_the_same_story(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--members", "12", "--weeks", "12", "--seed", "9", "--no-html")
    first = _run_demo(capsys, "--db", str(tmp_path / "a.db"), *args)
    second = _run_demo(capsys, "--db", str(tmp_path / "b.db"), *args)
    assert first.replace("a.db", "b.db") == second
    assert "HTML report" not in first and not (tmp_path / "a.html").exists()
    other = _run_demo(capsys, "--db", str(tmp_path / "c.db"), *args[:-2], "10", "--no-html")
    assert other.replace("c.db", "b.db") != second


def test_without_matplotlib_the_demo_prints_the_install_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing() -> None:
        raise MissingExtra("report", "no matplotlib")

    monkeypatch.setattr(report_html, "require", missing)
    out = _run_demo(capsys, "--db", str(tmp_path / "d.db"), "--members", "5", "--weeks", "4")
    assert _row(out, "HTML report") == f"needs the report extra: {report_html.INSTALL_HINT}"
    assert not (tmp_path / "d.html").exists()


@pytest.mark.parametrize("synchronous", ["normal", "full"])
def test_verbose_adds_the_storage_details(
    synchronous: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "v.db"
    args = ("--members", "4", "--weeks", "3", "--no-html", "--synchronous", synchronous)
    out = _run_demo(capsys, "--db", str(db), *args, "--verbose")
    assert f"synchronous={synchronous} (" in _row(out, "SQLite")
    assert _row(out, "open it again") == f'loyalty.open_store("sqlite:///{db}")'
    assert re.fullmatch(r"\d+ in \d+\.\d\d s \(\d+ purchases/s\)", _row(out, "events replayed"))


@pytest.mark.parametrize("name", ["coffee-shop", "grocer", "versions"])
def test_another_example_program_by_name(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run_demo(
        capsys, "--db", str(tmp_path / "p.db"), "--members", "6", "--weeks", "5", "--program", name
    )
    program = program_versions(find(name))[-1]
    assert out.startswith(f"{program.name}: 5 weeks of 6 members")
    assert "The program has no win-back offer" in out
    assert "Points never expire." in out


def test_a_program_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_demo(
        capsys, "--db", str(files / "f.db"), "--members", "4", "--weeks", "2", "--program", "corner.toml"
    )
    assert out.startswith("Corner Coffee: 2 weeks of 4 members")


def test_an_unknown_program_names_the_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--db", str(tmp_path / "u.db"), "--program", "butcher"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --program: no example program 'butcher'") and "grocer-club" in err
    assert not (tmp_path / "u.db").exists()


def test_demo_refuses_an_existing_database_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "demo.db"
    args = ("--members", "5", "--weeks", "1", "--no-html")
    _run_demo(capsys, "--db", str(path), *args)
    assert main(["demo", "--db", str(path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --db: ") and "--force" in err
    out = _run_demo(capsys, "--db", str(path), *args, "--force")
    assert _row(out, "members").startswith("5 ")


def test_demo_defaults_to_a_fresh_temporary_directory(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run_demo(capsys, "--members", "3", "--weeks", "1")
    path = Path(_row(out, "store"))
    try:
        assert path.is_file() and path.name == "demo.db"
        assert Path(_row(out, "HTML report")) == path.with_suffix(".html")
        assert path.with_suffix(".html").is_file()
    finally:
        shutil.rmtree(path.parent)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--members", "0"], "--members: must be at least 1"),
        (["demo", "--weeks", "two"], "--weeks: expected a whole number"),
        # A span that would pass the last date (it ended with an OverflowError), a run too long.
        (["demo", "--weeks", "600000"], "--weeks: must be at most 5200, got 600000"),
        (["demo", "--weeks", "9" * 23], "--weeks: must be at most 5200"),
        (["demo", "--members", "9" * 23], "--members: must be at most 100000"),
        (["member", "show", "M1", "--expiring-days", "1000000000"], "--expiring-days: must be at most 36500"),
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
