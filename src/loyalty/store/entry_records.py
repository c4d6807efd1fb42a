"""Which idempotency records the SQL adapters keep in the entry a command wrote (schema 11).

A purchase that earns writes one entry, whose source is the purchase's id: its record can be
that entry's ``record`` column rather than a row and an index of ``operations`` of its own,
as long as everything the record is found and read by is the entry's too.
"""

from __future__ import annotations

from loyalty.ledger import Posting
from loyalty.store import Operation
from loyalty.store.periods import purchase_time

__all__ = ["carries"]


def carries(posting: Posting, operation: Operation) -> bool:
    """Whether the entry of ``posting`` can keep ``operation``'s record and give it back as it
    was: a purchase's, under the entry's source, whose till time is the entry's (the period
    figures find it by that time) and recorded at the entry's instant in the same offset (it is
    read back from the entry's)."""
    recorded = operation.recorded_at
    return (
        operation.kind == "purchase"
        and operation.key == posting.source_id
        and recorded == posting.recorded_at
        and recorded.utcoffset() == posting.recorded_at.utcoffset()
        and purchase_time(operation) == posting.occurred_at
    )
