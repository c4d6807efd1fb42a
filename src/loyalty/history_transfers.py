"""Points moving between members in a history file (:mod:`loyalty.history`): the command, not the
entries it wrote.

A ``transfer`` record is a member sending points to another, as
:meth:`~loyalty.Engine.transfer` takes it: the sender (``member_id``), the receiver
(``to_member``), the ``points`` (stored units), when (``at``) and why (``reason``)::

    {"type": "transfer", "id": "TR-881", "member_id": "M00042", "at": "2024-03-06T09:00:00+01:00",
     "to_member": "M00043", "points": 50, "reason": "gift"}

It is carried as the command rather than as the entries it wrote (a debit of the sender, credits
of the receiver) because those credits keep the dates of the sender's lots they came from, and
count toward the receiver's tier progress: replayed, the engine draws the same lots of the sender
(its draw order, its day's limit) and credits the receiver with their dates, as the first store
did; two adjustments would give the receiver points dated the day of the transfer.

>>> import json
>>> from loyalty.history import parse, record_of
>>> text = json.dumps({"type": "transfer", "id": "TR-1", "member_id": "M1", "at": "2024-03-06T09:00:00+01:00",
...     "to_member": "M2", "points": 50, "reason": "gift"})
>>> record_of(parse(1, text)) == json.loads(text)
True
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from loyalty.history_fields import Fields

__all__ = ["PointsSent", "read_transfer", "transfer_record"]


@attrs.frozen
class PointsSent:
    """Member ``member_id`` sends ``points`` to ``to_member`` ``at``, saying why (``reason``),
    under the command id ``id`` (see :meth:`~loyalty.Engine.transfer`)."""

    id: str
    member_id: str
    at: datetime
    to_member: str
    points: int
    reason: str


def transfer_record(sent: PointsSent) -> dict[str, Any]:
    """What a transfer's record says beyond its id, member and time."""
    return {"type": "transfer", "to_member": sent.to_member, "points": sent.points, "reason": sent.reason}


def read_transfer(record: Fields, event_id: str, member_id: str, at: datetime) -> PointsSent:
    """The transfer of ``record`` (its members and points checked when it reaches an engine)."""
    to, points, reason = record.text("to_member"), record.integer("points"), record.text("reason")
    return PointsSent(event_id, member_id, at, to, points, reason)
