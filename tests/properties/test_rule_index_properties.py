"""The compiled index changes nothing a caller sees: a purchase evaluated through its candidates
earns what the full walk over every rule (the explanation's) gives, from the tallies it reads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.earning import evaluate, tally_keys
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.rules import EventRule, Rule, _line_conditions
from loyalty.tallies import Tally
from loyalty.testing.strategies import (
    CHANNELS,
    STORES,
    TERMINALS,
    lines,
    members,
    programs,
    purchases,
    rules,
)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), purchases(), st.none() | members(), st.data())
def test_the_candidates_earn_what_every_rule_gives(
    program: Program, purchase: Purchase, member: Member | None, data: st.DataObject
) -> None:
    member = None if member is None else attrs.evolve(member, id=purchase.member_id)
    own, shared = tally_keys(program, purchase, member, explain=True)
    # Some of the tallies the full walk reads have counts and points: visits, caps, stamps, budgets.
    tallies = {
        key: Tally(data.draw(st.integers(0, 12)), Decimal(data.draw(st.integers(0, 600))))
        for key in data.draw(st.lists(st.sampled_from([*own, *shared]), unique=True))
        if own or shared
    }
    full = evaluate(program, purchase, member=member, tallies=tallies, explain=True)
    fast_own, fast_shared = tally_keys(program, purchase, member)
    read = {key: tallies[key] for key in (*fast_own, *fast_shared) if key in tallies}
    fast = evaluate(program, purchase, member=member, tallies=read)
    assert fast.receipt == attrs.evolve(full.receipt, skipped=())
    assert fast.tallies == full.tallies
    assert set(fast_own) <= set(own) and set(fast_shared) <= set(shared)


_PLACES = {"stores": STORES, "channels": CHANNELS, "terminals": TERMINALS}


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), purchases(), st.data())
def test_campaigns_for_places_and_days_near_the_purchase_earn_what_every_rule_gives(
    program: Program, purchase: Purchase, data: st.DataObject
) -> None:
    # Most rules restricted to some stores, channels, terminals or days around the purchase's own
    # (an event rule has no place: only its days).
    today = purchase.at.date()
    near = st.integers(-1, 1).map(lambda days: today + timedelta(days=days))
    restricted = []
    for rule in program.rules:
        changes: dict[str, Any] = {
            field: data.draw(st.lists(st.sampled_from(values), min_size=1, max_size=2, unique=True))
            for field, values in _PLACES.items()
            if not isinstance(rule, EventRule) and data.draw(st.booleans())
        }
        if data.draw(st.booleans()):
            starts, ends = sorted((data.draw(near), data.draw(near)))
            changes.update(starts=starts, ends=ends)
        restricted.append(attrs.evolve(rule, **changes))
    program = attrs.evolve(program, rules=restricted)
    full = evaluate(program, purchase, explain=True)
    fast = evaluate(program, purchase)
    assert fast.receipt == attrs.evolve(full.receipt, skipped=())
    assert fast.tallies == full.tallies


@given(rules(), lines())
def test_a_rules_prepared_line_test_agrees_with_its_conditions(rule: Rule, line: Line) -> None:
    assert rule._matches(line) is _line_conditions(rule, line)
