"""Review (helper 7) of e4cc212: the erased member's own free-form maps must not keep its id.

Before e4cc212, loyalty.pseudonyms.renamed renamed a ``member_id`` key in a purchase line's
labels; now it skips free-form maps everywhere, including in the erased member's own entries,
so the id survives the erasure in its own purchase's record (every adapter)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import Engine, Line, MemberErased, Purchase, history
from loyalty.config import program_from_dict
from loyalty.store import Store

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "rules": [{"kind": "product_bonus", "id": "cake", "points": 5, "skus": ["cake"]}],
    }
)


def test_an_erased_members_own_line_labels_keep_no_trace_of_its_id(any_store: Store) -> None:
    engine = Engine(PROGRAM, any_store, clock=lambda: T0)
    gone = "+31612345678"
    engine.enroll(gone, at=T0)
    line = Line("cake", 1, Decimal("5"), labels={"member_id": gone})
    engine.record_purchase(Purchase("T1", gone, T0, [line], "EUR"))
    hidden = engine.erase(gone, id="er1", at=T0, reason="GDPR", actor="dpo").pseudonym
    with any_store.unit_of_work(readonly=True) as uow:
        record = uow.operation("T1")
        assert [entry.seq for entry in uow.history(hidden) if gone in repr(entry)] == []
    assert record is not None
    assert gone not in repr(record.request), record.request["lines"]


def test_another_members_labels_naming_the_erased_member_stay_and_its_retry_replays(any_store: Store) -> None:
    engine = Engine(PROGRAM, any_store, clock=lambda: T0)
    gone, other = "+31612345678", "M2"
    engine.enroll(gone, at=T0)
    engine.enroll(other, at=T0)
    theirs = Purchase("T2", other, T0, [Line("cake", 1, Decimal("5"), labels={"member_id": gone})], "EUR")
    receipt = engine.record_purchase(theirs)
    engine.erase(gone, id="er1", at=T0, reason="GDPR", actor="dpo")
    assert engine.record_purchase(theirs) == receipt
    with any_store.unit_of_work(readonly=True) as uow:
        record = uow.operation("T2")
    assert record is not None and record.request["lines"][0]["labels"] == {"member_id": gone}


def test_the_erased_members_purchase_loses_its_labels_keeps_its_figures_and_refuses_a_retry(
    any_store: Store,
) -> None:
    engine = Engine(PROGRAM, any_store, clock=lambda: T0)
    gone = "+31612345678"
    engine.enroll(gone, at=T0)
    mine = Purchase("T1", gone, T0, [Line("cake", 2, Decimal("5"), labels={"name": "Ann Lee"})], "EUR")
    engine.record_purchase(mine)
    before = engine.figures(T0, T0 + timedelta(days=1))
    hidden = engine.erase(gone, id="er1", at=T0, reason="GDPR", actor="dpo").pseudonym
    with any_store.unit_of_work(readonly=True) as uow:
        record = uow.operation("T1")
    assert record is not None
    assert record.request["lines"] == [{"sku": "cake", "quantity": "2", "unit_price": "5", "category": None}]
    assert engine.figures(T0, T0 + timedelta(days=1)) == before and engine.verify().ok
    with pytest.raises(MemberErased) as refused:
        engine.record_purchase(mine)
    assert refused.value.field == "id" and refused.value.member_id == hidden
    assert "Ann Lee" not in "".join(history.write(engine.export_history()))
