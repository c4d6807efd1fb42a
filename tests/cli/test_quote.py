"""loyalty quote: what a basket would earn, rule by rule, and why the others gave nothing; writing nothing."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from loyalty.codec import structure
from loyalty.receipts import Receipt
from tests.cli.helpers import AT, CORNER, run_cli, sample, tree_of, with_line
from tests.paths import EXAMPLES


def test_validate_and_quote_write_nothing(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = tree_of(files)
    assert run_cli(capsys, "validate", "corner.toml")[0] == 0
    assert run_cli(capsys, "validate", "versions.toml")[0] == 0
    assert run_cli(capsys, "quote", "corner.toml", "basket.json")[0] == 0
    assert run_cli(capsys, "quote", "corner.toml", "--line", "latte:1:3.40")[0] == 0
    assert tree_of(files) == before
    assert not Path("loyalty.db").exists()


QUOTE = """\
Corner Coffee (EUR), version 2024-03, in force from 2024-03-01T00:00:00+01:00
Purchase S01-T2-000123: 8.80 EUR
  base (1 point per 1.00 EUR on latte 6.80)  +6.80
  base (1 point per 1.00 EUR on croissant
    2.00)                                    +2.00
  Pastry bonus (1 point per 1 EUR on croissant
    2.00)                                    +2.00
  Happy hour (x2 on latte)                   +6.80
  Tenth coffee (stamp 1 of 10)                  +0
  Birthday treat (birthday 2024-03-04)         +50
  rounding (floor)                           -0.60
  points earned                                 67
  not applied:
    Student bonus: member segment=regular is not
      student
