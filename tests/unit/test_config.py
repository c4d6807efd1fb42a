"""Programs as data: the dict, JSON and TOML forms, read from text and files and written back."""

from __future__ import annotations

import errno
import json
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty.config import (
    program_from_dict,
    program_to_dict,
    program_to_toml,
    read_json,
    read_toml,
)
from loyalty.errors import ConfigError, InvalidInput, MissingFile
from loyalty.program import EarnRate, EventCombination, Program, Rounding, RoundPer, TaxBasis
from loyalty.rules import (
    BirthdayBonus,
    EventRule,
    FirstPurchase,
    Multiplier,
    Period,
    ProductBonus,
    PurchaseBonus,
    Scope,
    SpendRule,
    StampCard,
    UnitBonus,
)
from tests.unit.program_data import BASE, CLUB_TOML, problems, toml_problems

# -- reading a full program --------------------------------------------------------------------


def test_a_full_toml_program() -> None:
    club = Program.from_toml(CLUB_TOML)
    assert club.rate == EarnRate(1, Decimal("1.00")) and str(club.rate) == "1 point per 1.00"
    assert (club.rounding, club.round_per, club.tax, club.events) == (
        Rounding.HALF_UP,
        RoundPer.LINE,
        TaxBasis.EXCLUSIVE,
        EventCombination.BEST,
    )
    assert (
        club.scale == 2 and club.carry and club.timezone == "Europe/Amsterdam" and club.version == "2024-05"
    )
    assert club.effective_from == datetime(2024, 4, 30, 22, 0, tzinfo=UTC)
    cake, colors, students, stamps, bday, survey = club.rules
    assert cake == Multiplier(
        id="cake-x2",
        name="Cake week",
        factor=Decimal("2.0"),
        categories=("cake",),
        starts=date(2024, 5, 1),
        ends=date(2024, 5, 7),
    )
    assert colors == Multiplier(
        id="colors",
        label="color",
        factors={"red": Decimal(3), "blue": Decimal(2)},
        cap=100,
        cap_period=Period.MONTH,
    )
    assert students == SpendRule(
        id="students",
        points=2,
        per=Decimal("0.50"),
        members={"segment": ("student",), "age": (18, 19), "vip": (True,)},
        min_amount=Decimal("5.00"),
        minimum_scope=Scope.LINES,
        days=("sat", "sun"),
        hours=("08:00-11:30",),
        timezone="Europe/London",
        recurrence="FREQ=MONTHLY;BYDAY=+1SA",
    )
    assert stamps == StampCard(
        id="coffee-10", points=50, every=10, skus=("coffee",), priority=5, group="coffee", stop=True
    )
    assert bday == BirthdayBonus(id="bday", points=100, days_before=3, days_after=7)
    assert survey == EventRule(
        id="survey",
        event="survey_completed",
        points=25,
        properties={"channel": ("app",)},
        limit=1,
        limit_period=Period.YEAR,
    )


def test_round_trips_keep_decimal_spelling() -> None:
    club = Program.from_toml(CLUB_TOML)
    data = club.to_dict()
    assert data["rate"] == {"per": "1.00"}  # points = 1 is the default
    assert data["effective_from"] == "2024-05-01T00:00:00+02:00"
    assert data["rules"][0] == {
        "kind": "multiplier",
        "id": "cake-x2",
        "name": "Cake week",
        "categories": ["cake"],
        "starts": "2024-05-01",
        "ends": "2024-05-07",
        "factor": "2.0",
    }
    assert data["rules"][1]["factors"] == {"blue": "2", "red": "3"}
    for again in (
        Program.from_dict(data),
        Program.from_json(json.dumps(data)),
        Program.from_toml(program_to_toml(club)),
    ):
        assert again == club
        assert again.to_dict() == data
    assert tomllib.loads(program_to_toml(club)) == data


