"""Points moving between members in a history file (:mod:`loyalty.history`): the commands, not the
entries they wrote.

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

A ``merge`` record is two members found to be one person, as :meth:`~loyalty.Engine.merge_members`
takes it: the survivor (``member_id``), the member it absorbs (``absorbed``), when and why::

    {"type": "merge", "id": "MG-17", "member_id": "M00042", "at": "2024-03-07T09:00:00+01:00",
     "absorbed": "M00977", "reason": "same person"}

It too is carried as the command: besides the points (credited to the survivor with their
dates), a merge moves the absorbed member's cards and keys, tallies and referrals to the survivor
and closes it, none of which any entry says.

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

__all__ = ["MembersMerged", "PointsSent", "merge_record", "read_merge", "read_transfer", "transfer_record"]


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


@attrs.frozen
class MembersMerged:
    """Member ``member_id`` absorbs member ``absorbed`` ``at``, saying why (``reason``), under the
    command id ``id`` (see :meth:`~loyalty.Engine.merge_members`)."""

    id: str
    member_id: str
    at: datetime
    absorbed: str
    reason: str


def merge_record(merged: MembersMerged) -> dict[str, Any]:
    """What a merge's record says beyond its id, survivor and time."""
    return {"type": "merge", "absorbed": merged.absorbed, "reason": merged.reason}


def read_merge(record: Fields, event_id: str, member_id: str, at: datetime) -> MembersMerged:
    """The merge of ``record`` (its members checked when it reaches an engine)."""
    return MembersMerged(event_id, member_id, at, record.text("absorbed"), record.text("reason"))
