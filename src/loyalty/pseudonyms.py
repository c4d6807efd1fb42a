"""The pseudonym an erasure gives a member id (:mod:`loyalty.erasure`), and the renaming of it.

A member id is often a phone or card number, and it is the key every row of the member is
found by: an erasure replaces it everywhere the store keeps it by a pseudonym, a keyed hash
(HMAC-SHA-256) of the id with a secret the store draws at its first erasure and keeps (the
tally :data:`SECRET_KEY`). The same id always gets the same pseudonym in one store, so a
command that names the erased member's original id is recognised (the store looks for an
erased member under the id's pseudonym) without the id being kept anywhere; without the
secret, the pseudonym says nothing about the id. What it does not protect against is said in
docs/erasure.md: whoever has the secret (a copy of the whole database) can hash every phone
number and find the erased one.

>>> secret = bytes(range(32))
>>> name = pseudonym(secret, "+31612345678")
>>> name, pseudonym(secret, "+31612345678") == name, pseudonym(b"other" * 7, "+31612345678") == name
('erased-4bduq5wvhhbm7z6ztquxcziqpm', True, False)
>>> secret_from(secret_points(secret)) == secret
True
>>> renamed({"from_member": "M1", "sku": "M1", "referrals": ["M1", "M2"]}, "M1", "P")
{'from_member': 'P', 'sku': 'M1', 'referrals': ['P', 'M2']}
>>> renamed({"context": {"visits|M1": 2, "M1": 1}}, "M1", "P")
{'context': {'visits|P': 2, 'M1': 1}}
>>> renamed_tally("spent|2024-03|M1", "M1", "P"), renamed_tally("spent|2024-03|X|M1", "M1", "P")
('spent|2024-03|P', None)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from loyalty.tallies import MEMBER_MARK

__all__ = [
    "FREE_FORM_FIELDS",
    "ID_FIELDS",
    "MADE_IDS",
    "MADE_REASONS",
    "MARKED_FAMILIES",
    "PREFIX",
    "SECRET_BYTES",
    "SECRET_KEY",
    "TALLY_FIELDS",
    "TALLY_MAPS",
    "is_pseudonym",
    "made_reasons",
    "mentions",
    "merged_referrer",
    "pseudonym",
    "renamed",
    "renamed_reason",
    "renamed_referral_reason",
    "renamed_source",
    "renamed_tally",
    "secret_from",
    "secret_points",
]

#: How every pseudonym starts (a member id a caller chooses may start so too: it is only a name).
PREFIX = "erased-"
#: The length of a store's secret, in bytes.
SECRET_BYTES = 32
#: The tally a store keeps its secret under (as the points, an integer: :func:`secret_points`).
#: Not a member's tally: no family of :data:`TALLY_FAMILIES` reads it.
SECRET_KEY = "erasure|secret"
# 130 bits of the hash, in 26 lower-case base-32 letters: no two ids of a store meet.
_LETTERS = 26

#: The fields of a record's request or result, or of an event's data, whose value is a member id
#: (or a list of member ids: a merge's referees), at any depth.
ID_FIELDS = frozenset(
    {
        "absorbed",
        "erased_member",
        "from_member",
        "member_id",
        "referee",
        "referees",
        "referrals",
        "referrer",
        "survivor",
        "to_member",
    }
)
#: The fields whose value is a tally key (what a merge carried from one member's tally to another's).
TALLY_FIELDS = frozenset({"source", "target"})
#: The fields whose value maps tally keys to what was read of them (a purchase's ``context``).
TALLY_MAPS = frozenset({"context"})
#: The prefixes of the source ids the engine makes from a member id and an instant
#: (``remind:M1:2024-06-01T00:00:00+00:00``): an expiry reminder, a tier review or balance
#: review, an at-risk notice.
MADE_IDS = ("remind:", "tier-review:", "tier-balance:", "at-risk:", "OPEN-")
_DATED = MADE_IDS[:-1]
# An exported opening balance: OPEN-{member}-{lot} (loyalty.service.exporting.opening_id).
_OPENING = MADE_IDS[-1]
#: The reasons the engine writes a member id into, by the rule of the entry: the text before and
#: after the id (loyalty.referral_bonuses.bonus_posting).
MADE_REASONS: Mapping[str, tuple[str, str]] = {
    "referral:referrer": ("referral bonus: ", " made a first purchase"),
    "referral:referee": ("referral bonus: welcome, referred by ", ""),
}
#: The free-form maps of a record or event, whose keys the caller chose (a member's attributes,
#: an event's properties, a line's labels; loyalty.codec's opaque maps): no member id field is
#: in them, whatever a key is called ("referrer", "member_id"), so nothing in them is renamed.
FREE_FORM_FIELDS = frozenset({"attributes", "labels", "properties"})
# The fields of a member's form (loyalty.codec.unstructure), whose ``id`` is the member's: a
# member update's result, the member a purchase was evaluated with.
_MEMBER_FORM = frozenset({"id", "enrolled_at", "attributes"})
# The fields of an entry's form (loyalty.codec.unstructure) a record's result is told by.
_ENTRY_FORM = frozenset({"seq", "member_id", "kind", "source_id", "reason"})

#: The tallies kept per member (the key's first part), each with the number of parts before the
#: member id, which comes last and alone may hold the separator ``|`` (loyalty.earning_keys):
#: ``spent|2024-03|M1`` is M1's, ``spent|2024-03|X|M1`` is member ``X|M1``'s.
TALLY_FAMILIES: Mapping[str, int] = {
    "visits": 1,
    "carry": 1,
    "redeemed": 1,
    "seen": 1,
    "atrisk": 1,
    "debt": 1,
    "owed": 1,
    "merged": 1,
    "spent": 2,
    "stamps": 2,
    "referrals": 2,
    "cap": 3,
    "birthday": 3,
    "events": 3,
    "tier": 3,
}


#: The tallies of a member's purchase or lot (loyalty.returns.taken_key, loyalty.expiry.reminded_key):
#: the key names the purchase or lot, then, after :data:`loyalty.tallies.MEMBER_MARK`, the member.
MARKED_FAMILIES = frozenset({"returned", "taken", "paid", "refunded", "reminded"})


def pseudonym(secret: bytes, member_id: str) -> str:
    """The pseudonym of ``member_id`` under a store's ``secret``: always the same for the same two."""
    digest = hmac.new(secret, member_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return PREFIX + base64.b32encode(digest).decode("ascii")[:_LETTERS].lower()


def is_pseudonym(member_id: str) -> bool:
    """Whether ``member_id`` has the form of a pseudonym (:func:`pseudonym`): a member erased by
    an earlier version kept its id, which has not (unless its caller chose one so).

    >>> is_pseudonym(pseudonym(bytes(SECRET_BYTES), "M1")), is_pseudonym("M1")
    (True, False)
    """
    letters = member_id[len(PREFIX) :]
    return member_id.startswith(PREFIX) and len(letters) == _LETTERS and all(c in _BASE32 for c in letters)


_BASE32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def secret_points(secret: bytes) -> Decimal:
    """The secret as the points of the tally :data:`SECRET_KEY` (a whole number, exact)."""
    return Decimal(int.from_bytes(secret, "big"))


def secret_from(points: Decimal | int | str) -> bytes:
    """The secret the points of the tally :data:`SECRET_KEY` hold (see :func:`secret_points`)."""
    return int(Decimal(points)).to_bytes(SECRET_BYTES, "big")


def renamed(value: Any, old: str, new: str) -> Any:
    """``value`` (a record's request or result, or an event's data: JSON-like) with member id
    ``old`` replaced by ``new`` where a field holds a member id, and nowhere else: the string
    value of a field of :data:`ID_FIELDS` (or each string of a list there), the ``id`` of a
    member's form (a member update's result, the member a purchase was evaluated with), a
    tally key of ``old`` in a field of :data:`TALLY_FIELDS` or as a key of a
    :data:`TALLY_MAPS` mapping, and, in the form of an
    entry, the source id and reason the engine made from the member id (:func:`renamed_source`,
    :func:`renamed_reason`). A SKU, a label, a code or a note equal to ``old`` stays as it is,
    and so does the caller's free-form map (:data:`FREE_FORM_FIELDS`), whatever its keys.

    >>> renamed({"member_id": "M1", "lines": [{"sku": "M1"}], "taken": [{"source": "seen|M1"}]}, "M1", "P")
    {'member_id': 'P', 'lines': [{'sku': 'M1'}], 'taken': [{'source': 'seen|P'}]}
    """
    return _walk(value, old, new, None)


def _walk(value: Any, old: str, new: str, field: str | None) -> Any:
    if isinstance(value, str):
        if field in ID_FIELDS:
            return new if value == old else value
        if field in TALLY_FIELDS:
            tally = renamed_tally(value, old, new)
            return value if tally is None else tally
        return value
    if isinstance(value, Mapping):
        if field in FREE_FORM_FIELDS:
            return value
        walked: dict[Any, Any] = {}
        for name, item in value.items():
            key = name
            if field in TALLY_MAPS and isinstance(name, str):
                tally = renamed_tally(name, old, new)
                key = name if tally is None else tally
            walked[key] = _walk(item, old, new, name)
        if walked.keys() >= _MEMBER_FORM and walked["id"] == old:
            walked["id"] = new
        if walked.keys() >= _ENTRY_FORM:
            _rename_entry_form(walked, value, old, new)
        return walked
    if isinstance(value, list | tuple):
        # A list's items are of its field: a list of member ids, of tally keys or of records.
        return [_walk(item, old, new, field) for item in value]
    return value


def _rename_entry_form(walked: dict[Any, Any], value: Mapping[Any, Any], old: str, new: str) -> None:
    source, reason, rules = value["source_id"], value["reason"], value.get("rules") or ()
    if value["member_id"] == old and isinstance(source, str):
        walked["source_id"] = renamed_source(source, old, new)
    if isinstance(reason, str) and isinstance(rules, list | tuple):
        walked["reason"] = renamed_reason(reason, tuple(rules), old, new)


def mentions(value: Any, member_id: str) -> bool:
    """Whether a JSON-like ``value`` holds ``member_id`` where :func:`renamed` would rename it.

    >>> mentions({"referee": "M1"}, "M1"), mentions({"code": "M1"}, "M1")
    (True, False)
    """
    return bool(renamed(value, member_id, member_id + "\x00") != value)


def renamed_source(source_id: str, old: str, new: str) -> str:
    """``source_id`` with member id ``old`` replaced by ``new`` if it is an id the engine made
    from the member id of one of ``old``'s entries, events or records (:data:`MADE_IDS`: a
    reminder, a tier review, an at-risk notice, an exported opening balance), else as it is: a
    command id the caller chose is the caller's, whatever it looks like.

    >>> renamed_source("tier-review:M1:2024-06-01T00:00:00+00:00", "M1", "P")
    'tier-review:P:2024-06-01T00:00:00+00:00'
    >>> renamed_source("OPEN-M1-3", "M1", "P"), renamed_source("OPEN-M1-x", "M1", "P")
    ('OPEN-P-3', 'OPEN-M1-x')
    """
    for prefix in _DATED:
        head = f"{prefix}{old}:"
        if source_id.startswith(head) and _is_instant(source_id[len(head) :]):
            return f"{prefix}{new}:{source_id[len(head) :]}"
    head = f"{_OPENING}{old}-"
    lot = source_id[len(head) :]
    if source_id.startswith(head) and lot.isascii() and lot.isdigit():
        return f"{_OPENING}{new}-{lot}"
    return source_id


def renamed_reason(reason: str, rules: tuple[str, ...], old: str, new: str) -> str:
    """The reason of an entry of ``rules`` with member id ``old`` replaced by ``new`` where the
    engine wrote a member id into it (a referral bonus names the other side: :data:`MADE_REASONS`),
    else as it is.

    >>> renamed_reason("referral bonus: M1 made a first purchase", ("referral:referrer",), "M1", "P")
    'referral bonus: P made a first purchase'
    >>> renamed_reason("referral bonus: M1 made a first purchase", ("welcome",), "M1", "P")
    'referral bonus: M1 made a first purchase'
    """
    for rule, (before, after) in MADE_REASONS.items():
        if rule in rules and reason == f"{before}{old}{after}":
            return f"{before}{new}{after}"
    return reason


def made_reasons(member_id: str) -> tuple[str, ...]:
    """The reasons the engine writes ``member_id`` into (:data:`MADE_REASONS`), as written.

    >>> made_reasons("M1")
    ('referral bonus: M1 made a first purchase', 'referral bonus: welcome, referred by M1')
    """
    return tuple(f"{before}{member_id}{after}" for before, after in MADE_REASONS.values())


def merged_referrer(referrer: str) -> str:
    """The reason of a referral rejected because its ``referrer`` was merged into its referee."""
    return f"its referrer {referrer} was merged into it"


def renamed_referral_reason(reason: str | None, old: str, new: str) -> str | None:
    """A referral's ``reason`` with member id ``old`` replaced by ``new`` where the engine wrote
    it in (:func:`merged_referrer`), else as it is.

    >>> renamed_referral_reason("its referrer M1 was merged into it", "M1", "P")
    'its referrer P was merged into it'
    """
    return merged_referrer(new) if reason == merged_referrer(old) else reason


def _is_instant(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def renamed_tally(key: str, old: str, new: str) -> str | None:
    r"""The key of a tally of member ``old`` (one of :data:`TALLY_FAMILIES` or
    :data:`MARKED_FAMILIES`) under ``new``, or ``None`` for a key that is not one of ``old``'s tallies.

    >>> renamed_tally("taken|P|1\x1fM1", "M1", "P"), renamed_tally("taken|M1", "M1", "P")
    ('taken|P|1\x1fP', None)
    """
    family = key.partition("|")[0]
    if family in MARKED_FAMILIES:
        body, mark, member = key.partition(MEMBER_MARK)
        return f"{body}{mark}{new}" if mark and member == old else None
    parts = TALLY_FAMILIES.get(family)
    if parts is None:
        return None
    head = key.split("|", parts)
    if len(head) <= parts or head[-1] != old:
        return None
    return "|".join([*head[:-1], new])
