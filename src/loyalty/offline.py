"""Offline allowances: what a till cut off from the engine may redeem before it syncs.

A till that loses its connection cannot see balances. The merchant opens an
:class:`OfflineAllowance` for the terminal: up to ``per_member`` points for any
one member and ``total`` points for all of them, for redemptions the till
makes from ``opened_at`` until ``until``. When the till is back it sends what
it redeemed meanwhile, each flagged offline. One within the allowance is
accepted even if the member's balance has fallen since (the till already
gave the goods); what the balance lacks, the *shortfall*, is settled by the
program's ``clawback`` (:func:`settle`), the same policy that settles a
return whose points were spent. One beyond the allowance is an ordinary
redemption: accepted if the balance covers it, declined otherwise.

The program's ``[offline]`` table (:class:`OfflineTerms`) states the allowance a
grant gets when it leaves its figures out: ``per_member``, ``total``, and
``hours`` from the grant's ``at`` to its ``until`` (:func:`resolve_grant`).

The decisions are pure: :func:`check_grant` refuses a bad allowance naming
the field, :func:`refusal` says why a redemption falls outside one.

>>> from datetime import datetime, timezone
>>> t = datetime(2024, 3, 1, 9, tzinfo=timezone.utc)
>>> until = datetime(2024, 3, 1, 21, tzinfo=timezone.utc)
>>> allowance = OfflineAllowance("A1", "till-7", 500, 2000, t, until, "ops")
>>> refusal(allowance, points=300, member_used=300, total_used=600, at=t)
'per_member: 300 of 500 points used for this member, 300 more requested'
>>> refusal(allowance, points=200, member_used=300, total_used=600, at=t) is None
True
>>> settle(Clawback.FUTURE, points=200, available=120)
Clawed(taken=120, debt=0, owed=80, uncollected=0)
>>> terms = OfflineTerms(per_member=300, total=1500, hours=12)
>>> granted = resolve_grant(terms, "A2", "till-7", t, "ops", per_member=None, total=2000, until=None,
...                         version="1")
>>> granted.per_member, granted.total, granted.until == until
(300, 2000, True)
>>> OfflineTerms(per_member=300, total=200, hours=12)
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: total: must be at least offline.per_member (300), got 200
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from loyalty import schema
from loyalty.checks import MAX_POINTS, accepts, check_aware, check_id, check_points
from loyalty.errors import InvalidDatetime, InvalidInput, InvalidPoints
from loyalty.json_form import JsonForm
from loyalty.returns import Clawback, Clawed, claw

__all__ = [
    "MAX_HOURS",
    "Clawback",
    "OfflineAllowance",
    "OfflineTerms",
    "OfflineUse",
    "TerminalReport",
    "check_grant",
    "note",
    "refusal",
    "resolve_grant",
    "settle",
    "total_key",
]


#: The longest window an allowance may have, in hours: 30 days, for the program's ``hours`` and
#: for a grant's own ``until`` alike. A till offline longer is a till to replace, and a typo
#: (``hours = 2400``, a ``until`` a year out) would leave a window open for months.
MAX_HOURS = 30 * 24
_LONGEST = timedelta(hours=MAX_HOURS)


def _positive(field: str, top: int) -> Any:
    @accepts(minimum=1, maximum=top)
    def check(_: Any, __: Any, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(field, f"must be an int, got {value!r}")
        if value < 1:
            raise InvalidInput(field, f"must be positive, got {value}")
        if value > top:
            raise InvalidInput(field, f"must be at most {top}, got {value}")

    return check


@attrs.frozen(kw_only=True)
class OfflineTerms:
    """The allowance a terminal gets when a grant leaves its figures out (the program's
    ``offline`` table); a grant's own figures override these."""

    #: The most points any one member may redeem under a grant.
    per_member: int = attrs.field(validator=_positive("per_member", MAX_POINTS))
    #: The most points all members together may redeem under a grant (at least ``per_member``).
    total: int = attrs.field(validator=_positive("total", MAX_POINTS))
    #: How long a grant lasts: its ``until`` is its ``at`` plus these hours (at most 720, 30 days).
    hours: int = attrs.field(validator=_positive("hours", MAX_HOURS))

    def __attrs_post_init__(self) -> None:
        if self.total < self.per_member:
            raise InvalidInput(
                "total", f"must be at least offline.per_member ({self.per_member}), got {self.total}"
            )


def resolve_grant(
    terms: OfflineTerms | None,
    key: str,
    terminal_id: str,
    at: datetime,
    actor: str,
    *,
    per_member: int | None,
    total: int | None,
    until: datetime | None,
    version: str,
) -> OfflineAllowance:
    """The allowance a grant asks for: its own figures, and the program's ``terms`` (of the version
    in force at ``at``, labelled ``version``) for those it leaves out (``None``). A figure left out
    of a grant under a program without ``offline`` terms is refused naming it. (:func:`check_grant`
    checks the allowance it gives.)"""
    if terms is None:
        why = (
            f"not given, and the program (version {version!r}, in force at {at.isoformat()}) "
            "has no offline table to take it from"
        )
        if per_member is None:
            raise InvalidPoints("per_member", why)
        if total is None:
            raise InvalidPoints("total", why)
        if until is None:
            raise InvalidDatetime("until", why)
        return OfflineAllowance(key, terminal_id, per_member, total, at, until, actor)
    if until is None:
        # Elapsed hours, in the grant's own zone: wall-clock arithmetic would stretch or shrink a
        # window across a DST change (and take 720 of them past the 720 hours allowed).
        until = (at.astimezone(UTC) + timedelta(hours=terms.hours)).astimezone(at.tzinfo)
    return OfflineAllowance(
        key,
        terminal_id,
        terms.per_member if per_member is None else per_member,
        terms.total if total is None else total,
        at,
        until,
        actor,
    )


