"""Programs as data: the dict, JSON and TOML forms, and every problem reported with its path."""

from __future__ import annotations

import errno
import json
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty.config import (
    load_programs,
    program_from_dict,
    program_to_dict,
    program_to_toml,
    programs_from_dict,
    programs_to_dict,
    programs_to_toml,
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

KINDS = (
    "spend, multiplier, purchase_bonus, unit_bonus, product_bonus, first_purchase, "
    "stamp_card, birthday, event"
)
BASE: dict[str, Any] = {"name": "Bakery Club", "currency": "EUR"}

CLUB_TOML = """
name = "Bakery Club"
currency = "EUR"
rate = {points = 1, per = "1.00"}
rounding = "half_up"
scale = 2
round_per = "line"
tax = "exclusive"
events = "best"
carry = true
timezone = "Europe/Amsterdam"
version = "2024-05"
effective_from = 2024-05-01T00:00:00+02:00

[[rules]]
kind = "multiplier"
id = "cake-x2"
name = "Cake week"
factor = "2.0"
categories = ["cake"]
starts = 2024-05-01
ends = "2024-05-07"

[[rules]]
kind = "multiplier"
id = "colors"
label = "color"
factors = {red = "3", blue = 2}
cap = 100
cap_period = "month"

[[rules]]
kind = "spend"
id = "students"
points = 2
per = "0.50"
members = {segment = ["student"], age = [18, 19], vip = [true]}
min_amount = "5.00"
minimum_scope = "lines"
days = ["sat", "sun"]
hours = ["08:00-11:30"]
timezone = "Europe/London"
recurrence = "FREQ=MONTHLY;BYDAY=+1SA"

[[rules]]
kind = "stamp_card"
id = "coffee-10"
points = 50
every = 10
skus = ["coffee"]
priority = 5
group = "coffee"
stop = true

[[rules]]
kind = "birthday"
id = "bday"
points = 100
days_before = 3
days_after = 7

[[rules]]
kind = "event"
id = "survey"
event = "survey_completed"
points = 25
properties = {channel = ["app"]}
limit = 1
limit_period = "year"
"""


def problems(data: Any) -> tuple[tuple[str, str], ...]:
    with pytest.raises(ConfigError) as caught:
        program_from_dict(data)
    return caught.value.problems


def toml_problems(text: str) -> tuple[tuple[str, str], ...]:
    with pytest.raises(ConfigError) as caught:
        Program.from_toml(text)
    return caught.value.problems


def versions_problems(data: Any) -> tuple[tuple[str, str], ...]:
    with pytest.raises(ConfigError) as caught:
        programs_from_dict(data)
    return caught.value.problems


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


def test_json_syntax_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        # An error whose wording is the same from Python 3.11 to 3.13 (a trailing comma's is not).
        Program.from_json('{"name": "x",\n "currency" "EUR"\n}')
    assert caught.value.problems == (("<json> line 2", "Expecting ':' delimiter (column 13)"),)
    with pytest.raises(ConfigError) as caught:
        Program.from_json("[1, 2]")
    assert caught.value.problems == (("<json>", "the document must be a JSON object, not list"),)


def test_json_floats_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        Program.from_json('{"name": "x", "currency": "EUR", "rate": {"points": 1, "per": 0.1}}')
    assert caught.value.problems == (
        ("rate.per", 'must be a decimal string such as "1.00" (or an int), not float 0.1'),
    )


# -- bad configuration, reported with its path -------------------------------------------------


def test_negative_or_nan_rates() -> None:
    assert problems({**BASE, "rate": {"per": "-1"}}) == (("rate.per", "must not be negative, got -1"),)
    assert problems({**BASE, "rate": {"per": "NaN"}}) == (("rate.per", "must be finite, got NaN"),)
    assert problems({**BASE, "rate": {"per": "0"}}) == (("rate.per", "must be positive, got 0"),)
    spend = {"kind": "spend", "id": "s", "points": 1}
    assert problems({**BASE, "rules": [{**spend, "per": "-0.5"}]}) == (
        ("rules[0].per", "must be positive, got -0.5"),
    )
    assert problems({**BASE, "rules": [{**spend, "per": "nan"}]}) == (
        ("rules[0].per", "must be finite, got NaN"),
    )
    assert problems({**BASE, "rules": [{**spend, "per": "1,5"}]}) == (
        ("rules[0].per", "must be a decimal number such as \"1.00\", got '1,5'"),
    )


def test_unknown_rounding_mode() -> None:
    assert problems({**BASE, "rounding": "down"}) == (
        ("rounding", "must be one of 'floor', 'half_up', 'half_even', got 'down'"),
    )


def test_unknown_or_missing_rule_kind() -> None:
    rules = [
        {"kind": "spend", "id": "a", "points": 1},
        {"kind": "spend", "id": "b", "points": 1},
        {"kind": "spend", "id": "c", "points": 1},
        {"kind": "spnd", "id": "d", "points": 1},
        {"id": "e", "points": 1},
        "spend",
    ]
    assert problems({**BASE, "rules": rules}) == (
        ("rules[3].kind", f"unknown rule kind 'spnd'; the kinds are {KINDS}"),
        ("rules[4].kind", f"missing: every rule needs a kind, one of {KINDS}"),
        ("rules[5]", "must be a table with a kind, not str 'spend'"),
    )


def test_unknown_keys() -> None:
    assert problems(
        {**BASE, "rules": [{"kind": "multiplier", "id": "m", "factor": "2", "multipler": 2}]}
    ) == (("rules[0].multipler", "unknown key"),)
    assert problems({**BASE, "rouding": "floor", "rules": [{"kind": "spend", "id": "a", "pionts": 3}]}) == (
        ("rules[0].points", "missing required key"),
        ("rules[0].pionts", "unknown key (did you mean 'points'?)"),
        ("rouding", "unknown key (did you mean 'rounding'?)"),
    )


def test_missing_required_keys() -> None:
    assert problems({"currency": "EUR"}) == (("name", "missing required key"),)
    assert problems({**BASE, "rules": [{"kind": "stamp_card", "points": 1}]}) == (
        ("rules[0].id", "missing required key"),
        ("rules[0].every", "missing required key"),
    )


def test_floats_where_ints_or_money_are_expected() -> None:
    rules = [
        {"kind": "spend", "id": "a", "points": 1, "per": 0.5},
        {"kind": "purchase_bonus", "id": "b", "points": 2.7},
        {"kind": "purchase_bonus", "id": "c", "points": 2.0, "min_amount": 10.0},
    ]
    assert problems({**BASE, "scale": 1.0, "rules": rules}) == (
        ("rules[0].per", 'must be a decimal string such as "1.00" (or an int), not float 0.5'),
        ("rules[1].points", "must be an int, not float 2.7"),
        ("rules[2].min_amount", 'must be a decimal string such as "1.00" (or an int), not float 10.0'),
        ("rules[2].points", "must be an int, not float 2.0"),
        ("scale", "must be an int, not float 1.0"),
    )


def test_bools_and_strings_are_not_numbers() -> None:
    rule = {
        "kind": "spend",
        "id": "a",
        "points": True,
        "priority": "3",
        "cap_per_purchase": "10",
        "per": False,
    }
    assert problems({**BASE, "carry": 1, "rules": [rule]}) == (
        ("rules[0].priority", "must be an int, not str '3'"),
        ("rules[0].cap_per_purchase", "must be an int, not str '10'"),
        ("rules[0].points", "must be an int, not bool True"),
        ("rules[0].per", 'must be a decimal string such as "1.00" (or an int), not bool False'),
        ("carry", "must be true or false, not int 1"),
    )


def test_a_bare_string_is_not_a_list() -> None:
    rule = {"kind": "spend", "id": "a", "points": 1, "skus": "abc", "labels": {"color": "red"}, "days": "sat"}
    assert problems({**BASE, "rules": [rule]}) == (
        ("rules[0].skus", "must be a list, not str 'abc'"),
        ("rules[0].labels.color", "must be a list, not str 'red'"),
        ("rules[0].days", "must be a list, not str 'sat'"),
    )
    assert problems({**BASE, "rules": {"kind": "spend"}}) == (
        ("rules", "must be a list of rule tables, not dict {'kind': 'spend'}"),
    )


def test_validator_messages_keep_their_detail() -> None:
    rule = {
        "kind": "spend",
        "id": "a",
        "points": 1,
        "labels": {"color": []},
        "hours": ["08:00-09:00", "25:00-26:00"],
        "days": ["mon", "funday"],
        "members": {"age": [1.5]},
    }
    assert problems({**BASE, "rules": [rule]}) == (
        ("rules[0].labels.color", "must list at least one value"),
        ("rules[0].members.age[0]", "must be a string, int or bool, not float 1.5"),
        ("rules[0].days[1]", "must be one of mon, tue, wed, thu, fri, sat, sun, got 'funday'"),
        ("rules[0].hours[1]", "must be HH:MM-HH:MM, got '25:00-26:00'"),
    )


def test_naive_effective_from() -> None:
    expected = (
        (
            "effective_from",
            "needs a UTC offset such as +02:00 or Z (local times are ambiguous): 2024-01-01T00:00:00",
        ),
    )
    assert problems({**BASE, "effective_from": "2024-01-01T00:00:00"}) == expected
    assert toml_problems('name = "x"\ncurrency = "EUR"\neffective_from = 2024-01-01T00:00:00\n') == expected
    assert problems({**BASE, "effective_from": "2024-01-01"}) == (
        (
            "effective_from",
            "needs a UTC offset such as +02:00 or Z (local times are ambiguous): 2024-01-01T00:00:00",
        ),
    )
    assert problems({**BASE, "effective_from": "yesterday"}) == (
        ("effective_from", "not an ISO 8601 date-time such as \"2024-05-01T00:00:00+02:00\": 'yesterday'"),
    )
    aware = program_from_dict({**BASE, "effective_from": "2024-01-01T00:00:00Z"})
    assert aware.effective_from == datetime(2024, 1, 1, tzinfo=UTC)


def test_dates() -> None:
    assert problems(
        {**BASE, "rules": [{"kind": "spend", "id": "a", "points": 1, "starts": "2024-13-01"}]}
    ) == (("rules[0].starts", "not a valid date: '2024-13-01'"),)
    assert toml_problems(
        'name = "x"\ncurrency = "EUR"\n'
        'rules = [{kind = "spend", id = "a", points = 1, ends = 2024-01-01T10:00:00Z}]\n'
    ) == (
        ("rules[0].ends", "must be a date such as 2024-05-01, not a date-time (2024-01-01T10:00:00+00:00)"),
    )
    rule = {"kind": "spend", "id": "a", "points": 1, "starts": "2024-05-02", "ends": "2024-05-01"}
    assert problems({**BASE, "rules": [rule]}) == (
        ("rules[0].ends", "must not be before starts (2024-05-02), got 2024-05-01"),
    )


def test_unknown_timezones() -> None:
    rule = {"kind": "spend", "id": "a", "points": 1, "timezone": "Europe/Atlantis"}
    assert problems({**BASE, "timezone": "Mars/Olympus", "rules": [rule]}) == (
        ("rules[0].timezone", "unknown timezone 'Europe/Atlantis'"),
        ("timezone", "unknown timezone 'Mars/Olympus'"),
    )


def test_invalid_recurrence() -> None:
    rule = {"kind": "purchase_bonus", "id": "a", "points": 1, "recurrence": "FREQ=FORTNIGHTLY"}
    assert problems({**BASE, "rules": [rule]}) == (
        ("rules[0].recurrence", "not a valid RRULE (invalid 'FREQ': FORTNIGHTLY): 'FREQ=FORTNIGHTLY'"),
    )


def test_duplicate_rule_ids() -> None:
    rules = [
        {"kind": "spend", "id": "a", "points": 1},
        {"kind": "spend", "id": "b", "points": 1},
        {"kind": "unit_bonus", "id": "a", "points": 1},
    ]
    assert problems({**BASE, "rules": rules}) == (("rules[2].id", "'a' is already the id of rules[0]"),)
    # Reported next to the other problems of the list, in document order.
    rules[1]["points"] = 0
    rules.append({"kind": "spend", "id": "b", "points": 1})
    assert problems({**BASE, "rules": rules}) == (
        ("rules[1].points", "must be a positive int, got 0"),
        ("rules[2].id", "'a' is already the id of rules[0]"),
        ("rules[3].id", "'b' is already the id of rules[1]"),
    )


def test_program_level_checks_carry_their_path() -> None:
    assert problems({**BASE, "rules": [{"kind": "spend", "id": "base", "points": 1}]}) == (
        ("rules[0].id", "'base' is the base rate's id; set rate to None to reuse it"),
    )
    assert program_from_dict({**BASE, "rate": False, "rules": [{"kind": "spend", "id": "base", "points": 1}]})


def test_cross_field_rule_checks() -> None:
    rules = [
        {"kind": "multiplier", "id": "m", "factor": "2", "label": "color"},
        {"kind": "event", "id": "e", "event": "survey", "points": 1, "skus": ["x"]},
        {"kind": "spend", "id": "s", "points": 1, "cap": 10},
    ]
    assert problems({**BASE, "rules": rules}) == (
        ("rules[0].factor", "give either factor, or label with factors"),
        ("rules[1].skus", "an event has no lines: SKU, category and label filters do not apply"),
        ("rules[2].cap_period", "cap and cap_period go together: points per day/week/month/..."),
    )


NO_LINES = "an event has no lines: SKU, category and label filters do not apply"
NO_PLACE = "an event has no store, channel or terminal: it is recorded for the member, not at a till"
NO_AMOUNT = "an event has no amount or quantity: minimums apply to purchases only"


@pytest.mark.parametrize(
    ("condition", "reason"),
    [
        ({"categories": ["coffee"]}, NO_LINES),
        ({"exclude_labels": {"brand": ["x"]}}, NO_LINES),
        ({"stores": ["S1"]}, NO_PLACE),
        ({"exclude_channels": ["web"]}, NO_PLACE),
        ({"terminals": ["T1"]}, NO_PLACE),
        ({"min_amount": "20.00"}, NO_AMOUNT),
        ({"min_quantity": "2"}, NO_AMOUNT),
        ({"minimum_scope": "lines"}, NO_AMOUNT),
    ],
)
def test_an_event_rule_with_a_condition_only_a_purchase_can_meet_is_refused(
    condition: dict[str, Any], reason: str
) -> None:
    # Accepted, a store condition would keep the rule from ever firing and a minimum would
    # be ignored: both are refused where the merchant wrote them.
    rule = {"kind": "event", "id": "survey", "event": "survey_completed", "points": 10, **condition}
    spend = {"kind": "spend", "id": "s", "points": 1, "stores": ["S1"]}
    assert problems({**BASE, "rules": [spend, rule]}) == ((f"rules[1].{next(iter(condition))}", reason),)


def test_several_problems_are_all_reported() -> None:
    data = {
        "name": "",
        "currency": "XXX",
        "scale": 9,
        "rate": {"points": 0, "per": "-1"},
        "rounding": "down",
        "timezone": "Nowhere/Special",
        "rules": [
            {"kind": "spend", "id": "a", "points": 1, "per": "-1"},
            {"kind": "multiplier", "id": "b", "factor": "-1"},
            {"kind": "spend", "id": "c", "points": 2.7},
        ],
    }
    with pytest.raises(ConfigError) as caught:
        program_from_dict(data)
    error = caught.value
    assert error.problems == (
        ("name", "must not be empty"),
        ("currency", "'XXX' is not an active ISO 4217 currency code"),
        ("rate.points", "must be a positive int, got 0"),
        ("rate.per", "must not be negative, got -1"),
        ("rounding", "must be one of 'floor', 'half_up', 'half_even', got 'down'"),
        ("rules[0].per", "must be positive, got -1"),
        ("rules[1].factor", "must not be negative, got -1"),
        ("rules[2].points", "must be an int, not float 2.7"),
        ("scale", "must be an int from 0 to 6, got 9"),
        ("timezone", "unknown timezone 'Nowhere/Special'"),
    )
    assert isinstance(error, InvalidInput) and error.field == "name"
    assert str(error).startswith("10 problems in the program:\n  name: must not be empty\n")


def test_not_a_table() -> None:
    assert problems([1]) == (("", "must be a table of key = value, not list [1]"),)


# -- several versions --------------------------------------------------------------------------


def version(label: str, effective_from: str | None = None, **more: Any) -> dict[str, Any]:
    data = {**BASE, "version": label, **more}
    if effective_from is not None:
        data["effective_from"] = effective_from
    return data


def test_versions_are_sorted_by_effective_from() -> None:
    loaded = programs_from_dict(
        {
            "versions": [
                version("3", "2025-01-01T00:00:00+00:00"),
                version("1"),
                version("2", "2024-06-01T00:00:00+02:00", rate={"points": 2}),
            ]
        }
    )
    assert [p.version for p in loaded] == ["1", "2", "3"]
    assert loaded[1].rate == EarnRate(2)
    assert programs_from_dict(programs_to_dict(loaded)) == loaded
    assert programs_from_dict(tomllib.loads(programs_to_toml(loaded))) == loaded
    assert "[[versions]]" in programs_to_toml(loaded)


def test_a_single_program_is_one_version() -> None:
    assert programs_from_dict(BASE) == (Program("Bakery Club", "EUR"),)


def test_versions_with_the_same_effective_from() -> None:
    data = {
        "versions": [
            version("1", "2024-01-01T00:00:00+00:00"),
            version("2", "2024-01-01T01:00:00+01:00"),  # the same instant, another offset
        ]
    }
    assert versions_problems(data) == (
        ("versions[1].effective_from", "same as versions[0] (2024-01-01T00:00:00+00:00)"),
    )


def test_cross_version_problems() -> None:
    data = {
        "name": "Bakery Club",
        "versions": [
            version("1"),
            version("1", name="Other Club", currency="USD", scale=2),
            version("2", "2024-01-01T00:00:00Z", rules=[{"kind": "spend", "id": "s", "points": 1.5}]),
            version("3"),
        ],
    }
    assert versions_problems(data) == (
        ("name", "unknown key (a file of versions holds only versions = [...])"),
        ("versions[2].rules[0].points", "must be an int, not float 1.5"),
        (
            "versions[1].name",
            "must be the same in every version: 'Other Club' here, 'Bakery Club' in versions[0]",
        ),
        ("versions[1].currency", "must be the same in every version: 'USD' here, 'EUR' in versions[0]"),
        ("versions[1].scale", "must be the same in every version: 2 here, 0 in versions[0]"),
        ("versions[1].version", "'1' is already the version of versions[0]"),
        (
            "versions[1].effective_from",
            "missing, as in versions[0]: only one version may leave it out (the first in force)",
        ),
        (
            "versions[3].effective_from",
            "missing, as in versions[0]: only one version may leave it out (the first in force)",
        ),
    )


def test_bad_versions_lists() -> None:
    assert versions_problems({"versions": []}) == (
        ("versions", "must be a non-empty list of program tables, not an empty list"),
    )
    assert versions_problems({"versions": "v1"}) == (
        ("versions", "must be a non-empty list of program tables, not str 'v1'"),
    )
    assert versions_problems({"versions": [BASE, 3]}) == (
        ("versions[1]", "must be a table of key = value, not int 3"),
    )
    assert problems({"versions": [BASE]}) == (
        ("versions", "this holds several versions of a program: read it with load_programs"),
    )


def test_a_version_that_itself_holds_versions_is_refused_at_its_own_path() -> None:
    nested = {**BASE, "versions": [BASE], "rounding": "down"}
    assert versions_problems({"versions": [BASE, nested]}) == (
        ("versions[1].versions", "this holds several versions of a program: read it with load_programs"),
    )


def test_load_programs_from_files_and_text(tmp_path: Path) -> None:
    versions = (
        Program("Club", "EUR", version="1"),
        Program(
            "Club",
            "EUR",
            version="2",
            effective_from=datetime(2024, 6, 1, tzinfo=timezone(timedelta(hours=2))),
        ),
    )
    toml_file = tmp_path / "club.toml"
    toml_file.write_text(programs_to_toml(versions), encoding="utf-8")
    json_file = tmp_path / "club.json"
    json_file.write_text(json.dumps(programs_to_dict(versions)), encoding="utf-8")
    assert load_programs(toml_file) == versions
    assert load_programs(str(toml_file)) == versions
    assert load_programs(json_file) == versions
    assert load_programs(json.dumps(programs_to_dict(versions))) == versions
    assert load_programs(programs_to_toml(versions)) == versions
    assert load_programs(program_to_toml(versions[0])) == versions[:1]


def test_program_to_dict_is_the_function_behind_to_dict() -> None:
    club = Program.from_toml(CLUB_TOML)
    assert program_to_dict(club) == club.to_dict()
