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
>>> renamed({"from_member": "M1", "to": ["M1", "M2"], "M1": 3, "visits|M1": 2}, "M1", "P")
{'from_member': 'P', 'to': ['P', 'M2'], 'P': 3, 'visits|P': 2}
>>> renamed_tally("spent|2024-03|M1", "M1", "P"), renamed_tally("spent|2024-03|X|M1", "M1", "P")
('spent|2024-03|P', None)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

__all__ = [
    "PREFIX",
    "SECRET_BYTES",
    "SECRET_KEY",
    "mentions",
    "pseudonym",
    "renamed",
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
    "spent": 2,
    "stamps": 2,
    "referrals": 2,
    "cap": 3,
    "birthday": 3,
    "events": 3,
    "tier": 3,
}


def pseudonym(secret: bytes, member_id: str) -> str:
    """The pseudonym of ``member_id`` under a store's ``secret``: always the same for the same two."""
    digest = hmac.new(secret, member_id.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return PREFIX + base64.b32encode(digest).decode("ascii")[:_LETTERS].lower()


def secret_points(secret: bytes) -> Decimal:
    """The secret as the points of the tally :data:`SECRET_KEY` (a whole number, exact)."""
    return Decimal(int.from_bytes(secret, "big"))


def secret_from(points: Decimal | int | str) -> bytes:
    """The secret the points of the tally :data:`SECRET_KEY` hold (see :func:`secret_points`)."""
    return int(Decimal(points)).to_bytes(SECRET_BYTES, "big")


def renamed(value: Any, old: str, new: str) -> Any:
    """``value`` (JSON-like: maps, lists, strings, numbers) with every string equal to ``old``
    replaced by ``new``, and every key of a tally of ``old`` by its key under ``new`` (a
    purchase's record keeps the tallies it read), as a key or a value, at any depth."""
    if isinstance(value, str):
        if value == old:
            return new
        tally = renamed_tally(value, old, new) if value.endswith(old) else None
        return value if tally is None else tally
    if isinstance(value, Mapping):
        return {renamed(name, old, new): renamed(item, old, new) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [renamed(item, old, new) for item in value]
    return value


def mentions(value: Any, member_id: str) -> bool:
    """Whether a JSON-like ``value`` holds the string ``member_id`` anywhere (key or value).

    >>> mentions({"referred_by": "M1"}, "M1"), mentions({"code": "M10"}, "M1"), mentions(["seen|M1"], "M1")
    (True, False, True)
    """
    return bool(renamed(value, member_id, member_id + "\x00") != value)


def renamed_tally(key: str, old: str, new: str) -> str | None:
    """The key of a tally of member ``old`` (one of :data:`TALLY_FAMILIES`) under ``new``, or
    ``None`` for a key that is not one of ``old``'s tallies."""
    family = key.partition("|")[0]
    parts = TALLY_FAMILIES.get(family)
    if parts is None:
        return None
    head = key.split("|", parts)
    if len(head) <= parts or head[-1] != old:
        return None
    return "|".join([*head[:-1], new])
