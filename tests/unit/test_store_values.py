"""The store port's own value types, shared by every adapter: tallies, rule-id tuples, version order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from loyalty.errors import InvalidInput
from loyalty.store import StoredProgram, Tally, check_rules, program_order


def test_tallies_add_exactly_and_refuse_what_cannot_be_kept() -> None:
    third = Decimal("0.3333333333333333333333333333")
    assert Tally() == Tally(0, Decimal(0))
    assert Tally(1, Decimal(1)) + Tally(2, third) == Tally(3, Decimal("1.3333333333333333333333333333"))
    with pytest.raises(InvalidInput, match="digits"):
        Tally(0, Decimal("1E+500")) + Tally(0, Decimal("1E-600"))


def test_tally_sums_beyond_eighty_digits_stay_exact() -> None:
    # Sums are tried in a narrower context first; one that would be rounded there is not.
    wide = Decimal("1E+100")
    assert Tally(0, wide) + Tally(1, Decimal("0.5")) == Tally(1, Decimal("1" + "0" * 100 + ".5"))
    # The spelling of the sum is Decimal's own, as before: 2.5 + 0.00 is 2.50.
    assert str((Tally(0, Decimal("2.5")) + Tally(1, Decimal("0.00"))).points) == "2.50"


@pytest.mark.parametrize(
    ("count", "points", "field"),
    [
        (1.0, Decimal(1), "count"),
        (True, Decimal(1), "count"),
        (1, 0.5, "points"),
        (1, 1, "points"),
        (1, Decimal("NaN"), "points"),
        (1, Decimal("-Infinity"), "points"),
    ],
)
def test_a_tally_holds_an_int_count_and_finite_decimal_points(count: Any, points: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Tally(count, points)
    assert info.value.field == field


def test_rules_must_be_a_tuple_of_ids_not_a_string() -> None:
    check_rules(("base", "double-tuesday"))
    with pytest.raises(InvalidInput) as info:
        check_rules("base")
    assert info.value.field == "rules"


def test_program_order_puts_undated_versions_first_then_instants_then_labels() -> None:
    t = datetime(2024, 3, 1, tzinfo=UTC)
    # 23:30 UTC the day before: first of the dated ones, though its local text sorts after t's.
    at = datetime(2024, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    programs = [
        StoredProgram("z", t, {}, t),
        StoredProgram("a", t, {}, t),
        StoredProgram("b", at, {}, t),
        StoredProgram("y", None, {}, t),
        StoredProgram("x", None, {}, t),
    ]
    assert [p.version for p in sorted(programs, key=program_order)] == ["x", "y", "b", "a", "z"]
