"""The order of :meth:`loyalty.store.OperationsRole.purchases_without_entry`, for the adapters
(and a third party's) to keep and the history export to merge by.

A history export follows the ledger feed, whose entries name the commands that wrote them; a
purchase that earned nothing wrote none, yet it was a visit and spend (which habit, stamp-card
and tier rules read) and a receipt a retry must get back. The list's order is when it was
recorded, then its own time (the export places each by the ledger's last entry its record
keeps, ``ledger_seq``, where it has one: :mod:`loyalty.service.history_export`). The key breaks
ties, so that a page ends at one place and the next begins after it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty.store import Operation
from loyalty.store.periods import purchase_time

__all__ = ["EARLIEST", "order"]

#: The time of a purchase kept without a readable ``at`` (only a hand-made record): first.
EARLIEST = datetime.min.replace(tzinfo=UTC)


def order(operation: Operation) -> tuple[datetime, datetime, str]:
    """Where ``operation`` goes: by the instant it was recorded, then the purchase's own time
    (its request's ``at``), then its key in code-point order."""
    at = purchase_time(operation)
    return operation.recorded_at, EARLIEST if at is None else at, operation.key