def test_defaults_are_left_out_and_no_none_is_written() -> None:
    assert Program("Club", "EUR").to_dict() == {"name": "Club", "currency": "EUR"}
    # Equal to the default but spelled differently: written, so receipts keep "per 1.00".
    assert Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00"))).to_dict()["rate"] == {"per": "1.00"}
    assert (
        SpendRule(id="s", points=1, per=Decimal("1.0"))
        in Program.from_dict(
            Program("Club", "EUR", rules=[SpendRule(id="s", points=1, per=Decimal("1.0"))]).to_dict()
        ).rules
    )
    data = Program("Club", "EUR", rules=[SpendRule(id="s", points=1, per=Decimal("1.0"))]).to_dict()
    assert data["rules"] == [{"kind": "spend", "id": "s", "points": 1, "per": "1.0"}]
    assert "None" not in json.dumps(data) and "null" not in json.dumps(data)


def test_rate_forms() -> None:
    assert program_from_dict(BASE).rate == EarnRate()
    assert program_from_dict({**BASE, "rate": {}}).rate == EarnRate()
    assert program_from_dict({**BASE, "rate": {"points": 4}}).rate == EarnRate(4, Decimal(1))
    assert program_from_dict({**BASE, "rate": {"per": 10}}).rate == EarnRate(1, Decimal(10))
    no_rate = program_from_dict({**BASE, "rate": False})
    assert no_rate.rate is None
    assert no_rate.to_dict() == {**BASE, "rate": False}
    assert "rate = false" in program_to_toml(no_rate)
    assert problems({**BASE, "rate": None}) == (
        ("rate", "null is not a rate: leave rate out for 1 point per 1, or write false for no base rate"),
    )
    assert problems({**BASE, "rate": True}) == (
        (
            "rate",
            'must be a table {points = 1, per = "1.00"}, or false for no base rate, not bool True',
        ),
    )
    assert problems({**BASE, "rate": {"points": 1, "pre": "1"}}) == (
        ("rate.pre", "unknown key (did you mean 'per'?)"),
    )


def test_every_rule_kind_round_trips() -> None:
    rules = [
        SpendRule(id="spend", points=3, per=Decimal("2.50")),
        Multiplier(id="multiplier", factor=Decimal("1.5")),
        PurchaseBonus(id="purchase", points=10, min_amount=Decimal("20")),
        UnitBonus(id="unit", points=5, skus=("x",), cap_per_purchase=50),
        ProductBonus(id="product", points=50, labels={"brand": ("acme", "zenith")}, budget=10_000),
        FirstPurchase(id="first", points=100, exclude_stores=("S9",)),
        StampCard(id="stamps", points=1, every=3, min_quantity=Decimal("0.5")),
        BirthdayBonus(id="birthday", points=7, cooloff_days=30, exclude_members={"tier": ("staff",)}),
        EventRule(id="event", event="review", points=2, properties={"source": ("app",)}),
    ]
    program = Program("Club", "EUR", rules=rules)
    data = program.to_dict()
    assert [rule["kind"] for rule in data["rules"]] == [
        "spend",
        "multiplier",
        "purchase_bonus",
        "unit_bonus",
        "product_bonus",
        "first_purchase",
        "stamp_card",
        "birthday",
        "event",
    ]
    assert Program.from_dict(data) == program
    assert Program.from_toml(program_to_toml(program)) == program


def test_python_values_are_accepted_as_well() -> None:
    program = program_from_dict(
        {
            **BASE,
            "rounding": Rounding.HALF_EVEN,
            "effective_from": datetime(2024, 1, 1, tzinfo=UTC),
            "rules": (
                {"kind": "spend", "id": "s", "points": 1, "per": Decimal("0.10"), "starts": date(2024, 1, 1)},
            ),
        }
    )
    assert program.rounding is Rounding.HALF_EVEN
    assert program.rules[0] == SpendRule(id="s", points=1, per=Decimal("0.10"), starts=date(2024, 1, 1))


