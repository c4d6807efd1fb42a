from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import loyalty
from loyalty import Engine, Program, balance_of, open_store
from loyalty.cli import Basket, basket_from_json, main
from loyalty.earning import evaluate
from loyalty.errors import (
    CurrencyMismatch,
    InvalidAmount,
    InvalidDatetime,
    InvalidId,
    InvalidInput,
    InvalidQuantity,
    UnknownCurrency,
)
from tests.paths import DOCS, EXAMPLES

_ROW = re.compile(r"^(M\d+) +([\d,]+) +([\d,]+\.\d\d) +([\d,]+) +([\d,]+) +([\d,]+)$", re.MULTILINE)


def _figure(text: str) -> int:
    return int(text.replace(",", ""))


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
    assert re.search(r"^  purchases/s +[\d,]+$", out, re.MULTILINE)
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
    figures = dict(re.findall(r"^  (points \w+) +([\d,]+)$", out, re.MULTILINE))
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


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"loyalty {loyalty.__version__}"


def test_installed_console_script(tmp_path: Path) -> None:
    script = shutil.which("loyalty", path=str(Path(sys.executable).parent))
    assert script, "the loyalty console script is not installed next to this Python"
    path = tmp_path / "script.db"
    done = subprocess.run(
        [script, "demo", "--db", str(path), "--members", "10", "--weeks", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"Demo store: {path}" in done.stdout
    assert path.stat().st_size > 0


# -- validate and quote -------------------------------------------------------------------------

CORNER = """
name = "Corner Coffee"
currency = "EUR"
version = "2024-03"
effective_from = "2024-03-01T00:00:00+01:00"
timezone = "Europe/Paris"
rate = {points = 1, per = "1.00"}

[[rules]]
kind = "spend"
id = "pastry"
name = "Pastry bonus"
points = 1
categories = ["pastry"]

[[rules]]
kind = "spend"
id = "students"
name = "Student bonus"
points = 1
members = {segment = ["student"]}

[[rules]]
kind = "multiplier"
id = "happy-hour"
name = "Happy hour"
factor = "2"
categories = ["coffee"]
days = ["tue"]
hours = ["14:00-17:00"]

[[rules]]
kind = "stamp_card"
id = "tenth-coffee"
name = "Tenth coffee"
points = 20
every = 10
categories = ["coffee"]

[[rules]]
kind = "birthday"
id = "birthday"
name = "Birthday treat"
points = 50
days_before = 3
days_after = 3
"""

VERSIONS = """
[[versions]]
name = "Corner Coffee"
currency = "EUR"
version = "2024-03"
effective_from = "2024-03-01T00:00:00+01:00"
rate = {points = 2, per = "1.00"}

[[versions.rules]]
kind = "first_purchase"
id = "welcome"
name = "Welcome"
points = 25

[[versions]]
name = "Corner Coffee"
currency = "EUR"
version = "2024-01"
effective_from = "2024-01-01T00:00:00+01:00"
"""

AT = "2024-03-05T15:10:00+01:00"  # a Tuesday, inside Corner Coffee's happy hour


def _basket(**changes: Any) -> dict[str, Any]:
    """Corner Coffee's sample basket as JSON data, with top-level keys replaced (None: removed)."""
    data: dict[str, Any] = {
        "member_id": "M1",
        "at": AT,
        "currency": "EUR",
        "id": "S01-T2-000123",
        "store_id": "S01",
        "lines": [
            {"sku": "latte", "quantity": 2, "unit_price": "3.40", "category": "coffee"},
            {
                "sku": "croissant",
                "quantity": 1,
                "unit_price": "2.10",
                "category": "pastry",
                "discount": "0.10",
            },
        ],
        "member": {"birthday": "1990-03-04", "attributes": {"segment": "regular"}, "visits": 3},
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def _with_line(**changes: Any) -> dict[str, Any]:
    """The sample basket with its first line's keys replaced (None: removed)."""
    data = _basket()
    line = data["lines"][0]
    for key, value in changes.items():
        if value is None:
            line.pop(key, None)
        else:
            line[key] = value
    return data


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding corner.toml, versions.toml and basket.json."""
    (tmp_path / "corner.toml").write_text(CORNER, encoding="utf-8")
    (tmp_path / "versions.toml").write_text(VERSIONS, encoding="utf-8")
    (tmp_path / "basket.json").write_text(json.dumps(_basket()), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``main(args)``'s exit status (argparse's SystemExit included), stdout and stderr."""
    try:
        status = main(list(args))
    except SystemExit as exit_info:
        status = exit_info.code if isinstance(exit_info.code, int) else -1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_validate_prints_a_one_line_summary(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "validate", "corner.toml") == (
        0,
        "ok: Corner Coffee (EUR), version 2024-03, from 2024-03-01T00:00:00+01:00, base rate 1 point per "
        "1.00, 5 rules (2 spend, 1 multiplier, 1 stamp_card, 1 birthday), scale 0, floor, "
        "timezone Europe/Paris\n",
        "",
    )


def test_validate_reads_json_and_names_settings_that_are_not_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    program = {
        "name": "Web Shop",
        "currency": "JPY",
        "rate": False,
        "rules": [{"kind": "event", "id": "survey", "event": "survey_completed", "points": 5}],
        "scale": 2,
        "rounding": "half_up",
        "round_per": "line",
        "carry": True,
        "tax": "exclusive",
        "events": "best",
    }
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(program), encoding="utf-8")
    assert _run(capsys, "validate", str(path)) == (
        0,
        "ok: Web Shop (JPY), version 1, no base rate, 1 rule (1 event), scale 2, half_up per line, "
        "fractions carried, tax excluded, best event rule only\n",
        "",
    )


def test_validate_a_file_of_versions_prints_one_line_per_version_oldest_first(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "validate", "versions.toml")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "ok: Corner Coffee (EUR), version 2024-01, from 2024-01-01T00:00:00+01:00, base rate 1 point per 1, "
        "0 rules, scale 0, floor",
        "ok: Corner Coffee (EUR), version 2024-03, from 2024-03-01T00:00:00+01:00, base rate 2 points per "
        "1.00, 1 rule (1 first_purchase), scale 0, floor",
    ]


def test_validate_lists_every_problem_with_its_path_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(
        CORNER.replace('currency = "EUR"', 'currency = "EUX"')
        .replace('factor = "2"', 'factor = "-1"')
        .replace('kind = "stamp_card"', 'kind = "stamp-card"')
        .replace("days_after = 3", "days_after = 3.5"),
        encoding="utf-8",
    )
    status, out, err = _run(capsys, "validate", str(path))
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        "currency: 'EUX' is not an active ISO 4217 currency code",
        "rules[2].factor: must not be negative, got -1",
        "rules[3].kind: unknown rule kind 'stamp-card'; the kinds are spend, multiplier, purchase_bonus, "
        "unit_bonus, product_bonus, first_purchase, stamp_card, birthday, event",
        "rules[4].days_after: must be an int, not float 3.5",
    ]


