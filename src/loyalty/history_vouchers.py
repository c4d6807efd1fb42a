"""An unused voucher in a history file (:mod:`loyalty.history`): a reward a member bought with
points and has yet to use, carried to another store with its code, so the till still takes it;
and an open hold, carried under its id, so the till still captures or releases it.

A ``voucher`` record names the member, when the voucher was bought (``at``), its ``code``,
``reward_id``, cost in ``points`` and ``expires_at``, and the ``lots`` its points came from,
each with its ``points`` and the dates it was earned (``at``) and expires (``expires_at``,
``null`` for never): a void gives the points back to lots with those dates, as in the first
store::

    {"type": "voucher", "id": "VCH-HH6J8HJY8Z", "member_id": "M00042",
     "at": "2024-03-05T14:02:51+01:00", "code": "HH6J8HJY8Z", "reward_id": "coffee",
     "points": 300, "expires_at": "2024-04-04T13:02:51+00:00",
     "lots": [{"points": 300, "at": "2024-01-10T10:00:00+01:00", "expires_at": null}]}

A ``hold`` record says the same of a hold, without a code or reward::

    {"type": "hold", "id": "S03-T2-000125", "member_id": "M00042",
     "at": "2024-03-05T14:04:00+01:00", "points": 120, "expires_at": "2024-03-05T13:19:00+00:00",
     "lots": [{"points": 120, "at": "2024-01-10T10:00:00+01:00", "expires_at": null}]}

A history export writes a hold a till made as the command (``held``), where it was made in the
ledger's order: its ``points``, its ``expires_at`` and, once captured, the points ``captured``
(``null``: still open); a released or expired hold gave its points back to the lots they came
from and is left out (see docs/import-export.md)::

    {"type": "held", "id": "S03-T2-000125", "member_id": "M00042",
     "at": "2024-03-05T14:04:00+01:00", "points": 120, "expires_at": "2024-03-05T13:19:00+00:00",
     "captured": 100}

>>> from loyalty.history import parse, write
>>> line = ('{"type": "voucher", "id": "VCH-1", "member_id": "M1", "at": "2024-03-05T14:00:00+01:00",'
...     ' "code": "HH6J8HJY8Z", "reward_id": "coffee", "points": 300,'
...     ' "expires_at": "2024-04-04T13:00:00+00:00",'
...     ' "lots": [{"points": 300, "at": "2024-01-10T10:00:00+01:00", "expires_at": null}]}')
>>> voucher = parse(1, line)
>>> voucher.code, voucher.lots[0].points
('HH6J8HJY8Z', 300)
>>> parse(1, next(write([voucher]))) == voucher
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs

from loyalty.checks import MAX_ID_LENGTH
from loyalty.history_fields import Fields

__all__ = [
    "DrawnLot",
    "HeldPoints",
    "HoldCaptured",
    "OpenHold",
    "OpenVoucher",
    "held_record",
    "read_capture",
    "read_held",
    "read_hold",
    "read_voucher",
    "voucher_record",
]


@attrs.frozen
class DrawnLot:
    """``points`` of a voucher's cost (or a hold's) that came from a lot earned ``at``, expiring
    at ``expires_at`` (``None``: never)."""

    points: int
    at: datetime
    expires_at: datetime | None = None


def _lots(value: Iterable[DrawnLot]) -> tuple[DrawnLot, ...]:
    return tuple(value)


@attrs.frozen
class OpenVoucher:
    """An unused voucher ``code`` for reward ``reward_id``, bought ``at`` for ``points`` taken
    from ``lots``, usable until ``expires_at`` (see :meth:`~loyalty.Engine.redeem_reward`)."""

    id: str
    member_id: str
    at: datetime
    code: str
    reward_id: str
    points: int
    expires_at: datetime
    lots: tuple[DrawnLot, ...] = attrs.field(converter=_lots)


@attrs.frozen
class OpenHold:
    """A hold still open: ``points`` reserved ``at`` (the hold's id is the till's, which captures
    or releases it), taken from ``lots``, ending unless captured at ``expires_at`` (see
    :meth:`~loyalty.Engine.hold`)."""

    id: str
    member_id: str
    at: datetime
    points: int
    expires_at: datetime
    lots: tuple[DrawnLot, ...] = attrs.field(converter=_lots)


def _lot_records(lots: Iterable[DrawnLot]) -> list[dict[str, Any]]:
    return [
        {
            "points": lot.points,
            "at": lot.at.isoformat(),
            "expires_at": None if lot.expires_at is None else lot.expires_at.isoformat(),
        }
        for lot in lots
    ]


def voucher_record(voucher: OpenVoucher | OpenHold) -> dict[str, Any]:
    """What a voucher's (or a hold's) record says beyond its type, id, member and time."""
    if isinstance(voucher, OpenHold):
        points, expires = voucher.points, voucher.expires_at.isoformat()
        return {"type": "hold", "points": points, "expires_at": expires, "lots": _lot_records(voucher.lots)}
    return {
        "type": "voucher",
        "code": voucher.code,
        "reward_id": voucher.reward_id,
        "points": voucher.points,
        "expires_at": voucher.expires_at.isoformat(),
        "lots": _lot_records(voucher.lots),
    }


def _read_lots(record: Fields) -> list[DrawnLot]:
    lots = []
    for i, item in enumerate(record.items("lots") or ()):
        fields = Fields(record.number, item, f"lots[{i}].", utc=record.utc)
        until = None if fields.data.get("expires_at") is None else fields.instant("expires_at")
        lots.append(DrawnLot(fields.integer("points"), fields.instant("at"), until))
    return lots


def read_voucher(record: Fields, event_id: str, member_id: str, at: datetime) -> OpenVoucher:
    """The voucher of ``record`` (its points and dates checked when it reaches an engine)."""
    code, reward, points = record.text("code"), record.text("reward_id"), record.integer("points")
    expires = record.instant("expires_at")
    return OpenVoucher(event_id, member_id, at, code, reward, points, expires, _read_lots(record))


def read_hold(record: Fields, event_id: str, member_id: str, at: datetime) -> OpenHold:
    """The hold of ``record`` (its points and dates checked when it reaches an engine)."""
    points, expires = record.integer("points"), record.instant("expires_at")
    return OpenHold(event_id, member_id, at, points, expires, _read_lots(record))


@attrs.frozen
class HeldPoints:
    """A hold a till made under its id ``id``: ``points`` reserved ``at``, ending unless captured
    at ``expires_at``, and ``captured`` points of them spent (``None``: still open), as
    :meth:`~loyalty.Engine.hold` and :meth:`~loyalty.Engine.capture` write them."""

    id: str
    member_id: str
    at: datetime
    points: int
    expires_at: datetime
    captured: int | None = None
    #: When a capture that gave points back was made: its own ``capture`` record, at its place,
    #: captures the hold then (``None``: captured at once, as the record is imported).
    captured_at: datetime | None = None

    @property
    def capture_id(self) -> str:
        """The id its capture is imported under (the till's own is not kept with the hold): the
        hold's, marked, or a digest of it where that would be too long for an id."""
        marked = f"{self.id}:capture"
        if len(marked) <= MAX_ID_LENGTH:
            return marked
        return "capture:" + hashlib.sha256(self.id.encode()).hexdigest()

    def ttl(self, longest: timedelta) -> timedelta:
        """How long the hold is made for where it is imported: a captured one, captured at once,
        the ``longest`` a hold may have (it cannot expire first); an open one the time it had
        (its clock starting again there). Either is worked out from the record alone, so that an
        import run again asks for the very same hold."""
        return longest if self.captured is not None else min(longest, self.expires_at - self.at)


@attrs.frozen
class HoldCaptured:
    """Hold ``hold_id`` of member ``member_id`` captured ``at`` for ``points``, under the id
    ``id`` (the hold's :attr:`HeldPoints.capture_id`): where the capture gave the rest of the
    hold back, in the history's order, so that the commands between the hold and its capture
    draw the lots they drew."""

    id: str
    member_id: str
    at: datetime
    hold_id: str
    points: int


def held_record(held: HeldPoints) -> dict[str, Any]:
    """What a hold's record says beyond its id, member and time."""
    record = {
        "type": "held",
        "points": held.points,
        "expires_at": held.expires_at.isoformat(),
        "captured": held.captured,
    }
    return record | ({} if held.captured_at is None else {"captured_at": held.captured_at.isoformat()})


def read_held(record: Fields, event_id: str, member_id: str, at: datetime) -> HeldPoints:
    """The hold of ``record`` (its points and dates checked when it reaches an engine)."""
    points, expires = record.integer("points"), record.instant("expires_at")
    captured = None if record.data.get("captured") is None else record.integer("captured")
    later = None if record.data.get("captured_at") is None else record.instant("captured_at")
    return HeldPoints(event_id, member_id, at, points, expires, captured, later)


def read_capture(record: Fields, event_id: str, member_id: str, at: datetime) -> HoldCaptured:
    """The capture of ``record`` (its hold checked when it reaches an engine)."""
    return HoldCaptured(event_id, member_id, at, record.text("hold_id"), record.integer("points"))
