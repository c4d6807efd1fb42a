"""A merge's survivor's part (see :mod:`loyalty.service.merging`), in a module of its own so that
whoever holds the survivor's lock can write it first in its own unit of work: the merge, and a
referrer's part of a take-back that finds the bonus it takes back in a merge half written
(:mod:`loyalty.service.referral_parts`), which :mod:`~loyalty.service.merging` itself uses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loyalty import codec
from loyalty.erasure import ERASED
from loyalty.ledger import Entry
from loyalty.members import MemberStatus
from loyalty.merges import (
    REFEREES_PART,
    SURVIVOR_PART,
    Carried,
    Merge,
    Moved,
    carry,
    moved_referrals,
    plan_survivor,
    received_lots,
)
from loyalty.service import erasure_parts, locks, postings, tiering
from loyalty.service.context import Context
from loyalty.store import Operation, UnitOfWork
from loyalty.transfers import RECEIVED

__all__ = ["RECEIVED_KIND", "REFEREES", "moved_form", "moved_lot", "survive"]

#: The kinds of the records the survivor's part writes: its own, and the referees to move.
RECEIVED_KIND, REFEREES = "member_merge_received", "member_merge_referees"


def survive(ctx: Context, uow: UnitOfWork, key: str) -> Merge:
    """Write the survivor's part of the merge ``key`` in ``uow`` (the caller commits), or read it
    back; the whole merge."""
    # As the store keeps it now: an erasure since the first part renamed the erased member in it.
    first = uow.operation(key)
    assert first is not None  # the first part is written
    request, result = first.request, first.result
    survivor, absorbed = request["survivor"], request["absorbed"]
    # Locked first: whoever else finishes this merge holds the same lock, so the record read under
    # it is the last word on whether the part is written.
    locks.lock(uow, survivor, "survivor")
    # The survivor's entries, referral and records name the absorbed member: held against its
    # erasure until this commits, or, erased since the read above, read again with it renamed.
    kept_named = uow.keep_named(absorbed)
    if not kept_named:
        first = uow.operation(key)
        assert first is not None  # read above
        request, result = first.request, first.result
        absorbed = request["absorbed"]
    kept = uow.operation(key + SURVIVOR_PART + RECEIVED)
    if kept is not None:
        return codec.structure(kept.result, Merge)
    now = ctx.now()
    at = datetime.fromisoformat(request["at"])
    # An erasure of either member takes the reason: the survivor's entries say what the erasure
    # makes of those of a merge written whole before it.
    erased = uow.member_status(survivor) is MemberStatus.ERASED
    reason = None if erased else request.get("reason")
    tiering.follow_balance(ctx, uow, [survivor], source=key, at=now)
    account = postings.read_account(uow, survivor, rolls=False)
    owed = [codec.structure(each, Carried) for each in result["taken"]]
    targets = uow.tallies([each.target for each in owed])
    carried = carry(
        [(c.what, c.source, c.target) for c in owed], {**{c.source: c.taken for c in owed}, **targets}
    )
    moved = [moved_lot(form) for form in result["lots"]]
    plan = plan_survivor(account, absorbed, moved, key=key, at=at, now=now, reason=reason, carried=carried)
    written = postings.apply(uow, plan)
    own = erasure_parts.referral_of(ctx, uow, survivor, erased=not kept_named)
    if own is not None and own.referrer == absorbed:
        for referral in moved_referrals([own], survivor, now.astimezone(UTC), {}):
            uow.put_referral(referral)
    current = tiering.tiered_now(ctx, uow)
    if current is not None and carried:
        tiering.rise(ctx, uow, current, survivor, source=key)
    tiering.follow_balance(ctx, uow, [survivor], source=key, at=now)
    sent = codec.structure(result["sent"], Entry)
    made = Merge(
        key,
        survivor,
        absorbed,
        -sent.points,
        ERASED if reason is None else reason,
        sent,
        tuple(written),
        carried,
        tuple(result["referrals"]),
        tuple(result.get("keys") or ()),
    )
    uow.add_operation(
        Operation(key + SURVIVOR_PART + RECEIVED, RECEIVED_KIND, request, codec.unstructure(made), now)
    )
    if made.referrals:
        lots = received_lots([lot_id for lot_id, *_ in moved], written)
        referees = {"referees": list(made.referrals), "lots": sorted(lots.items())}
        uow.add_operation(Operation(key + REFEREES_PART, REFEREES, request, referees, now))
    return made


def moved_form(moved: Moved) -> list[Any]:
    """A lot the survivor is owed, as the absorbed member's part keeps it in its record (JSON)."""
    lot_id, points, expires_at, rolling, earned = moved
    return [lot_id, points, None if expires_at is None else expires_at.isoformat(), rolling, earned]


def moved_lot(form: list[Any]) -> Moved:
    """A lot the survivor is owed, read back from the absorbed member's record."""
    lot_id, points, expires_at, rolling, earned = form
    return lot_id, points, None if expires_at is None else datetime.fromisoformat(expires_at), rolling, earned