def test_validate_lists_problems_across_versions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "versions.json"
    versions = [
        {"name": "Club", "currency": "EUR", "version": "1"},
        {"name": "Club", "currency": "USD", "version": "1"},
        {"name": "Club", "currency": "EUR", "version": "2", "rate": {"per": 1.5}},
    ]
    path.write_text(json.dumps({"versions": versions}), encoding="utf-8")
    status, out, err = _run(capsys, "validate", str(path))
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        'versions[2].rate.per: must be a decimal string such as "1.00" (or an int), not float 1.5',
        "versions[1].currency: must be the same in every version: 'USD' here, 'EUR' in versions[0]",
        "versions[1].version: '1' is already the version of versions[0]",
        "versions[1].effective_from: missing, as in versions[0]: only one version may leave it out "
        "(the first in force)",
    ]


def test_validate_a_syntax_error_is_a_problem_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('name = "Club"\ncurrency = \n', encoding="utf-8")
    assert _run(capsys, "validate", str(path)) == (1, "", f"{path} line 2: Invalid value (column 12)\n")
    path.write_bytes(b"\xff\xfe")
    assert _run(capsys, "validate", str(path)) == (
        1,
        "",
        f"{path}: is not UTF-8 text (byte 0: invalid start byte)\n",
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.toml", "missing.toml: no such file"),
        ("folder.toml", "folder.toml: is a directory, not a file"),
        ("program.yaml", "program.yaml: a program file is .toml or .json (the suffix says which)"),
    ],
)
def test_validate_an_unusable_file_is_a_usage_error(
    name: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.toml").mkdir()
    (tmp_path / "program.yaml").write_text(CORNER, encoding="utf-8")
    assert _run(capsys, "validate", name) == (2, "", f"error: {message}\n")
    assert _run(capsys, "quote", name, "--line", "latte:1:3.40") == (2, "", f"error: {message}\n")


def _tree(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in root.rglob("*")}


def test_validate_and_quote_write_nothing(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _tree(files)
    assert _run(capsys, "validate", "corner.toml")[0] == 0
    assert _run(capsys, "validate", "versions.toml")[0] == 0
    assert _run(capsys, "quote", "corner.toml", "basket.json")[0] == 0
    assert _run(capsys, "quote", "corner.toml", "--line", "latte:1:3.40")[0] == 0
    assert _tree(files) == before
    assert not Path("loyalty.db").exists()


QUOTE = """\
Corner Coffee (EUR), version 2024-03, in force from 2024-03-01T00:00:00+01:00
Purchase S01-T2-000123: 8.80 EUR
  base (1 point per 1.00 EUR on latte 6.80)  +6.80
  base (1 point per 1.00 EUR on croissant 2.00) +2.00
  Pastry bonus (1 point per 1 EUR on croissant 2.00) +2.00
  Happy hour (x2 on latte)                   +6.80
  Tenth coffee (stamp 1 of 10)                  +0
  Birthday treat (birthday 2024-03-04)         +50
  rounding (floor)                           -0.60
  points earned                                 67
  not applied:
    Student bonus: member segment=regular is not student
"""


def test_quote_a_basket_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "quote", "corner.toml", "basket.json") == (0, QUOTE, "")


def test_quote_a_basket_from_standard_input(
    files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(_basket())))
    assert _run(capsys, "quote", "corner.toml", "-") == (0, QUOTE, "")


