"""Members' locks: a command decides on a member's points only while it holds the member's balance.

Locks are taken in member-id order wherever a command needs several members
(a merge, a maintenance batch), so no two writers wait on each other. A
transfer, and a referral's reward and its take-back, lock one member per
unit of work.
"""

from __future__ import annotations

from loyalty.errors import LoyaltyError, MemberErased, MemberNotActive, UnknownMember
from loyalty.members import MemberStatus
from loyalty.pseudonyms import pseudonym
from loyalty.store import UnitOfWork

__all__ = [
    "CHANGE",
    "CORRECT",
    "EARN",
    "SPEND",
    "allowed",
    "erased",
    "known",
    "lock",
    "lock_status",
    "not_erased",
    "unknown",
]

#: What a command does to a member, for :func:`allowed`.
EARN, SPEND, CORRECT, CHANGE = "earn", "spend", "correct", "change"
_SUSPENDED_MAY = frozenset({CORRECT, CHANGE})


def lock(uow: UnitOfWork, member_id: str, field: str = "member_id") -> int:
    """Lock the member's balance for this unit of work and return it; an unknown member is refused
    naming ``field`` (the argument that named the member)."""
    balance = uow.balance(member_id, for_update=True)
    if balance is None:
        raise unknown(uow, member_id, field)
    return balance


def lock_status(uow: UnitOfWork, member_id: str) -> int:
    """:func:`lock` for a command changing the member's status: it also waits for every unit of
    work holding the member (:meth:`~loyalty.store.ErasureRole.keep_named`: a referee's first
    purchase holds its referrer before reading its status) and keeps new holders waiting until
    it ends (:meth:`~loyalty.store.ErasureRole.lock_erasing`). Where writers overlap
    (PostgreSQL), a holder that numbers its entries after its hold then either read the status
    this command left, its entries numbered after this committed, or committed them before this
    reads the ledger's last ``seq``, which a history export places the change by
    (``ledger_seq``): the export puts the two in the order they ran, and an import decides as
    the store did."""
    balance = uow.lock_erasing(member_id)
    if balance is None:
        raise unknown(uow, member_id)
    return balance


def lock_giver(uow: UnitOfWork, giver: tuple[str, str], taker: tuple[str, str]) -> None:
    """For a command written in parts (a transfer, a merge), each member ``(id, field)``: lock the
    ``giver``, whose part comes first, and the ``taker``, in member-id order, as both were locked
    when one unit of work wrote both (the taker is locked again by its own part).

    The taker is locked, not only held against its erasure, because the giver's part decides on
    its status: a merge absorbing the taker at the same time (which locks it as its giver) must
    wait, and then finds this part's points owed to it (:func:`loyalty.service.merging.merge`
    finishes them first), or this part must wait and find the taker closed. Held more weakly, two
    merges of the same two members, each way round, both went through, and each closed member
    kept the other's points."""
    for member_id, field in sorted((giver, taker)):
        lock(uow, member_id, field)


def unknown(uow: UnitOfWork, member_id: str, field: str = "member_id") -> LoyaltyError:
    """The error refusing a member id the store has no member under, naming ``field``:
    :class:`~loyalty.errors.MemberErased` for the id of a member erased since (which the store
    keeps under the id's pseudonym, :mod:`loyalty.pseudonyms`), else
    :class:`~loyalty.errors.UnknownMember`."""
    secret = uow.erasure_secret()
    if secret is not None and uow.member_status(pseudonym(secret, member_id)) is MemberStatus.ERASED:
        return erased(member_id, field)
    return UnknownMember(field, f"no member {member_id!r}")


def allowed(uow: UnitOfWork, member_id: str, doing: str, field: str = "member_id") -> None:
    """Refuse what the member's status does not allow (asked after the member's lock, which read
    the status with the balance), naming ``field``: a suspended member neither earns nor spends,
    though it is corrected and updated; a closed one does nothing new; an erased one nothing at
    all (:class:`~loyalty.errors.MemberErased`). Holds already open and returns settle whatever
    the status, so their commands do not ask (a return asks :func:`not_erased`)."""
    status = uow.member_status(member_id)
    if status is None or status is MemberStatus.ACTIVE:
        return
    if status is MemberStatus.ERASED:
        raise erased(member_id, field)
    if status is MemberStatus.SUSPENDED:
        if doing in _SUSPENDED_MAY:
            return
        message = f"member {member_id!r} is suspended: it can neither earn nor spend until reinstated"
    else:
        message = f"member {member_id!r} is closed: nothing new happens to it until it is reopened"
    raise MemberNotActive(field, message, status=status.value)


def erased(member_id: str, field: str = "member_id") -> MemberErased:
    """The error refusing a command on an erased member, naming ``field``."""
    return MemberErased(
        field, f"member {member_id!r} was erased: nothing more happens to it", member_id=member_id
    )


def not_erased(uow: UnitOfWork, member_id: str, field: str = "member_id") -> None:
    """Refuse an erased member (asked after its lock) where :func:`allowed` is not asked: what
    settles whatever the status (a return) or changes the status itself."""
    if uow.member_status(member_id) is MemberStatus.ERASED:
        raise erased(member_id, field)


def known(uow: UnitOfWork, member_id: str) -> None:
    """Refuse an unknown member (for the queries that read more than the member's row)."""
    if uow.member(member_id) is None:
        raise unknown(uow, member_id)