def test_toml_writer_quotes_what_it_must() -> None:
    program = Program(
        'Bäcker "Joe" \\ Co',
        "EUR",
        rules=[SpendRule(id="s", points=1, name="two\nlines\t\x01\x7f", labels={"odd key": ("a b",)})],
    )
    text = program_to_toml(program)
    assert 'name = "Bäcker \\"Joe\\" \\\\ Co"' in text
    assert 'name = "two\\nlines\\t\\u0001\\u007f"' in text
    assert 'labels = {"odd key" = ["a b"]}' in text
    assert Program.from_toml(text) == program


# -- reading files and text --------------------------------------------------------------------


def test_read_from_paths_and_text(tmp_path: Path) -> None:
    club = Program.from_toml(CLUB_TOML)
    toml_file = tmp_path / "club.toml"
    toml_file.write_text(program_to_toml(club), encoding="utf-8")
    json_file = tmp_path / "club.json"
    json_file.write_text(json.dumps(club.to_dict()), encoding="utf-8")
    assert Program.from_toml(toml_file) == club
    assert Program.from_toml(str(toml_file)) == club
    assert Program.from_json(json_file) == club
    assert Program.from_json(str(json_file)) == club
    assert read_json(json.dumps(club.to_dict())) == club.to_dict()
    assert read_toml(program_to_toml(club)) == club.to_dict()
    with pytest.raises(MissingFile) as missing:
        read_toml(str(tmp_path / "missing.toml"))
    assert (missing.value.field, missing.value.message) == (str(tmp_path / "missing.toml"), "no such file")
    assert isinstance(missing.value, FileNotFoundError) and isinstance(missing.value, InvalidInput)
    with pytest.raises(InvalidInput, match="cannot be read") as unreadable:
        read_toml(tmp_path)  # a directory
    assert unreadable.value.field == str(tmp_path)
    (tmp_path / "latin1.toml").write_bytes(b'name = "Caf\xe9"')
    with pytest.raises(ConfigError) as undecodable:
        read_toml(tmp_path / "latin1.toml")
    assert undecodable.value.problems == (
        (str(tmp_path / "latin1.toml"), "is not UTF-8 text (byte 11: invalid continuation byte)"),
    )


@pytest.mark.parametrize("read", [Program.from_toml, Program.from_toml_file])
def test_a_mistyped_program_path_is_a_missing_file_naming_it(
    read: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MissingFile) as missing:
        read("cafe.tml")  # not TOML text to fail to parse
    assert str(missing.value) == "cafe.tml: no such file"


def test_a_mistyped_json_program_path_is_a_missing_file() -> None:
    with pytest.raises(MissingFile, match=r"club\.jsn: no such file"):
        Program.from_json("club.jsn")
    with pytest.raises(MissingFile, match=r"club\.json: no such file"):
        Program.from_json_file("club.json")


def test_one_line_documents_are_still_text() -> None:
    assert read_toml('name = "Club"') == {"name": "Club"}
    assert read_toml("[rate]") == {"rate": {}}
    assert read_toml("") == read_toml("   ") == read_toml("# nothing yet") == {}
    assert read_json('{"name": "Club"}') == {"name": "Club"}
    for value in ("null", '"Club"', "12", "-1", "[]"):
        with pytest.raises(ConfigError, match="must be a JSON object"):
            read_json(value)


@pytest.mark.parametrize("path", ["run=3/program.toml", "[draft] cafe.toml", "C:\\shop\\cafe.toml"])
def test_a_name_ending_in_toml_is_a_path_whatever_else_it_holds(path: str) -> None:
    with pytest.raises(MissingFile) as missing:
        read_toml(path)
    assert (missing.value.field, missing.value.filename, missing.value.errno) == (path, path, errno.ENOENT)
    assert str(missing.value) == f"{path}: no such file"


def test_a_path_with_a_nul_is_refused_as_input() -> None:
    with pytest.raises(InvalidInput, match="is not a usable path"):
        Program.from_toml_file("club\x00.toml")


