"""Bad records in an import: named by line, field and reason; nothing of them is written."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from loyalty import Engine, InsufficientPoints, LoyaltyError, Program, open_store
from loyalty.history import Redemption
from loyalty.service.importing import Rejected
from loyalty.store import Store

ENROLL = (
    '{{"type": "enrollment", "id": "ENR-{m}", "member_id": "{m}", "at": "2024-03-01T09:00:00+01:00"{more}}}'
)
SALE = (
    '{{"type": "purchase", "id": "{id}", "member_id": "{m}", "at": "2024-03-02T09:00:00+01:00",'
    ' "currency": "EUR", "lines": [{{"sku": "cake", "quantity": {q}, "unit_price": "10.00"}}]}}'
)
REDEEM = (
    '{{"type": "redemption", "id": "{id}", "member_id": "{m}",'
    ' "at": "2024-03-03T09:00:00+01:00", "points": {p}}}'
)


def _engine() -> Engine:
    return Engine(Program("Club", "EUR"), open_store("memory://"))


def _file() -> list[str]:
    return [
        ENROLL.format(m="M1", more=', "identifiers": ["card:1001"]'),
        SALE.format(id="T1", m="M1", q=2),
        SALE.format(id="T2", m="M1", q=0),  # line 3: a quantity of nothing
        ENROLL.format(m="M2", more=', "identifiers": ["card:1001"]'),  # line 4: M1's card
        REDEEM.format(id="T3", m="M1", p=500),  # line 5: more than M1 has
        SALE.format(id="T4", m="M3", q=1),  # line 6: nobody enrolled M3
        SALE.format(id="T5", m="M1", q=1),
    ]


def test_a_stopping_import_applies_what_comes_before_the_bad_line_and_nothing_after() -> None:
    engine = _engine()
    rejects: list[Rejected] = []
    summary = engine.import_events(_file(), on_error="stop", on_reject=rejects.append)
    assert summary.stopped == rejects[0]
    assert (summary.stopped.line, summary.stopped.field, summary.stopped.error) == (
        3,
        "lines[0].quantity",
        "InvalidInput",
    )
    assert str(summary.stopped).startswith("line 3: lines[0].quantity: ")
    assert summary.applied == {"enrollment": 1, "purchase": 1}
    assert [e.source_id for e in engine.history("M1")] == ["T1"]


def test_a_skipping_import_reports_every_bad_line_and_writes_none_of_them() -> None:
    engine = _engine()
    rejects: list[Rejected] = []
    summary = engine.import_events(_file(), on_error="skip", on_reject=rejects.append, batch_size=100)
    assert [(r.line, r.field, r.error, r.type) for r in rejects] == [
        (3, "lines[0].quantity", "InvalidInput", "purchase"),
        (4, "identifiers[0]", "IdentifierTaken", "enrollment"),
        (5, "points", "InsufficientPoints", "redemption"),
        (6, "member_id", "UnknownMember", "purchase"),
    ]
    assert rejects[3].reason == "no member 'M3'"
    assert rejects[1].text == _file()[3]
    assert summary.applied == {"enrollment": 1, "purchase": 2}
    assert summary.rejected == {"purchase": 2, "enrollment": 1, "redemption": 1}
    assert summary.stopped is None and summary.lines == 7
    assert [e.source_id for e in engine.history("M1")] == ["T1", "T5"]
    with pytest.raises(LoyaltyError):
        engine.member("M2")
    # The decline is kept, as the engine keeps it: the same redemption again is declined again.
    at = datetime.fromisoformat("2024-03-03T09:00:00+01:00")
    engine.adjust("M1", 1000, id="ADJ", at=at, reason="goodwill", actor="staff-1")
    with pytest.raises(InsufficientPoints):
        engine.redeem("M1", 500, id="T3", at=at)


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ('{"sku": ["cake"], "quantity": 1, "unit_price": "10.00"}', "lines[0].sku"),
        ('{"sku": "cake", "quantity": 1, "unit_price": {"amount": "10.00"}}', "lines[0].unit_price"),
        ('{"sku": "cake", "quantity": 1, "unit_price": "10.00", "category": []}', "lines[0].category"),
        ('{"sku": "cake", "quantity": 1, "unit_price": "10.00", "discount": {}}', "lines[0].discount"),
        ('{"sku": "cake", "quantity": 1, "unit_price": "10.00", "tax": ["1"]}', "lines[0].tax"),
    ],
)
def test_a_line_with_an_array_or_object_for_a_text_is_rejected_with_its_field(item: str, field: str) -> None:
    """Not a TypeError from the reader's cache of lines (which looks a line up by its values):
    the batch's good records are applied, the bad one reported."""
    bad = SALE.format(id="T2", m="M1", q=1).replace(
        '{"sku": "cake", "quantity": 1, "unit_price": "10.00"}', item
    )
    engine = _engine()
    rejects: list[Rejected] = []
    lines = [ENROLL.format(m="M1", more=""), bad, SALE.format(id="T3", m="M1", q=1)]
    summary = engine.import_events(lines, on_error="skip", on_reject=rejects.append)
    assert [(r.line, r.field, r.error) for r in rejects] == [(2, field, "InvalidInput")]
    assert summary.applied == {"enrollment": 1, "purchase": 1}
    assert [e.source_id for e in engine.history("M1")] == ["T3"]


