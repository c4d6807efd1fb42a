"""An erasure's parts for the other members whose rows name the erased member (see
:mod:`loyalty.erasure_parts`), one member's unit of work each, so that no transaction writes two
members' rows (docs/scaling.md).

The erasure's first part keeps which rows of which members to rewrite in a record under its id
and :data:`~loyalty.erasure_parts.OTHERS` (:func:`owe`). Each other member's part (:func:`write`)
locks that member, reads the record and its rows again, renames in them the member id whose
pseudonym the record names, and keeps its own record (:func:`~loyalty.erasure_parts.part_key`),
read under the lock first, so it is written once whoever writes it: the erasure right after its
first commit, a retry of it, :meth:`loyalty.Engine.run_due`, or a command under that member's lock
that reads its referral (:func:`referral_of`) or erases it (:func:`settle`). A last record, under
the key and :data:`loyalty.transfers.RECEIVED`, says every part is written. When a referee's
referral names the erased member, one more record, under
:func:`~loyalty.erasure_parts.by_pseudonym_key` of the pseudonym, names the erasure, so that the
referee finds its part by the keyed hash of the id its row names (:func:`referral_of`).
"""

from __future__ import annotations

import functools

from loyalty.erasure import Counterpart, Erasure
from loyalty.erasure_parts import (
    BY_PSEUDONYM_KIND,
    DONE_KIND,
    KIND,
    OTHERS,
    PART_KIND,
    Part,
    by_pseudonym_key,
    part_key,
    plan_part,
    split,
)
from loyalty.errors import StorageError
from loyalty.outbox import DomainEvent
from loyalty.pseudonyms import pseudonym
from loyalty.referrals import Referral
from loyalty.service.context import Context
from loyalty.store import Operation, UnitOfWork
from loyalty.transfers import RECEIVED

__all__ = ["finish", "finish_due", "hold", "owe", "referral_of", "settle", "write"]

#: At most this many erasures' records are looked at for a member's pending parts other than its
#: referral's, before its own erasure (more are a backlog :func:`finish_due` clears; only a crash
#: between an erasure's commits leaves one). The referral's is found by key, whatever the backlog.
_SCAN = 1_000


def hold(
    uow: UnitOfWork, erasure: Erasure, events: list[DomainEvent], referees: list[str]
) -> tuple[Erasure, tuple[Part, ...]] | None:
    """:func:`loyalty.erasure_parts.split` of ``erasure``, with every other member it names held
    against its own erasure until this unit of work ends (the record names them); ``None`` when
    one was erased since it was read (its rows and the records naming it were renamed: plan again)."""
    own, parts = split(erasure, events, referees)
    held = [uow.keep_named(part.member_id) for part in parts]  # each held: not all()
    return (own, parts) if all(held) else None


def owe(ctx: Context, uow: UnitOfWork, key: str, hidden: str, parts: tuple[Part, ...]) -> None:
    """Keep, with the erasure ``key``'s first part, the parts the other members are owed."""
    if parts:
        request = {"pseudonym": hidden}
        uow.add_operation(
            Operation(key + OTHERS, KIND, request, {"parts": [p.form() for p in parts]}, ctx.now())
        )
    if any(part.referral for part in parts):
        # What a referee whose row names the id finds this erasure by (:func:`_owed_referral`).
        uow.add_operation(
            Operation(by_pseudonym_key(hidden), BY_PSEUDONYM_KIND, {}, {"erasure": key}, ctx.now())
        )


def finish(ctx: Context, key: str) -> None:
    """Every part of the erasure ``key`` not written yet, one member's unit of work each; then the
    record that all are (nothing, when they were, or there were none)."""

    def owed(uow: UnitOfWork) -> int:
        found = uow.operation(key + OTHERS)
        done = found is None or uow.operation(key + OTHERS + RECEIVED) is not None
        return 0 if found is None or done else len(found.result["parts"])

    count = ctx.runner.read(owed)
    for index in range(count):
        ctx.runner.run(functools.partial(_write, ctx, key=key, index=index), "a member's part of an erasure")
    if count:
        ctx.runner.run(functools.partial(_done, ctx, key=key, count=count), "the end of an erasure")


def _write(ctx: Context, uow: UnitOfWork, *, key: str, index: int) -> None:
    if write(ctx, uow, key, index):
        uow.commit()


def _done(ctx: Context, uow: UnitOfWork, *, key: str, count: int) -> None:
    if uow.operation(key + OTHERS + RECEIVED) is not None:
        return
    if any(uow.operation(part_key(key, index)) is None for index in range(count)):
        return  # pragma: no cover - each part was written just before, under its member's lock
    uow.add_operation(Operation(key + OTHERS + RECEIVED, DONE_KIND, {}, {"parts": count}, ctx.now()))
    uow.commit()


