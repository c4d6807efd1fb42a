"""A program as data, shared by the configuration tests: the Bakery Club's dict and TOML
forms, and the problems reading a bad one reports (each with its path)."""

from __future__ import annotations

from typing import Any

import pytest

from loyalty.config import program_from_dict, programs_from_dict
from loyalty.errors import ConfigError
from loyalty.program import Program

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
