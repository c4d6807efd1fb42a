"""The idempotency codec on generated receipts: the hand-built form is the converter's and reads back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty import EarnRate, Line, Program, Purchase, Receipt, Rounding, earn
from loyalty.codec import receipt_result, structure, unstructure
from loyalty.records import EntryFacts, pack_operation, unpack_operation

T0 = datetime(2024, 10, 27, 2, 30, tzinfo=timezone(timedelta(hours=2)))


@given(
    cents=st.lists(st.integers(0, 10**8), min_size=1, max_size=5),
    rounding=st.sampled_from(Rounding),
    per=st.integers(1, 10_000),
    balance=st.none() | st.integers(0, 2**62),
    guest=st.booleans(),
)
def test_receipt_result_is_the_converters_form_less_a_false_guest(
    cents: list[int], rounding: Rounding, per: int, balance: int | None, guest: bool
) -> None:
    program = Program("P", "EUR", rate=EarnRate(3, Decimal(per).scaleb(-2)), rounding=rounding)
    lines = [Line(f"s{i}", 1, Decimal(c).scaleb(-2)) for i, c in enumerate(cents)]
    receipt = earn(program, Purchase("P1", "M1", T0, lines, "EUR"), balance_before=balance)
    receipt = attrs.evolve(receipt, guest=guest)
    converted = unstructure(receipt)
    if not guest:
        # A recorded receipt is never a guest quote's: what is kept leaves the key out.
        assert converted.pop("guest") is False
    assert receipt_result(receipt) == converted
    assert structure(receipt_result(receipt), Receipt) == receipt


# -- the compact record: whatever the shape, what is unpacked is what was packed ----------------

_AT = "2024-03-01T10:00:00+01:00"
_JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from(["", "|", "x|", "M1", "|M1", "base", "1", "0.10", "1.25", "0"]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(["a", "rule", "sku"]), inner),
    max_leaves=4,
)


def _record() -> tuple[dict[str, Any], dict[str, Any]]:
    request = {
        "member_id": "M1",
        "at": _AT,
        "currency": "EUR",
        "store_id": "S1",
        "terminal_id": None,
        "channel": None,
        "lines": [
            {"sku": "apple", "quantity": "1", "unit_price": "1.25", "category": "fruit"},
            {"sku": "bag", "quantity": "2", "unit_price": "0.05", "category": None, "tax": "0.01"},
        ],
    }
    result = {
        "source_id": "T1",
        "member_id": "M1",
        "occurred_at": _AT,
        "amount": {"amount": "1.35", "currency": "EUR"},
        "points": 1,
        "breakdown": [
            {
                "rule": "base",
                "name": "base",
                "points": "1.25",
                "detail": "1 point per 1 EUR on apple 1.25",
                "line": 0,
            },
            # With the one before, a run of the rule's lines, each its line's amount.
            {
                "rule": "base",
                "name": "base",
                "points": "0.10",
                "detail": "1 point per 1 EUR on bag 0.10",
                "line": 1,
            },
            {"rule": "bonus", "name": "Bonus", "points": "1", "detail": "first purchase", "line": None},
        ],
        "rounding": "floor",
        "rounding_adjustment": "-0.35",
        "balance_after": 1,
        "skipped": [{"rule": "happy", "name": "happy", "reason": "outside window"}],
        "program_version": "1",
        "scale": 0,
        "carried_in": "0",
        "carried_out": "0",
        "event": None,
        "tier": None,
        "tier_reached": None,
        "tier_bonus": 0,
        "lot": 3,
        "context": {"visits|M1": (1, "0"), "cap|2024|M1": [0, "5"]},
    }
    return request, result


def _containers(value: Any, found: list[Any]) -> list[Any]:
    if isinstance(value, dict | list):
        found.append(value)
        for child in value.values() if isinstance(value, dict) else value:
            _containers(child, found)
    return found


# Many small examples: the shapes the layout must refuse are each a few draws away.
@settings(max_examples=max(600, settings().max_examples))
@given(data=st.data(), changes=st.integers(1, 3))
def test_a_purchase_record_of_any_shape_comes_back_as_json_would_give_it(
    data: st.DataObject, changes: int
) -> None:
    request, result = _record()
    for _ in range(changes):
        where = data.draw(st.sampled_from(_containers([request, result], [])[1:]))
        if isinstance(where, dict):
            name = data.draw(st.sampled_from([*where, "extra", "member", "ledger_seq"]))
            if data.draw(st.booleans()) and name in where:
                del where[name]
            else:
                where[name] = data.draw(_JSONISH | st.tuples(st.integers(0, 2), st.just("0")))
        elif where:
            where[data.draw(st.integers(0, len(where) - 1))] = data.draw(_JSONISH)
    as_json = json.loads(json.dumps([request, result]))
    packed = pack_operation("purchase", "T1", request, result)
    assert list(unpack_operation("T1", packed)) == as_json


_IDS = st.none() | st.integers(0, 3) | st.sampled_from(["", "S1", "S1-T2", "S1-T2-9", "S 1", "T|2", "X"])
_VALUES = st.sampled_from(["apple", "1", "0.05", "", "a b", "a|b", "S1"])


# Layout 3 (a record kept in its entry, SQLite schema 22): whatever the shape, and whether or not
# what the entry says is what the record says, what is unpacked with the entry is what was packed.
@settings(max_examples=max(600, settings().max_examples))
@given(
    data=st.data(),
    key=st.sampled_from(["T1", "S1-T2-000123", "S1", ""]),
    changes=st.integers(0, 2),
    ids=st.tuples(_IDS, _IDS),
    simple=st.booleans(),
    off=st.sampled_from([None, 0, 1, 2, 3, 4]),
)
def test_a_record_kept_in_its_entry_comes_back_as_json_would_give_it(
    data: st.DataObject, key: str, changes: int, ids: tuple[Any, Any], simple: bool, off: int | None
) -> None:
    request, result = _record()
    result["source_id"] = key
    request["store_id"], request["terminal_id"] = ids
    for line in request["lines"]:
        if simple:
            line.pop("tax", None)
        line["sku"], line["category"] = data.draw(_VALUES), data.draw(_VALUES)
    for _ in range(changes):
        where = data.draw(st.sampled_from(_containers([request, result], [])[1:]))
        if isinstance(where, dict) and where:
            where[data.draw(st.sampled_from(list(where)))] = data.draw(_JSONISH)
    entry: list[Any] = [
        request.get("member_id"),
        request.get("at"),
        result.get("points"),
        result.get("balance_after"),
        result.get("lot"),
    ]
    if off is not None:
        entry[off] = data.draw(st.sampled_from(["M2", _AT[:-1], 0, 1, 3, True]))
    facts = cast(EntryFacts, tuple(entry))
    as_json = json.loads(json.dumps([request, result]))
    packed = pack_operation("purchase", key, request, result, facts)
    assert list(unpack_operation(key, packed, facts)) == as_json
