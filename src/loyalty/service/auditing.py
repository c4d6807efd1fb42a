"""Verifying the ledger's chains (:mod:`loyalty.chains`): a read, a page at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from loyalty.chains import ChainReport, Head, Verifier, check_heads
from loyalty.errors import InvalidInput
from loyalty.service.context import Context
from loyalty.store import UnitOfWork

__all__ = ["heads", "verify"]


def _check_batch(batch: object) -> int:
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 100_000:
        raise InvalidInput("batch", f"must be an int from 1 to 100000, got {batch!r}")
    return batch


def _heads(uow: UnitOfWork, batch: int) -> Iterator[Head]:
    """Every member's head, in member id order, ``batch`` at a time."""
    member = ""
    while page := uow.chain_heads(after=member, limit=batch):
        yield from page
        member = page[-1].member_id


def verify(
    ctx: Context,
    *,
    batch: int = 1000,
    progress: Callable[[int], None] | None = None,
    heads: Iterable[Head] | None = None,
    keep_heads: bool = False,
) -> ChainReport:
    """Every member's chain recomputed from its first entry (see :meth:`loyalty.Engine.verify`).

    One read-only unit of work, so entries and heads are one snapshot; ``batch`` entries and
    then heads per read; ``progress(n)`` after each page of ``n`` entries. ``heads``: heads
    exported before, each checked in the same pass; ``keep_heads``: the heads read in the
    report, of the snapshot checked.
    """
    _check_batch(batch)
    exported = [] if heads is None else check_heads(heads)

    def query(uow: UnitOfWork) -> ChainReport:
        # The store's secret names an erased member as an exported head of its old id does.
        verifier = Verifier(exported, secret=uow.erasure_secret() if exported else None)
        after = 0
        while links := uow.chain_links(after=after, limit=batch):
            verifier.check(links)
            after = links[-1].entry.seq
            if progress is not None:
                progress(len(links))
        return verifier.report(_heads(uow, batch), keep_heads=keep_heads)

    return ctx.runner.read(query)


def heads(ctx: Context, *, batch: int = 1000) -> list[Head]:
    """Every member's chain head, in member id order (see :meth:`loyalty.Engine.heads`)."""
    _check_batch(batch)
    return ctx.runner.read(lambda uow: list(_heads(uow, batch)))
