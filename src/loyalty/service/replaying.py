"""Applying one history record (:mod:`loyalty.history`) through the use case of its engine method,
checked as that method checks it: what a bulk import (:mod:`loyalty.service.importing`) runs for
each record, in its batch's unit of work.

Records a history export writes for commands that are more than their ledger entries (rewards
and their vouchers' uses and voids, transfers, merges, referrals, holds) run through their own
commands too; what each carries, and why, is in docs/import-export.md.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from loyalty import codec, history
from loyalty.checks import check_aware, check_id
from loyalty.earning_keys import MEMBER_KINDS, member_kind
from loyalty.errors import InvalidInput, LoyaltyError, ReferralCodeTaken
from loyalty.members import MemberStatus, same_value
from loyalty.referrals import ReferralState, normalize_code
from loyalty.service import (
    membership,
    merging,
    opening,
    purchases,
    referring,
    returning,
    rewarding,
    spending,
    transferring,
)
from loyalty.service.context import Context
from loyalty.store import UnitOfWork, check_tally_key
from loyalty.tallies import Tally
from loyalty.tiers import TierState
from loyalty.time_guards import MAX_LEAD_MINUTES
from loyalty.vouchers import code_for

__all__ = ["apply", "erased_repeat"]


def apply(ctx: Context, event: history.Event) -> None:
    """Run ``event`` through the use case of its engine method, checked as that method checks it."""
    if isinstance(event, history.Sale):
        purchases.record_purchase(ctx, event.purchase)
    elif isinstance(event, history.Enrollment):
        _check_code(ctx, event)
        membership.enroll(
            ctx,
            event.member_id,
            at=event.at,
            birthday=event.birthday,
            attributes=event.attributes,
            referred_by=event.referred_by,
            identifiers=event.identifiers or None,
            bonus=not event.bonus_paid,
            referral_state=_referral_state(event),
            status=_status(event),
            tier=_tier(event),
            tallies=_tallies(event),
        )
        if event.referral_code is not None:
            referring.code(ctx, event.member_id, event.referral_code)
    elif isinstance(event, history.SaleReturn):
        _return(ctx, event)
    elif isinstance(event, history.Redemption):
        member, points, key, at = event.member_id, event.points, event.id, event.at
        reason, paid = event.reason, event.purchase_id
        spending.redeem(ctx, member, points, key=key, at=at, reason=reason, purchase_id=paid)
    elif isinstance(event, history.Adjustment):
        member, points, key, at = event.member_id, event.points, event.id, event.at
        spending.adjust(ctx, member, points, key=key, at=at, reason=event.reason, actor=event.actor)
    elif isinstance(event, history.CustomEvent):
        made = purchases.till_event(ctx, event.id, event.member_id, event.name, event.at, event.properties)
        purchases.record_till_event(ctx, made)
    elif isinstance(event, history.OpenVoucher):
        opening.add_open_voucher(ctx, event)
    elif isinstance(event, history.OpenHold):
        opening.add_open_hold(ctx, event)
    elif isinstance(event, history.RewardBought):
        _check_reward(event)
        _check_use(ctx, event)
        member, reward, key, at = event.member_id, event.reward_id, event.id, event.at
        bought = rewarding.redeem_reward(ctx, member, reward, key=key, at=at, purchase_id=event.purchase_id)
        if event.used_at is not None:
            used_at, used_for = event.used_at, event.used_for
            rewarding.carry_use(ctx, bought.code, key=key, used_at=used_at, used_for=used_for)
    elif isinstance(event, history.VoucherVoided):
        _void(ctx, event)
    elif isinstance(event, history.PointsSent):
        member, to, points, key, at = event.member_id, event.to_member, event.points, event.id, event.at
        transferring.transfer(ctx, member, to, points, key=key, at=at, reason=event.reason)
    elif isinstance(event, history.Referred):
        referring.link(ctx, event.member_id, event.referred_by)
    elif isinstance(event, history.HeldPoints):
        _held(ctx, event)
    elif isinstance(event, history.HoldCaptured):
        _capture(ctx, event)
    elif isinstance(event, history.StatusChanged):
        _change_status(ctx, event)
    elif isinstance(event, history.MembersMerged):
        merging.merge(ctx, event.member_id, event.absorbed, key=event.id, at=event.at, reason=event.reason)
    else:
        member, points, key, at = event.member_id, event.points, event.id, event.at
        expires, vests = event.expires_at, event.vests_at
        opening.add_opening_balance(
            ctx, member, points, key=key, at=at, expires_at=expires, vests_at=vests, migrating=True
        )


def erased_repeat(uow: UnitOfWork, event: history.Enrollment | history.Referred) -> bool:
    """Whether ``event`` is the enrollment or referral of a member present and erased, exactly as
    it was recorded: the file's own record run again (its ``status: erased`` record came after
    it), a repeat that writes nothing. Anything else about an erased member (another time,
    birthday, attributes, key, referral or code) is left to its command, which refuses it
    (:class:`~loyalty.errors.MemberErased`): nothing new happens to an erased member."""
    member = uow.member(event.member_id)
    if member is None or member.status is not MemberStatus.ERASED:
        return False
    referral = uow.referral(event.member_id)
    referred = None if referral is None else referral.code
    wanted = None if event.referred_by is None else normalize_code(event.referred_by, "referred_by")
    if isinstance(event, history.Referred):
        return referred == wanted
    code = event.referral_code
    return (
        member.enrolled_at == event.at
        and same_value(member.birthday, event.birthday)
        and same_value(member.attributes, event.attributes)
        and not event.identifiers
        and referred == wanted
        and (code is None or uow.referral_code(event.member_id) == normalize_code(code, "referral_code"))
    )


def _return(ctx: Context, event: history.SaleReturn) -> None:
    """Record the return as the history did; a return of another member's purchase than the
    record's is refused (``member_id``) before anything is written."""

    def owner(uow: UnitOfWork) -> tuple[object, MemberStatus | None]:
        sold = uow.operation(event.purchase_id)
        member = None if sold is None or sold.kind != "purchase" else sold.request.get("member_id")
        return member, None if not isinstance(member, str) else uow.member_status(member)

    member, status = ctx.runner.read(owner)
    # (An erased member's purchase names its pseudonym: the return's own refusal says it was erased.)
    if member is not None and member != event.member_id and status is not MemberStatus.ERASED:
        raise InvalidInput("member_id", f"purchase {event.purchase_id!r} is {member!r}'s")
    # (An unknown purchase is the return's own refusal.)
    returning.record_return(ctx, event.returned)


