"""Erasure on request: one unit of work reads what the store keeps about a member, asks
:func:`loyalty.erasure.plan_erasure` what to keep of it, and writes that once."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import attrs

from loyalty.checks import check_id, check_text
from loyalty.erasure import Erased, Erasure, partners, plan_erasure
from loyalty.errors import MemberErased, UnknownMember
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent, EventKind, NewEvent
from loyalty.pseudonyms import is_pseudonym, pseudonym
from loyalty.service import erasure_parts, locks
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import UnitOfWork

__all__ = ["erase"]

logger = logging.getLogger(__name__)


def erase(ctx: Context, member_id: str, *, key: str, at: datetime, reason: str, actor: str) -> Erased:
    """Erase the member's personal data (see :meth:`loyalty.Engine.erase`)."""
    check_id("member_id", member_id)
    check_id("id", key)
    ctx.till_time("at", at, key)
    check_text("reason", reason)
    check_id("actor", actor)  # staff's id: the id rule, as every actor (docs/rules.md#names-and-text)
    request = {"member_id": member_id, "at": at.isoformat(), "reason": reason, "actor": actor}
    erasure = Command(key, "member_erasure", request)

    def command(uow: UnitOfWork) -> Erased:
        # The member's new id, which its record keeps instead of the id (a retry names the same).
        hidden = pseudonym(_secret(uow), member_id)
        erasure.request["member_id"] = hidden
        replay = erasure.replay(uow)
        if replay is not None:
            return _erased(member_id, replay.result)
        try:
            # The member's lock, which also waits for other members' parts naming it (a referral
            # bonus, a transfer's receiver) to commit, so its searches below find what they wrote.
            if uow.lock_erasing(member_id) is None:
                raise locks.unknown(uow, member_id)
        except MemberErased:
            # The same erasure sent twice at once: the other took the lock first and committed
            # after the read above. Its record is there now (read again: a new statement sees it).
            replay = erasure.replay(uow)
            if replay is not None:
                return _erased(member_id, replay.result)
            raise
        if is_pseudonym(member_id) or uow.member_status(member_id) is not MemberStatus.ERASED:
            locks.not_erased(uow, member_id)
        # Else a member erased by an earlier version, which kept its id: erased again, its rows
        # (already scrubbed) take the pseudonym, as the first erasure would now have done.
        # Its own referral row still naming a referrer erased before (that erasure's part for this
        # member pending): renamed first, as every other such part, so what is read below is final.
        erasure_parts.settle(ctx, uow, member_id)
        member = uow.member(member_id)
        if member is None:  # pragma: no cover - locked above, which refuses an unknown member
            raise UnknownMember("member_id", f"no member {member_id!r}")
        keys = uow.identifiers(member_id)
        # Where the erasure goes among the ledger's entries in a history export (last_seq).
        seq = {"ledger_seq": uow.last_seq()}
        while True:
            plan, events, referees = _plan(uow, member, key, hidden)
            # The other members' rows are written by their own parts, which the record below
            # names them for: held until this commits, or, one erased since it was read, read again.
            split = erasure_parts.hold(uow, plan, events, referees)
            if split is not None:
                break
        own, parts = split
        uow.erase_member(own)
        now = ctx.now()
        uow.add_event(NewEvent(EventKind.MEMBER_ERASED, hidden, at, now, key, seq))
        done = Erased(member_id, now, len(plan.texts), len(plan.records), len(plan.events), len(keys), hidden)
        erasure.remember(uow, _result(done), now)
        erasure_parts.owe(ctx, uow, key, hidden, parts)
        uow.commit()
        return done

    erased = erasure.run(ctx.runner, command)
    # The other members' parts: right after the first, or, on a retry, what a crash left unwritten.
    erasure_parts.finish(ctx, key)
    # Counts only: the member id may be the one thing left that names the person.
    logger.info("erase: %d entries, %d records, %d events", erased.entries, erased.records, erased.events)
    return erased


def _plan(
    uow: UnitOfWork, member: Member, key: str, hidden: str
) -> tuple[Erasure, list[DomainEvent], list[str]]:
    """The erasure of ``member`` as the store is now, the events it was planned from and the
    members whose referral names it as referrer."""
    member_id = member.id
    records = uow.member_records(member_id)
    # The other member of a transfer or merge is not locked: only texts of its entries written
    # before are rewritten (by its own part), which no command of its reads or changes.
    others = {other: (uow.history(other), uow.member_events(other)) for other in partners(records, member_id)}
    mine = uow.member_events(member_id)
    mentioning = uow.mentioning(member_id)
    plan = plan_erasure(
        member,
        uow.history(member_id),
        records,
        mine,
        key=key,
        others=others,
        pseudonym=hidden,
        mentioning=mentioning,
        named_by=uow.naming(member_id),
    )
    events = [*mine, *mentioning[1], *(event for _, happened in others.values() for event in happened)]
    return plan, events, [referral.referee for referral in uow.referrals_by(member_id)]


def _secret(uow: UnitOfWork) -> bytes:
    secret = uow.erasure_secret(create=True)
    if secret is None:  # pragma: no cover - the port draws one when asked to create it
        raise AssertionError("the store drew no erasure secret")
    return secret


def _result(erased: Erased) -> dict[str, Any]:
    # Not the member id: the record names the member by its pseudonym, as the store does now.
    result = attrs.asdict(erased)
    del result["member_id"]
    result["erased_at"] = erased.erased_at.isoformat()
    return result


def _erased(member_id: str, result: dict[str, Any]) -> Erased:
    return Erased(
        member_id=member_id, **(result | {"erased_at": datetime.fromisoformat(result["erased_at"])})
    )
