"""Members: who collects points.

>>> from datetime import datetime, timezone
>>> m = Member("M1", enrolled_at=datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc),
...            attributes={"segment": "student"})
>>> m.attributes["segment"]
'student'
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import attrs

from loyalty.checks import check_aware, check_id, check_text, validates
from loyalty.errors import InvalidInput
from loyalty.json_form import JsonForm

__all__ = ["AttributeValue", "Member", "MemberStatus", "same_value"]

AttributeValue = str | int | bool
_MAX_ATTRIBUTES = 64


def _freeze_attributes(value: Mapping[str, AttributeValue] | None) -> Mapping[str, AttributeValue]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidInput("attributes", f"must be a mapping, not {type(value).__name__}")
    if len(value) > _MAX_ATTRIBUTES:
        raise InvalidInput("attributes", f"at most {_MAX_ATTRIBUTES} attributes, got {len(value)}")
    for key, item in value.items():
        check_id("attributes", key)
        # Floats are refused for the same reason as in money: attributes feed rule filters.
        if not isinstance(item, str | int | bool):
            raise InvalidInput(f"attributes[{key!r}]", f"must be str, int or bool, not {type(item).__name__}")
        if isinstance(item, str):
            check_text(f"attributes[{key!r}]", item)
    return MappingProxyType(dict(sorted(value.items())))


def _check_birthday(_: Any, __: Any, value: object) -> None:
    if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
        raise InvalidInput("birthday", f"must be a date, not {type(value).__name__}")


def _check_changed_at(_: Any, __: Any, value: object) -> None:
    if value is not None:
        check_aware("birthday_changed_at", value)


class MemberStatus(enum.Enum):
    """Whether a member may take part: the engine refuses what its status does not allow."""

    #: Earns, spends and is corrected as usual.
    ACTIVE = "active"
    #: Can neither earn nor spend (purchases, events, redemptions and new holds are refused);
    #: holds already open are captured or released, returns and corrections still settle.
    SUSPENDED = "suspended"
    #: Its history is kept; nothing new happens (earning, spending, holds, corrections, updates)
    #: until it is reopened. Holds already open still settle, returns of its purchases too.
    CLOSED = "closed"
    #: Its personal data was erased (:meth:`loyalty.Engine.erase`): its history and figures are
    #: kept, and every further command on it is refused (:class:`~loyalty.errors.MemberErased`).
    #: Only an erasure gives this status, and nothing takes it away.
    ERASED = "erased"


def _to_status(value: object) -> object:
    if isinstance(value, str):
        try:
            return MemberStatus(value)
        except ValueError:
            choices = ", ".join(repr(status.value) for status in MemberStatus)
            raise InvalidInput("status", f"must be one of {choices}, got {value!r}") from None
    return value


def _check_status(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, MemberStatus):
        raise InvalidInput("status", f"must be a MemberStatus, not {type(value).__name__}")


@attrs.frozen
class Member(JsonForm):
    """An enrolled member. ``attributes`` are free-form facts a POS knows (segment, store)."""

    id: str = attrs.field(validator=validates(check_id, "member_id"))
    enrolled_at: datetime = attrs.field(validator=validates(check_aware, "at"))
    birthday: date | None = attrs.field(default=None, validator=_check_birthday)
    attributes: Mapping[str, AttributeValue] = attrs.field(
        default=None,
        converter=_freeze_attributes,
        hash=False,
    )
    birthday_changed_at: datetime | None = attrs.field(
        default=None, kw_only=True, validator=_check_changed_at
    )
    status: MemberStatus = attrs.field(
        default=MemberStatus.ACTIVE, kw_only=True, converter=_to_status, validator=_check_status
    )


def same_value(one: object, other: object) -> bool:
    """Whether two member details are the same, type and all: ``True`` is not ``1``.

    Mappings (attributes) compare key by key.

    >>> same_value({"vip": True}, {"vip": 1}), same_value("A1", "A1")
    (False, True)
    """
    if isinstance(one, Mapping) and isinstance(other, Mapping):
        return one.keys() == other.keys() and all(same_value(one[key], other[key]) for key in one)
    return type(one) is type(other) and one == other
