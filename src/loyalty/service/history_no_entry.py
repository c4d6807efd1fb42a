"""The purchases a history export (:mod:`loyalty.service.history_export`) cannot find in the
ledger feed: those that earned nothing, and so wrote no entry naming them.

Such a purchase changed no points, but it was a visit and spend (which habit, stamp-card and
``visits`` or ``spend`` tier rules read), and its receipt is what a retry of its id must get
back: imported, it is replayed through the purchase use case like any other. The store lists
them (:meth:`loyalty.store.OperationsRole.purchases_without_entry`) a page at a time, each page
in one read-only unit of work, in the order of :func:`loyalty.store.no_entry.order`: by when
each was recorded, then its own time. Each comes with the ledger's last entry when it was
recorded (``ledger_seq`` in its record, read under its member's lock), which places it in the
ledger's commit order as a status change is placed, whatever the clocks said.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import datetime

from loyalty import codec
from loyalty.history import Sale
from loyalty.service.context import Context
from loyalty.store import Operation, UnitOfWork

__all__ = ["Aside", "purchases_without_entry"]


def _page(uow: UnitOfWork, *, after: Operation | None, page: int) -> list[Operation]:
    return uow.purchases_without_entry(after=after, limit=page)


#: A purchase that wrote no entry: its place by the clock (when it was recorded, then its
#: time), its record, and the ``seq`` after which it goes in the ledger's commit order (the
#: ledger's last entry when it was recorded, ``None`` for one recorded by an earlier release).
Aside = tuple[tuple[datetime, datetime], Sale, int | None]


def purchases_without_entry(ctx: Context, page: int) -> Iterator[Aside]:
    """Each purchase that wrote no entry, as its record, with its place among the commands,
    ``page`` at a time."""
    after: Operation | None = None
    while True:
        found = ctx.runner.read(functools.partial(_page, after=after, page=page))
        for operation in found:
            sale = Sale(codec.purchase_from_request(operation.key, operation.request))
            bound = operation.result.get("ledger_seq")
            yield (operation.recorded_at, sale.at), sale, None if bound is None else int(bound)
        if len(found) < page:
            return
        after = found[-1]