def test_the_file_readers_read_a_path_that_looks_like_a_document(tmp_path: Path) -> None:
    odd = tmp_path / "a = b.toml"
    odd.write_text(CLUB_TOML, encoding="utf-8")
    assert Program.from_toml_file(odd) == Program.from_toml(CLUB_TOML)
    assert Program.from_toml_file(str(odd)) == Program.from_toml(CLUB_TOML)
    assert Program.from_toml(str(odd)) == Program.from_toml(CLUB_TOML)  # it names a file
    as_json = tmp_path / "{club}.json"
    as_json.write_text(json.dumps(Program.from_toml(CLUB_TOML).to_dict()), encoding="utf-8")
    assert Program.from_json_file(as_json) == Program.from_toml(CLUB_TOML)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    club = Program.from_toml(CLUB_TOML)
    toml_file, json_file = tmp_path / "club.toml", tmp_path / "club.json"
    toml_file.write_bytes(b"\xef\xbb\xbf" + CLUB_TOML.encode())
    json_file.write_bytes(b"\xef\xbb\xbf" + json.dumps(club.to_dict()).encode())
    assert Program.from_toml(toml_file) == Program.from_toml_file(toml_file) == club
    assert Program.from_json(json_file) == Program.from_json_file(json_file) == club
    assert Program.from_toml("\ufeff" + CLUB_TOML) == club


def test_toml_syntax_error_has_a_line() -> None:
    assert toml_problems('name = "x"\ncurrency = "EUR"\nrate = {points = 1, per = "1.00"\n') == (
        ("<toml> line 3", "Unclosed inline table (column 33)"),
    )
    assert toml_problems('name = "x"\n\ncurrency = EUR\n') == (
        ("<toml> line 3", "Invalid value (column 12)"),
    )


def test_syntax_errors_in_files_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\ncurrency = \n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        Program.from_toml(broken)
    assert caught.value.problems == ((f"{broken} line 2", "Invalid value (column 12)"),)


def test_toml_no_reader_here_takes_is_a_config_error() -> None:
    # tomllib raises ValueError and RecursionError for these, not TOMLDecodeError.
    with pytest.raises(ConfigError) as caught:
        Program.from_toml('name = "x"\nscale = ' + "9" * 5_000)
    ((where, problem),) = caught.value.problems
    assert where == "<toml>" and problem.startswith("not TOML this reader takes: Exceeds the limit")
    with pytest.raises(ConfigError) as caught:
        Program.from_toml('name = "x"\nrules = ' + "[" * 100_000 + "]" * 100_000)
    assert caught.value.problems == (("<toml>", "not TOML this reader takes: nested too deeply"),)


def test_json_syntax_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        # An error whose wording is the same from Python 3.11 to 3.13 (a trailing comma's is not).
        Program.from_json('{"name": "x",\n "currency" "EUR"\n}')
    assert caught.value.problems == (("<json> line 2", "Expecting ':' delimiter (column 13)"),)
    with pytest.raises(ConfigError) as caught:
        Program.from_json("[1, 2]")
    assert caught.value.problems == (("<json>", "the document must be a JSON object, not list"),)
    # JSON that json.loads reads with ValueError or RecursionError, not JSONDecodeError.
    with pytest.raises(ConfigError) as caught:
        Program.from_json('{"name": "x", "scale": ' + "9" * 5_000 + "}")
    ((where, problem),) = caught.value.problems
    assert where == "<json>" and problem.startswith("not JSON this reader takes: Exceeds the limit")
    with pytest.raises(ConfigError) as caught:
        Program.from_json('{"name": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert caught.value.problems == (("<json>", "not JSON this reader takes: nested too deeply"),)


def test_json_floats_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        Program.from_json('{"name": "x", "currency": "EUR", "rate": {"points": 1, "per": 0.1}}')
    assert caught.value.problems == (
        ("rate.per", 'must be a decimal string such as "1.00" (or an int), not float 0.1'),
    )


def test_program_to_dict_is_the_function_behind_to_dict() -> None:
    club = Program.from_toml(CLUB_TOML)
    assert program_to_dict(club) == club.to_dict()
