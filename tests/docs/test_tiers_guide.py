"""The TOML in docs/tiers.md loads, and the tier snippets of docs/tiers.md and docs/rules.md
together show every tier option and every value of every tier choice but the defaults."""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest

from loyalty import Program, Tier, Tiers
from loyalty.tiers import Downgrade, Metric, ReviewDate, Upgrade, Window
from tests.paths import DOCS

GUIDE = (DOCS / "tiers.md").read_text(encoding="utf-8")
REFERENCE = (DOCS / "rules.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```toml\n(.*?)```", GUIDE, re.DOTALL)
HEADER = 'name = "Doc"\ncurrency = "EUR"\n'
# A snippet of rules alone targets tiers: it is loaded with the guide's levels.
LEVELS = '\n[tiers]\n[[tiers.levels]]\nid = "member"\n[[tiers.levels]]\nid = "gold"\nthreshold = 1500\n'


def load(snippet: str) -> Program:
    data = tomllib.loads(snippet)
    text = snippet if "currency" in data else HEADER + snippet
    return Program.from_toml(text if "tiers" in data else text + LEVELS)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet-{i}" for i in range(len(SNIPPETS))])
def test_every_snippet_in_the_guide_loads_and_round_trips(snippet: str) -> None:
    program = load(snippet)
    assert Program.from_dict(program.to_dict()) == program


def test_the_guides_club_reviewed_every_90_days_is_the_one_its_example_runs() -> None:
    (club,) = [load(s) for s in SNIPPETS if "review_days" in s]
    assert club.tiers == Tiers(
        levels=[
            Tier(id="member", name="Member"),
            Tier(id="silver", name="Silver", threshold=500),
            Tier(id="gold", name="Gold", threshold=1500),
        ],
        window="rolling",
        months=4,
        downgrade="review",
        review="days",
        review_days=90,
        to_base=True,
        reset_on_downgrade=True,
    )


def tier_tables() -> Iterator[Mapping[str, Any]]:
    for text in (GUIDE, REFERENCE):
        for snippet in re.findall(r"```toml\n(.*?)```", text, re.DOTALL):
            data = tomllib.loads(snippet)
            for table in data.get("versions", [data]):
                if "tiers" in table:
                    yield table["tiers"]


def test_every_tier_option_is_shown() -> None:
    tables = list(tier_tables())
    assert {f.name for f in attrs.fields(Tiers) if f.init} - {key for t in tables for key in t} == set()
    levels = {key for t in tables for level in t["levels"] for key in level}
    assert {f.name for f in attrs.fields(Tier)} - levels == set()


CHOICES: list[tuple[str, type[enum.Enum], enum.Enum]] = [
    ("metric", Metric, Metric.POINTS),
    ("window", Window, Window.LIFETIME),
    ("upgrade", Upgrade, Upgrade.NEXT_PURCHASE),
    ("downgrade", Downgrade, Downgrade.NEVER),
    ("review", ReviewDate, ReviewDate.ANNIVERSARY),
]


@pytest.mark.parametrize(("key", "choice", "default"), CHOICES, ids=[key for key, _, _ in CHOICES])
def test_every_value_of_every_tier_choice_is_shown(
    key: str, choice: type[enum.Enum], default: enum.Enum
) -> None:
    written = {table[key] for table in tier_tables() if key in table}
    assert {member.value for member in choice} - written - {default.value} == set()