def _capture(ctx: Context, event: history.HoldCaptured) -> None:
    """Capture the hold where the history captured it (its ``held`` record made it and left it
    open): what it gave back returns to its lots there, after the commands made while it was
    open. A hold of another member than the record's is refused (``member_id``) first."""
    found = ctx.runner.read(lambda uow: uow.hold(event.hold_id))
    if found is not None and found.member_id != event.member_id:
        raise InvalidInput("member_id", f"hold {event.hold_id!r} is {found.member_id!r}'s")
    spending.capture(ctx, event.hold_id, id=event.id, at=event.at, points=event.points)


def _change_status(ctx: Context, event: history.StatusChanged) -> None:
    """Change the member's status as the history did, at its place (what a status decides, such
    as a referrer's bonus, is decided as it was); the status a member has already (an
    enrollment's) is left as it is."""
    member = event.member_id
    if event.status == MemberStatus.ERASED.value:
        membership.carry_erasure(ctx, member, id=event.id, at=event.at)
        return
    found = ctx.runner.read(lambda uow: (uow.member_status(member), uow.operation(event.id)))
    if found[0] is not None and found[0].value == event.status and found[1] is None:
        return
    reason, actor = event.reason, event.actor
    membership.change_status(ctx, member, event.status, id=event.id, at=event.at, reason=reason, actor=actor)


def _held(ctx: Context, event: history.HeldPoints) -> None:
    """Make the hold as the till did and, if it was captured in full (or captured as the record
    says, with no ``captured_at``), capture what was: both before any other record, so that the
    points it spent are drawn from the lots they were drawn from. One that gave points back is
    left open for its ``capture`` record (:func:`_capture`), at the give-back's place."""
    if event.expires_at <= event.at:
        raise InvalidInput("expires_at", f"must be after at ({event.at.isoformat()})")
    if event.captured is not None and not 0 < event.captured <= event.points:
        raise InvalidInput("captured", f"must be from 1 to the {event.points} points held, or null")
    ttl = event.ttl(spending.MAX_HOLD_TTL)
    if event.captured is not None:
        # Checked before the hold is made: alone (out of its batch) each command commits its own
        # unit of work, and a capture refused after would leave the hold written and open. One
        # that gave points back is its ``capture`` record's, made at its own time: run again,
        # the file finds it made then.
        at = event.at if event.captured_at is None else event.captured_at
        capture = spending.capture_command(event.id, id=event.capture_id, at=at, points=event.captured)
        ctx.runner.read(capture.replay)
    spending.hold(ctx, event.member_id, event.points, id=event.id, at=event.at, ttl=ttl)
    if event.captured is not None and event.captured_at is None:
        spending.capture(ctx, event.id, id=event.capture_id, at=event.at, points=event.captured)


#: The states an imported referral may have: a qualified one's bonuses were paid, as a rewarded one's.
_STATES = {"pending": ReferralState.PENDING, "qualified": ReferralState.REWARDED}
_STATES |= {"rewarded": ReferralState.REWARDED, "rejected": ReferralState.REJECTED}


def _referral_state(event: history.Enrollment) -> ReferralState:
    state = event.referral_state
    if state is None:
        return ReferralState.PENDING
    if state not in _STATES:
        raise InvalidInput("referral_state", f"must be {', '.join(_STATES)}, got {state!r}")
    if event.referred_by is None:
        raise InvalidInput("referral_state", "needs referred_by, the referral it says is decided")
    return _STATES[state]


