r"""Which table an SQL adapter keeps a tally in, when the member's row does not keep it
(:mod:`loyalty.store.member_tallies`): a member's own in ``member_tallies``, keyed by the member
and the key, beside the member's other rows (on a cluster distributed by member, on the member's
shard: docs/scaling.md); every other one in ``tallies``, keyed by the key alone.

A key is a member's own when it is of a family kept per member (:data:`OWNED`: those of
:data:`loyalty.pseudonyms.TALLY_FAMILIES` and of the member's row, whose member id comes last)
and has a member id after the family's parts. One family of those stays in ``tallies``: a
referrer's count of rewarded referrals (``referrals|<period>|<referrer>``) is written by its
referees' first purchases, so it is a counter across members, locked by each of them, as a
rule's budget (``budget|<rule>``) and an allowance's total are. So do a migration's mark and
any key a caller makes up.

A purchase's own tallies (``returned|<id>|0``, ``taken|<id>``...) and a lot's reminder name their
member after :data:`loyalty.tallies.MEMBER_MARK` (:data:`~loyalty.pseudonyms.MARKED_FAMILIES`,
schema 22 of SQLite, 20 of PostgreSQL): they are the member's own too. Kept before that without
the member, they were moved by the migration, found through the purchase's record or the lot's
entry; a key of those families without the mark stays in ``tallies``.

The member is worked out from the key alone, the same way by every statement and by the
migration that moved the keys (the same rule in SQL, tested to agree), so a key is always looked
for where it was written.

>>> owner("cap|coffee|2024-03|M1"), owner("spent|2024-03|X|M1"), owner("visits|")
('M1', 'X|M1', None)
>>> owner("budget|coffee"), owner("referrals|2024-03|M1"), owner("taken|P1"), owner("cap|coffee")
(None, None, None, None)
>>> owner("returned|P|1|0\x1fM|1"), owner("reminded|7|2024-03-31T00:00:00+00:00\x1fM1"), owner("paid|P\x1f")
('M|1', 'M1', None)
>>> split(["budget|coffee", "cap|coffee|2024-03|M1", "k"])
(['budget|coffee', 'k'], [('M1', 'cap|coffee|2024-03|M1')])
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import Decimal

from loyalty.pseudonyms import MARKED_FAMILIES, TALLY_FAMILIES
from loyalty.store.member_tallies import FAMILIES
from loyalty.tallies import MEMBER_MARK, Tally, of_member

__all__ = ["OWNED", "Columns", "columns", "marked", "owner", "renamed", "split", "unmarked"]

#: The families of keys kept by member, each with the number of its parts before the member id:
#: those a member's row keeps for an enrolled member (a key of one not enrolled is kept here,
#: until enrolling takes it in), and the others of :data:`~loyalty.pseudonyms.TALLY_FAMILIES`.
OWNED: Mapping[str, int] = {
    **{prefix[: -len("|")]: 1 for prefix in FAMILIES},
    **{family: parts for family, parts in TALLY_FAMILIES.items() if family != "referrals"},
}


# Cached: a purchase asks about the same few keys of its member several times.
@functools.lru_cache(maxsize=1 << 14)
def owner(key: str) -> str | None:
    """The member whose own tally ``key`` is, or ``None`` for a key of the ``tallies`` table."""
    family = key.partition("|")[0]
    if family in MARKED_FAMILIES:
        return key.partition(MEMBER_MARK)[2] or None
    parts = OWNED.get(family)
    if parts is None:
        return None
    head = key.split("|", parts)
    if len(head) <= parts or not head[-1]:
        return None
    return head[-1]


def split(keys: Iterable[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """``keys`` as those of ``tallies`` and, with their member, those of ``member_tallies``."""
    shared: list[str] = []
    owned: list[tuple[str, str]] = []
    for key in keys:
        member = owner(key)
        if member is None:
            shared.append(key)
        else:
            owned.append((member, key))
    return shared, owned


def renamed(keys: Iterable[str], old: str, new: str) -> list[tuple[str, str]]:
    """Of ``member_tallies`` keys an erasure moved from member ``old`` to ``new`` (it renames every
    member id column), those that still name ``old``, each with its key naming ``new``."""
    return [(key, key[: len(key) - len(old)] + new) for key in keys if owner(key) == old]


def unmarked(key: str) -> tuple[str, str] | tuple[str, int] | None:
    """What a key of :data:`~loyalty.pseudonyms.MARKED_FAMILIES` kept without its member (before
    schema 22 of SQLite, 20 of PostgreSQL) is of: ``("purchase", id)`` or ``("lot", number)``; or
    ``None`` for any other key, which stays where it is.

    >>> unmarked("returned|P|1|0"), unmarked("paid|P1"), unmarked("reminded|7|2024-03-31T00:00:00+00:00")
    (('purchase', 'P|1'), ('purchase', 'P1'), ('lot', 7))
    >>> unmarked("returned|P1"), unmarked("reminded|x|y"), unmarked("taken|"), unmarked("budget|P1")
    (None, None, None, None)
    """
    family, _, rest = key.partition("|")
    if family not in MARKED_FAMILIES or MEMBER_MARK in key or not rest:
        return None
    if family == "returned":
        purchase, sep, line = rest.rpartition("|")
        return ("purchase", purchase) if sep and purchase and line.isascii() and line.isdigit() else None
    if family == "reminded":
        lot, sep, _ = rest.partition("|")
        return ("lot", int(lot)) if sep and lot.isascii() and lot.isdigit() else None
    return "purchase", rest


def marked(
    keys: Iterable[str], purchases: Mapping[str, str], lots: Mapping[int, str]
) -> list[tuple[str, str, str]]:
    """Of ``keys`` kept without their member, those whose purchase's record or lot's entry was
    found (``purchases``, ``lots``: the member of each), as (key, member, the key under it)."""
    moved = []
    for key in keys:
        of = unmarked(key)
        if of is None:
            continue
        member = purchases.get(str(of[1])) if of[0] == "purchase" else lots.get(int(of[1]))
        if member is not None:
            moved.append((key, member, of_member(key, member)))
    return moved


#: A member's own tallies as columns (members, keys, counts, points), and the rest (keys, counts, points).
Columns = tuple[
    tuple[list[str], list[str], list[int], list[Decimal]], tuple[list[str], list[int], list[Decimal]]
]


def columns(values: Iterable[tuple[str, Tally]]) -> Columns:
    """Tallies to write (a later value of a key wins), as the columns of the two tables' rows."""
    by_key = dict(values)
    shared, owned = split(by_key)
    return (
        (
            [member for member, _ in owned],
            [key for _, key in owned],
            [by_key[key].count for _, key in owned],
            [by_key[key].points for _, key in owned],
        ),
        (shared, [by_key[key].count for key in shared], [by_key[key].points for key in shared]),
    )
