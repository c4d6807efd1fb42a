"""The idempotency records' codec: hand-built forms equal the converter's, and read back exactly."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty import EarnRate, Line, Program, Purchase, Receipt, Rounding, earn
from loyalty.codec import (
    canonical,
    canonical_decimal,
    first_difference,
    receipt_result,
    structure,
    unstructure,
)

T0 = datetime(2024, 10, 27, 2, 30, tzinfo=timezone(timedelta(hours=2)))


@given(
    cents=st.lists(st.integers(0, 10**8), min_size=1, max_size=5),
    rounding=st.sampled_from(Rounding),
    per=st.integers(1, 10_000),
    balance=st.none() | st.integers(0, 2**62),
)
def test_receipt_result_is_the_converters_form(
    cents: list[int], rounding: Rounding, per: int, balance: int | None
) -> None:
    program = Program("P", "EUR", rate=EarnRate(3, Decimal(per).scaleb(-2)), rounding=rounding)
    lines = [Line(f"s{i}", 1, Decimal(c).scaleb(-2)) for i, c in enumerate(cents)]
    receipt = earn(program, Purchase("P1", "M1", T0, lines, "EUR"), balance_before=balance)
    assert receipt_result(receipt) == unstructure(receipt)
    assert structure(receipt_result(receipt), Receipt) == receipt


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("2.50", "2.5", True),
        ("-0", "0", True),
        ("1E+2", "100", True),
        ("1.01", "1.010", True),
        ("1.01", "1.1", False),
    ],
)
def test_canonical_decimal(a: str, b: str, same: bool) -> None:
    assert (canonical_decimal(a) == canonical_decimal(b)) is same


def test_first_difference_names_the_path() -> None:
    old = canonical({"at": "2024-01-01T10:00:00+01:00", "lines": [{"quantity": "1.0"}]})
    assert (
        first_difference(old, canonical({"at": "2024-01-01T09:00:00+00:00", "lines": [{"quantity": "1"}]}))
        is None
    )
    assert (
        first_difference(old, canonical({"at": "2024-01-01T10:00:00+00:00", "lines": [{"quantity": "1"}]}))
        == "at"
    )
    assert first_difference(old, canonical({"at": "2024-01-01T09:00:00Z", "lines": [{"quantity": "2"}]})) == (
        "lines[0].quantity"
    )
    assert first_difference(old, canonical({"at": "2024-01-01T09:00:00Z", "lines": []})) == "lines[0]"
