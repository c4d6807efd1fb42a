"""Enrolling members and changing what the till knows about them."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import partial
from typing import Any

import attrs

from loyalty import codec
from loyalty.checks import check_id, check_text
from loyalty.errors import InvalidInput, MemberAlreadyEnrolled, MemberErased, UnknownReferralCode
from loyalty.members import AttributeValue, Member, MemberStatus, same_value
from loyalty.merges import merged_key
from loyalty.outbox import EventKind, NewEvent
from loyalty.referrals import ReferralState, normalize_code
from loyalty.service import identifying, locks, purchases, referring
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import Operation, UnitOfWork
from loyalty.tallies import Tally
from loyalty.tiers import TierState
from loyalty.versions import in_force

__all__ = ["UNSET", "Unset", "carry_erasure", "change_status", "enroll", "update_member"]

logger = logging.getLogger(__name__)


class Unset:
    """The default of an optional change: "leave as it is", distinct from ``None``."""

    def __repr__(self) -> str:
        return "<unchanged>"


UNSET = Unset()


def enroll(
    ctx: Context,
    member_id: str,
    *,
    at: datetime,
    birthday: date | None,
    attributes: Mapping[str, AttributeValue] | None,
    referred_by: str | None,
    identifiers: Iterable[str] | None = None,
    bonus: bool = True,
    referral_state: ReferralState = ReferralState.PENDING,
    status: MemberStatus | str = MemberStatus.ACTIVE,
    tier: TierState | None = None,
    tallies: Mapping[str, Tally] | None = None,
) -> Member:
    """Enroll a member (see :meth:`loyalty.Engine.enroll`); ``bonus=False`` pays no sign-up rules
    (an import of a member whose bonus is in its opening balances already); ``referral_state``
    is where its referral stood there (a decided one pays nothing here), and ``status`` its status
    there (a suspended or closed member is enrolled as it is); ``tier`` its tier state there and
    ``tallies`` its own tallies, by key without its id."""
    member = Member(member_id, at, birthday, attributes, status=status)
    # An enrollment is a retry of itself once the member is enrolled (compared below).
    ctx.till_time("at", at, done=partial(_enrolled, member_id))
    code = None if referred_by is None else normalize_code(referred_by, "referred_by")
    keys = identifying.check_keys(identifiers)

    def command(uow: UnitOfWork) -> tuple[Member, bool]:
        # On every path, a replay too: committed() below must not take the versions a refused
        # command stored (and rolled back) for stored.
        ctx.programs.begin()
        referrer = None if code is None else uow.code_owner(code)
        if code is not None and referrer is None:
            raise UnknownReferralCode("referred_by", f"no member has the referral code {code!r}")
        existing = uow.member(member.id)
        if existing is None:
            if isinstance(locks.unknown(uow, member.id), MemberErased):
                raise locks.erased(member.id)  # the id of a member erased since: not free again
            uow.add_member(member)
            if tier is not None:
                _put_tier(ctx, uow, tier, at)
            if tallies:
                uow.add_tallies({f"{key}|{member.id}": tally for key, tally in tallies.items()})
            identifying.enrolled(ctx, uow, member, keys, new=True)
            if code is not None and referrer is not None:
                referring.attribute(ctx, uow, member, referrer, code, referral_state)
            # A member enrolled suspended or closed (an import) earns nothing, a sign-up bonus neither.
            if bonus and member.status is MemberStatus.ACTIVE:
                purchases.earn_on_enrollment(ctx, uow, member.id, at)
            uow.commit()
            return member, False
        if existing.status is MemberStatus.ERASED:
            raise locks.erased(member.id)
        for field in ("enrolled_at", "birthday", "attributes"):
            if not same_value(getattr(existing, field), getattr(member, field)):
                name = "at" if field == "enrolled_at" else field
                raise MemberAlreadyEnrolled(
                    name, f"member {member.id!r} is already enrolled with another {name}"
                )
        attributed = uow.referral(member.id)
        if (attributed.code if attributed else None) != code:
            raise MemberAlreadyEnrolled(
                "referred_by", f"member {member.id!r} is already enrolled, with another referral (or none)"
            )
        identifying.enrolled(ctx, uow, existing, keys, new=False)
        return existing, True

    enrolled, replayed = ctx.runner.run(command, "enroll")
    ctx.programs.committed()
    # No id: an enrollment's key is the member's id, which is never logged.
    logger.debug("enroll: %s", "replayed" if replayed else "recorded")
    return enrolled


def _put_tier(ctx: Context, uow: UnitOfWork, state: TierState, at: datetime) -> None:
    """Keep an imported member's tier state, each tier it names one of the program's."""
    tiers = in_force(ctx.programs.in_uow(uow), at, default_first=True).tiers
    known = set() if tiers is None else {level.id for level in tiers.levels}
    named = (state.tier, state.earned, *([] if state.floor is None else [state.floor]), *state.reached)
    unknown = next((tier for tier in named if tier not in known), None)
    if unknown is not None:
        raise InvalidInput("tier", f"the program has no tier {unknown!r}")
    uow.put_tier_state(state)


def _enrolled(member_id: str, uow: UnitOfWork) -> bool:
    return uow.member(member_id) is not None


def update_member(
    ctx: Context,
    member_id: str,
    *,
    id: str,
    at: datetime,
    birthday: date | Unset | None,
    attributes: Mapping[str, AttributeValue] | Unset,
) -> Member:
    """Change a member's birthday or attributes (see :meth:`loyalty.Engine.update_member`)."""
    check_id("member_id", member_id)
    check_id("id", id)
    ctx.till_time("at", at, id)
    if not isinstance(birthday, Unset):
        Member(member_id, at, birthday)  # validates the birthday alone
    if not isinstance(attributes, Unset):
        attributes = Member(member_id, at, attributes=attributes).attributes
    request = {
        "member_id": member_id,
        "at": at.isoformat(),
        "birthday": None
        if isinstance(birthday, Unset)
        else {"set": None if birthday is None else str(birthday)},
        "attributes": None if isinstance(attributes, Unset) else dict(attributes),
    }
    update = Command(id, "member_update", request)

    def command(uow: UnitOfWork) -> Member:
        replay = update.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Member)
        existing = uow.member(member_id)
        if existing is None:
            raise locks.unknown(uow, member_id)
        locks.allowed(uow, member_id, locks.CHANGE)
        now = ctx.now()
        changes: dict[str, Any] = {}
        if not isinstance(birthday, Unset) and birthday != existing.birthday:
            changes.update(birthday=birthday, birthday_changed_at=now)
        if not isinstance(attributes, Unset):
            changes["attributes"] = attributes
        member = attrs.evolve(existing, **changes)
        uow.update_member(member)
        update.remember(uow, codec.unstructure(member), now)
        uow.commit()
        return member

    return update.run(ctx.runner, command)