@pytest.mark.parametrize("text", ["M\\u0000", "M\\ud800", "M\\u200e"])
@pytest.mark.parametrize("kind", ["enrollment", "redemption"])
def test_an_id_a_store_cannot_hold_is_rejected_before_it_is_looked_up(
    any_store: Store, kind: str, text: str
) -> None:
    """PostgreSQL refuses a NUL in a text, SQLite and PostgreSQL a lone surrogate: asked whether
    such an id was recorded before, they ended the import; it is refused as the command refuses
    it, on every adapter."""
    engine = Engine(Program("Club", "EUR"), any_store)
    good = [ENROLL.format(m="M1", more=""), SALE.format(id="T1", m="M1", q=3)]
    if kind == "enrollment":
        bad, field = ENROLL.format(m=text, more=""), "member_id"
    else:
        bad, field = REDEEM.format(id=text, m="M1", p=1), "id"
    rejects: list[Rejected] = []
    summary = engine.import_events([*good, bad], on_error="skip", on_reject=rejects.append)
    assert [(r.line, r.field, r.error) for r in rejects] == [(3, field, "InvalidId")]
    assert summary.applied == {"enrollment": 1, "purchase": 1}
    assert engine.balance("M1").available == 30
    assert [e.source_id for e in engine.history("M1")] == ["T1"]


@pytest.mark.parametrize("on_error", ["stop", "skip"])
def test_a_return_of_another_members_purchase_is_rejected_and_takes_nothing_back(
    any_store: Store, on_error: str
) -> None:
    engine = Engine(Program("Club", "EUR"), any_store)
    back = (
        '{"type": "return", "id": "RT1", "member_id": "M2", "at": "2024-03-03T09:00:00+01:00",'
        ' "purchase_id": "T1"}'
    )
    lines = [
        ENROLL.format(m="M1", more=""),
        ENROLL.format(m="M2", more=""),
        SALE.format(id="T1", m="M1", q=2),
        back,
    ]
    rejects: list[Rejected] = []
    summary = engine.import_events(lines, on_error=on_error, on_reject=rejects.append)  # type: ignore[arg-type]
    assert [(r.line, r.field, r.reason) for r in rejects] == [(4, "member_id", "purchase 'T1' is 'M1''s")]
    assert summary.rejected == {"return": 1}
    # Refused before it was recorded: nothing taken back, and the record, put right, is a new one.
    assert engine.balance("M1").total == 20
    assert [e.source_id for e in engine.history("M1")] == ["T1"]
    fixed = engine.import_events([back.replace('"M2"', '"M1"')])
    assert fixed.applied == {"return": 1} and engine.balance("M1").total == 0


def test_a_record_holding_a_value_the_format_cannot_write_is_rejected_with_its_field() -> None:
    engine = _engine()
    at = datetime.fromisoformat("2024-03-03T09:00:00+01:00")
    engine.enroll("M1", at=at)
    rejects: list[Rejected] = []
    odd = Redemption("R1", "M1", Decimal(5), at)  # type: ignore[arg-type]
    summary = engine.import_events([odd], on_error="skip", on_reject=rejects.append)
    assert [(r.line, r.field, r.error) for r in rejects] == [(1, "points", "InvalidPoints")]
    assert rejects[0].text == repr(odd)  # what the format cannot write, as the record was given
    assert summary.rejected == {"redemption": 1} and engine.history("M1") == []


def test_a_return_of_an_erased_members_purchase_is_rejected_as_erased(any_store: Store) -> None:
    engine = Engine(Program("Club", "EUR"), any_store)
    engine.import_events([ENROLL.format(m="M1", more=""), SALE.format(id="T1", m="M1", q=2)])
    engine.erase(
        "M1", id="E1", at=datetime.fromisoformat("2024-03-02T10:00:00+01:00"), reason="asked", actor="desk"
    )
    back = (
        '{"type": "return", "id": "RT1", "member_id": "M1", "at": "2024-03-03T09:00:00+01:00",'
        ' "purchase_id": "T1"}'
    )
    rejects: list[Rejected] = []
    engine.import_events([back], on_error="skip", on_reject=rejects.append)
    # Its purchase names the pseudonym now: the refusal says the member was erased, not another's.
    assert [r.error for r in rejects] == ["MemberErased"]
