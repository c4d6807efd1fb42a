"""The rewards catalogue in a program: each reward checked with its path, unique ids, the round trip."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from loyalty.config import program_to_toml
from loyalty.errors import ConfigError, InvalidInput
from loyalty.program import Program
from loyalty.rewards import Gives, Reward, affordable, on_offer

HEAD = 'name = "Cafe"\ncurrency = "EUR"\n'
COFFEE = '[[rewards]]\nid = "coffee"\nname = "Coffee"\ncost = 300\ngives = "product"\nsku = "ESP"\n'


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        Program.from_toml(HEAD + text)
    return [(path, message.split(",")[0]) for path, message in info.value.problems]


def test_a_catalogue_round_trips_through_toml_and_json() -> None:
    program = Program.from_toml(
        HEAD
        + COFFEE
        + '[[rewards]]\nid = "five-off"\nname = "5 off"\ncost = 500\ngives = "amount_off"\namount = "5.00"\n'
        + "valid_for_days = 60\navailable_from = 2024-06-01\navailable_until = 2024-08-31\n"
    )
    five = program.reward("five-off")
    assert five is not None and (five.gives, five.amount, five.valid_for_days) == (
        Gives.AMOUNT_OFF,
        Decimal("5.00"),
        60,
    )
    assert (five.available_from, five.available_until) == (date(2024, 6, 1), date(2024, 8, 31))
    assert program.reward("nope") is None
    assert Program.from_dict(json.loads(json.dumps(program.to_dict()))) == program
    assert Program.from_toml(program_to_toml(program)) == program
    assert "rewards" not in Program("Cafe", "EUR").to_dict()


def test_each_problem_of_a_reward_is_named_by_its_path() -> None:
    bad = COFFEE.replace("300", "0") + COFFEE.replace('"ESP"', '"ESP"\nvalid_for_days = 0')
    assert problems(bad) == [
        ("rewards[0].cost", "must be positive"),
        ("rewards[1].valid_for_days", "must be an int from 1 to 3660"),
    ]
    assert problems(COFFEE.replace('sku = "ESP"\n', "")) == [
        ("rewards[0].sku", "a reward that gives a product needs its sku")
    ]
    assert problems(COFFEE.replace('"product"', '"amount_off"')) == [
        ("rewards[0].amount", "a reward that gives amount_off needs an amount")
    ]
    assert problems(COFFEE.replace('"product"', '"cash"')) == [
        ("rewards[0].gives", "must be one of 'amount_off'")
    ]
    assert problems(COFFEE.replace('"coffee"', '"free coffee"')) == [
        ("rewards[0].id", "must be 1-64 letters")
    ]
    assert problems(COFFEE + "colour = 1\n") == [("rewards[0].colour", "unknown key")]
    dates = COFFEE + "available_from = 2024-06-02\navailable_until = 2024-06-01\n"
    assert problems(dates) == [
        ("rewards[0].available_until", "must not be before available_from (2024-06-02)")
    ]


def test_a_reward_id_is_used_once() -> None:
    assert problems(COFFEE + COFFEE.replace("300", "200")) == [
        ("rewards[1].id", "'coffee' is already the id of rewards[0]")
    ]
    with pytest.raises(InvalidInput, match=r"rewards\[1\]\.id"):
        coffee = Reward(id="c", name="C", cost=1, gives="voucher")
        Program("Cafe", "EUR", rewards=[coffee, coffee])


def test_what_is_on_offer_is_read_by_day_in_the_programs_timezone() -> None:
    summer = Reward(
        id="s",
        name="S",
        cost=10,
        gives=Gives.VOUCHER,
        available_from=date(2024, 6, 1),
        available_until=date(2024, 6, 30),
    )
    always = Reward(id="a", name="A", cost=20, gives=Gives.VOUCHER)
    paris = ZoneInfo("Europe/Paris")
    # 22:30 UTC on 31 May is already 1 June in Paris; 22:30 UTC on 30 June is 1 July.
    assert on_offer([summer, always], datetime(2024, 5, 31, 22, 30, tzinfo=UTC), paris) == [
        summer,
        always,
    ]
    assert on_offer([summer, always], datetime(2024, 5, 31, 21, 30, tzinfo=UTC), paris) == [always]
    july = datetime(2024, 6, 30, 22, 30, tzinfo=timezone(timedelta(0)))
    assert on_offer([summer, always], july, paris) == [always]
    assert affordable([summer, always], 19) == [summer]
