"""Verifying the ledger's chains (:mod:`loyalty.chains`): a read, a page at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from loyalty.chains import ChainReport, Head, Verifier
from loyalty.errors import InvalidInput
from loyalty.service.context import Context
from loyalty.store import UnitOfWork

__all__ = ["verify"]


def verify(ctx: Context, *, batch: int = 1000, progress: Callable[[int], None] | None = None) -> ChainReport:
    """Every member's chain recomputed from its first entry (see :meth:`loyalty.Engine.verify`).

    One read-only unit of work, so entries and heads are one snapshot; ``batch`` entries and
    then heads per read; ``progress(n)`` after each page of ``n`` entries.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 100_000:
        raise InvalidInput("batch", f"must be an int from 1 to 100000, got {batch!r}")

    def query(uow: UnitOfWork) -> ChainReport:
        verifier = Verifier()
        after = 0
        while links := uow.chain_links(after=after, limit=batch):
            verifier.check(links)
            after = links[-1].entry.seq
            if progress is not None:
                progress(len(links))

        def heads() -> Iterator[Head]:
            member = ""
            while page := uow.chain_heads(after=member, limit=batch):
                yield from page
                member = page[-1].member_id

        return verifier.report(heads())

    return ctx.runner.read(query)
