"""Tallies as domain values: exact addition, deltas merged key by key, one class however imported."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

import loyalty.store
from loyalty.errors import InvalidInput
from loyalty.tallies import Tally, merged

tallies = st.builds(
    Tally,
    st.integers(-(10**6), 10**6),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9, places=6),
)
deltas = st.dictionaries(st.sampled_from(["visits|M1", "carry|M1", "budget|launch"]), tallies, max_size=3)


def test_the_store_port_re_exports_the_domain_tally() -> None:
    assert loyalty.store.Tally is Tally
    assert "Tally" in loyalty.store.__all__


def test_a_sum_that_would_need_more_than_a_thousand_digits_is_refused_not_rounded() -> None:
    with pytest.raises(InvalidInput, match="needs more than 1000 digits"):
        _ = Tally(0, Decimal("1E+999")) + Tally(0, Decimal("1E-999"))


def test_merged_adds_the_deltas_of_a_key_found_in_several_parts() -> None:
    first = {"visits|M1": Tally(1), "carry|M1": Tally(0, Decimal("0.5"))}
    second = {"visits|M1": Tally(1), "budget|launch": Tally(0, Decimal(30))}
    assert merged(first, second) == {
        "visits|M1": Tally(2),
        "carry|M1": Tally(0, Decimal("0.5")),
        "budget|launch": Tally(0, Decimal(30)),
    }


def test_merged_keeps_keys_in_the_order_they_first_appear_and_leaves_the_parts_alone() -> None:
    first = {"b": Tally(1)}
    second = {"a": Tally(1), "b": Tally(-1)}
    total = merged(first, second)
    assert list(total) == ["b", "a"]
    assert first == {"b": Tally(1)} and second == {"a": Tally(1), "b": Tally(-1)}


def test_merged_of_nothing_is_empty() -> None:
    assert merged() == {}
    assert merged({}, {}) == {}


@given(st.lists(deltas, max_size=4))
def test_merged_is_the_sum_of_every_delta_under_each_key(parts: list[dict[str, Tally]]) -> None:
    total = merged(*parts)
    assert set(total) == {key for part in parts for key in part}
    for key, tally in total.items():
        added = [part[key] for part in parts if key in part]
        assert tally.count == sum(delta.count for delta in added)
        assert tally.points == sum((delta.points for delta in added), Decimal(0))
