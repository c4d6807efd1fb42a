"""The program file schema (``loyalty schema``) and the loader agree: what one refuses the other refuses,
the spellings the loader reads the schema accepts, and every bound the schema states is its validator's."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
from hypothesis import given
from jsonschema import Draft202012Validator

from loyalty.checks import marked
from loyalty.config import program_to_dict, programs_from_dict, programs_to_dict
from loyalty.errors import ConfigError, InvalidInput
from loyalty.json_schema import program_file_schema
from loyalty.program import Program
from loyalty.rules import PURCHASE_ONLY_FIELDS, RULE_KINDS, EventRule, Rule
from loyalty.testing.strategies import programs

SCHEMA = program_file_schema()
VALIDATOR = Draft202012Validator(SCHEMA)
BASE = {"name": "Club", "currency": "EUR"}


def schema_errors(data: object) -> list[str]:
    return [f"{error.json_path}: {error.message}" for error in VALIDATOR.iter_errors(data)]


def schema_paths(data: object) -> list[str]:
    """Where the schema finds problems, written as the loader writes paths (``rules[0].points``): those
    of a ``oneOf``'s branches too (the program's errors are under the root's choice of program or
    versions)."""
    errors = list(VALIDATOR.iter_errors(data))
    paths = []
    while errors:
        error = errors.pop()
        paths.append(error.json_path.removeprefix("$").removeprefix("."))
        errors += error.context or []
    return paths


def spend(**options: Any) -> dict[str, Any]:
    return {**BASE, "rules": [{"kind": "spend", "id": "s", "points": 1, **options}]}


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_has_every_configurable_field_and_requires_those_without_a_default() -> None:
    defs = SCHEMA["$defs"]
    classes: list[type[Any]] = [Program, *RULE_KINDS.values()]
    for cls in classes:
        # (An event rule is offered none of the conditions only a purchase can meet.)
        refused = PURCHASE_ONLY_FIELDS if cls is EventRule else frozenset()
        fields = [field for field in attrs.fields(cls) if field.init and field.name not in refused]
        shape = defs[cls.__name__]
        assert set(shape["properties"]) - {"kind"} == {field.name for field in fields}
        assert set(shape["required"]) - {"kind"} == {f.name for f in fields if f.default is attrs.NOTHING}
        assert shape["additionalProperties"] is False
    assert defs["SpendRule"]["required"] == ["kind", "id", "points"]
    assert defs["SpendRule"]["properties"]["kind"] == {"const": "spend"}


def test_descriptions_come_from_the_docstrings_and_field_comments() -> None:
    defs = SCHEMA["$defs"]
    assert defs["StampCard"]["description"] == (
        "`points` on every `every`-th qualifying visit (the 10th coffee is on us)."
    )
    assert defs["Rule"]["description"].startswith("What every rule has")
    assert Rule.__doc__ is not None
    assert defs["SpendRule"]["properties"]["absent_days"]["description"] == (
        "Only for members whose last visit was at least this many days before (a win-back bonus)."
    )
    assert defs["Program"]["properties"]["rounding"]["description"].startswith("How fractional points")
    # An optional choice is described by its enum's docstring too.
    assert defs["SpendRule"]["properties"]["cap_period"]["description"].startswith("A calendar period")


BOTH_REFUSE = [
    ("unknown program key", {**BASE, "roundng": "floor"}, "roundng"),
    ("unknown rule key", spend(pre="1.00"), "rules[0].pre"),
    ("option of another kind", spend(factor="2"), "rules[0].factor"),
    ("unknown rule kind", {**BASE, "rules": [{"kind": "cashback", "id": "c", "points": 1}]}, "rules[0].kind"),
    ("rule without a kind", {**BASE, "rules": [{"id": "c", "points": 1}]}, "rules[0].kind"),
    ("negative points", spend(points=-5), "rules[0].points"),
    ("zero base rate points", {**BASE, "rate": {"points": 0}}, "rate.points"),
    ("scale out of range", {**BASE, "scale": 7}, "scale"),
    (
        "negative birthday window",
        {**BASE, "rules": [{"kind": "birthday", "id": "b", "points": 5, "days_before": -1}]},
        "rules[0].days_before",
    ),
    ("string for an int", {**BASE, "scale": "2"}, "scale"),
    ("float for an int", spend(points=2.7), "rules[0].points"),
    ("float for a decimal", {**BASE, "rate": {"per": 1.5}}, "rate.per"),
    ("bool for a decimal", spend(min_amount=True), "rules[0].min_amount"),
    ("text that is no number", spend(per="ten"), "rules[0].per"),
    ("unknown enum value", {**BASE, "rounding": "down"}, "rounding"),
    ("null rate", {**BASE, "rate": None}, "rate"),
    ("true rate", {**BASE, "rate": True}, "rate"),
    ("missing currency", {"name": "Club"}, "currency"),
    ("missing rule id", {**BASE, "rules": [{"kind": "spend", "points": 1}]}, "rules[0].id"),
    (
        "stamp card without every",
        {**BASE, "rules": [{"kind": "stamp_card", "id": "c", "points": 5}]},
        "rules[0].every",
    ),
    ("rule id with a space", spend(id="my rule"), "rules[0].id"),
    ("a string for a list", spend(skus="latte"), "rules[0].skus"),
    ("a list for a table", spend(labels=["red"]), "rules[0].labels"),
    ("a date that is a date-time", spend(starts="2024-05-01T00:00:00Z"), "rules[0].starts"),
    (
        "unknown tier key",
        {**BASE, "tiers": {"levels": [{"id": "gold", "treshold": "100"}]}},
        "tiers.levels[0].treshold",
    ),
    (
        "a purchase-only condition on an event rule",
        {**BASE, "rules": [{"kind": "event", "id": "e", "event": "survey", "points": 5, "stores": ["S1"]}]},
        "rules[0].stores",
    ),
    (
        "an annual expiry on a day not every year has",
        {**BASE, "expiry": {"policy": "annual", "on": "02-30"}},
        "expiry.on",
    ),
    (
        "a tier option that is no bool",
        {**BASE, "tiers": {"levels": [{"id": "m"}], "count_transfers": "yes"}},
        "tiers.count_transfers",
    ),
    ("another key beside versions", {"versions": [BASE], "name": "Club"}, "name"),
    ("no versions", {"versions": []}, "versions"),
    ("a version with an unknown key", {"versions": [{**BASE, "colour": "red"}]}, "versions[0].colour"),
]


@pytest.mark.parametrize(
    ("data", "path"),
    [(data, path) for _, data, path in BOTH_REFUSE],
    ids=[name for name, _, _ in BOTH_REFUSE],
)
def test_the_loader_and_the_schema_both_refuse(data: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as refused:
        programs_from_dict(data)
    assert path in [where for where, _ in refused.value.problems]
    # The schema finds it at the same place, or at the table holding the key it does not know.
    assert any(path.startswith(where) for where in schema_paths(data)), schema_errors(data)


BOTH_ACCEPT = [
    ("decimal as text", spend(per="1.00", min_amount="5")),
    (
        "decimal as an int",
        {**BASE, "rate": {"per": 10}, "rules": [{"kind": "multiplier", "id": "m", "factor": 2}]},
    ),
    ("decimal in exponent form", spend(per="1e1")),
    ("no base rate", {**BASE, "rate": False}),
    ("default rate", {**BASE, "rate": {}}),
    ("null for an optional value (JSON)", spend(cap=None, name=None, starts=None)),
    (
        "dates and offset date-times as text",
        {**spend(starts="2024-05-01", ends="2024-05-07"), "effective_from": "2024-05-01T00:00:00+02:00"},
    ),
    ("tiers counting transfers", {**BASE, "tiers": {"levels": [{"id": "m"}], "count_transfers": True}}),
    ("tables of lists", spend(labels={"color": ["red"]}, members={"tier": ["gold"], "age": [30, True]})),
    (
        "label factors",
        {
            **BASE,
            "rules": [
                {"kind": "multiplier", "id": "m", "label": "color", "factors": {"red": "3", "blue": 2}}
            ],
        },
    ),
    (
        "versions",
        {
            "versions": [
                {**BASE, "version": "1"},
                {**BASE, "version": "2", "effective_from": "2024-05-01T00:00:00Z"},
            ]
        },
    ),
]


@pytest.mark.parametrize("data", [data for _, data in BOTH_ACCEPT], ids=[name for name, _ in BOTH_ACCEPT])
def test_the_loader_and_the_schema_both_accept_every_spelling_the_loader_reads(data: dict[str, Any]) -> None:
    programs_from_dict(data)
    assert schema_errors(data) == []


@given(programs())
def test_every_generated_program_written_as_data_is_valid(program: Program) -> None:
    assert schema_errors(program_to_dict(program)) == []
    assert schema_errors(programs_to_dict([program])) == []


# -- the bounds the validators state for the schema (loyalty.checks.accepts) --------------------


MARKED = list(marked().items())


@pytest.mark.parametrize(("validator", "keywords"), MARKED, ids=[str(i) for i in range(len(MARKED))])
def test_every_bound_a_validator_states_is_the_one_it_enforces(validator: Any, keywords: Any) -> None:
    def accepted(value: object) -> bool:
        try:
            validator(None, SimpleNamespace(name="field"), value)
        except InvalidInput:
            return False
        return True

    assert set(keywords) <= {"minimum", "maximum", "maxLength", "pattern"}
    if "maxLength" in keywords:
        assert accepted("x" * keywords["maxLength"]) and not accepted("x" * (keywords["maxLength"] + 1))
    if "minimum" in keywords:
        assert accepted(keywords["minimum"]) and not accepted(keywords["minimum"] - 1)
    if "maximum" in keywords:
        assert accepted(keywords["maximum"]) and not accepted(keywords["maximum"] + 1)
    if "pattern" in keywords:
        ids = ("a", "gold", "a.b:c-d_e", "x" * 64, "x" * 65, "my rule", "-a", "", "é")
        days = ("03-31", "02-28", "02-29", "04-30", "04-31", "12-01", "13-01", "00-10", "3-31", "01-00")
        for text in (*ids, *days):
            assert accepted(text) == bool(re.search(keywords["pattern"], text)), text


def test_the_bounds_reach_the_schema() -> None:
    points = SCHEMA["$defs"]["SpendRule"]["properties"]["points"]
    assert (points["minimum"], points["type"]) == (1, "integer")
    cap = SCHEMA["$defs"]["SpendRule"]["properties"]["cap"]["anyOf"][0]
    assert cap["minimum"] == 1
    assert len(MARKED) >= 10


def test_a_tier_reviews_days_and_date_are_bounded_in_the_schema_as_the_loader_bounds_them() -> None:
    levels = [{"id": "member"}, {"id": "silver", "threshold": 500}]
    every = {"downgrade": "review", "review": "days", "levels": levels}
    for days in (0, 3661):
        assert schema_errors({"name": "C", "currency": "EUR", "tiers": {**every, "review_days": days}})
    fixed = {"window": "calendar_year", "downgrade": "review", "review": "fixed", "levels": levels}
    for day in ("02-29", "04-31", "13-01"):
        assert schema_errors({"name": "C", "currency": "EUR", "tiers": {**fixed, "review_on": day}})
    assert schema_errors({"name": "C", "currency": "EUR", "tiers": {**fixed, "review_on": "02-28"}}) == []
