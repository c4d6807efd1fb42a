"""A member's own records in a history file (:mod:`loyalty.history`): its ``enrollment``, with
what a migration from another system brings along (its cards and keys, its referral, status,
tier state and tallies), and its ``opening_balance`` records, the points it brings with their
own dates. The format is described in :mod:`loyalty.history` ("Migrating members").

A history export writes, after every member's enrollment and before the first command, a
``referral`` record for each member another referred: the referral links each referee to its
referrer's code once every member (and so every code) is there, whatever order the members' ids
put them in, and pending, so that the referee's qualifying purchase, when it is replayed, pays
the bonuses it paid in the first store::

    {"type": "referral", "id": "REF-M00043", "member_id": "M00043",
     "at": "2023-05-02T16:40:11+02:00", "referred_by": "K7WQ3XRT"}

>>> from loyalty.history import parse, write
>>> line = ('{"type": "opening_balance", "id": "OB-1", "member_id": "M1", '
...     '"at": "2023-11-20T10:00:00+01:00", "points": 420, "expires_at": null}')
>>> opening = parse(1, line)
>>> opening.points, opening.expires_at
(420, None)
>>> parse(1, next(write([opening]))) == opening
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import attrs

from loyalty.history_fields import Fields
from loyalty.members import AttributeValue

__all__ = [
    "Enrollment",
    "OpeningBalance",
    "Referred",
    "StatusChanged",
    "enrollment_extras",
    "frozen_values",
    "opening_record",
    "read_enrollment",
    "read_opening",
    "read_referral",
    "read_status",
]


def frozen_values(value: Mapping[str, AttributeValue] | None) -> Mapping[str, AttributeValue]:
    """A read-only copy of attributes or properties (``None``: none)."""
    return MappingProxyType(dict(value or {}))


def _keys(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Enrollment:
    """A member joins the program at a till or online, with its ``attributes`` (a segment...)."""

    id: str
    member_id: str
    at: datetime
    birthday: date | None = None
    attributes: Mapping[str, AttributeValue] = attrs.field(factory=dict, converter=frozen_values, hash=False)
    #: Cards and keys given with the enrollment (``"card:1234"``), as :meth:`~loyalty.Engine.enroll`
    #: takes them.
    identifiers: tuple[str, ...] = attrs.field(default=(), converter=_keys)
    #: Another member's referral code, as :meth:`~loyalty.Engine.enroll` takes it.
    referred_by: str | None = None
    #: The sign-up rules already paid the member where the record comes from (an export): the
    #: points are in its opening balances, and an import does not pay them again.
    bonus_paid: bool = False
    #: The member's own referral code, given to it with the enrollment (an export keeps it, so
    #: that the members it referred find it).
    referral_code: str | None = None
    #: Where the member's referral stood where the record comes from (``"rewarded"``...);
    #: ``None``: pending, its referee yet to qualify here.
    referral_state: str | None = None
    #: The member's status (``"suspended"``, ``"closed"``); ``None``: active.
    status: str | None = None
    #: The member's tier state where the record comes from (``tier``, ``earned``, ``since``,
    #: ``review_at``, ``due_at``, ``floor``, ``floor_until``, ``reached``), as a JSON object.
    tier: Mapping[str, Any] | None = attrs.field(default=None, hash=False)
    #: The member's own tallies (visits, stamps, birthday bonuses paid...), by key without the
    #: member's id, each ``{"count": 3, "points": "0"}``.
    tallies: Mapping[str, Any] | None = attrs.field(default=None, hash=False)


@attrs.frozen
class OpeningBalance:
    """Points a member brings from a former program: earned ``at``, expiring at ``expires_at``
    (``None``: never), spendable from ``vests_at`` (``None``: at once), as
    :meth:`~loyalty.Engine.add_opening_balance` writes them."""

    id: str
    member_id: str
    points: int
    at: datetime
    expires_at: datetime | None = None
    vests_at: datetime | None = None


def _identifiers(record: Fields) -> tuple[str, ...]:
    """An enrollment's ``identifiers``: a list of ``kind:value`` strings (checked by the engine)."""
    items = record.items("identifiers", optional=True) or ()
    for i, key in enumerate(items):
        if not isinstance(key, str):
            raise record.error(f"identifiers[{i}]", f"must be a string kind:value, not {type(key).__name__}")
    return tuple(items)


