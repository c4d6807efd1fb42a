"""The idempotency records' codec: canonical decimals, where two requests first differ, and the
compact form the SQL adapters keep a record in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Context, Decimal, FloatOperation, Inexact, Rounded, localcontext
from typing import Any

import pytest

from loyalty import Line, Purchase
from loyalty.codec import (
    canonical,
    canonical_decimal,
    first_difference,
    purchase_request,
    receipt_from_result,
    receipt_result,
)
from loyalty.money import Money
from loyalty.program import Rounding
from loyalty.receipts import Contribution, Receipt, Skipped
from loyalty.records import pack_operation, unpack_operation


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
    assert data[:3] == ["M1", "1.30", 2]
    # Nothing is kept twice: not the key, the member, the time, nor a line's sku in its detail.
    assert "T1-42" not in packed
    assert packed.count("M1") == 2  # the member, and the member kept for returns: not in "visits|M1"
    assert packed.count(request["at"]) == 1
    assert packed.count("apple") == 2  # the line and the multiplier's detail, kept verbatim
    assert len(packed) < len(json.dumps(request)) + len(json.dumps(result)) // 2


# A record as layout 1 (schema 7 and 8 before runs) wrote it: one row per contribution.
_LAYOUT_1 = (
    '["M1","1.30",1,"2024-03-01T09:30:00+00:00","EUR","S1",null,null,'
    '[["apple","3","0.45","fruit",{"organic":"yes"},"0.10","0.05"],["bag","1","0.10",null]],'
    '[["base","1.25",0,0],["base","0.10",1,0],["organic","1.25",0,"x2 on apple","Organic x2"],'
    '["welcome","1",null,"first purchase"]],[["happy","outside window","Happy hour"],'
    '["x","no line matches"]],["1 point per 1 EUR on "],3,"-0.60",3,7,{"visits|":[1,"0"]},'
    '{"id":"M1","attributes":{}}]'
)


def test_a_record_of_the_first_compact_layout_still_comes_back_exactly() -> None:
    assert unpack_operation("T1-42", _LAYOUT_1) == _purchase_record()


def test_a_recorded_receipt_keeps_no_guest_key_and_reads_back_as_no_guest() -> None:
    request, result = _purchase_record()
    assert "guest" not in result
    assert receipt_from_result(unpack_operation("T1-42", _LAYOUT_1)[1]).guest is False
    packed = pack_operation("purchase", "T1-42", request, result)
    assert json.loads(packed)[2] == 2
    assert receipt_from_result(unpack_operation("T1-42", packed)[1]).guest is False


def test_a_rules_contributions_on_consecutive_lines_are_kept_as_one_run() -> None:
    request, result = _purchase_record()
    data = json.loads(pack_operation("purchase", "T1-42", request, result))
    # The apple's base points are not its line's amount (a discount came off): kept as text;
    # the bag's are (0.10): kept as 0. The other rules' rows are as before.
    assert data[9] == [
        [0, "base", 0, 2, "1.25", 0],
        ["organic", "1.25", 0, "x2 on apple", "Organic x2"],
        ["welcome", "1", None, "first purchase"],
    ]


def test_a_run_ends_where_the_detail_or_the_next_line_changes() -> None:
    request, result = _purchase_record()
    result["breakdown"][1]["detail"] = "2 points per 1 EUR on bag 0.10"
    result["breakdown"][2].update(rule="base", name="base", line=0, detail="1 point per 1 EUR on apple 1.25")
    data = json.loads(pack_operation("purchase", "T1-42", request, result))
    assert data[9][:3] == [[0, "base", 0, 1, "1.25"], [1, "base", 1, 1], [0, "base", 0, 1, "1.25"]]
    assert unpack_operation("T1-42", json.dumps(data)) == (request, result)


def test_a_run_of_line_amounts_keeps_no_points_at_all() -> None:
    lines = [Line(f"P{i}", i + 1, Decimal("1.19")) for i in range(4)]
    purchase = Purchase("T1-43", "M1", _AT, lines, "EUR")
    contributions = tuple(
        Contribution("base", "base", line.quantity * line.unit_price, f"1 point per 1 EUR on {line.sku} "
                     f"{line.quantity * line.unit_price}", i)
        for i, line in enumerate(lines)
    )  # fmt: skip
    receipt = Receipt("T1-43", "M1", _AT, Money(Decimal("11.90"), "EUR"), 11, contributions, Rounding.FLOOR,
                      Decimal("-0.90"), balance_after=11)  # fmt: skip
    request, result = purchase_request(purchase), receipt_result(receipt, occurred_at=_AT.isoformat())
    result.update(lot=1, context={})
    packed = pack_operation("purchase", "T1-43", request, result)
    assert json.loads(packed)[9] == [[0, "base", 0, 4]]
    assert '"4.76"' not in packed  # 4 x 1.19, worked out again when unpacked
    assert unpack_operation("T1-43", packed) == (request, result)
    # Worked out exactly whatever the caller's decimal context.
    with localcontext(Context(prec=2)):
        assert unpack_operation("T1-43", packed) == (request, result)


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


def test_a_purchase_of_no_points_keeps_the_ledgers_place_in_its_compact_form() -> None:
    request, result = _purchase_record()
    result["ledger_seq"] = 50
    packed = pack_operation("purchase", "T1-42", request, result)
    assert json.loads(packed)[:4] == ["M1", "1.30", 4, 50]
    assert unpack_operation("T1-42", packed) == (request, result)
    del result["ledger_seq"]
    # Layout 2 with the number after the layout: nothing else changes.
    assert packed.replace(",4,50,", ",2,", 1) == pack_operation("purchase", "T1-42", request, result)


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
    assert json.loads(packed)[2] == 2
    assert len(packed) > len(usual)
    back = unpack_operation("T1-42", packed)
    assert back == (request, result)
    assert type(back[1][name]) is type(value)
    assert "member" not in back[1]


def _one_line_record(quantity: Any, unit_price: Any, points: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    request, result = _purchase_record()
    request["lines"] = [{"sku": "A", "quantity": quantity, "unit_price": unit_price, "category": None}]
    result["breakdown"] = [{"rule": "r", "name": "r", "points": points, "detail": f"p A {points}", "line": 0}]
    return request, result


@pytest.mark.parametrize("points", ["", "0", "2.0"])
def test_points_that_only_look_like_nothing_come_back_as_they_were(points: str) -> None:
    request, result = _one_line_record("1", "2", points)
    packed = pack_operation("purchase", "T1-42", request, result)
    assert unpack_operation("T1-42", packed) == (request, result)


@pytest.mark.parametrize(
    ("quantity", "unit_price", "points"),
    [("1E+2", "1", "1e+2"), ("0.000001", "0.1", "1E-7"), ("abc", "1", "NaN"), (0.5, "2", "1.0")],
)
@pytest.mark.parametrize(
    "context",
    [
        Context(capitals=0),
        Context(traps=[]),
        Context(prec=1, traps=[FloatOperation, Inexact, Rounded]),
    ],
)
def test_the_callers_decimal_context_changes_no_record(
    quantity: Any, unit_price: Any, points: str, context: Context
) -> None:
    request, result = _one_line_record(quantity, unit_price, points)
    as_json = json.loads(json.dumps([request, result]))
    with localcontext(context):
        packed = pack_operation("purchase", "T1-42", request, result)
    assert list(unpack_operation("T1-42", packed)) == as_json
    with localcontext(context):
        again = pack_operation("purchase", "T1-42", request, result)
        assert list(unpack_operation("T1-42", again)) == as_json
        assert list(unpack_operation("T1-42", packed)) == as_json


def test_a_detail_is_kept_as_it_is_when_its_sku_is_not_text() -> None:
    request, result = _one_line_record("1", "2", "2")
    request["lines"][0]["sku"] = ("a", "b")
    result["breakdown"][0]["detail"] = "p ('a', 'b') 2"
    as_json = json.loads(json.dumps([request, result]))
    assert list(unpack_operation("T1-42", pack_operation("purchase", "T1-42", request, result))) == as_json


def test_a_record_kept_in_its_entry_leaves_out_what_the_entry_says() -> None:
    # SQLite schema 22: the member, till time, points, balance and lot are the entry's; a store or
    # terminal id the key starts with is its length; plain lines are one text.
    request, result = _purchase_record()
    request["lines"][0] = {"sku": "apple", "quantity": "3", "unit_price": "0.45", "category": "fruit"}
    request["lines"][1]["category"] = "misc"
    request["terminal_id"] = "S1-T2"
    result["source_id"] = "S1-T2-000042"
    entry = ("M1", request["at"], 3, 3, 7)
    packed = pack_operation("purchase", "S1-T2-000042", request, result, entry)
    assert json.loads(packed)[:7] == ["EUR", "1.30", 3, 2, 5, None, "apple 3 0.45 fruit|bag 1 0.10 misc"]
    assert unpack_operation("S1-T2-000042", packed, entry) == (request, result)
    # The member's id only in the member kept for returns; the time nowhere.
    assert packed.count("M1") == 1 and request["at"] not in packed
    with pytest.raises(ValueError, match="S1-T2-000042"):
        unpack_operation("S1-T2-000042", packed)


def test_a_record_whose_entry_says_otherwise_keeps_layout_2() -> None:
    request, result = _purchase_record()
    for entry in (
        ("M2", request["at"], 3, 3, 7),
        ("M1", request["at"], 3, 4, 7),
        ("M1", _AT.isoformat(), 3, 3, 8),
    ):
        packed = pack_operation("purchase", "T1-42", request, result, entry)
        assert json.loads(packed)[2] == 2
        assert unpack_operation("T1-42", packed, entry) == (request, result)