def test_quote_explains_every_rule_that_gives_nothing(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("wednesday.json").write_text(
        json.dumps(_basket(at="2024-03-13T09:00:00+01:00", member={"attributes": {"segment": "student"}})),
        encoding="utf-8",
    )
    status, out, err = _run(capsys, "quote", "corner.toml", "wednesday.json")
    assert (status, err) == (0, "")
    assert "  Student bonus (1 point per 1 EUR on latte 6.80) +6.80\n" in out
    assert out.endswith(
        "  not applied:\n"
        "    Happy hour: outside window Tue 14:00-17:00\n"
        "    Birthday treat: no birthday on file\n"
    )


def test_quote_with_line_arguments(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--line", "latte:2:3.40:coffee", "--line", "flour:1.250:0.80", "--at", "2024-03-05T10:00:00Z"]
    status, out, err = _run(capsys, "quote", "corner.toml", *args, "--member-id", "M7", "--id", "T-1")
    assert (status, err) == (0, "")
    assert out == (
        "Corner Coffee (EUR), version 2024-03, in force from 2024-03-01T00:00:00+01:00\n"
        "Purchase T-1: 7.80 EUR\n"
        "  base (1 point per 1.00 EUR on latte 6.80)  +6.80\n"
        "  base (1 point per 1.00 EUR on flour 1.00000) +1.0000\n"
        "  Tenth coffee (stamp 1 of 10)                  +0\n"
        "  rounding (floor)                         -0.8000\n"
        "  points earned                                  7\n"
        "  not applied:\n"
        "    Pastry bonus: no line with category pastry\n"
        "    Student bonus: member has no segment; only for segment=student\n"
        "    Happy hour: outside window Tue 14:00-17:00\n"
        "    Birthday treat: no birthday on file\n"
    )


def test_quote_line_arguments_default_to_now_and_the_programs_currency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.toml"
    path.write_text('name = "Plain"\ncurrency = "JPY"\n', encoding="utf-8")
    status, out, err = _run(capsys, "quote", str(path), "--line", "onigiri:3:150", "--store", "S1")
    assert (status, err) == (0, "")
    assert out.splitlines()[:2] == ["Plain (JPY), version 1", "Purchase quote: 450 JPY"]
    assert out.splitlines()[-1].split() == ["points", "earned", "450"]


def test_quote_visits_decide_first_purchase_rules(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _basket(at="2024-03-10T09:00:00+01:00", member={"visits": 0})
    later = _basket(at="2024-03-10T09:00:00+01:00", member={"visits": 3})
    Path("first.json").write_text(json.dumps(first), encoding="utf-8")
    Path("later.json").write_text(json.dumps(later), encoding="utf-8")
    assert (
        "  Welcome (first purchase)                     +25\n"
        in _run(capsys, "quote", "versions.toml", "first.json")[1]
    )
    assert _run(capsys, "quote", "versions.toml", "later.json")[1].endswith(
        "  not applied:\n    Welcome: not the member's first purchase (3 before)\n"
    )


@pytest.mark.parametrize(
    ("at", "version", "points"),
    [
        ("2024-02-29T23:59:59+01:00", "2024-01", 3),
        ("2024-02-29T23:00:00Z", "2024-03", 31),  # midnight in +01:00: the March version is in force
        ("2024-07-01T12:00:00+02:00", "2024-03", 31),
    ],
)
def test_quote_picks_the_version_in_force_at_the_baskets_time(
    at: str, version: str, points: int, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "quote", "versions.toml", "--line", "latte:1:3.40", "--at", at)
    assert (status, err) == (0, "")
    assert out.startswith(f"Corner Coffee (EUR), version {version}, in force from ")
    assert out.splitlines()[-1].split() == ["points", "earned", str(points)]


def test_quote_before_the_first_version_is_refused(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    at = "2023-12-31T23:59:59+01:00"
    assert _run(capsys, "quote", "versions.toml", "--line", "latte:1:3.40", "--at", at) == (
        2,
        "",
        f"error: at: {at} is before the program's first version (2024-01, in force from "
        "2024-01-01T00:00:00+01:00)\n",
    )


def test_quote_with_a_broken_program_lists_its_problems(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("broken.toml").write_text(CORNER.replace('factor = "2"', 'factor = "-1"'), encoding="utf-8")
    assert _run(capsys, "quote", "broken.toml", "basket.json") == (
        1,
        "",
        "rules[2].factor: must not be negative, got -1\n",
    )


@pytest.mark.parametrize(
    ("basket", "message"),
    [
        (_with_line(unit_price=3.4), 'lines[0].unit_price: must be a string such as "3.40", not float'),
        (_basket(at="2024-03-05T15:10:00"), "at: must carry a UTC offset (+01:00, Z)"),
        (_basket(currency="EUX"), "currency: 'EUX' is not an active ISO 4217 currency code"),
        (_basket(currency="USD"), "currency: purchase is in USD but program 'Corner Coffee' runs in EUR"),
        (_with_line(quantity=0), "lines[0].quantity: must be positive, got 0"),
        (_basket(member={"visits": -1}), "member.visits: must be the number of purchases before this one"),
    ],
)
def test_quote_a_bad_basket_is_an_error_naming_the_field(
    basket: dict[str, Any], message: str, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("bad.json").write_text(json.dumps(basket), encoding="utf-8")
    status, out, err = _run(capsys, "quote", "corner.toml", "bad.json")
    assert (status, out) == (2, "")
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_quote_a_basket_that_is_not_json(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.json").write_text('{"member_id": "M1",\n "at": }', encoding="utf-8")
    assert _run(capsys, "quote", "corner.toml", "bad.json") == (
        2,
        "",
        "error: bad.json line 2: Expecting value (column 8)\n",
    )
    assert _run(capsys, "quote", "corner.toml", "nothere.json") == (
        2,
        "",
        "error: nothere.json: no such file\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["basket.json", "--line", "latte:1:3.40"], "give a basket file or --line options, not both"),
        ([], "give a basket file (- for standard input) or at least one --line"),
        (["basket.json", "--at", AT, "--store", "S2"], "--at, --store: only with --line"),
        (["--line", "latte:2"], "argument --line: expected SKU:QTY:PRICE[:CATEGORY]"),
        (["--line", "latte:x:3.40"], "argument --line: latte:x:3.40: quantity: must be a whole number or"),
        (["--line", "latte:1:3,40"], "argument --line: latte:1:3,40: unit_price: must be an amount such"),
        (["--line", "latte:1:-3.40"], "argument --line: latte:1:-3.40: unit_price: must not be negative"),
        (["--line", "latte:1:3.40", "--at", "2024-03-05T10:00"], "argument --at: must carry a UTC offset"),
        (["--line", "latte:1:3.40", "--at", "tuesday"], "argument --at: must be an ISO 8601 date-time"),
        (["--line", "latte:1:3.40", "--currency", "eur"], "argument --currency: 'eur' is not an active"),
        (["--line", "latte:1:3.40", "--member-id", ""], "argument --member-id: must not be empty"),
    ],
)
def test_quote_bad_arguments_exit_2(
    args: list[str], message: str, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = _run(capsys, "quote", "corner.toml", *args)
    assert (status, out) == (2, "")
    assert message in err




@pytest.mark.parametrize("basket", sorted(path.name for path in (EXAMPLES / "baskets").glob("*.json")))
def test_quote_reads_every_example_basket(basket: str, capsys: pytest.CaptureFixture[str]) -> None:
    # examples/README.md documents the basket format; its figures are checked in test_examples.py.
    (program,) = [
        path for path in EXAMPLES.glob(Path(basket).stem + ".*") if path.suffix in (".toml", ".json")
    ]
    status, out, err = _run(capsys, "quote", str(program), str(EXAMPLES / "baskets" / basket))
    assert (status, err) == (0, "")
    assert re.search(r"^  points earned +[\d.]+$", out, re.MULTILINE)


# -- basket_from_json ---------------------------------------------------------------------------


def test_basket_from_json_builds_the_purchase_and_member() -> None:
    basket = basket_from_json(
        _basket(
            terminal_id="T2",
            channel="web",
            lines=[
                {
                    "sku": "apples",
                    "quantity": "1.250",
                    "unit_price": "2.00",
                    "labels": {"color": "red"},
                    "discount": "0.50",
                    "tax": "0.10",
                }
            ],
            member={"birthday": "1990-03-04", "attributes": {"segment": "student", "age": 19, "vip": True}},
        )
    )
    assert isinstance(basket, Basket)
    purchase, member, visits = basket
    assert (purchase.id, purchase.member_id, purchase.currency) == ("S01-T2-000123", "M1", "EUR")
    assert purchase.at == datetime(2024, 3, 5, 15, 10, tzinfo=timezone(timedelta(hours=1)))
    assert (purchase.store_id, purchase.terminal_id, purchase.channel) == ("S01", "T2", "web")
    (line,) = purchase.lines
    assert (line.sku, line.quantity, line.unit_price) == ("apples", Decimal("1.250"), Decimal("2.00"))
    assert (line.discount, line.tax, dict(line.labels)) == (
        Decimal("0.50"),
        Decimal("0.10"),
        {"color": "red"},
    )
    assert str(purchase.total) == "2.00 EUR"
    assert member.id == "M1" and member.birthday == date(1990, 3, 4)
    assert dict(member.attributes) == {"age": 19, "segment": "student", "vip": True}
    assert visits == 0
    assert basket.tallies == {"visits|M1": loyalty.store.Tally(0)}


def test_basket_from_json_defaults() -> None:
    basket = basket_from_json(
        {"member_id": "M1", "at": "2024-03-05T14:10:00Z", "currency": "EUR",
         "lines": [{"sku": "latte", "quantity": 1, "unit_price": "3.40", "category": None}],
         "member": {"visits": 4}}
    )  # fmt: skip
    assert basket.purchase.id == "quote"
    assert basket.purchase.store_id is None and basket.purchase.lines[0].category is None
    assert basket.member.birthday is None and not basket.member.attributes
    assert basket.visits == 4 and basket.tallies == {"visits|M1": loyalty.store.Tally(4)}
    assert basket_from_json(_basket(member=None)).visits == 0


PRICE = "lines[0].unit_price"


@pytest.mark.parametrize(
    ("data", "error", "field", "message"),
    [
        ([], InvalidInput, None, "the basket must be a JSON object, not list"),
        (_basket(at=None), InvalidInput, "at", "missing"),
        (_basket(colour="red"), InvalidInput, "colour", "unknown key (the keys are member_id, at, "),
        (_basket(store="S1"), InvalidInput, "store", "unknown key (did you mean 'store_id'?)"),
        (_basket(member_id=7), InvalidId, "member_id", "must be a string, not int"),
        (_basket(id=""), InvalidId, "id", "must not be empty"),
        (_basket(channel=["web"]), InvalidId, "channel", "must be a string, not list"),
        (_basket(at=1709647800), InvalidDatetime, "at", "must be an ISO 8601 string such as"),
        (_basket(at="2024-03-05"), InvalidDatetime, "at", "must carry a UTC offset"),
        (_basket(at="0001-01-01T00:00:00+01:00"), InvalidDatetime, "at", "must lie in the years 1900"),
        (_basket(currency="EUX"), UnknownCurrency, "currency", "'EUX' is not an active ISO 4217"),
        (_basket(lines=[]), InvalidInput, "lines", "a purchase needs at least one line (empty basket)"),
        (_basket(lines={"sku": "latte"}), InvalidInput, "lines", "must be a list of line objects, not dict"),
        (_basket(lines=["latte"]), InvalidInput, "lines[0]", "must be a JSON object, not str"),
        (_with_line(unit_price=None), InvalidInput, "lines[0].unit_price", "missing"),
        (_with_line(price="3.40"), InvalidInput, "lines[0].price", "unknown key (did you mean 'unit_pr"),
        (_with_line(unit_price=3.4), InvalidAmount, PRICE, 'must be a string such as "3.40", not float'),
        (_with_line(unit_price=3), InvalidAmount, PRICE, 'must be a string such as "3.40", not int'),
        (_with_line(unit_price="3.40 EUR"), InvalidAmount, PRICE, "must be an amount such as"),
        (_with_line(unit_price="NaN"), InvalidAmount, PRICE, "must be an amount such as"),
        (_with_line(unit_price="-1"), InvalidAmount, PRICE, "must not be negative, got -1"),
        (_with_line(discount=0.5), InvalidAmount, "lines[0].discount", "not float"),
        (_with_line(discount="9.00"), InvalidAmount, "lines[0].discount", "must not exceed the line amount"),
        (_with_line(tax="7.00"), InvalidAmount, "lines[0].tax", "must not exceed the amount paid"),
        (_with_line(quantity=1.5), InvalidQuantity, "lines[0].quantity", "not float"),
        (_with_line(quantity=True), InvalidQuantity, "lines[0].quantity", "not bool"),
        (_with_line(quantity="two"), InvalidQuantity, "lines[0].quantity", "got 'two'"),
        (_with_line(quantity=-2), InvalidQuantity, "lines[0].quantity", "must be positive, got -2"),
        (_with_line(sku=""), InvalidId, "lines[0].sku", "must not be empty"),
        (_with_line(category=5), InvalidId, "lines[0].category", "must be a string, not int"),
        (_with_line(labels={"color": 1}), InvalidInput, "lines[0].labels['color']", "must be a str, not int"),
        (_with_line(labels=["red"]), InvalidInput, "lines[0].labels", "must be a mapping of str to str"),
        (_basket(member=[]), InvalidInput, "member", "must be a JSON object, not list"),
        (_basket(member={"birthday": "04/03/1990"}), InvalidInput, "member.birthday", "must be a date such"),
        (_basket(member={"birthday": "1990-02-30"}), InvalidInput, "member.birthday", "must be a date such"),
        (_basket(member={"visits": 1.0}), InvalidInput, "member.visits", "(an int >= 0), got 1.0"),
        (_basket(member={"attributes": {"age": 1.5}}), InvalidInput, "member.attributes['age']", "not float"),
        (_basket(member={"attributes": "student"}), InvalidInput, "member.attributes", "must be a mapping"),
        (_basket(member={"tier": "gold"}), InvalidInput, "member.tier", "unknown key"),
    ],
)  # fmt: skip
def test_basket_from_json_refuses_bad_fields_by_path(
    data: Any, error: type[InvalidInput], field: str | None, message: str
) -> None:
    with pytest.raises(error) as caught:
        basket_from_json(data)
    assert type(caught.value) is error
    assert caught.value.field == field
    assert caught.value.message.startswith(message) or message in caught.value.message


def test_basket_from_json_leaves_the_program_to_the_evaluation() -> None:
    # A basket knows no program: a currency other than the program's is refused when it is evaluated.
    basket = basket_from_json(_basket(currency="USD"))
    with pytest.raises(CurrencyMismatch):
        evaluate(Program.from_toml(CORNER), basket.purchase, member=basket.member, tallies=basket.tallies)


# -- docs/cli.md --------------------------------------------------------------------------------

DOC = DOCS / "cli.md"
_DOC_FILE = re.compile(r"^`([\w.-]+)`:\n\n```(?:toml|json)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_DOC_SESSION = re.compile(r"^```console\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


def test_docs_examples_run_as_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = DOC.read_text(encoding="utf-8")
    files = _DOC_FILE.findall(text)
    assert {name for name, _ in files} >= {"corner.toml", "basket.json", "broken.toml", "versions.toml"}
    for name, body in files:
        (tmp_path / name).write_text(body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    before = _tree(tmp_path)
    sessions = _DOC_SESSION.findall(text)
    commands, status = 0, None
    for session in sessions:
        # "$ command" lines, each followed by what it prints (stdout and stderr, as a terminal shows them).
        for block in re.split(r"^\$ ", session, flags=re.MULTILINE)[1:]:
            command, _, expected = block.partition("\n")
            if command == "echo $?":
                assert expected == f"{status}\n", f"exit status of the command before {block!r}"
                continue
            words = shlex.split(command)
            assert words[0] == "loyalty", command
            status, out, err = _run(capsys, *words[1:])
            assert out + err == expected, command
            commands += 1
    assert commands >= 8
    assert _tree(tmp_path) == before


# -- the installed script -----------------------------------------------------------------------


def test_installed_script_validate_exits_1_listing_problems(files: Path) -> None:
    script = shutil.which("loyalty", path=str(Path(sys.executable).parent))
    assert script
    Path("broken.toml").write_text(CORNER.replace('factor = "2"', 'factor = "-1"'), encoding="utf-8")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [script, "validate", "broken.toml"], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        1,
        "",
        "rules[2].factor: must not be negative, got -1\n",
    )
