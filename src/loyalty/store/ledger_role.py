"""The storage port's role for the ledger (:mod:`loyalty.ledger`) and the lots derived from it
(:mod:`loyalty.lots`): the largest of :class:`loyalty.store.UnitOfWork`'s roles.

A part of :class:`loyalty.store.UnitOfWork`, in a module of its own so the port's main
module stays a page one can read through; :mod:`loyalty.store` re-exports it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from loyalty.chains import Head, Link
from loyalty.ledger import Entry, Posting
from loyalty.lots import Balance, DrawOrder, Lot

__all__ = ["LedgerRole"]


class LedgerRole(Protocol):
    """The ledger, the balance maintained beside it and the lots derived from it."""

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None:
        """The maintained balance, or ``None`` for an unknown member.

        ``for_update=True`` means the caller will decide a write on this value:
        the adapter must make concurrent writers to this member wait (row lock,
        write transaction) so no update is lost.
        """
        ...

    def balance_by_state(self, member_id: str, now: datetime) -> Balance | None:
        """The member's points by state at ``now``, or ``None`` for an unknown member.

        ``overdue`` adds up the open lots whose ``expires_at <= now``; ``pending`` the open
        lots whose ``vests_at > now`` that are not overdue; ``held`` the points of the open
        holds; ``available`` is the rest of the maintained total (debts included). One
        statement in the SQL adapters, through the indexes on lots by date and on open
        holds: it costs what is pending, due or held, not what the member ever earned.
        """
        ...

    def append(self, posting: Posting) -> Entry:
        """Append an entry, numbering it and moving the maintained balance and lots with it.

        A credit (positive points) opens a lot whose id is the entry's
        ``seq``; a debit takes its ``draws`` out of the member's lots, which
        the adapter checks with :func:`loyalty.lots.check_draws` first (a
        failing check is a :class:`~loyalty.errors.StorageError` and writes
        nothing).
        """
        ...

    def lots(self, member_id: str) -> list[Lot]:
        """The member's open lots (``remaining`` not zero: debts are open lots too), by id."""
        ...

    def lot(self, member_id: str, lot_id: int) -> Lot | None:
        """The member's lot ``lot_id``, open or closed (spent or held to the last point), or ``None``."""
        ...

    def open_lots(self, *, after: int = 0, limit: int) -> list[Lot]:
        """Every member's open lots with ``id > after``, by id, at most ``limit`` (a one-off pass:
        maintenance re-dating points under a new program version pages through it)."""
        ...

    def pending_lots(self, member_id: str, at: datetime) -> list[Lot]:
        """The member's open lots still pending at ``at`` (``vests_at > at``), by id.

        It must cost what is pending, not what the member ever earned: an
        index on the vesting date.
        """
        ...

    def spendable_lots(
        self,
        member_id: str,
        now: datetime,
        *,
        pending: bool = False,
        after: Lot | None = None,
        limit: int,
        order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
    ) -> list[Lot]:
        """The member's lots :func:`loyalty.lots.draw` may take at ``now``, in its order
        (:func:`loyalty.lots.draw_order` by ``order``), at most ``limit`` of them, those after
        ``after`` (the last lot of the page before, ``None`` for the first page).

        Only lots with points left (``remaining > 0``: no debts) that have not expired
        (``expires_at`` after ``now`` or none): the available ones (``vests_at`` none or at
        most ``now``) soonest-expiring first, the ones that never expire last, ties by id;
        then, only with ``pending``, the pending ones in the same order.
        :func:`loyalty.store.spending.segments` splits that order into the four runs an index
        can return, with the key to resume each: a page reads about ``limit`` lots however
        many the member has open. With :attr:`~loyalty.lots.DrawOrder.OLDEST_EARNED`, the
        available lots then the pending ones, each by ``(earned_at, id)``: two runs that a
        store may sort from the member's lots (no index needs that order).
        """
        ...

    def due_lots(
        self, until: datetime, *, member_id: str | None = None, limit: int | None = None
    ) -> list[Lot]:
        """Open lots whose ``expires_at <= until``, soonest first (ties by id); one member's or all.

        Maintenance finds what is due through this: an index on the expiry
        date, so its cost grows with what is due, not with the members.
        """
        ...

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        """The member's entries with ``seq > after``, in recording order."""
        ...

    def last_seq(self) -> int:
        """The highest entry ``seq`` drawn so far by any member's entries (0: none), those of
        writers still in flight included where writers overlap (PostgreSQL): read by a command
        under a member's lock, every entry that committed before is at or below it and every
        one written after it commits above, so a history export can place a command that wrote
        no entry (a status change) in the ledger's commit order, whatever the clocks said."""
        ...

    def entries(self, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        """Every member's committed entries with ``seq > after``, by ``seq``, at most ``limit``
        (the ledger feed, through the primary key: a page costs about ``limit`` entries).

        A reader paging by ``seq`` must never skip an entry that committed late: no entry
        numbered at or below the last one a page gives may commit after that page was read.
        Where writers run one at a time (SQLite, memory) ``seq`` order is commit order; where
        they overlap (PostgreSQL) the page waits for the writers in flight and stops below
        any number drawn after it began. Ask it first in a read-only unit of work: PostgreSQL's
        snapshot is taken by the first read and must follow the wait (it refuses the feed
        anywhere else, where two writers reading it would wait for each other).
        """
        ...

    def chain_links(self, *, after: int = 0, limit: int) -> list[Link]:
        """Every member's entries with ``seq > after``, by ``seq``, at most ``limit``, each with the
        link hash stored beside it (:mod:`loyalty.chains`): what ``verify`` reads, a page at a
        time through the primary key. ``append`` stores each entry's link, chained to the
        member's head, and moves the head (in the member's row) with it."""
        ...

    def chain_heads(self, *, after: str = "", limit: int) -> list[Head]:
        """Members' chain heads (the ``seq`` and link of their last entry, ``0`` and
        :data:`~loyalty.chains.GENESIS` for none, with the maintained :meth:`balance` beside
        them, which ``verify`` checks against that entry's ``balance_after``) of ids above
        ``after``, in code-point order, at most ``limit``."""
        ...
