"""The ledger feed through the engine: every member's entries once, in commit order, with a cursor."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty import Engine, InvalidInput, Line, Program, Purchase
from loyalty.ledger import Entry, EntryKind
from loyalty.store import Store

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def test_the_feed_gives_every_members_entries_in_commit_order(any_store: Store) -> None:
    engine = Engine(Program("Club", "EUR"), any_store, clock=lambda: T0)
    for member_id in ("M1", "M2"):
        engine.enroll(member_id, at=T0)
    engine.record_purchase(Purchase("P1", "M2", T0, [Line("tea", 1, Decimal("3.00"))], "EUR"))
    engine.record_purchase(Purchase("P2", "M1", T0, [Line("tea", 1, Decimal("5.00"))], "EUR"))
    engine.adjust("M2", -1, id="A1", at=T0, reason="typo", actor="clerk")
    feed = engine.entries()
    assert [(e.member_id, e.kind, e.points, e.balance_after, e.source_id) for e in feed] == [
        ("M2", EntryKind.EARN, 3, 3, "P1"),
        ("M1", EntryKind.EARN, 5, 5, "P2"),
        ("M2", EntryKind.ADJUST, -1, 2, "A1"),
    ]
    assert feed == sorted(engine.history("M1") + engine.history("M2"), key=lambda e: e.seq)
    assert engine.entries(after=feed[0].seq, limit=1) == [feed[1]]
    assert engine.entries(after=feed[-1].seq) == []
    # The JSON form reads back as the same entry.
    assert [Entry.from_dict(entry.to_dict()) for entry in feed] == feed


@pytest.mark.parametrize(("after", "limit"), [(-1, 10), (0, 0), (0, 10_001), (True, 10), (0, 1.5)])
def test_a_bad_cursor_is_refused(store: Store, after: object, limit: object) -> None:
    engine = Engine(Program("Club", "EUR"), store, clock=lambda: T0)
    with pytest.raises(InvalidInput, match=r"^(after|limit): "):
        engine.entries(after=after, limit=limit)  # type: ignore[arg-type]
