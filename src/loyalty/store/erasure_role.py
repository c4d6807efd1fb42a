"""The storage port's role for erasure on request (:mod:`loyalty.erasure`).

A part of :class:`loyalty.store.UnitOfWork`, in a module of its own so the port's main
module stays a page one can read through. An erasure is rare: its reads may scan every
record and event (no index by member is worth its cost on every purchase).
"""

from __future__ import annotations

from typing import Protocol

from loyalty.erasure import Counterpart, Erasure, Record
from loyalty.ledger import Entry
from loyalty.outbox import DomainEvent

__all__ = ["ErasureRole"]


class ErasureRole(Protocol):
    """Finding what a store keeps about a member, and rewriting it without the personal data."""

    def member_records(self, member_id: str) -> list[Record]:
        """The idempotency records of the commands about the member (whose request names it in
        one of :data:`loyalty.erasure.MEMBER_FIELDS`: ``member_id``, a transfer's ``from_member``
        or ``to_member``, a merge's ``survivor`` or ``absorbed``), wherever the store keeps them,
        by key (code-point order)."""
        ...

    def member_events(self, member_id: str) -> list[DomainEvent]:
        """The member's outbox events (``member_id`` the member's) and the ``member_merged``
        events of merges into it (``data["survivor"]`` the member's), by ``seq``."""
        ...

    def mentioning(self, member_id: str) -> tuple[list[Record], list[DomainEvent]]:
        """Every idempotency record (by key, code-point order) and outbox event (by ``seq``) that
        holds the member id as a string anywhere in its request, result or data, whoever it is
        about: a referee's enrollment naming its referrer, the other side of a transfer or merge.
        (A store may find them by the id's JSON text; what does not hold the id exactly, as
        :func:`loyalty.pseudonyms.mentions` says, may be given too, and is left alone.)"""
        ...

    def naming(self, member_id: str) -> list[Entry]:
        """Every entry, any member's, whose reason is one the engine wrote ``member_id`` into
        (:func:`loyalty.pseudonyms.made_reasons`: a referral bonus naming the other side), by
        ``seq``: whoever the member's referrer or referees are now (a merge moves them)."""
        ...

    def keep_named(self, member_id: str) -> bool:
        """Keep ``member_id`` from being erased until this unit of work ends, before writing text
        or records that name it in another member's part (a referee's welcome bonus naming its
        referrer, a referrer's bonus naming its referee, a transfer's receiver naming its
        sender): an erasure of it (:meth:`lock_erasing`) waits, and then finds what this unit of
        work wrote. ``False``, holding nothing, when no member has the id now (erased since the
        caller read it, so what named it was renamed: read it again). Writers of different
        members holding each other never wait on each other, nor on the member's own commands but
        a change of its status, which locks it as an erasure does (:meth:`lock_erasing`): the
        member's status read after the hold (:meth:`~loyalty.store.MembersRole.member_status`) is
        the one such a change that committed first left, and a change after waits for this unit
        of work to end."""
        ...

    def lock_erasing(self, member_id: str) -> int | None:
        """:meth:`~loyalty.store.LedgerRole.balance` with ``for_update``, for an erasure of the
        member or a change of its status: it also waits for every unit of work holding the member
        (:meth:`keep_named`) to end, and keeps new holders waiting until this unit of work ends."""
        ...

    def erasure_secret(self, create: bool = False) -> bytes | None:
        """The store's secret for :func:`loyalty.pseudonyms.pseudonym`
        (:data:`~loyalty.pseudonyms.SECRET_BYTES` random bytes, kept as the tally
        :data:`~loyalty.pseudonyms.SECRET_KEY`), or ``None`` if it has none yet (no member was
        ever erased). With ``create``, in a unit of work that writes, one is drawn and kept if
        there is none: every later call, in any unit of work after this one commits, gives the same
        bytes (of two units of work drawing one at once, the first to commit wins)."""
        ...

    def erase_member(self, erasure: Erasure) -> None:
        """Write an erasure's first part in this unit of work, the member's own rows and the
        records: replace the member's birthday, its change time, attributes and status (as
        :meth:`~loyalty.store.MembersRole.update_member`); delete every key of the member
        (:meth:`~loyalty.store.IdentifiersRole.identifiers`); set each listed entry's reason and
        actor and keep its ``kept`` text digest, which :meth:`~loyalty.store.LedgerRole.chain_links`
        gives back with the entry from then on; replace each listed record's request and result
        (under its key, wherever it is kept), the records ``renamed`` too, and the data of each
        listed event (``events`` and ``mentions``, the member's own). Last, with a ``pseudonym``,
        the member id becomes the pseudonym everywhere the store keeps it in the member's rows:
        the member's row and every row of the member's (its entries, lots, holds, vouchers, tier,
        referral as referee, offline uses, events, kept digests), and the key of each of its
        tallies (:func:`loyalty.pseudonyms.renamed_tally`); another member's row (a referee's
        referral naming it as referrer) is left to that member's part (:meth:`erase_part`). An
        entry's figures, a record's kind and the order of everything stay as they were. An unknown
        member, entry, record or event, an entry or event of another member, or any
        ``counterparts`` must fail with :class:`~loyalty.errors.StorageError`."""
        ...

    def erase_part(self, part: Counterpart) -> None:
        """Write another member's part of an erasure in this unit of work (the caller holds that
        member's lock): set each of ``part.texts``' entry's reason and actor, keeping its ``kept``
        digest unless one is kept already (an entry erased twice keeps the digest of what it first
        said), and replace each of ``part.events``' event's data. Each entry and event must be
        ``part.member_id``'s, else :class:`~loyalty.errors.StorageError`, with nothing written."""
        ...