def write(ctx: Context, uow: UnitOfWork, key: str, index: int) -> bool:
    """Write the ``index``-th part of the erasure ``key`` in ``uow`` under its member's lock
    (the caller commits), unless it is written; whether it was written now."""
    member_id = None
    while True:
        # As the store keeps it now: an erasure of that member since renamed it in the record.
        owed = uow.operation(key + OTHERS)
        assert owed is not None  # written by the erasure's first part
        part = Part.of(owed.result["parts"][index])
        if part.member_id == member_id:
            break  # no member under the id, renamed or not: nothing of it to rewrite
        member_id = part.member_id
        if uow.balance(member_id, for_update=True) is not None:
            break
    if uow.operation(part_key(key, index)) is not None:
        return False
    secret = uow.erasure_secret()
    if uow.balance(part.member_id) is not None and secret is not None:
        referral = uow.referral(part.member_id) if part.referral else None
        texts, events, moved = plan_part(
            part,
            uow.history(part.member_id),
            uow.member_events(part.member_id),
            referral,
            secret=secret,
            hidden=owed.request["pseudonym"],
        )
        uow.erase_part(Counterpart(part.member_id, texts, events))
        if moved is not None:
            uow.put_referral(moved)
    uow.add_operation(Operation(part_key(key, index), PART_KIND, {}, {}, ctx.now()))
    return True


def settle(ctx: Context, uow: UnitOfWork, member_id: str) -> None:
    """In a unit of work holding ``member_id``'s lock: every erasure's part for it not written yet,
    written first (a referral row that still names an erased referrer by its id, say): the
    referral's whatever the backlog, the others' among the first :data:`_SCAN` unfinished."""
    for owed in uow.unfinished_parts(KIND, limit=_SCAN):
        key = owed.key.removesuffix(OTHERS)
        for index, form in enumerate(owed.result["parts"]):
            if form["member_id"] == member_id:
                write(ctx, uow, key, index)
    referral = uow.referral(member_id)
    if referral is not None and uow.member_status(referral.referrer) is None:
        _owed_referral(ctx, uow, referral)  # its own erasure goes on even without it


def referral_of(ctx: Context, uow: UnitOfWork, referee: str, *, erased: bool = False) -> Referral | None:
    """``uow.referral(referee)`` in a unit of work holding the referee's lock, with the part of an
    erasure of its referrer written first if the row still names the referrer by an id no member
    has any more (erased, its part for the referee pending): so the row names the pseudonym.
    ``erased``: the caller found a member it read erased since (``keep_named`` said so), whose
    status this unit of work may still hold as it first read it: the part is looked for anyway.
    A row naming no member, which no erasure owes a part, is refused with
    :class:`~loyalty.errors.StorageError` (``field`` ``referrer``, the id not repeated)."""
    referral = uow.referral(referee)
    if referral is None:
        return None
    missing = uow.member_status(referral.referrer) is None
    if not (erased or missing):
        return referral  # the common path: its referrer is a member, nothing more is read
    if _owed_referral(ctx, uow, referral):
        return uow.referral(referee)
    if missing:
        # Not the id: the caller's error must not carry an erased member's id anywhere.
        raise StorageError(
            "referrer", "the referral names a referrer no member has, and no erasure owes it a part"
        )
    return referral


def _owed_referral(ctx: Context, uow: UnitOfWork, referral: Referral) -> bool:
    """Write the part the erasure of ``referral``'s referrer owes its referee, found by the keyed
    hash of the id the row names (:func:`~loyalty.erasure_parts.by_pseudonym_key`): a few probes
    by key, however many erasures are unfinished. Whether one was found (written now or before)."""
    secret = uow.erasure_secret()
    if secret is None:
        return False  # no member was ever erased
    named = uow.operation(by_pseudonym_key(pseudonym(secret, referral.referrer)))
    if named is None:
        return False
    key = named.result["erasure"]
    owed = uow.operation(key + OTHERS)
    if owed is None:  # pragma: no cover - written in the same unit of work as the record above
        return False
    for index, form in enumerate(owed.result["parts"]):
        if form["member_id"] == referral.referee and form["referral"]:
            write(ctx, uow, key, index)
            return True
    return False


def finish_due(ctx: Context, batch: int) -> int:
    """Finish every erasure whose other members' parts are not all written, ``batch`` found at a
    time; how many were finished."""
    finished = 0
    while True:
        # Read-only (a replica may answer): each part checks again under its lock.
        halves = ctx.runner.read(lambda uow: uow.unfinished_parts(KIND, limit=batch))
        for owed in halves:
            finish(ctx, owed.key.removesuffix(OTHERS))
        finished += len(halves)
        if len(halves) < batch:
            return finished
