"""The history format: each record type read and written back, lazily; bad lines named by number and key."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from functools import partial

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty import InvalidInput, Line, Purchase
from loyalty.history import (
    Adjustment,
    CustomEvent,
    Enrollment,
    Event,
    OpeningBalance,
    Redemption,
    Sale,
    SaleReturn,
    _event,
    numbered,
    parse,
    read,
    record_of,
    write,
)
from loyalty.history_fields import Fields
from loyalty.history_vouchers import DrawnLot, OpenHold, OpenVoucher
from loyalty.returns import Return, Returned

_AT = "2024-03-01T09:30:00+01:00"
AT = datetime.fromisoformat(_AT)

EVERY_KIND: list[Event] = [
    Enrollment("E1", "M1", AT, date(1980, 2, 29), {"segment": "student", "staff": False, "visits": 3}),
    Sale(
        Purchase(
            "T1-1",
            "M1",
            AT,
            [Line("cake", 3, Decimal("4.15"), "bakery"), Line("cheese", Decimal("0.250"), Decimal("19.90"))],
            "EUR",
            "S1",
            "S1-T1",
        )
    ),
    SaleReturn("M1", Return("T1-2", "T1-1", AT, (Returned("cake", 1),))),
    SaleReturn("M1", Return("T1-3", "T1-1", AT)),
    Redemption("T1-4", "M1", 10, AT),
    Redemption("T1-5", "M1", 20, AT, "coffee", "T1-1"),
    Adjustment("ADJ-1", "M1", -4, AT, "double scan", "staff-3"),
    CustomEvent("SRV-1", "M1", "survey_completed", AT, {"survey": "spring"}),
    CustomEvent("SRV-2", "M1", "app_opened", AT),
    Enrollment("E2", "M2", AT, identifiers=("card:1001", "email:ann@example.com")),
    OpeningBalance("OB-1", "M2", 420, AT, AT.replace(year=2025)),
    OpeningBalance("OB-2", "M2", 5, AT, None, AT.replace(month=4)),
    OpenVoucher(
        "VCH-C1",
        "M2",
        AT,
        "C1",
        "coffee",
        30,
        AT.replace(month=4),
        [DrawnLot(20, AT, AT.replace(year=2025)), DrawnLot(10, AT)],
    ),
    OpenHold("H-1", "M2", AT, 25, AT.replace(hour=10), [DrawnLot(25, AT)]),
    Sale(
        Purchase(
            "W-1",
            "M2",
            AT,
            [
                Line(
                    "shirt",
                    2,
                    Decimal("20.00"),
                    "apparel",
                    {"color": "red"},
                    Decimal("5.00"),
                    Decimal("6.00"),
                )
            ],
            "EUR",
            channel="online",
        )
    ),
]


def test_every_record_type_reads_back_as_written() -> None:
    text = "".join(write(EVERY_KIND))
    assert list(read(text.splitlines(keepends=True))) == EVERY_KIND
    kinds = [json.loads(line)["type"] for line in text.splitlines()]
    assert kinds == [
        "enrollment",
        "purchase",
        "return",
        "return",
        "redemption",
        "redemption",
        "adjustment",
        "event",
        "event",
        "enrollment",
        "opening_balance",
        "opening_balance",
        "voucher",
        "hold",
        "purchase",
    ]


def test_a_purchase_writes_its_channel_and_its_lines_labels_discounts_and_taxes_only_when_it_has_them() -> (
    None
):
    plain, online = record_of(EVERY_KIND[1]), record_of(EVERY_KIND[-1])
    assert "channel" not in plain
    assert not {"labels", "discount", "tax"} & {key for line in plain["lines"] for key in line}
    assert online["channel"] == "online"
    assert online["lines"] == [
        {"sku": "shirt", "category": "apparel", "quantity": 2, "unit_price": "20.00",
         "labels": {"color": "red"}, "discount": "5.00", "tax": "6.00"}
    ]  # fmt: skip
    assert online["total"] == "35.00"


def test_a_redemption_writes_its_reason_and_purchase_only_when_it_has_them() -> None:
    plain, paying = record_of(EVERY_KIND[4]), record_of(EVERY_KIND[5])
    assert not {"reason", "purchase_id"} & set(plain)
    assert (paying["reason"], paying["purchase_id"]) == ("coffee", "T1-1")


def test_a_line_with_labels_a_discount_or_a_tax_is_never_read_as_the_plain_line() -> None:
    plain = {"sku": "shirt", "quantity": 1, "unit_price": "20.00"}
    variants = [
        plain,
        {**plain, "labels": {"color": "red"}},
        {**plain, "discount": "1.00"},
        {**plain, "tax": "3.00"},
    ]
    sales = [{**_SALE, "id": f"T{i}", "lines": [line]} for i, line in enumerate(variants + variants)]
    lines = [
        event.purchase.lines[0]
        for event in read(json.dumps(sale) for sale in sales)
        if isinstance(event, Sale)
    ]
    assert len({(line.labels.get("color"), line.discount, line.tax) for line in lines[:4]}) == 4
    assert lines[4:] == lines[:4]


def test_a_void_is_a_return_without_lines() -> None:
    record = record_of(EVERY_KIND[3])
    assert record["lines"] is None
    del record["lines"]
    (event,) = read([json.dumps(record)])
    assert isinstance(event, SaleReturn) and event.returned.lines is None


def test_a_return_line_may_carry_what_the_till_printed() -> None:
    record = {"type": "return", "id": "R", "member_id": "M1", "at": _AT, "purchase_id": "T1-1"}
    line = {"sku": "cake", "category": "bakery", "quantity": 1, "unit_price": "4.15"}
    (event,) = read([json.dumps({**record, "lines": [line]})])
    assert isinstance(event, SaleReturn) and event.returned.lines == (Returned("cake", 1),)


def test_lines_are_read_one_at_a_time_with_their_numbers() -> None:
    served: list[int] = []

    def lines() -> Iterator[str]:
        for n, line in enumerate(write(EVERY_KIND[:2]), start=1):
            served.append(n)
            yield line
            yield "\n"  # blank lines are counted, not read
        yield "{oops"

    reading = numbered(lines())
    assert next(reading)[0] == 1 and served == [1]
    assert next(reading)[0] == 3 and served == [1, 2]
    with pytest.raises(InvalidInput, match="line 5: not JSON"):
        next(reading)


def test_the_same_line_read_twice_is_one_line() -> None:
    first, second = read(write([EVERY_KIND[1], EVERY_KIND[1]]))
    assert isinstance(first, Sale) and isinstance(second, Sale)
    assert first.purchase.lines[0] is second.purchase.lines[0]


_SALE = {"type": "purchase", "id": "a", "member_id": "m", "at": _AT, "currency": "EUR"}
_LINE = {"sku": "x", "quantity": 1, "unit_price": "1.25"}
_RETURN = {"type": "return", "id": "r", "member_id": "m", "at": _AT, "purchase_id": "a"}
_ADJUST = {"type": "adjustment", "id": "j", "member_id": "m", "at": _AT, "reason": "why", "actor": "me"}
_EVENT = {"type": "event", "id": "e", "member_id": "m", "at": _AT}
_ENROLL = {"type": "enrollment", "id": "n", "member_id": "m", "at": _AT}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"type": "refund", "id": "a", "member_id": "m", "at": _AT},
            "line 1: type: must be enrollment, purchase",
        ),
        ({**_ENROLL, "member_id": 7}, "line 1: member_id: must be a string, not int"),
        ({**_ENROLL, "birthday": "1980-02-30"}, "line 1: birthday: not an ISO 8601 date"),
        (
            {**_ENROLL, "attributes": {"vip": 1.5}},
            "line 1: attributes.vip: must be a string, integer or boolean",
        ),
        ({**_ENROLL, "attributes": ["vip"]}, "line 1: attributes: must be an object, not list"),
        ({**_SALE, "lines": [{**_LINE, "quantity": 1.0}]}, "line 1: lines[0].quantity: must be an integer"),
        ({**_SALE, "lines": [{**_LINE, "quantity": True}]}, "line 1: lines[0].quantity: must be an integer"),
        ({**_SALE, "lines": [_LINE, 5]}, "line 1: lines[1]: must be a JSON object, not int"),
        (
            {**_SALE, "lines": [{**_LINE, "discount": 1}]},
            "line 1: lines[0].discount: must be a string, not int",
        ),
        ({**_SALE, "lines": [{**_LINE, "tax": "x"}]}, "line 1: lines[0].tax: not a decimal number: 'x'"),
        (
            {**_SALE, "lines": [{**_LINE, "tax": "1.26"}]},
            "line 1: lines[0].tax: must not exceed the amount paid",
        ),
        ({**_SALE, "lines": [{**_LINE, "labels": ["red"]}]}, "line 1: lines[0].labels: must be an object"),
        (
            {**_SALE, "lines": [{**_LINE, "labels": {"color": 1}}]},
            "line 1: lines[0].labels['color']: must be a str",
        ),
        ({**_SALE, "lines": [_LINE], "channel": 3}, "line 1: channel: must be a string or null, not int"),
        ({**_RETURN, "lines": "cake"}, "line 1: lines: must be a list, not str"),
        (
            {**_RETURN, "lines": None, "purchase_id": None},
            "line 1: purchase_id: must be a string, not NoneType",
        ),
        ({**_RETURN, "lines": [{"sku": "x"}]}, "line 1: lines[0].quantity: is missing"),
        ({**_RETURN, "lines": [{"sku": "x", "quantity": 0}]}, "line 1: lines[0].quantity: must be positive"),
        ({**_RETURN, "lines": []}, "line 1: lines: a return needs at least one line"),
        (_ADJUST, "line 1: points: is missing"),
        (
            {**_ADJUST, "type": "redemption", "points": 5, "reason": 5},
            "line 1: reason: must be a string or null",
        ),
        (
            {**_ADJUST, "type": "redemption", "points": 5, "purchase_id": []},
            "line 1: purchase_id: must be a string",
        ),
        ({**_ADJUST, "points": "5"}, "line 1: points: must be an integer, not str"),
        ({**_ADJUST, "points": 5, "actor": None}, "line 1: actor: must be a string, not NoneType"),
        (_EVENT, "line 1: name: is missing"),
        ({**_EVENT, "type": "voucher"}, "line 1: code: is missing"),
        (
            {
                **_EVENT,
                "type": "voucher",
                "code": "C",
                "reward_id": "r",
                "points": 5,
                "expires_at": _AT,
                "lots": [{"points": 5}],
            },
            "line 1: lots[0].at: is missing",
        ),
        ({**_ENROLL, "identifiers": ["card:1", 5]}, "line 1: identifiers[1]: must be a string kind:value"),
        ({**_ENROLL, "identifiers": "card:1"}, "line 1: identifiers: must be a list, not str"),
        ({**_ADJUST, "type": "opening_balance"}, "line 1: points: is missing"),
        (
            {**_ADJUST, "type": "opening_balance", "points": 5, "expires_at": "soon"},
            "line 1: expires_at: not an ISO 8601 timestamp",
        ),
        (
            {**_EVENT, "name": "x", "properties": {"a": None}},
            "line 1: properties.a: must be a string, integer",
        ),
    ],
)
def test_bad_records_name_the_line_and_key(record: object, message: str) -> None:
    # The read is lazy: the error comes as the line is reached, not when reading starts.
    reading = read([json.dumps(record)])
    with pytest.raises(InvalidInput, match=re.escape(message)):
        next(reading)


# Each key of a purchase as written (first), and as it might be miswritten (None: left out).
_SALE_VALUES: dict[str, list[object]] = {
    "id": ["T1", "", 7, None],
    "member_id": ["M1", " ", [], None],
    "at": [_AT, "2024-03-01T09:30:00", "soon", 5, None],
    "currency": ["EUR", "eur", 1, None],
    "store_id": ["S1", "", 2, None],
    "terminal_id": ["S1-T1", {}, None],
    "channel": ["online", "", 3, None],
    "lines": [
        [_LINE],
        [],
        [_LINE, 5],
        [{**_LINE, "quantity": 0}],
        [{**_LINE, "discount": "0.25", "tax": "0.10", "labels": {"color": "red"}}],
        [{**_LINE, "discount": 0.25}],
        [{**_LINE, "labels": {"color": None}}],
        "x",
        None,
    ],
    "total": ["1.25", "1.3", "x", 1.25, None],
}
_MISWRITTEN = [(key, value) for key, values in _SALE_VALUES.items() for value in values[1:]]


def _outcome(read_it: Callable[[], object]) -> object:
    try:
        found = read_it()
    except InvalidInput as exc:
        return str(exc)
    return record_of(found) if isinstance(found, Sale) else found


@given(st.lists(st.sampled_from(_MISWRITTEN), max_size=3))
def test_a_purchase_reads_as_it_does_key_by_key(changes: list[tuple[str, object]]) -> None:
    # A well-formed purchase is read in one pass; whatever is wrong with one, the record or the
    # error is the one reading it key by key gives.
    chosen = {"type": "purchase"} | {key: values[0] for key, values in _SALE_VALUES.items()} | dict(changes)
    text = json.dumps({key: value for key, value in chosen.items() if value is not None})
    for utc in (False, True):
        key_by_key = _outcome(partial(_event, Fields(1, json.loads(text), utc=utc)))
        assert _outcome(partial(parse, 1, text, utc=utc)) == key_by_key


@pytest.mark.parametrize("text", ["", " ", "\n", "\r\n", " \x0c", " x", "{", "[1]"])
@pytest.mark.parametrize("before", ["", " "])
def test_text_around_a_record_is_refused_or_allowed_as_json_does(before: str, text: str) -> None:
    line = before + json.dumps({**_SALE, "lines": [_LINE]}) + text
    try:
        json.loads(line)
    except json.JSONDecodeError as exc:
        with pytest.raises(InvalidInput, match=re.escape(f"line 1: not JSON: {exc.msg}")):
            parse(1, line)
    else:
        assert isinstance(parse(1, line), Sale)


def test_an_enrollment_writes_its_referral_and_paid_bonus_and_reads_them_back() -> None:
    at = datetime.fromisoformat("2024-03-01T09:00:00+01:00")
    enrollment = Enrollment("E", "M2", at, referred_by="ANN2024", bonus_paid=True, referral_code="BOB1")
    record = record_of(enrollment)
    assert (record["referred_by"], record["bonus_paid"], record["referral_code"]) == ("ANN2024", True, "BOB1")
    assert parse(1, next(write([enrollment]))) == enrollment
    # Without them, an enrollment is written as before.
    assert not {"referred_by", "bonus_paid", "referral_code"} & set(record_of(Enrollment("E", "M", at)))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"type": "enrollment", "id": "E1", "x": ' + "9" * 5_000 + "}", "Exceeds the limit (4300 digits)"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
)
def test_json_no_reader_here_takes_is_refused_naming_the_line(text: str, reason: str) -> None:
    # json.loads itself raises ValueError and RecursionError for these, not JSONDecodeError.
    with pytest.raises(InvalidInput, match=re.escape(f"line 7: not JSON this reader takes: {reason}")):
        parse(7, text)
