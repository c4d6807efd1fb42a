"""loyalty validate: a one-line summary per version, or every problem with its path and exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loyalty import Program
from loyalty.config import load_programs
from tests.cli.helpers import CORNER, run_cli


def test_validate_prints_a_one_line_summary(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "validate", "corner.toml") == (
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
        "identifiers": {"lost_card": "redirect"},
    }
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(program), encoding="utf-8")
    assert run_cli(capsys, "validate", str(path)) == (
        0,
        "ok: Web Shop (JPY), version 1, no base rate, 1 rule (1 event), scale 2, half_up per line, "
        "fractions carried, tax excluded, best event rule only, lost cards redirect\n",
        "",
    )


def test_validate_a_file_of_versions_prints_one_line_per_version_oldest_first(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(capsys, "validate", "versions.toml")
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
    status, out, err = run_cli(capsys, "validate", str(path))
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
    status, out, err = run_cli(capsys, "validate", str(path))
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
    assert run_cli(capsys, "validate", str(path)) == (1, "", f"{path} line 2: Invalid value (column 12)\n")
    path.write_bytes(b"\xff\xfe")
    assert run_cli(capsys, "validate", str(path)) == (
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
    assert run_cli(capsys, "validate", name) == (2, "", f"error: {message}\n")
    assert run_cli(capsys, "quote", name, "--line", "latte:1:3.40") == (2, "", f"error: {message}\n")


def test_validate_json_gives_each_versions_summary_and_program(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_cli(capsys, "validate", "versions.toml", "--json")
    assert (status, err) == (0, "")
    verdict = json.loads(out)
    assert verdict["valid"] is True
    assert [version["summary"] for version in verdict["versions"]] == [
        line.removeprefix("ok: ") for line in run_cli(capsys, "validate", "versions.toml")[1].splitlines()
    ]
    # Each program as the loader understood it: loading it again gives the same program.
    programs = [Program.from_dict(version["program"]) for version in verdict["versions"]]
    assert programs == list(load_programs(files / "versions.toml"))


def test_validate_json_lists_every_problem_on_stdout_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(
        CORNER.replace('currency = "EUR"', 'currency = "eur"').replace('factor = "2"', 'factor = "-1"')
    )
    status, out, err = run_cli(capsys, "validate", str(path), "--json")
    assert (status, err) == (1, "")
    assert json.loads(out) == {
        "valid": False,
        "problems": [
            {"path": "currency", "message": "'eur': ISO 4217 codes are upper case, did you mean 'EUR'?"},
            {"path": "rules[2].factor", "message": "must not be negative, got -1"},
        ],
    }


TIERED = """name = "Club"
currency = "EUR"

[tiers]
window = "rolling"
months = 3
downgrade = "review"
review = "days"
review_days = 90
to_base = true
reset_on_downgrade = true

[[tiers.levels]]
id = "member"

[[tiers.levels]]
id = "gold"
threshold = 1500
"""


def test_validate_accepts_the_downgrade_policies_and_refuses_bad_ones_by_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "tiered.toml"
    good.write_text(TIERED, encoding="utf-8")
    status, out, err = run_cli(capsys, "validate", str(good))
    assert (status, err) == (0, "")
    assert out.startswith("ok: Club (EUR)")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        TIERED.replace("review_days = 90", "review_days = 0").replace("to_base = true", "to_base = 1"),
        encoding="utf-8",
    )
    status, out, err = run_cli(capsys, "validate", str(bad))
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        "tiers.review_days: must be None or an int from 1 to 3660, got 0",
        "tiers.to_base: must be true or false, not int 1",
    ]
    clash = tmp_path / "clash.toml"
    clash.write_text(TIERED.replace('downgrade = "review"', 'downgrade = "immediate"'), encoding="utf-8")
    status, out, err = run_cli(capsys, "validate", str(clash))
    assert (status, out) == (1, "")
    assert err.splitlines() == ["tiers.reset_on_downgrade: only a downgrade at review resets progress"]


def test_validate_accepts_a_balance_metric_and_refuses_it_a_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wallet = (
        TIERED.replace('window = "rolling"\nmonths = 3\n', 'metric = "balance"\n')
        .replace("reset_on_downgrade = true\n", "")
        .replace("to_base = true\n", "")
    )
    path = tmp_path / "wallet.toml"
    path.write_text(wallet, encoding="utf-8")
    assert run_cli(capsys, "validate", str(path))[0] == 0
    path.write_text(wallet.replace('metric = "balance"', 'metric = "balance"\nwindow = "calendar_year"'))
    status, out, err = run_cli(capsys, "validate", str(path))
    assert (status, out) == (1, "")
    assert err.splitlines() == ["tiers.window: a balance is what the member has now: it has no window"]


def test_validate_accepts_proportional_returns_and_refuses_them_without_a_base_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "club.toml"
    path.write_text('name = "Club"\ncurrency = "EUR"\nreturns = "proportional"\n', encoding="utf-8")
    assert run_cli(capsys, "validate", str(path))[0] == 0
    path.write_text(
        'name = "Club"\ncurrency = "EUR"\nrate = false\nreturns = "proportional"\n', encoding="utf-8"
    )
    status, out, err = run_cli(capsys, "validate", str(path))
    assert (status, out) == (1, "")
    assert err.splitlines() == [
        'returns: "proportional" takes back points at the base rate, and this program has none '
        '(rate = false): use "recompute"'
    ]
    path.write_text('name = "Club"\ncurrency = "EUR"\nreturns = "prorata"\n', encoding="utf-8")
    assert run_cli(capsys, "validate", str(path))[2].splitlines() == [
        "returns: must be one of 'recompute', 'proportional', got 'prorata'"
    ]


def test_validate_names_whole_blocks_and_refuses_them_rounded_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.toml"
    text = 'name = "Shop"\ncurrency = "EUR"\nrate = {per = "10.00", whole_blocks = true}\n'
    path.write_text(text, encoding="utf-8")
    status, out, _ = run_cli(capsys, "validate", str(path))
    assert (status, out.split(", ")[2]) == (0, "base rate 1 point per 10.00 (whole blocks)")
    path.write_text(text + 'round_per = "line"\n', encoding="utf-8")
    assert run_cli(capsys, "validate", str(path)) == (
        1,
        "",
        "rate.whole_blocks: whole blocks are counted over the basket: they cannot be rounded per line "
        '(round_per = "line")\n',
    )


def test_validate_names_the_oldest_earned_draw_and_refuses_an_unknown_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.toml"
    text = 'name = "Shop"\ncurrency = "EUR"\n[expiry]\npolicy = "lifetime"\nmonths = 12\n'
    path.write_text(text + 'draw = "oldest_earned"\n', encoding="utf-8")
    status, out, _ = run_cli(capsys, "validate", str(path))
    assert (status, out.rstrip().split(", ")[-1]) == (0, "oldest-earned points spent first")
    path.write_text(text + 'draw = "newest"\n', encoding="utf-8")
    assert run_cli(capsys, "validate", str(path)) == (
        1,
        "",
        "expiry.draw: must be one of 'soonest_expiring', 'oldest_earned', got 'newest'\n",
    )


def test_validate_counts_the_rewards_in_the_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cafe.toml"
    path.write_text(
        'name = "Cafe"\ncurrency = "EUR"\n[[rewards]]\nid = "coffee"\nname = "Coffee"\ncost = 300\n'
        'gives = "voucher"\n',
        encoding="utf-8",
    )
    code, out, _ = run_cli(capsys, "validate", str(path))
    assert (code, out.rstrip().endswith(", 1 reward in the catalogue")) == (0, True)