def _status(event: history.Enrollment) -> MemberStatus:
    if event.status is None:
        return MemberStatus.ACTIVE
    status = next((s for s in MemberStatus if s.value == event.status), None)
    if status is None or status is MemberStatus.ERASED:
        raise InvalidInput("status", f"must be active, suspended or closed, got {event.status!r}")
    return status


def _tier(event: history.Enrollment) -> TierState | None:
    if event.tier is None:
        return None
    try:
        return codec.structure({**event.tier, "member_id": event.member_id}, TierState)
    except Exception as exc:  # cattrs gathers what is wrong in an exception group
        raise InvalidInput("tier", f"not a tier state: {exc}") from None


def _tallies(event: history.Enrollment) -> dict[str, Tally] | None:
    """The member's own tallies of an enrollment, each of a kind a member has (never a campaign's
    budget, which all members share)."""
    if event.tallies is None:
        return None
    tallies = {}
    for key, value in event.tallies.items():
        field = f"tallies.{key}"
        if member_kind(key) not in MEMBER_KINDS or not isinstance(value, dict):
            raise InvalidInput(field, "must be one of the member's own tallies, as {count, points}")
        count, points = value.get("count", 0), value.get("points", "0")
        if type(count) is not int or not isinstance(points, str):
            raise InvalidInput(field, "needs a count (a whole number) and points as a decimal string")
        # A count below zero is one a store keeps: a return after a merge gives back a visit that
        # went to the survivor, and the member absorbed may be reopened since (an export writes
        # it as it is, and the import takes what the store kept).
        try:
            tallies[check_tally_key(key)] = Tally(count, Decimal(points))
        except (LoyaltyError, ArithmeticError, TypeError) as exc:
            raise InvalidInput(field, f"not a tally: {exc}") from None
    return tallies


#: How many of the codes an id may give a voucher a reward's ``code`` is looked for among (the
#: engine takes the next when another voucher has one: a collision of two in 8e14).
_ATTEMPTS = 4


def _void(ctx: Context, event: history.VoucherVoided) -> None:
    """Void the voucher as the history did, judged at the void's own time; a voucher of another
    member than the record's is refused (``member_id``) before anything is written."""
    check_id("code", event.code)
    owner = ctx.runner.read(lambda uow: uow.voucher(event.code))
    if owner is not None and owner.member_id != event.member_id:
        raise InvalidInput("member_id", f"voucher {event.code!r} is {owner.member_id!r}'s")
    rewarding.void_voucher(ctx, event.code, key=event.id, at=event.at, judged_at=event.at)


def _check_reward(event: history.RewardBought) -> None:
    """Refuse a reward whose ``code`` is not one the engine gives its id (the till knows the
    voucher by it, and the voucher made here would have another), or whose use is malformed:
    before the reward is bought, so that nothing of it is written."""
    if event.used_at is not None:
        check_aware("used_at", event.used_at)
    if event.used_at is None and event.used_for is not None:
        raise InvalidInput("used_for", "needs used_at, when the voucher was used")
    if event.used_for is not None:
        check_id("used_for", event.used_for)
    if event.code is not None and event.code not in {code_for(event.id, n) for n in range(_ATTEMPTS)}:
        raise InvalidInput("code", f"{event.code!r} is not the voucher code of id {event.id!r}")


def _check_use(ctx: Context, event: history.RewardBought) -> None:
    """Refuse a use the first store could not have recorded, before the reward is bought: one
    before the reward was bought (``used_at`` is the engine's time of the use, ``at`` the till's
    of the purchase, which may lead the engine's clock by the time guards' lead at most), or on
    a recorded purchase of another member (``used_for``; a purchase this store does not know,
    one that earned nothing, is taken as the history says)."""
    if event.used_at is None:
        return
    lead = ctx.guards.max_lead_minutes
    earliest = event.at - timedelta(minutes=MAX_LEAD_MINUTES if lead is None else lead)
    if event.used_at < earliest:
        raise InvalidInput("used_at", f"must not be before the reward was bought, at {event.at.isoformat()}")
    paid = event.used_for
    if paid is None:
        return
    sold = ctx.runner.read(lambda uow: uow.operation(paid))
    if sold is not None and sold.kind == "purchase" and sold.request["member_id"] != event.member_id:
        raise InvalidInput("used_for", f"purchase {paid!r} is {sold.request['member_id']!r}'s")


def _check_code(ctx: Context, event: history.Enrollment) -> None:
    """Refuse the member's own ``referral_code`` before it is enrolled: an enrollment is applied
    whole or not at all."""
    if event.referral_code is None:
        return
    code = normalize_code(event.referral_code, "referral_code")
    owner = ctx.runner.read(lambda uow: uow.code_owner(code))
    if owner is not None and owner != event.member_id:
        raise ReferralCodeTaken("referral_code", f"the code {code!r} is another member's")