"""


def test_quote_a_basket_file(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "quote", "corner.toml", "basket.json") == (0, QUOTE, "")


def test_quote_a_basket_from_standard_input(
    files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(sample())))
    assert run_cli(capsys, "quote", "corner.toml", "-") == (0, QUOTE, "")


def test_quote_explains_every_rule_that_gives_nothing(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("wednesday.json").write_text(
        json.dumps(sample(at="2024-03-13T09:00:00+01:00", member={"attributes": {"segment": "student"}})),
        encoding="utf-8",
    )
    status, out, err = run_cli(capsys, "quote", "corner.toml", "wednesday.json")
    assert (status, err) == (0, "")
    assert "  Student bonus (1 point per 1 EUR on latte\n    6.80)" + " " * 36 + "+6.80\n" in out
    assert out.endswith(
        "  not applied:\n"
        "    Happy hour: outside window Tue 14:00-17:00\n"
        "    Birthday treat: no birthday on file\n"
    )


def test_quote_with_line_arguments(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--line", "latte:2:3.40:coffee", "--line", "flour:1.250:0.80", "--at", "2024-03-05T10:00:00Z"]
    status, out, err = run_cli(capsys, "quote", "corner.toml", *args, "--member-id", "M7", "--id", "T-1")
    assert (status, err) == (0, "")
    assert out == (
        "Corner Coffee (EUR), version 2024-03, in force from 2024-03-01T00:00:00+01:00\n"
        "Purchase T-1: 7.80 EUR\n"
        "  base (1 point per 1.00 EUR on latte 6.80)  +6.80\n"
        # 1.250 kg at 0.80 is 1.00000 EUR: shown, and its points, at the currency's cents.
        "  base (1 point per 1.00 EUR on flour 1.00)  +1.00\n"
        "  Tenth coffee (stamp 1 of 10)                  +0\n"
        "  rounding (floor)                           -0.80\n"
        "  points earned                                  7\n"
        "  not applied:\n"
        "    Pastry bonus: no line with category pastry\n"
        "    Student bonus: member has no segment; only for\n"
        "      segment=student\n"
        "    Happy hour: outside window Tue 14:00-17:00\n"
        "    Birthday treat: no birthday on file\n"
    )


def test_quote_line_arguments_default_to_now_and_the_programs_currency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plain.toml"
    path.write_text('name = "Plain"\ncurrency = "JPY"\n', encoding="utf-8")
    status, out, err = run_cli(capsys, "quote", str(path), "--line", "onigiri:3:150", "--store", "S1")
    assert (status, err) == (0, "")
    assert out.splitlines()[:2] == ["Plain (JPY), version 1", "Purchase quote: 450 JPY"]
    assert out.splitlines()[-1].split() == ["points", "earned", "450"]


def test_quote_visits_decide_first_purchase_rules(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = sample(at="2024-03-10T09:00:00+01:00", member={"visits": 0})
    later = sample(at="2024-03-10T09:00:00+01:00", member={"visits": 3})
    Path("first.json").write_text(json.dumps(first), encoding="utf-8")
    Path("later.json").write_text(json.dumps(later), encoding="utf-8")
    assert (
        "  Welcome (first purchase)                     +25\n"
        in run_cli(capsys, "quote", "versions.toml", "first.json")[1]
    )
    assert run_cli(capsys, "quote", "versions.toml", "later.json")[1].endswith(
        "  not applied:\n    Welcome: not the member's first purchase (3\n      before)\n"
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
    status, out, err = run_cli(capsys, "quote", "versions.toml", "--line", "latte:1:3.40", "--at", at)
    assert (status, err) == (0, "")
    assert out.startswith(f"Corner Coffee (EUR), version {version}, in force from ")
    assert out.splitlines()[-1].split() == ["points", "earned", str(points)]


def test_quote_before_the_first_version_is_refused(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    at = "2023-12-31T23:59:59+01:00"
    assert run_cli(capsys, "quote", "versions.toml", "--line", "latte:1:3.40", "--at", at) == (
        2,
        "",
        f"error: at: {at} is before the program's first version (2024-01, in force from "
        "2024-01-01T00:00:00+01:00)\n",
    )


def test_quote_with_a_broken_program_lists_its_problems(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("broken.toml").write_text(CORNER.replace('factor = "2"', 'factor = "-1"'), encoding="utf-8")
    assert run_cli(capsys, "quote", "broken.toml", "basket.json") == (
        1,
        "",
        "rules[2].factor: must not be negative, got -1\n",
    )


@pytest.mark.parametrize(
    ("basket", "message"),
    [
        (with_line(unit_price=3.4), 'lines[0].unit_price: must be a string such as "3.40", not float'),
        (sample(at="2024-03-05T15:10:00"), "at: must carry a UTC offset (+01:00, Z)"),
        (sample(currency="EUX"), "currency: 'EUX' is not an active ISO 4217 currency code"),
        (sample(currency="eur"), "currency: 'eur': ISO 4217 codes are upper case, did you mean 'EUR'?"),
        (sample(currency="USD"), "currency: purchase is in USD but program 'Corner Coffee' runs in EUR"),
        (with_line(quantity=0), "lines[0].quantity: must be positive, got 0"),
        (
            sample(member={"visits": -1}),
            "member.visits: must be the number of purchases before this one",
        ),
    ],
)
def test_quote_a_bad_basket_is_an_error_naming_the_field(
    basket: dict[str, Any], message: str, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("bad.json").write_text(json.dumps(basket), encoding="utf-8")
    status, out, err = run_cli(capsys, "quote", "corner.toml", "bad.json")
    assert (status, out) == (2, "")
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_quote_a_basket_that_is_not_json(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Path("bad.json").write_text('{"member_id": "M1",\n "at": }', encoding="utf-8")
    assert run_cli(capsys, "quote", "corner.toml", "bad.json") == (
        2,
        "",
        "error: bad.json line 2: Expecting value (column 8)\n",
    )
    assert run_cli(capsys, "quote", "corner.toml", "nothere.json") == (
        2,
        "",
        "error: nothere.json: no such file\n",
    )
    Path("huge.json").write_text('{"member_id": "M1", "n": ' + "9" * 5_000 + "}", encoding="utf-8")
    status, out, err = run_cli(capsys, "quote", "corner.toml", "huge.json")
    assert (status, out) == (2, "")
    assert err.startswith("error: huge.json: is not JSON this reader takes: Exceeds the limit (4300 digits)")


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
        (
            ["--line", "latte:1:3.40", "--currency", "eur"],
            "argument --currency: 'eur': ISO 4217 codes are upper case, did you mean 'EUR'?",
        ),
        (["--line", "latte:1:3.40", "--member-id", ""], "argument --member-id: must not be empty"),
    ],
)
def test_quote_bad_arguments_exit_2(
    args: list[str], message: str, files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(capsys, "quote", "corner.toml", *args)
    assert (status, out) == (2, "")
    assert message in err


@pytest.mark.parametrize("basket", sorted(path.name for path in (EXAMPLES / "baskets").glob("*.json")))
def test_quote_reads_every_example_basket(basket: str, capsys: pytest.CaptureFixture[str]) -> None:
    # examples/README.md documents the basket format; its figures are checked in test_examples.py.
    (program,) = [
        path for path in EXAMPLES.glob(Path(basket).stem + ".*") if path.suffix in (".toml", ".json")
    ]
    status, out, err = run_cli(capsys, "quote", str(program), str(EXAMPLES / "baskets" / basket))
    assert (status, err) == (0, "")
    assert re.search(r"^  points earned +[\d.]+$", out, re.MULTILINE)


def test_quote_as_json_is_the_engines_receipt(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_cli(capsys, "quote", "corner.toml", "basket.json", "--json")
    assert (status, err) == (0, "")
    quoted = json.loads(out)
    assert (quoted["program"], quoted["version"]) == ("Corner Coffee", "2024-03")
    receipt = structure(quoted["receipt"], Receipt)
    assert receipt.source_id == "S01-T2-000123"
    assert receipt.points == sum(c.points for c in receipt.breakdown) + receipt.rounding_adjustment
    _, text, _ = run_cli(capsys, "quote", "corner.toml", "basket.json")
    assert receipt.render() in text  # the same receipt, as the text form shows it


def test_a_basket_saved_with_a_byte_order_mark_is_read(
    files: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("bom.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(sample()).encode())
    assert run_cli(capsys, "quote", "corner.toml", "bom.json") == (0, QUOTE, "")
    monkeypatch.setattr(sys, "stdin", io.StringIO("\ufeff" + json.dumps(sample())))
    assert run_cli(capsys, "quote", "corner.toml", "-") == (0, QUOTE, "")


def test_a_guest_quote_is_a_new_members_and_says_join_now(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = ["--line", "latte:1:3.40", "--at", "2024-03-10T09:00:00+01:00"]
    status, out, err = run_cli(capsys, "quote", "versions.toml", "--guest", *line)
    assert (status, err) == (0, "")
    # The same figures as a plain --line quote (whose member is new too), then the invitation.
    assert out == run_cli(capsys, "quote", "versions.toml", *line)[1] + "  join now to earn these points\n"
    assert "  Welcome (first purchase)                     +25\n" in out
    status, out, err = run_cli(capsys, "quote", "versions.toml", "--guest", "--json", *line)
    receipt = json.loads(out)["receipt"]
    assert (status, receipt["guest"], receipt["points"]) == (0, True, 31)
    assert structure(receipt, Receipt).guest
    plain = json.loads(run_cli(capsys, "quote", "versions.toml", "--json", *line)[1])
    assert plain["receipt"]["guest"] is False


def test_a_guest_quote_of_a_basket_file_without_member_details(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("new.json").write_text(json.dumps(sample(member={"visits": 0})), encoding="utf-8")
    status, out, err = run_cli(capsys, "quote", "corner.toml", "new.json", "--guest")
    assert (status, err) == (0, "")
    assert "  join now to earn these points\n" in out
    assert "    Birthday treat: no birthday on file\n" in out


@pytest.mark.parametrize(
    "member", [{"visits": 3}, {"birthday": "1990-03-04"}, {"attributes": {"segment": "x"}}]
)
def test_a_guest_quote_of_a_basket_whose_member_is_known_is_refused(
    member: dict[str, Any], files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("known.json").write_text(json.dumps(sample(member=member)), encoding="utf-8")
    status, out, err = run_cli(capsys, "quote", "corner.toml", "known.json", "--guest")
    assert (status, out) == (2, "")
    assert "--guest: the basket's member has a birthday, attributes or visits; a guest has none" in err
