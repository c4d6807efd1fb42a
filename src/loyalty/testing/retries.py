"""Sending a command again: the same request returns what it first did, another is refused.

The ledger state machine (:mod:`loyalty.testing.stateful`) keeps each command it sent as a
:class:`Sent`; these checks send it again, as a till retrying after a lost answer would, or
with one field changed, as a till reusing an id would.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from loyalty.engine import Engine
from loyalty.errors import IdempotencyConflict, InsufficientPoints
from loyalty.holds import Hold
from loyalty.ledger import Entry
from loyalty.merges import Merge
from loyalty.purchases import Line, Purchase
from loyalty.receipts import Receipt
from loyalty.testing.ledger_model import ModelLot
from loyalty.transfers import Transfer

__all__ = ["Sent", "send_again", "send_differently"]


@attrs.frozen
class Sent:
    """A command that succeeded, kept so the machine can send it again."""

    key: str
    purchase: Purchase | None = None
    receipt: Receipt | None = None
    event: str | None = None
    entry: Entry | None = None
    redeem: tuple[str, int, datetime] | None = None
    adjust: tuple[str, int, datetime] | None = None
    hold: tuple[Hold, timedelta] | None = None
    lot: ModelLot | None = None
    transfer: tuple[str, str, int, datetime] | None = None
    made: Transfer | None = None
    merge: tuple[str, str, datetime] | None = None
    merged: Merge | None = None


def send_again(engine: Engine, sent: Sent) -> None:
    """A retry returns the original result and writes nothing, whatever happened since."""
    if sent.purchase is not None:
        assert engine.record_purchase(sent.purchase) == sent.receipt
    elif sent.event is not None:
        assert sent.receipt is not None
        replay = engine.record_event(sent.event, "survey_completed", id=sent.key, at=sent.receipt.occurred_at)
        assert replay == sent.receipt
    elif sent.redeem is not None:
        member, points, at = sent.redeem
        if sent.entry is None:
            # Declined once, declined for good, even if the balance has grown since.
            with pytest.raises(InsufficientPoints):
                engine.redeem(member, points, id=sent.key, at=at)
            return
        assert engine.redeem(member, points, id=sent.key, at=at) == sent.entry
    elif sent.hold is not None:
        made, ttl = sent.hold
        assert engine.hold(made.member_id, made.points, id=made.id, at=made.held_at, ttl=ttl) == made
    elif sent.transfer is not None:
        sender, receiver, points, at = sent.transfer
        if sent.made is None:
            with pytest.raises(InsufficientPoints):
                engine.transfer(sender, receiver, points, id=sent.key, at=at)
            return
        assert engine.transfer(sender, receiver, points, id=sent.key, at=at) == sent.made
    elif sent.merge is not None:
        survivor, absorbed, at = sent.merge
        assert engine.merge_members(survivor, absorbed, id=sent.key, at=at, reason="duplicate") == (
            sent.merged
        )
    elif sent.adjust is not None:
        member, points, at = sent.adjust
        if sent.entry is None:
            with pytest.raises(InsufficientPoints):
                engine.adjust(member, points, id=sent.key, at=at, reason="fix", actor="staff")
            return
        assert engine.adjust(member, points, id=sent.key, at=at, reason="fix", actor="staff") == sent.entry


def send_differently(engine: Engine, sent: Sent, extra: int) -> None:
    """The same id with a changed request raises ``IdempotencyConflict`` naming the field."""
    if sent.merge is not None:
        survivor, absorbed, at = sent.merge
        with pytest.raises(IdempotencyConflict) as info:
            engine.merge_members(survivor, absorbed, id=sent.key, at=at, reason=f"duplicate {extra}")
        assert info.value.field == "reason"
        return
    if sent.transfer is not None:
        sender, receiver, points, at = sent.transfer
        with pytest.raises(IdempotencyConflict) as info:
            engine.transfer(sender, receiver, points + extra, id=sent.key, at=at)
        assert info.value.field == "points"
        return
    if sent.redeem is not None or sent.adjust is not None:
        member, points, at = sent.redeem or sent.adjust  # type: ignore[misc]
        with pytest.raises(IdempotencyConflict) as info:
            if sent.redeem is not None:
                engine.redeem(member, points + extra, id=sent.key, at=at)
            else:
                engine.adjust(member, -points, id=sent.key, at=at, reason="fix", actor="staff")
        assert info.value.field == "points"
        return
    if sent.purchase is None:
        return
    changed = attrs.evolve(sent.purchase, lines=(*sent.purchase.lines, Line("extra", extra, Decimal(1))))
    with pytest.raises(IdempotencyConflict) as info:
        engine.record_purchase(changed)
    assert info.value.field == f"lines[{len(sent.purchase.lines)}]"