def change_status(
    ctx: Context,
    member_id: str,
    status: MemberStatus | str,
    *,
    id: str,
    at: datetime,
    reason: str,
    actor: str,
) -> Member:
    """Suspend, reinstate, close or reopen a member (see :meth:`loyalty.Engine.change_status`)."""
    check_id("member_id", member_id)
    new = Member(member_id, at, status=status).status  # checks the status and ``at``
    if new is MemberStatus.ERASED:
        raise InvalidInput("status", "a member is erased by Engine.erase, which takes its personal data out")
    check_id("id", id)
    ctx.till_time("at", at, id)
    check_text("reason", reason)
    check_id("actor", actor)  # staff's id: the id rule, as every actor (docs/rules.md#names-and-text)
    request = {
        "member_id": member_id,
        "status": new.value,
        "at": at.isoformat(),
        "reason": reason,
        "actor": actor,
    }
    change = Command(id, "member_status", request)

    def command(uow: UnitOfWork) -> Member:
        replay = change.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Member)
        # Beside the commands that check the status under this lock, and the other members'
        # that hold this one before reading its status (a referee's first purchase).
        locks.lock_status(uow, member_id)
        locks.not_erased(uow, member_id)
        existing = uow.member(member_id)
        assert existing is not None  # locked
        if existing.status is new:
            raise InvalidInput("status", f"member {member_id!r} is already {new.value}")
        now = ctx.now()
        member = attrs.evolve(existing, status=new)
        uow.update_member(member)
        if MemberStatus.CLOSED in (existing.status, new):
            # Closed or reopened by hand: no merge says where it went (referral_parts.merged_into).
            mark = merged_key(member_id)
            uow.add_tallies({mark: Tally(-1 - uow.tallies([mark])[mark].count)})
        data: dict[str, Any] = {"old": existing.status.value, "new": new.value, "reason": reason}
        # Where the change goes among the ledger's entries in a history export: its clock may
        # have stood still or run behind another server's (LedgerRole.last_seq).
        data |= {"actor": actor, "ledger_seq": uow.last_seq()}
        uow.add_event(NewEvent(EventKind.MEMBER_STATUS_CHANGED, member_id, at, now, id, data))
        change.remember(uow, codec.unstructure(member), now)
        uow.commit()
        return member

    changed = change.run(ctx.runner, command)
    logger.debug("change_status: %s", changed.status.value)
    return changed


def carry_erasure(ctx: Context, member_id: str, *, id: str, at: datetime) -> Member:
    """Mark member ``member_id`` erased, as a history export says it was where it comes from (an
    import: :mod:`loyalty.service.replaying`). Its id there is already the pseudonym and its
    personal data are gone from the history, so there is nothing to take out here, and not
    :func:`loyalty.service.erasure.erase`, which would name it by a pseudonym of the pseudonym:
    only its status, so that no command reaches it again. Idempotent on ``id``."""
    check_id("member_id", member_id)
    check_id("id", id)
    request = {"member_id": member_id, "status": MemberStatus.ERASED.value, "at": at.isoformat()}
    change = Command(id, "member_status", request)

    def command(uow: UnitOfWork) -> Member:
        done = change.replay(uow)
        if done is None:
            # A member erased already (by another id) is marked again: its status is all it has.
            locks.lock_status(uow, member_id)
            member = uow.member(member_id)
            assert member is not None  # locked
            now = ctx.now()
            uow.update_member(attrs.evolve(member, status=MemberStatus.ERASED))
            seq = {"ledger_seq": uow.last_seq()}
            uow.add_event(NewEvent(EventKind.MEMBER_ERASED, member_id, at, now, id, seq))
            done = Operation(id, change.kind, request, codec.unstructure(uow.member(member_id)), now)
            uow.add_operation(done)
            uow.commit()
        return codec.structure(done.result, Member)

    return change.run(ctx.runner, command)
