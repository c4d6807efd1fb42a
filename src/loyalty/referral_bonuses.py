"""The referrer's part of a referral reward, and of its take-back, written apart from the
referee's purchase and return.

A referee's first purchase that qualifies decides both bonuses (:mod:`loyalty.recording`), but
writes only the referee's rows: its purchase, its welcome bonus, the referral (the referee's
row) and the referrer's cap count. What the referrer earns is a :class:`ReferrerBonus`, kept
with the purchase under its id followed by :data:`REFERRER_PART`; the referrer's part
(:func:`plan_bonus`) credits it under the referrer's lock alone, with the
``referral_rewarded`` event, so that each part writes one member's rows (docs/scaling.md).

A return of the qualifying purchase that takes the reward back is split alike: the return
takes the referee's bonus back (:func:`take_bonus`), rejects the referral and frees the cap's
place; what the referrer gives back is a :class:`ReferrerTakeBack`, kept with the return under
its id followed by :data:`REFERRER_PART`, which the referrer's part (:func:`plan_take_back`)
takes back under the referrer's lock alone, with the ``referral_revoked`` event.

>>> from datetime import datetime, timezone
>>> from loyalty.plans import Account
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> bonus = ReferrerBonus("M1", "M2", "P1", 50, 10, t, "v1", None, None, False)
>>> plan = plan_bonus(Account("M1", 5), bonus, now=t)
>>> [(p.member_id, p.points, p.reason, p.rules) for p in plan.postings]
[('M1', 50, 'referral bonus: M2 made a first purchase', ('referral:referrer',))]
>>> plan.balances, [event.kind.value for event in plan.events]
((55,), ['referral_rewarded'])
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from loyalty.ledger import EntryKind, Posting
from loyalty.lots import DrawOrder, take_back
from loyalty.outbox import EventKind, NewEvent
from loyalty.plans import Account, Plan, Planner
from loyalty.returns import Clawback, claw

__all__ = [
    "REFERRER_PART",
    "ReferrerBonus",
    "ReferrerTakeBack",
    "bonus_posting",
    "plan_bonus",
    "plan_take_back",
    "take_bonus",
]

#: What the referee's purchase id gains to key the record of what its referrer is owed (written
#: with the purchase); the referrer's part keeps its own under that key and
#: :data:`loyalty.transfers.RECEIVED`. Ids with control characters are refused
#: (:func:`loyalty.checks.check_id`), so no caller's id takes either key.
REFERRER_PART = "\x1freferrer"


@attrs.frozen
class ReferrerBonus:
    """What a referee's first purchase ``purchase_id`` gives its referrer: ``points`` (stored
    units; the referee's were ``referee_points``), as a credit of the purchase's time and
    version, with the dates the referee's bonus has, rolling or not as the program's lots do."""

    referrer: str
    referee: str
    purchase_id: str
    points: int
    referee_points: int
    occurred_at: datetime
    program_version: str | None
    vests_at: datetime | None
    expires_at: datetime | None
    rolling: bool

    def event_data(self) -> dict[str, Any]:
        """The ``referral_rewarded`` event's data (the referrer's event)."""
        return {
            "referee": self.referee,
            "purchase_id": self.purchase_id,
            "referrer_points": self.points,
            "referee_points": self.referee_points,
            "vests_at": None if self.vests_at is None else self.vests_at.isoformat(),
        }


def plan_bonus(referrer: Account, bonus: ReferrerBonus, *, now: datetime) -> Plan:
    """The referrer's part: its bonus credited, if any (repaying first what returns left it
    owing, as any credit does), and the ``referral_rewarded`` event, recorded at ``now``."""
    planner = Planner([referrer], rolling=bonus.rolling)
    if bonus.points:
        planner.credit(bonus_posting(bonus, "referrer", now))
    event = NewEvent(
        EventKind.REFERRAL_REWARDED,
        bonus.referrer,
        bonus.occurred_at,
        now,
        bonus.purchase_id,
        bonus.event_data(),
    )
    planner.event(event)
    return planner.plan()


def bonus_posting(bonus: ReferrerBonus, side: str, now: datetime) -> Posting:
    """The credit of ``side`` (``referee`` or ``referrer``) of the reward ``bonus`` describes,
    recorded at ``now``: an ``earn`` entry of the purchase's time, source and version, with the
    rule ``referral:<side>``."""
    if side == "referee":
        member_id, points = bonus.referee, bonus.referee_points
        why = f"referral bonus: welcome, referred by {bonus.referrer}"
    else:
        member_id, points = bonus.referrer, bonus.points
        why = f"referral bonus: {bonus.referee} made a first purchase"
    return Posting(
        member_id,
        EntryKind.EARN,
        points,
        bonus.occurred_at,
        now,
        bonus.purchase_id,
        why,
        rules=(f"referral:{side}",),
        program_version=bonus.program_version,
        vests_at=bonus.vests_at,
        expires_at=bonus.expires_at,
    )


@attrs.frozen
class ReferrerTakeBack:
    """What return ``return_id`` of the referee's qualifying purchase ``purchase_id`` takes back
    from the referrer: its bonus of ``points`` (the referee's was ``referee_points``), at the
    return's time, under the purchase's version's ``clawback``, drawing in the ``order`` of the
    version in force at the return, from the bonus's own lot first (``lot``: the one the
    referral names, for a reward written in one unit of work by an earlier version). ``told``:
    whether the referrer heard of the reward, and so hears of its end."""

    referrer: str
    referee: str
    purchase_id: str
    return_id: str
    points: int
    referee_points: int
    occurred_at: datetime
    clawback: Clawback
    order: DrawOrder
    rolling: bool
    lot: int | None
    told: bool

    def event_data(self) -> dict[str, Any]:
        """The ``referral_revoked`` event's data (the referrer's event)."""
        return {
            "referee": self.referee,
            "purchase_id": self.purchase_id,
            "return_id": self.return_id,
            "referrer_points": self.points,
            "referee_points": self.referee_points,
        }


def take_bonus(
    planner: Planner,
    member_id: str,
    bonus: int,
    lot: int | None,
    take: ReferrerTakeBack,
    now: datetime,
    *,
    via: Sequence[str] = (),
) -> None:
    """Take one side's ``bonus`` back for the return ``take`` describes: from its ``lot`` first,
    then pending lots, then in the draw order; what was spent as the clawback says. ``via``: the
    ids of the merges that moved the bonus to ``lot``, which the entry then names."""
    draws = take_back(planner.lots(member_id), bonus, lot, now, take.order)
    clawed = claw(take.clawback, bonus, bonus + sum(p for _, p in draws))
    if clawed.taken:
        why = (
            f"referral bonus taken back, {take.purchase_id} returned: "
            f"{clawed.taken} of {bonus}{clawed.note()}"
        )
        if via and any(drawn == lot for drawn, _ in draws):
            # The bonus's lot is not the one its credit opened: say where it came from.
            merges = ("merges " if len(via) > 1 else "merge ") + ", ".join(via)
            why += f", from lot {lot}, where {merges} moved it"
        planner.post(
            Posting(
                member_id,
                EntryKind.RETURN,
                -clawed.taken,
                take.occurred_at,
                now,
                take.return_id,
                why,
                draws=draws,
            )
        )
    planner.owe(member_id, debt=clawed.debt, owed=clawed.owed)


def plan_take_back(
    referrer: Account, take: ReferrerTakeBack, *, lot: int | None, now: datetime, via: Sequence[str] = ()
) -> Plan:
    """The referrer's part of a take-back: its bonus taken back from ``lot`` (the lot it opened,
    or the one the merges ``via`` moved it to, when known) first, and, when it was told of the
    reward, the ``referral_revoked`` event. ``referrer`` is its account with its lots."""
    planner = Planner([referrer], rolling=take.rolling)
    if take.points:
        take_bonus(planner, take.referrer, take.points, lot, take, now, via=via)
    if take.told:
        planner.event(
            NewEvent(
                EventKind.REFERRAL_REVOKED,
                take.referrer,
                take.occurred_at,
                now,
                take.return_id,
                take.event_data(),
            )
        )
    return planner.plan()