def total_key(allowance_id: str) -> str:
    """The tally of what all members redeemed under an allowance (count: redemptions; points).

    The one counter that is not a member's: every offline redemption of the terminal adds to
    it, so it is read locked (``for_update``) to keep two syncs from passing ``total`` together.
    """
    return f"offline|{allowance_id}"


@attrs.frozen
class OfflineAllowance(JsonForm):
    """What terminal ``terminal_id`` may redeem offline, granted under ``id`` by ``actor``."""

    id: str
    terminal_id: str
    #: The most points any one member may redeem under the allowance.
    per_member: int
    #: The most points all members together may redeem under it.
    total: int
    #: From when (the till's time) its redemptions count: when the till went offline.
    opened_at: datetime
    #: The last instant (the till's time) a redemption may be dated to count.
    until: datetime
    actor: str

    def covers(self, at: datetime) -> bool:
        """Whether a redemption dated ``at`` falls in the allowance's window."""
        return self.opened_at <= at <= self.until


def check_grant(allowance: OfflineAllowance) -> OfflineAllowance:
    """The allowance if it is well formed, else the error naming the field at fault."""
    check_id("id", allowance.id)
    check_id("terminal_id", allowance.terminal_id)
    check_id("actor", allowance.actor)
    check_points("per_member", allowance.per_member)
    check_points("total", allowance.total)
    if allowance.per_member > allowance.total:
        raise InvalidPoints(
            "per_member", f"must not exceed total ({allowance.total}), got {allowance.per_member}"
        )
    check_aware("at", allowance.opened_at)
    check_aware("until", allowance.until)
    if allowance.until <= allowance.opened_at:
        raise InvalidDatetime(
            "until",
            f"must be after at ({allowance.opened_at.isoformat()}), got {allowance.until.isoformat()}",
        )
    # Elapsed time (the subtraction of aware times of one zone would count wall-clock hours).
    if allowance.until.astimezone(UTC) - allowance.opened_at.astimezone(UTC) > _LONGEST:
        raise InvalidDatetime(
            "until",
            f"must be at most {MAX_HOURS} hours (30 days) after at ({allowance.opened_at.isoformat()}),"
            f" got {allowance.until.isoformat()}",
        )
    return allowance


def refusal(
    allowance: OfflineAllowance, *, points: int, member_used: int, total_used: int, at: datetime
) -> str | None:
    """Why a redemption of ``points`` dated ``at`` falls outside ``allowance`` (``None``: it fits),
    given what the member and all members have redeemed under it already."""
    if not allowance.covers(at):
        return (
            f"at: {at.isoformat()} is outside the allowance "
            f"({allowance.opened_at.isoformat()} to {allowance.until.isoformat()})"
        )
    if member_used + points > allowance.per_member:
        return (
            f"per_member: {member_used} of {allowance.per_member} points used for this member, "
            f"{points} more requested"
        )
    if total_used + points > allowance.total:
        return (
            f"total: {total_used} of {allowance.total} points used at the terminal, {points} more requested"
        )
    return None


def settle(policy: Clawback, *, points: int, available: int) -> Clawed:
    """Split an offline redemption of ``points`` when the member has ``available`` now.

    ``taken`` is what the redemption's entry takes; under ``negative`` that is all of it and
    ``debt`` of it opens a debt lot below zero, under ``future`` the rest is ``owed`` from later
    earnings, under ``clamp`` it is ``uncollected`` (the merchant bears it).
    """
    return claw(policy, points, max(0, points - max(0, available)))


def note(terminal_id: str, allowance_id: str, points: int, clawed: Clawed) -> str:
    """What the entry's reason adds: offline, where, under which allowance, and what became of
    the shortfall."""
    said = f"offline at terminal {terminal_id} under allowance {allowance_id}"
    if clawed.debt:
        return f"{said}: {clawed.debt} of {points} points beyond the balance, left as a debt"
    if clawed.taken < points:
        return f"{said}: {clawed.taken} of {points} points taken{clawed.note()}"
    return said


@attrs.frozen
class OfflineUse(JsonForm):
    """What one member did under one allowance (or, added up, all of them)."""

    allowance_id: str
    member_id: str
    #: Offline redemptions accepted under the allowance, and their points.
    redemptions: int = 0
    points: int = 0
    #: Points of those the member's balance lacked when they arrived (settled by ``clawback``).
    shortfall: int = 0
    #: Offline redemptions beyond the allowance that the balance could not cover either.
    declined: int = 0

    def __add__(self, other: OfflineUse) -> OfflineUse:
        return OfflineUse(
            self.allowance_id,
            self.member_id,
            self.redemptions + other.redemptions,
            self.points + other.points,
            self.shortfall + other.shortfall,
            self.declined + other.declined,
        )


@attrs.frozen
class TerminalReport(JsonForm):
    """The reconciliation of one allowance of a terminal: what was granted, and what it paid for."""

    allowance: OfflineAllowance
    #: Each member's use, by member id.
    members: tuple[OfflineUse, ...]

    @property
    def used(self) -> int:
        """Points accepted under the allowance, all members."""
        return sum(use.points for use in self.members)

    @property
    def left(self) -> int:
        """Points of ``total`` not yet used."""
        return self.allowance.total - self.used

    @property
    def shortfall(self) -> int:
        return sum(use.shortfall for use in self.members)

    @property
    def declined(self) -> int:
        return sum(use.declined for use in self.members)


attrs.resolve_types(OfflineTerms)
schema.register(OfflineTerms)
