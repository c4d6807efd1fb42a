"""Bad configuration: every problem reported at once, each with its path."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from loyalty.config import program_from_dict
from loyalty.errors import ConfigError, InvalidInput
from tests.unit.program_data import BASE, problems, toml_problems

KINDS = (
    "spend, multiplier, purchase_bonus, unit_bonus, product_bonus, first_purchase, "
    "stamp_card, birthday, event"
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


def test_a_window_may_end_at_24_00_and_at_no_other_time_of_hour_24() -> None:
    """24:59 was taken, and read as 24:00 (found by review)."""
    rule = {"kind": "spend", "id": "a", "points": 1, "hours": ["18:00-24:00", "00:00-24:00"]}
    assert program_from_dict({**BASE, "rules": [rule]}).rules[0].hours == ("18:00-24:00", "00:00-24:00")
    for window in ("22:00-24:59", "22:00-24:01", "24:00-02:00"):
        bad = {**rule, "hours": ["18:00-24:00", window]}
        assert problems({**BASE, "rules": [bad]}) == (
            ("rules[0].hours[1]", f"must be HH:MM-HH:MM, got {window!r}"),
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
