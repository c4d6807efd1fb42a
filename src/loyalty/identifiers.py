"""Identifiers: the cards and keys a till finds a member by.

A member may have several: card numbers, a phone number, an e-mail address,
or a key of the merchant's own (``other``). The till passes one as a *key*,
written ``kind:value``; the value is put in a normal form first, so the same
card typed with or without its spaces and dashes is the same key:

>>> parse_key("card:1234-5678 ab")
(<IdentifierKind.CARD: 'card'>, '12345678AB')
>>> key_text(*parse_key("email:  Ann@Example.COM "))
'email:ann@example.com'
>>> key_text(*parse_key("phone:+44 (20) 7946-0958"))
'phone:+442079460958'
>>> parse_key("loyalty:42")
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: key: the kind must be one of 'card', 'phone', 'email', 'other', got 'loyalty'

Each normal form, by kind:

- ``card``: spaces and dashes dropped, letters upper-cased; what is left must be
  letters and digits;
- ``phone``: a leading ``+`` and the digits, with spaces, dashes, dots and
  brackets dropped; at least 6 digits;
- ``email``: trimmed and lower-cased as a whole (mail systems treat the part
  before the ``@`` as case-blind in practice, and a till must not enroll
  ``Ann@`` and ``ann@`` as two people); exactly one ``@``, and a dot in the
  domain;
- ``other``: trimmed, otherwise kept as given.

A key is one member's for good: replacing a lost card (:func:`plan_replace`)
marks the old one ``replaced`` and the program's ``[identifiers] lost_card``
says what a later look-up of it gives (:func:`member_of`): a refusal
(``"refuse"``, the default: a card found in the street earns nothing) or the
member (``"redirect"``). A removed key finds no one and may be given again.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from loyalty.checks import check_aware, check_id, one_of, validates
from loyalty.errors import IdentifierReplaced, IdentifierTaken, InvalidInput, UnknownIdentifier
from loyalty.json_form import JsonForm
from loyalty.rule_fields import as_enum

__all__ = [
    "MAX_VALUE_LENGTH",
    "Identifier",
    "IdentifierKind",
    "IdentifierStatus",
    "Identifiers",
    "LostCard",
    "key_text",
    "member_of",
    "normal_value",
    "parse_key",
    "plan_add",
    "plan_remove",
    "plan_replace",
]

#: The longest value a key may hold, in its normal form (an e-mail address may reach 254).
MAX_VALUE_LENGTH = 254
_MIN_PHONE_DIGITS = 6
_PHONE_SEPARATORS = str.maketrans("", "", " -.()")


class IdentifierKind(enum.Enum):
    """What a key is: the part before the colon of ``kind:value``."""

    CARD = "card"
    PHONE = "phone"
    EMAIL = "email"
    OTHER = "other"


class IdentifierStatus(enum.Enum):
    """Whether a key still finds its member."""

    #: Finds its member.
    ACTIVE = "active"
    #: A card replaced by another (lost, stolen, worn out): the program's ``lost_card`` says
    #: whether it still finds its member. It is never given to anyone again.
    REPLACED = "replaced"
    #: Taken off the member: finds no one, and may be given again (to anyone).
    REMOVED = "removed"


class LostCard(enum.Enum):
    """What looking up a replaced card gives (the program's ``identifiers.lost_card``)."""

    #: :class:`~loyalty.errors.IdentifierReplaced`: the card no longer works.
    REFUSE = "refuse"
    #: The member the card was replaced for, as if the new card had been shown.
    REDIRECT = "redirect"


def _to_lost_card(value: Any) -> Any:
    return as_enum(LostCard, value)


@attrs.frozen(kw_only=True)
class Identifiers:
    """A program's terms for members' cards and keys (its ``identifiers`` table)."""

    #: What a look-up of a card replaced by :meth:`loyalty.Engine.replace_card` gives: "refuse"
    #: (an error) or "redirect" (the card's member).
    lost_card: LostCard = attrs.field(
        default=LostCard.REFUSE, converter=_to_lost_card, validator=one_of(LostCard, "lost_card")
    )


def _kind(value: object, field: str) -> IdentifierKind:
    kind = as_enum(IdentifierKind, value)
    if not isinstance(kind, IdentifierKind):
        choices = ", ".join(repr(k.value) for k in IdentifierKind)
        raise InvalidInput(field, f"the kind must be one of {choices}, got {value!r}")
    return kind


def normal_value(kind: IdentifierKind, value: str, field: str = "key") -> str:
    """``value`` in the normal form of ``kind`` (see the module), or :class:`InvalidInput` naming
    ``field``.

    >>> normal_value(IdentifierKind.PHONE, "12-34")
    Traceback (most recent call last):
    ...
    loyalty.errors.InvalidInput: key: a phone number needs at least 6 digits, got '12-34'
    """
    if not isinstance(value, str):
        raise InvalidInput(field, f"must be a string, not {type(value).__name__}")
    given = value
    value = value.strip()
    if not value:
        raise InvalidInput(field, "must not be empty")
    # Tabs, newlines, NUL, bidi overrides: keys that print alike but differ.
    if not value.isprintable():
        raise InvalidInput(field, "must not contain control characters")
    if kind is IdentifierKind.CARD:
        value = value.replace(" ", "").replace("-", "").upper()
        if not value or not (value.isascii() and value.isalnum()):
            raise InvalidInput(
                field, f"a card number is letters and digits (spaces and dashes aside), got {given!r}"
            )
    elif kind is IdentifierKind.PHONE:
        plus, digits = value.startswith("+"), value.removeprefix("+").translate(_PHONE_SEPARATORS)
        if not (digits.isascii() and digits.isdigit()):
            raise InvalidInput(field, f"a phone number is digits, with an optional leading +, got {given!r}")
        if len(digits) < _MIN_PHONE_DIGITS:
            raise InvalidInput(
                field, f"a phone number needs at least {_MIN_PHONE_DIGITS} digits, got {given!r}"
            )
        value = "+" * plus + digits
    elif kind is IdentifierKind.EMAIL:
        value = value.lower()
        local, at, domain = value.partition("@")
        if (
            not at
            or not local
            or "@" in domain
            or "." not in domain.strip(".")
            or any(c.isspace() for c in value)
        ):
            raise InvalidInput(field, f"an e-mail address has one @ and a dot in its domain, got {given!r}")
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInput(field, f"must be at most {MAX_VALUE_LENGTH} characters, got {len(value)}")
    return value


def parse_key(key: object, field: str = "key") -> tuple[IdentifierKind, str]:
    """A key ``kind:value`` as its kind and normal value; anything else raises
    :class:`InvalidInput` naming ``field``."""
    if not isinstance(key, str):
        raise InvalidInput(field, f"must be a string kind:value, not {type(key).__name__}")
    kind, colon, value = key.partition(":")
    if not colon:
        raise InvalidInput(field, f"must be kind:value (card:1234, email:ann@example.com), got {key!r}")
    found = _kind(kind.strip().lower(), field)
    if not value.strip():
        raise InvalidInput(field, f"the {found.value} after the colon must not be empty")
    return found, normal_value(found, value, field)


def key_text(kind: IdentifierKind, value: str) -> str:
    """The key ``kind:value`` (``value`` already in its normal form)."""
    return f"{kind.value}:{value}"


def _to_kind(value: Any) -> Any:
    return as_enum(IdentifierKind, value)


def _to_status(value: Any) -> Any:
    return as_enum(IdentifierStatus, value)


def _check_kind(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, IdentifierKind):
        raise InvalidInput("kind", f"must be an IdentifierKind, not {type(value).__name__}")


def _check_status(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, IdentifierStatus):
        raise InvalidInput("status", f"must be an IdentifierStatus, not {type(value).__name__}")


def _check_value(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, str):
        raise InvalidInput("value", f"must be a string, not {type(value).__name__}")


def _check_replaced_by(_: Any, __: Any, value: Any) -> None:
    if value is not None:
        parse_key(value, "replaced_by")


@attrs.frozen
class Identifier(JsonForm):
    """A key of a member: its ``kind`` and ``value`` (in normal form), whose it is, since when
    (the till's time it was given), and whether it still finds the member; a replaced card
    names its replacement in ``replaced_by`` (a key)."""

    kind: IdentifierKind = attrs.field(converter=_to_kind, validator=_check_kind)
    value: str = attrs.field(validator=_check_value)
    member_id: str = attrs.field(validator=validates(check_id, "member_id"))
    since: datetime = attrs.field(validator=validates(check_aware, "at"))
    status: IdentifierStatus = attrs.field(
        default=IdentifierStatus.ACTIVE,
        converter=_to_status,
        validator=_check_status,
    )
    replaced_by: str | None = attrs.field(default=None, validator=_check_replaced_by)

    def __attrs_post_init__(self) -> None:
        if normal_value(self.kind, self.value, "value") != self.value:
            raise InvalidInput("value", f"must be in normal form, got {self.value!r}")

    @property
    def key(self) -> str:
        """The identifier as a key, ``kind:value``."""
        return key_text(self.kind, self.value)


# -- decisions ---------------------------------------------------------------------------------


def plan_add(
    found: Identifier | None,
    member_id: str,
    kind: IdentifierKind,
    value: str,
    at: datetime,
    field: str = "key",
) -> Identifier | None:
    """The identifier to write for giving ``kind:value`` to ``member_id`` at ``at``, given the one
    stored under that key (``found``); ``None`` when the member has it already (nothing to write).

    A key another member holds is :class:`~loyalty.errors.IdentifierTaken`; a replaced card is
    retired for good (:class:`~loyalty.errors.IdentifierReplaced`); a removed key is given afresh.

    >>> from datetime import UTC
    >>> t = datetime(2024, 3, 1, tzinfo=UTC)
    >>> plan_add(None, "M1", IdentifierKind.CARD, "1234", t).key
    'card:1234'
    >>> plan_add(Identifier(IdentifierKind.CARD, "1234", "M2", t), "M1", IdentifierKind.CARD, "1234", t)
    Traceback (most recent call last):
    ...
    loyalty.errors.IdentifierTaken: key: card:1234 is another member's
    """
    new = Identifier(kind, value, member_id, at)
    if found is None or found.status is IdentifierStatus.REMOVED:
        return new
    if found.status is IdentifierStatus.REPLACED:
        raise IdentifierReplaced(field, f"{found.key} was replaced and cannot be given again")
    if found.member_id != member_id:
        raise IdentifierTaken(field, f"{found.key} is another member's")
    return None


def _own(
    found: Identifier | None, member_id: str, kind: IdentifierKind, value: str, field: str
) -> Identifier:
    if found is None or found.member_id != member_id or found.status is not IdentifierStatus.ACTIVE:
        raise UnknownIdentifier(field, f"member {member_id!r} has no {key_text(kind, value)}")
    return found


def plan_replace(
    old: Identifier | None,
    new: Identifier | None,
    member_id: str,
    old_key: tuple[IdentifierKind, str],
    new_key: tuple[IdentifierKind, str],
    at: datetime,
) -> tuple[Identifier, Identifier]:
    """The old card as replaced and the new card to write, for replacing ``old_key`` (stored as
    ``old``) with ``new_key`` (stored as ``new``) on ``member_id``. Both must be cards; the old one
    the member's and active (:class:`~loyalty.errors.UnknownIdentifier` naming ``old_key``); the
    new one free as for :func:`plan_add` (errors naming ``new_key``) and not the member's already.
    """
    for field, (kind, _) in (("old_key", old_key), ("new_key", new_key)):
        if kind is not IdentifierKind.CARD:
            raise InvalidInput(field, f"replace_card replaces a card with a card, got a {kind.value}")
    if old_key == new_key:
        raise InvalidInput("new_key", "is the card being replaced")
    retired = _own(old, member_id, *old_key, "old_key")
    added = plan_add(new, member_id, *new_key, at, "new_key")
    if added is None:
        raise InvalidInput("new_key", f"{key_text(*new_key)} is the member's already")
    return attrs.evolve(retired, status=IdentifierStatus.REPLACED, replaced_by=added.key), added


def plan_remove(found: Identifier | None, member_id: str, kind: IdentifierKind, value: str) -> Identifier:
    """The identifier as removed, for taking ``kind:value`` (stored as ``found``) off ``member_id``:
    it must be the member's and active (:class:`~loyalty.errors.UnknownIdentifier` naming ``key``)."""
    return attrs.evolve(_own(found, member_id, kind, value, "key"), status=IdentifierStatus.REMOVED)


def member_of(found: Identifier | None, terms: Identifiers, key: str) -> str:
    """The member a look-up of ``key`` (stored as ``found``) finds under the program's ``terms``.

    A key never given or removed is :class:`~loyalty.errors.UnknownIdentifier`; a replaced card
    is :class:`~loyalty.errors.IdentifierReplaced` under ``lost_card = "refuse"``, its member
    under ``"redirect"``; each names ``key``.
    """
    if found is None or found.status is IdentifierStatus.REMOVED:
        raise UnknownIdentifier("key", f"no member has {key}")
    if found.status is IdentifierStatus.REPLACED and terms.lost_card is LostCard.REFUSE:
        raise IdentifierReplaced("key", f"{key} was replaced by another card and no longer finds its member")
    return found.member_id
