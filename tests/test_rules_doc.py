"""Every TOML snippet in docs/rules.md loads, and together they show every option."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import attrs
import pytest

from loyalty.program import Program
from loyalty.rules import RULE_KINDS

DOC = Path(__file__).parent.parent / "docs" / "rules.md"
SNIPPETS = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
HEADER = 'name = "Doc"\ncurrency = "EUR"\n'


def program_text(snippet: str) -> str:
    # A snippet without a currency is a list of rules: it goes inside a minimal program.
    return snippet if "currency" in tomllib.loads(snippet) else HEADER + snippet


def test_the_reference_has_snippets() -> None:
    assert len(SNIPPETS) >= 15


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet-{i}" for i in range(len(SNIPPETS))])
def test_every_snippet_loads(snippet: str) -> None:
    program = Program.from_toml(program_text(snippet))
    assert Program.from_dict(program.to_dict()) == program


def _written_keys() -> set[str]:
    keys: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                keys.add(key)
                if key not in {
                    "labels",
                    "exclude_labels",
                    "members",
                    "exclude_members",
                    "factors",
                    "properties",
                }:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for snippet in SNIPPETS:
        walk(tomllib.loads(snippet))
    return keys


@pytest.mark.parametrize("cls", [Program, *RULE_KINDS.values()], ids=lambda cls: cls.__name__)
def test_every_option_is_shown(cls: type) -> None:
    options = {field.name for field in attrs.fields(cls) if field.init}
    assert options - _written_keys() == set()


def test_every_kind_is_shown() -> None:
    kinds = {rule.get("kind") for snippet in SNIPPETS for rule in tomllib.loads(snippet).get("rules", [])}
    assert set(RULE_KINDS) <= kinds
