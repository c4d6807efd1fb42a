"""The idempotency codec on generated receipts: the hand-built form is the converter's and reads back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty import EarnRate, Line, Program, Purchase, Receipt, Rounding, earn
from loyalty.codec import receipt_result, structure, unstructure

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
