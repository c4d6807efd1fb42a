"""An SQLite entry between its append and its insert (schema 11).

A purchase's idempotency record is decided after its entry (the record names the lot, which is
the entry's number), and entries are never updated: so the unit of work numbers an entry and
moves the balance when it is appended, and inserts it when the record comes (with the record in
it, one row and no operation's row), or when anything else is appended or reads the ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from loyalty.ledger import Posting
from loyalty.lots import opens
from loyalty.records import EntryFacts
from loyalty.store.rows import (
    draws_text,
    kind_code,
    offset_of,
    redates_text,
    restore_instant,
    rules_text,
    shares_text,
)
from loyalty.store.sqlite.statements import INSERT_ENTRY, INSERT_PLAIN_ENTRY, micros, sortable

__all__ = ["FACTS", "Pending", "facts", "insert_entry", "pending", "till_text"]

#: The columns of an entry :func:`facts` takes, in its order.
FACTS = "member_id, occurred_at, occurred_offset, points, balance_after, seq"


def facts(member_id: str, occurred: int, offset: int, points: int, balance: int, seq: int) -> EntryFacts:
    """What an entry says of the purchase whose record it keeps (:data:`FACTS` of its row, or its
    values), as a record of layout 3 leaves it out (loyalty.records): its till time as the text
    the entry reads back as."""
    return (member_id, restore_instant(occurred, offset).isoformat(), points, balance, seq)


@attrs.frozen
class Pending:
    """An appended entry not inserted yet: its posting, and INSERT_ENTRY's values but the record
    (with the lot it opens, schema 18)."""

    posting: Posting
    values: tuple[Any, ...]

    def facts(self) -> EntryFacts:
        """What the entry says of a purchase whose record it will keep."""
        seq, member_id, _, points, balance, occurred, offset = self.values[:7]
        return (member_id, till_text(self.posting.occurred_at, occurred, offset), points, balance, seq)


def insert_entry(values: tuple[Any, ...], record: str | None) -> tuple[str, tuple[Any, ...]]:
    """The statement inserting an entry of INSERT_ENTRY's ``values`` with its ``record``, and its
    parameters: INSERT_PLAIN_ENTRY where the values it writes as NULL are ``None``."""
    if (
        values[11] is None
        and values[14] is None
        and values[15] is None
        and values[16] is None
        and values[18] is None
        and values[19] is None
        and values[21] is None
    ):
        kept = (*values[:11], values[12], values[13], values[17], values[20], values[22], record)
        return INSERT_PLAIN_ENTRY, kept
    return INSERT_ENTRY, (*values, record)


def till_text(at: datetime, occurred: int, offset: int) -> str:
    """``isoformat()`` of ``at`` as the entry reads it back (its microseconds ``occurred`` in its
    ``offset`` in seconds): ``at``'s own where its offset is whole seconds, the same wall clock
    and offset written out (restoring it cost a purchase about 15,000 instructions more)."""
    own = at.utcoffset()
    if own is not None and not own.microseconds:
        return at.isoformat()
    return restore_instant(occurred, offset).isoformat()


def pending(posting: Posting, seq: int, balance: int, link: bytes) -> Pending:
    """``posting`` as entry ``seq`` leaving ``balance`` with its ``link`` hash (loyalty.chains),
    its values checked and made now: what
    cannot be stored fails at the append, as when the entry was inserted there. The lot it opens
    (loyalty.lots.opens), if any, goes in its row: ``opened`` only where its points are not the
    entry's, ``remaining`` all of them. Its times go in as microseconds since 1970 in UTC, 8
    bytes each, and its kind as its number (schema 22; loyalty.store.rows.kind_code), and read
    back exactly."""
    rest = opens(posting)
    return Pending(
        posting,
        (
            seq,
            posting.member_id,
            kind_code(posting.kind),
            posting.points,
            balance,
            micros(posting.occurred_at),
            offset_of(posting.occurred_at),
            micros(posting.recorded_at),
            offset_of(posting.recorded_at),
            posting.source_id,
            posting.reason,
            posting.actor,
            rules_text(posting.rules),
            posting.program_version,
            sortable(posting.vests_at),
            sortable(posting.expires_at),
            draws_text(posting.draws),
            int(posting.rolling),
            redates_text(posting.redates),
            shares_text(posting),
            # A bytearray, which sqlite3 binds as the same blob without looking it up as a value
            # to adapt (a bytes is: about 3,300 instructions).
            bytearray(link),
            rest if rest and rest != posting.points else None,
            rest or None,
        ),
    )
