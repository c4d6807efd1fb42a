"""An SQLite entry between its append and its insert (schema 11).

A purchase's idempotency record is decided after its entry (the record names the lot, which is
the entry's number), and entries are never updated: so the unit of work numbers an entry and
moves the balance when it is appended, and inserts it when the record comes (with the record in
it, one row and no operation's row), or when anything else is appended or reads the ledger.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import attrs

from loyalty.ledger import Posting
from loyalty.lots import opens
from loyalty.store.rows import draws_text, offset_of, redates_text, rules_text, shares_text
from loyalty.store.sqlite.statements import micros, sortable

__all__ = ["Pending", "pending"]


@attrs.frozen
class Pending:
    """An appended entry not inserted yet: its posting, and INSERT_ENTRY's values but the record
    (with the lot it opens, schema 18)."""

    posting: Posting
    values: tuple[Any, ...]


def pending(posting: Posting, seq: int, balance: int, link: bytes) -> Pending:
    """``posting`` as entry ``seq`` leaving ``balance`` with its ``link`` hash (loyalty.chains),
    its values checked and made now: what
    cannot be stored fails at the append, as when the entry was inserted there. The lot it opens
    (loyalty.lots.opens), if any, goes in its row: ``opened`` only where its points are not the
    entry's, ``remaining`` all of them. Its recording time goes in as microseconds since 1970
    (schema 18: the column's TEXT affinity keeps 16 digits, not 32 characters of ISO 8601); no
    statement compares it, and it reads back exactly."""
    rest = opens(posting)
    return Pending(
        posting,
        (
            seq,
            posting.member_id,
            posting.kind.value,
            posting.points,
            balance,
            posting.occurred_at.astimezone(UTC).isoformat(),
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
            link,
            rest if rest and rest != posting.points else None,
            rest or None,
        ),
    )