def enrollment_extras(event: Enrollment) -> dict[str, Any]:
    """What an enrollment writes beyond its member's details, each only when it says something
    (a file without them reads as before)."""
    extras: dict[str, Any] = {"identifiers": list(event.identifiers)} if event.identifiers else {}
    extras |= {} if event.referred_by is None else {"referred_by": event.referred_by}
    extras |= {"bonus_paid": True} if event.bonus_paid else {}
    extras |= {} if event.referral_code is None else {"referral_code": event.referral_code}
    extras |= {} if event.referral_state is None else {"referral_state": event.referral_state}
    extras |= {} if event.status is None else {"status": event.status}
    extras |= {} if event.tier is None else {"tier": dict(event.tier)}
    return extras | ({} if event.tallies is None else {"tallies": dict(event.tallies)})


def read_enrollment(record: Fields, event_id: str, member_id: str, at: datetime) -> Enrollment:
    """The enrollment of ``record`` (its keys, codes and states checked when it reaches an engine)."""
    keys, birthday, attributes = _identifiers(record), record.day("birthday"), record.values("attributes")
    referred_by, code = record.optional_text("referred_by"), record.optional_text("referral_code")
    paid, state = record.flag("bonus_paid"), record.optional_text("referral_state")
    status, tier, tallies = record.optional_text("status"), record.mapping("tier"), record.mapping("tallies")
    return Enrollment(
        event_id,
        member_id,
        at,
        birthday,
        attributes,
        keys,
        referred_by,
        paid,
        code,
        state,
        status,
        tier,
        tallies,
    )


def opening_record(event: OpeningBalance) -> dict[str, Any]:
    """What an opening balance's record says beyond its id, member and time."""
    expires = None if event.expires_at is None else event.expires_at.isoformat()
    record = {"type": "opening_balance", "points": event.points, "expires_at": expires}
    return record | ({} if event.vests_at is None else {"vests_at": event.vests_at.isoformat()})


def read_opening(record: Fields, event_id: str, member_id: str, at: datetime) -> OpeningBalance:
    """The opening balance of ``record`` (its points and dates checked when it reaches an engine)."""
    points = record.integer("points")
    expires = None if record.data.get("expires_at") is None else record.instant("expires_at")
    vests = None if record.data.get("vests_at") is None else record.instant("vests_at")
    return OpeningBalance(event_id, member_id, points, at, expires, vests)


@attrs.frozen
class Referred:
    """Member ``member_id``, enrolled ``at``, was referred with the code ``referred_by``: a referral
    linked after the enrollments (see above), pending until the referee's purchases say more."""

    id: str
    member_id: str
    at: datetime
    referred_by: str


def read_referral(record: Fields, event_id: str, member_id: str, at: datetime) -> Referred:
    """The referral of ``record`` (its code checked when it reaches an engine)."""
    return Referred(event_id, member_id, at, record.text("referred_by"))


#: The statuses a ``status`` record may give (an erased member's is its export's last word on it).
STATUSES = ("active", "suspended", "closed", "erased")


@attrs.frozen
class StatusChanged:
    """Member ``member_id``'s status became ``status`` ``at`` (suspended, reinstated, closed,
    reopened or erased), with why and who, under the command id ``id``: written where it changed
    in the history's order, so that an import decides what the status decided then (a referrer
    suspended when its referee qualified gets no bonus) and ends in the same status."""

    id: str
    member_id: str
    at: datetime
    status: str
    reason: str
    actor: str


def read_status(record: Fields, event_id: str, member_id: str, at: datetime) -> StatusChanged:
    """The status change of ``record``, its ``status`` one of :data:`STATUSES`."""
    status = record.text("status")
    if status not in STATUSES:
        raise record.error("status", f"must be {', '.join(STATUSES)}, got {status!r}")
    return StatusChanged(event_id, member_id, at, status, record.text("reason"), record.text("actor"))
