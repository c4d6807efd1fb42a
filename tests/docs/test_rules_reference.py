"""Every TOML snippet in docs/rules.md loads, and together they show every kind, option and value.

The convention, stated at the top of the reference: a snippet is a program
file; one without a ``currency`` is a list of rules and is loaded inside
``name = "Doc"``, ``currency = "EUR"``; one holding ``[[versions]]`` is read
with ``load_programs``. The Python examples on the page run as doctests
(``--doctest-glob=*.md``).
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest

from loyalty.config import load_programs, programs_from_dict, programs_to_dict
from loyalty.expiry import EndOf, Expiry, ExpiryPolicy
from loyalty.program import EarnRate, EventCombination, Program, Rounding, RoundPer, TaxBasis
from loyalty.returns import Clawback, ReturnPolicy
from loyalty.rules import RULE_KINDS, Period, Rule, Scope
from tests.paths import DOCS

DOC = DOCS / "rules.md"
TEXT = DOC.read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```toml\n(.*?)```", TEXT, re.DOTALL)
HEADER = 'name = "Doc"\ncurrency = "EUR"\n'
IDS = [f"snippet-{i}" for i in range(len(SNIPPETS))]


def program_text(snippet: str) -> str:
    # A snippet without a currency is a list of rules: it goes inside a minimal program.
    data = tomllib.loads(snippet)
    return snippet if "currency" in data or "versions" in data else HEADER + snippet


def programs(snippet: str) -> tuple[Program, ...]:
    text = program_text(snippet)
    if "versions" in tomllib.loads(text):
        return load_programs(text)
    return (Program.from_toml(text),)


def test_the_reference_has_snippets_and_states_the_convention() -> None:
    assert len(SNIPPETS) >= 20
    assert "without a `currency` is a list of rules" in TEXT
    assert "```python\n>>> " in TEXT  # the explanations shown run as doctests


@pytest.mark.parametrize("snippet", SNIPPETS, ids=IDS)
def test_every_snippet_loads_and_round_trips(snippet: str) -> None:
    loaded = programs(snippet)
    assert programs_from_dict(programs_to_dict(loaded)) == loaded


# -- what the snippets write ----------------------------------------------------------------


def program_tables() -> Iterator[Mapping[str, Any]]:
    for snippet in SNIPPETS:
        data = tomllib.loads(program_text(snippet))
        yield from data.get("versions", [data])


def rule_tables() -> Iterator[Mapping[str, Any]]:
    for table in program_tables():
        yield from table.get("rules", [])


def test_every_rule_kind_is_shown() -> None:
    assert set(RULE_KINDS) <= {rule["kind"] for rule in rule_tables()}


def _own_options(cls: type[Rule]) -> set[str]:
    common = {field.name for field in attrs.fields(Rule) if field.init}
    return {field.name for field in attrs.fields(cls) if field.init} - common


@pytest.mark.parametrize("kind", sorted(RULE_KINDS))
def test_every_option_of_each_kind_is_shown_on_a_rule_of_that_kind(kind: str) -> None:
    written = {key for rule in rule_tables() if rule["kind"] == kind for key in rule}
    assert _own_options(RULE_KINDS[kind]) - written == set()


def test_every_option_all_rules_share_is_shown() -> None:
    written = {key for rule in rule_tables() for key in rule}
    assert {field.name for field in attrs.fields(Rule) if field.init} - written == set()


def test_every_program_option_is_shown() -> None:
    written = {key for table in program_tables() for key in table}
    assert {field.name for field in attrs.fields(Program) if field.init} - written == set()
    rates = [table["rate"] for table in program_tables() if "rate" in table]
    assert False in rates  # no base rate
    shown = {key for rate in rates if isinstance(rate, dict) for key in rate}
    assert {field.name for field in attrs.fields(EarnRate)} - shown == set()


def test_every_expiry_option_and_value_is_shown() -> None:
    tables = [table["expiry"] for table in program_tables() if "expiry" in table]
    written = {key for table in tables for key in table}
    assert {field.name for field in attrs.fields(Expiry)} - written == set()
    assert {member.value for member in ExpiryPolicy} - {table["policy"] for table in tables} == set()
    rounded = {table["round_up"] for table in tables if "round_up" in table}
    assert {member.value for member in EndOf} - rounded - {"none"} == set()


CHOICES: list[tuple[str, type[enum.Enum]]] = [
    ("rounding", Rounding),
    ("round_per", RoundPer),
    ("tax", TaxBasis),
    ("events", EventCombination),
    ("clawback", Clawback),
    ("returns", ReturnPolicy),
    ("minimum_scope", Scope),
    ("cap_period", Period),
    ("limit_period", Period),
]


@pytest.mark.parametrize(("key", "choice"), CHOICES, ids=[key for key, _ in CHOICES])
def test_every_value_of_every_choice_is_shown(key: str, choice: type[enum.Enum]) -> None:
    tables = [*program_tables(), *rule_tables()]
    written = {table[key] for table in tables if key in table}
    if choice is Period:  # cap_period and limit_period share the periods: each need only show one
        written = {
            table[name] for table in tables for name in ("cap_period", "limit_period") if name in table
        }
    assert {member.value for member in choice} - written == set()
