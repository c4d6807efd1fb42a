"""Bad records in an import: named by line, field and reason; nothing of them is written."""

from __future__ import annotations

from datetime import datetime

import pytest

from loyalty import Engine, InsufficientPoints, LoyaltyError, Program, open_store
from loyalty.service.importing import Rejected

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
