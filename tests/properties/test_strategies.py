"""The public Hypothesis strategies make valid data, and programs survive every configuration format."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime

import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from loyalty.config import (
    program_to_dict,
    program_to_toml,
    programs_from_dict,
    programs_to_dict,
    programs_to_toml,
)
from loyalty.earning import earn
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.rules import RULE_KINDS, Rule
from loyalty.testing.strategies import lines, members, programs, purchases, rules


@given(programs())
def test_dict_round_trip_is_exact(program: Program) -> None:
    data = program.to_dict()
    again = Program.from_dict(data)
    assert again == program
    # Equal is not enough: Decimal("1.00") == Decimal(1), but receipts print the spelling.
    assert again.to_dict() == data
    assert str(again.rate) == str(program.rate)


def test_programs_include_offline_allowance_tables() -> None:
    # The round trips above would pass without ever meeting an [offline] table: make sure they do.
    program = find(programs(), lambda program: program.offline is not None)
    assert program.offline is not None
    assert program.offline.total >= program.offline.per_member


@given(programs())
def test_json_round_trip(program: Program) -> None:
    text = json.dumps(program.to_dict())
    assert Program.from_json(text) == program
    assert Program.from_dict(json.loads(text)).to_dict() == program.to_dict()


@given(programs())
def test_toml_round_trip(program: Program) -> None:
    text = program_to_toml(program)
    assert tomllib.loads(text) == program_to_dict(program)
    assert Program.from_toml(text) == program


@given(st.lists(programs(), min_size=1, max_size=3))
def test_versions_round_trip(versions: list[Program]) -> None:
    # Make them versions of one program: same name and currency, distinct labels and start instants.
    first = versions[0]
    made = [
        Program(
            first.name,
            first.currency,
            rate=p.rate,
            rules=p.rules,
            version=f"v{i}",
            effective_from=None if i == 0 else p.effective_from or datetime(2050, 1, i, tzinfo=UTC),
        )
        for i, p in enumerate(versions)
    ]
    instants = [p.effective_from for p in made if p.effective_from is not None]
    if len(set(instants)) != len(instants):
        return
    loaded = programs_from_dict(programs_to_dict(made))
    assert loaded == programs_from_dict(tomllib.loads(programs_to_toml(made)))
    assert sorted(p.version for p in loaded) == sorted(p.version for p in made)
    assert loaded[0].version == "v0"
    starts = [p.effective_from for p in loaded[1:]]
    assert starts == sorted(starts)  # type: ignore[type-var]


@given(programs(), purchases(), st.none() | members())
def test_earning_never_fails_on_generated_data(
    program: Program, purchase: Purchase, member: Member | None
) -> None:
    receipt = earn(program, purchase, member=member, explain=True)
    assert receipt.points >= 0
    assert receipt.program_version == program.version


@given(programs(currency="JPY"), purchases(currency="JPY", member_ids=["card-1"], skus=["x"], categories=[]))
def test_other_currencies_and_vocabularies(program: Program, purchase: Purchase) -> None:
    assert program.currency == purchase.currency == "JPY"
    assert purchase.member_id == "card-1" and all(
        line.sku == "x" and line.category is None for line in purchase.lines
    )
    earn(program, purchase)


@given(st.data())
def test_rules_of_chosen_kinds(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(RULE_KINDS)))
    rule = data.draw(rules(kinds=[kind]))
    assert isinstance(rule, Rule) and rule.kind == kind


@given(lines())
def test_lines_never_discount_or_tax_more_than_they_cost(line: object) -> None:
    from loyalty.purchases import Line

    assert isinstance(line, Line)
    assert 0 <= line.tax <= line.amount


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rule kind 'spnd'"):
        rules(kinds=["spnd"])
