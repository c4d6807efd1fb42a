"""Referrals: codes, attribution at enrollment, first-purchase bonuses and their take-back."""

from __future__ import annotations

import logging
from datetime import UTC

from loyalty.checks import check_id
from loyalty.errors import MemberAlreadyEnrolled, ReferralCodeTaken, StorageError, UnknownReferralCode
from loyalty.members import Member
from loyalty.referrals import (
    Referral,
    ReferralReport,
    ReferralState,
    identity_clash,
    new_code,
    normalize_code,
)
from loyalty.service import locks
from loyalty.service.context import Context
from loyalty.store import UnitOfWork
from loyalty.versions import in_force

__all__ = ["attribute", "code", "link", "report"]

logger = logging.getLogger(__name__)


def attribute(
    ctx: Context,
    uow: UnitOfWork,
    member: Member,
    referrer_id: str,
    code: str,
    imported: ReferralState = ReferralState.PENDING,
) -> None:
    """Record who referred a new member; a self-referral is recorded rejected, with why. A
    referral ``imported`` as decided elsewhere keeps that state (its bonuses were paid there)."""
    now = ctx.now()
    program = in_force(ctx.programs.in_uow(uow), now, default_first=True)
    # The referral row names the referrer: held against its erasure until this commits, or,
    # erased since its code was read, found again under its pseudonym (its code renamed with it).
    if not uow.keep_named(referrer_id):
        referrer_id = uow.code_owner(code) or referrer_id
    referrer = uow.member(referrer_id)
    assert referrer is not None  # it owns a code
    clash = identity_clash(program.referrals, member, referrer)
    state = ReferralState.PENDING if clash is None else ReferralState.REJECTED
    if imported is not ReferralState.PENDING:
        clash, state = (None if imported is ReferralState.REWARDED else "rejected before import"), imported
    decided = now.astimezone(UTC) if state is not ReferralState.PENDING else None
    uow.put_referral(
        Referral(member.id, referrer_id, code, member.enrolled_at, state, clash, decided_at=decided)
    )


def link(ctx: Context, member_id: str, referred_by: str) -> None:
    """Record that ``member_id``, enrolled without a referral, was referred with the code
    ``referred_by``, as its enrollment would have (:func:`attribute`): an import's ``referral``
    record, linked once every member of the file is enrolled. Idempotent: the same link again
    writes nothing; another is refused."""
    check_id("member_id", member_id)
    wanted = normalize_code(referred_by, "referred_by")

    def command(uow: UnitOfWork) -> None:
        locks.lock(uow, member_id)
        locks.known(uow, member_id)
        locks.not_erased(uow, member_id)
        member = uow.member(member_id)
        assert member is not None  # known
        existing = uow.referral(member_id)
        if existing is not None:
            if existing.code != wanted:
                raise MemberAlreadyEnrolled("referred_by", f"member {member_id!r} has another referral")
            return
        referrer = uow.code_owner(wanted)
        if referrer is None:
            raise UnknownReferralCode("referred_by", f"no member has the referral code {wanted!r}")
        attribute(ctx, uow, member, referrer, wanted)
        uow.commit()

    ctx.runner.run(command, "a referral")


def code(ctx: Context, member_id: str, wanted_code: str | None) -> str:
    """The member's referral code, made the first time (see :meth:`loyalty.Engine.referral_code`)."""
    check_id("member_id", member_id)
    wanted = None if wanted_code is None else normalize_code(wanted_code)

    def command(uow: UnitOfWork) -> tuple[str, bool]:
        locks.lock(uow, member_id)
        locks.not_erased(uow, member_id)
        mine = uow.referral_code(member_id)
        if mine is not None:
            if wanted is not None and wanted != mine:
                raise ReferralCodeTaken("code", f"member {member_id!r} already has the code {mine!r}")
            return mine, True
        if wanted is not None:
            if uow.code_owner(wanted) is not None:
                raise ReferralCodeTaken("code", f"the code {wanted!r} is another member's")
            chosen = wanted
        else:
            for _ in range(32):
                chosen = new_code()
                if uow.code_owner(chosen) is None:
                    break
            else:  # pragma: no cover - 32 collisions in 8.5e11 codes
                raise StorageError("code", "could not find an unused referral code")
        uow.add_referral_code(member_id, chosen)
        uow.commit()
        return chosen, False

    given, replayed = ctx.runner.run(command, "referral_code")
    # Neither the member nor the code (which a member hands out) is logged.
    logger.debug("referral_code: %s", "replayed" if replayed else "recorded")
    return given


def report(ctx: Context, member_id: str) -> ReferralReport:
    """The member's code, who referred it, whom it referred and the points earned."""
    check_id("member_id", member_id)
    now = ctx.now()

    def query(uow: UnitOfWork) -> tuple[str | None, Referral | None, list[Referral]]:
        locks.known(uow, member_id)
        return uow.referral_code(member_id), uow.referral(member_id), uow.referrals_by(member_id)

    mine, referred_by, referrals = ctx.runner.read(query)
    theirs = [referral.at(now) for referral in referrals]
    earned = sum(r.referrer_points for r in theirs if r.state is not ReferralState.REJECTED)
    return ReferralReport(
        member_id, mine, None if referred_by is None else referred_by.at(now), theirs, earned
    )
