"""The idempotency records' codec: canonical decimals, where two requests first differ, and the
compact form the SQL adapters keep a record in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from loyalty import Line, Purchase
from loyalty.codec import (
    canonical,
    canonical_decimal,
    first_difference,
    pack_operation,
    purchase_request,
    receipt_result,
    unpack_operation,
)
from loyalty.money import Money
from loyalty.program import Rounding
from loyalty.receipts import Contribution, Receipt, Skipped


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


_AT = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _purchase_record() -> tuple[dict[str, Any], dict[str, Any]]:
    purchase = Purchase(
        "T1-42",
        "M1",
        _AT,
        [
            Line("apple", 3, Decimal("0.45"), "fruit", {"organic": "yes"}, Decimal("0.10"), Decimal("0.05")),
            Line("bag", 1, Decimal("0.10")),
        ],
        "EUR",
        "S1",
    )
    receipt = Receipt(
        "T1-42",
        "M1",
        _AT,
        Money(Decimal("1.30"), "EUR"),
        3,
        (
            Contribution("base", "base", Decimal("1.25"), "1 point per 1 EUR on apple 1.25", 0),
            Contribution("base", "base", Decimal("0.10"), "1 point per 1 EUR on bag 0.10", 1),
            Contribution("organic", "Organic x2", Decimal("1.25"), "x2 on apple", 0),
            Contribution("welcome", "welcome", Decimal("1"), "first purchase"),
        ),
        Rounding.FLOOR,
        Decimal("-0.60"),
        balance_after=3,
        skipped=(Skipped("happy", "Happy hour", "outside window"), Skipped("x", "x", "no line matches")),
    )
    result = receipt_result(receipt, occurred_at=purchase.at.isoformat())
    result["lot"] = 7
    result["context"] = {"visits|M1": [1, "0"]}
    result["member"] = {"id": "M1", "attributes": {}}
    return purchase_request(purchase), result


def test_a_purchase_record_comes_back_exactly_from_its_compact_form() -> None:
    request, result = _purchase_record()
    packed = pack_operation("purchase", "T1-42", request, result)
    assert unpack_operation("T1-42", packed) == (request, result)
    data = json.loads(packed)
    # The member and the amount lead (the period figures read them), then the compact layout.
    assert data[:3] == ["M1", "1.30", 1]
    # Nothing is kept twice: not the key, the member, the time, nor a line's sku in its detail.
    assert "T1-42" not in packed
    assert packed.count("M1") == 2  # the member, and the member kept for returns: not in "visits|M1"
    assert packed.count(request["at"]) == 1
    assert packed.count("apple") == 2  # the line and the multiplier's detail, kept verbatim
    assert len(packed) < len(json.dumps(request)) + len(json.dumps(result)) // 2


@pytest.mark.parametrize(
    "change",
    [
        lambda request, result: result.update(note="a field this layout does not know"),
        lambda request, result: request["lines"][1].update(labels=None),
        lambda request, result: result.pop("lot"),
        lambda request, result: result["breakdown"][0].update(detail=3),
        lambda request, result: result.update(source_id="another id"),
        lambda request, result: result["context"].update({"cap|": [1, "0"]}),
    ],
)
def test_a_record_the_compact_layout_would_not_give_back_exactly_is_kept_whole(change: Any) -> None:
    request, result = _purchase_record()
    change(request, result)
    packed = pack_operation("purchase", "T1-42", request, result)
    assert json.loads(packed)[2] == 0
    assert unpack_operation("T1-42", packed) == (request, result)


def test_other_operations_are_kept_whole_with_no_member_or_amount() -> None:
    request, result = {"member_id": "M1", "points": 5}, {"declined": {"available": 1, "requested": 5}}
    packed = pack_operation("redeem", "R1", request, result)
    assert json.loads(packed)[:3] == [None, None, 0]
    assert unpack_operation("R1", packed) == (request, result)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("tier_bonus", False),  # equal to the usual 0, but not the same
        ("tier_bonus", 5),
        ("rounding", "up"),
        ("scale", 2),
        ("carried_out", "0.5"),
        ("tier", "gold"),
    ],
)
def test_only_what_most_purchases_have_is_left_out_of_the_compact_form(name: str, value: Any) -> None:
    request, result = _purchase_record()
    del result["member"]
    usual = pack_operation("purchase", "T1-42", request, result)
    result[name] = value
    packed = pack_operation("purchase", "T1-42", request, result)
    assert json.loads(packed)[2] == 1
    assert len(packed) > len(usual)
    back = unpack_operation("T1-42", packed)
    assert back == (request, result)
    assert type(back[1][name]) is type(value)
    assert "member" not in back[1]
