"""Every public result has a JSON form: ``to_dict()`` that ``json.dumps`` takes, ``from_dict()`` that
reads it back equal, and bad data refused with an error naming the field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest

from loyalty import Engine, Line, Purchase, open_store
from loyalty.codec import receipt_result
from loyalty.errors import InvalidInput
from loyalty.figures import PeriodTotals, figures
from loyalty.habits import AtRisk
from loyalty.holds import Hold, HoldStatus
from loyalty.identifiers import Identifier, IdentifierKind, IdentifierStatus
from loyalty.json_form import JsonForm
from loyalty.ledger import Entry, EntryKind
from loyalty.lots import Balance
from loyalty.members import Member
from loyalty.money import Money
from loyalty.outbox import DomainEvent, EventKind
from loyalty.program import EarnRate, Program, Rounding
from loyalty.receipts import Contribution, Receipt, Skipped
from loyalty.returns import ReturnReceipt
from loyalty.tiers import Metric, Tier, TierStatus
from loyalty.transfers import Transfer

PARIS = timezone(timedelta(hours=1))
T = datetime(2024, 3, 1, 9, 30, tzinfo=PARIS)

RECEIPT = Receipt(
    "T1-42",
    "M1",
    T,
    Money(Decimal("10.95"), "EUR"),
    1095,
    (Contribution("base", "base", Decimal("10.95"), "1 point per 1.00 EUR on tart 10.95", 0),),
    Rounding.FLOOR,
    Decimal("0.00"),
    balance_after=2000,
    skipped=(Skipped("happy", "Happy hour", "outside window Tue 14:00-17:00"),),
    scale=2,
    tier="gold",
)

VALUES: list[JsonForm] = [
    RECEIPT,
    attrs.evolve(RECEIPT, balance_after=None, guest=True),
    ReturnReceipt("R1", "T1-42", "M1", False, 10, 6, 4, 0, 0, 0, 40),
    Balance(120, pending=30, overdue=5, held=10),
    TierStatus(
        "M1",
        Tier(id="gold", threshold=Decimal("500.00"), multiplier=Decimal("1.5"), bonus=100),
        T,
        Metric.SPEND,
        Decimal("612.40"),
        None,
        None,
        T + timedelta(days=300),
        Decimal("0"),
        Tier(id="silver", threshold=Decimal("100")),
        floor=Tier(id="gold", threshold=Decimal("500.00")),
        floor_until=T + timedelta(days=30),
    ),
    Hold("H1", "M1", 100, ((3, -70), (8, -30)), T, T + timedelta(minutes=15)),
    Hold("H2", "M1", 50, ((3, -50),), T, T, HoldStatus.CAPTURED, 40, T + timedelta(minutes=3)),
    Entry(
        7, "M1", EntryKind.EARN, 40, 40, T, T, "T1-1", "purchase", None, ("base", "x2"), "2", T, T, (), True
    ),
    Entry(9, "M1", EntryKind.REDATE, 0, 40, T, T, "r", "activity", redates=((7, T), (8, None))),
    Entry(8, "M1", EntryKind.REDEEM, -25, 15, T, T, "T1-2", "redemption", actor="till 4", draws=((7, -25),)),
    Transfer(
        "X1",
        "M1",
        "M2",
        30,
        Entry(10, "M1", EntryKind.TRANSFER, -30, 10, T, T, "X1", "transfer to M2: gift", draws=((7, -30),)),
        (Entry(11, "M2", EntryKind.TRANSFER, 30, 30, T, T, "X1", "transfer from M1: gift", expires_at=T),),
    ),
    Member("M1", T, date(1990, 2, 28), {"segment": "student", "visits": 3, "vip": True}),
    Member("M2", T, birthday_changed_at=T),
    Identifier(IdentifierKind.CARD, "12345678", "M1", T, IdentifierStatus.REPLACED, "card:87654321"),
    Identifier(IdentifierKind.EMAIL, "ann@example.com", "M2", T),
    figures(
        PeriodTotals(
            {"earn": 1000, "redeem": -400, "expire": -100},
            2500,
            50,
            30,
            40,
            28,
            90,
            Decimal("2700"),
            0,
            {"base": 900},
        ),
        T,
        T + timedelta(days=31),
        "EUR",
        point_value=Decimal("0.01"),
    ),
    AtRisk(
        "M1", ("no visit for 40 days",), T, Decimal("40.0"), Decimal("7.5"), Decimal("0.00"), Decimal("42.10")
    ),
    DomainEvent(12, EventKind.HOLD_EXPIRED, "M1", T, T, "H7", {"hold_id": "H7", "points": 150}),
    DomainEvent(13, EventKind.MEMBER_AT_RISK, "M1", T, T, "r", {"reasons": ["x"], "days_since": "40.0"}),
]


def _contains(data: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(data, dict):
        return any(_contains(value, kinds) for value in data.values())
    if isinstance(data, list):
        return any(_contains(value, kinds) for value in data)
    return isinstance(data, kinds)


@pytest.mark.parametrize("value", VALUES, ids=lambda value: type(value).__name__)
def test_the_json_form_survives_json_and_reads_back_equal(value: JsonForm) -> None:
    data = value.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert not _contains(data, (tuple, Decimal, datetime, date, float))
    assert type(value).from_dict(json.loads(json.dumps(data))) == value


def test_amounts_are_strings_as_spelled_and_times_keep_their_offset() -> None:
    data = RECEIPT.to_dict()
    assert data["amount"] == {"amount": "10.95", "currency": "EUR"}
    assert data["rounding_adjustment"] == "0.00"
    assert data["occurred_at"] == "2024-03-01T09:30:00+01:00"
    assert data["rounding"] == "floor"
    assert data["breakdown"][0]["points"] == "10.95"
    entry = Entry(8, "M1", EntryKind.REDEEM, -25, 15, T, T, "T1-2", "redemption", draws=((7, -25),))
    assert entry.to_dict()["draws"] == [[7, -25]] and entry.to_dict()["kind"] == "redeem"


def test_a_recorded_receipt_has_the_form_the_engine_keeps() -> None:
    program = Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")))
    engine = Engine(program, open_store("memory://"), clock=lambda: T)
    engine.enroll("M1", at=T)
    receipt = engine.record_purchase(Purchase("T1", "M1", T, [Line("tart", 3, Decimal("4.15"))], "EUR"))
    # Less ``guest``, which a recorded receipt never is: the record leaves it out.
    assert receipt.to_dict() == {**receipt_result(receipt), "guest": False}
    assert Receipt.from_dict(receipt.to_dict()) == receipt
    balance = engine.balance("M1")
    assert Balance.from_dict(json.loads(json.dumps(balance.to_dict()))) == balance
    assert [Entry.from_dict(e.to_dict()) for e in engine.history("M1")] == list(engine.history("M1"))


def test_a_receipt_says_whether_it_is_a_guest_quote_and_reads_false_when_the_key_is_missing() -> None:
    assert RECEIPT.to_dict()["guest"] is False
    guest = attrs.evolve(RECEIPT, balance_after=None, guest=True)
    assert guest.to_dict()["guest"] is True
    assert json.loads(json.dumps(guest.to_dict()))["guest"] is True
    # Receipts written out before the key existed.
    older = RECEIPT.to_dict()
    del older["guest"]
    assert Receipt.from_dict(older) == RECEIPT


@pytest.mark.parametrize(
    ("cls", "change", "field", "message"),
    [
        (Balance, {"available": 1.5}, "available", "must be an int, not float 1.5"),
        (Balance, {"avialable": 1}, "avialable", "unknown key"),
        (Receipt, {"points": "1095"}, "points", "must be an int, not str '1095'"),
        (Receipt, {"amount": {"amount": 10.95, "currency": "EUR"}}, "amount.amount", "not float"),
        (Receipt, {"amount": {"amount": "10.95", "currency": "EUX"}}, "amount.currency", "ISO 4217"),
        (Receipt, {"occurred_at": "2024-03-01T09:30:00"}, "occurred_at", "needs a UTC offset"),
        (Receipt, {"rounding": "down"}, "rounding", "must be one of 'floor'"),
        (Receipt, {"breakdown": [{"rule": "base"}]}, "breakdown[0].name", "missing required key"),
        (Receipt, {"skipped": "none"}, "skipped", "must be a list, not str"),
        (Member, {"id": ""}, "member_id", "must"),
        (Member, {"attributes": {"segment": 1.5}}, "attributes.segment", "string, int or bool"),
        (Member, {"birthday": "1990-02-30"}, "birthday", "not a valid date"),
        (Identifier, {"kind": "fax"}, "kind", "must be one of 'card'"),
        (Identifier, {"value": "1234-5678"}, "value", "must be in normal form"),
        (Identifier, {"value": 1234}, "value", "must be a string"),
        (Identifier, {"replaced_by": "lost"}, "replaced_by", "must be kind:value"),
    ],
)
def test_bad_data_is_refused_naming_the_field(
    cls: type[JsonForm], change: dict[str, Any], field: str, message: str
) -> None:
    base = next(value for value in VALUES if type(value) is cls).to_dict()
    with pytest.raises(InvalidInput) as caught:
        cls.from_dict({**base, **change})
    assert caught.value.field == field
    assert message in caught.value.message


def test_only_a_mapping_is_read() -> None:
    with pytest.raises(InvalidInput) as caught:
        Receipt.from_dict([RECEIPT.to_dict()])  # type: ignore[arg-type]
    assert caught.value.field == "data" and "mapping" in caught.value.message


def test_a_missing_key_is_named() -> None:
    data = RECEIPT.to_dict()
    del data["member_id"]
    with pytest.raises(InvalidInput) as caught:
        Receipt.from_dict(data)
    assert (caught.value.field, caught.value.message) == ("member_id", "missing required key")


def test_the_json_form_adds_no_storage_to_a_result() -> None:
    assert not hasattr(RECEIPT, "__dict__")


def test_an_instant_in_utc_keeps_its_offset() -> None:
    hold = Hold("H1", "M1", 5, (), T.astimezone(UTC), T)
    assert hold.to_dict()["held_at"] == "2024-03-01T08:30:00+00:00"
