"""Queries: what a till or a back office reads about a member, writing nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from loyalty.checks import MAX_POINTS, check_id
from loyalty.errors import InvalidInput
from loyalty.holds import Hold
from loyalty.ledger import Entry
from loyalty.lots import Balance, Lot
from loyalty.members import Member
from loyalty.outbox import DomainEvent
from loyalty.service import locks
from loyalty.service.context import Context
from loyalty.store import UnitOfWork

__all__ = ["balance", "entries", "events", "expiring", "history", "holds", "lots", "member"]

T = TypeVar("T")


def _check_cursor(name: str, value: object, low: int, top: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
        raise InvalidInput(name, f"must be an int from {low} to {top}, got {value!r}")


def _known(ctx: Context, found: T | None, member_id: str) -> T:
    """What was read from the member's row; with no such row, UnknownMember (or MemberErased
    for the original id of a member erased since)."""
    if found is None:
        raise ctx.runner.read(lambda uow: locks.unknown(uow, member_id))
    return found


def _of_member(ctx: Context, member_id: str, read: Callable[[UnitOfWork], T]) -> T:
    """What ``read`` reads of the member, who must be known (the read alone cannot tell an
    unknown member from one with nothing to show)."""

    def query(uow: UnitOfWork) -> T:
        locks.known(uow, member_id)
        return read(uow)

    return ctx.runner.read(query)


def balance(ctx: Context, member_id: str) -> Balance:
    """The member's points now by state (see :meth:`loyalty.Engine.balance`)."""
    check_id("member_id", member_id)
    runner = ctx.runner
    now = runner.now()  # what ctx.now() reads, one call fewer on a read this short
    found = runner.read(lambda uow: uow.balance_by_state(member_id, now))
    return found if found is not None else _known(ctx, found, member_id)


def lots(ctx: Context, member_id: str) -> list[Lot]:
    """The member's open lots, by id."""
    check_id("member_id", member_id)
    return _of_member(ctx, member_id, lambda uow: uow.lots(member_id))


def expiring(ctx: Context, member_id: str, within: timedelta) -> list[Lot]:
    """The member's lots that expire after now and no later than ``within`` from now, soonest first."""
    check_id("member_id", member_id)
    if not isinstance(within, timedelta) or within < timedelta(0):
        raise InvalidInput("within", f"must be a non-negative timedelta, got {within!r}")
    now = ctx.now()
    try:
        until = now.astimezone(UTC) + within
    except OverflowError:
        until = datetime.max.replace(tzinfo=UTC)
    due = _of_member(ctx, member_id, lambda uow: uow.due_lots(until, member_id=member_id))
    return [lot for lot in due if not lot.expired_at(now)]


def history(ctx: Context, member_id: str, after: int, limit: int | None) -> list[Entry]:
    """The member's ledger entries in recording order, from ``seq > after``, at most ``limit``."""
    check_id("member_id", member_id)
    _check_cursor("after", after, 0, MAX_POINTS)
    if limit is not None:
        try:
            _check_cursor("limit", limit, 1, MAX_POINTS)
        except InvalidInput:
            raise InvalidInput(
                "limit", f"must be None or an int from 1 to {MAX_POINTS}, got {limit!r}"
            ) from None
    return _of_member(ctx, member_id, lambda uow: uow.history(member_id, after=after, limit=limit))


def member(ctx: Context, member_id: str) -> Member:
    """The enrolled member."""
    check_id("member_id", member_id)
    return _known(ctx, ctx.runner.read(lambda uow: uow.member(member_id)), member_id)


def holds(ctx: Context, member_id: str) -> list[Hold]:
    """The member's open holds, by id."""
    check_id("member_id", member_id)
    return _of_member(ctx, member_id, lambda uow: uow.open_holds(member_id))


def entries(ctx: Context, after: int, limit: int) -> list[Entry]:
    """Every member's ledger entries with ``seq > after``, in commit order, at most ``limit``."""
    _check_cursor("after", after, 0, MAX_POINTS)
    _check_cursor("limit", limit, 1, 10_000)
    return ctx.runner.read(lambda uow: uow.entries(after=after, limit=limit))


def events(ctx: Context, after: int, limit: int) -> list[DomainEvent]:
    """Domain events with ``seq > after``, in commit order, at most ``limit``."""
    _check_cursor("after", after, 0, MAX_POINTS)
    _check_cursor("limit", limit, 1, 10_000)
    return ctx.runner.read(lambda uow: uow.events(after=after, limit=limit))


def last_seq(ctx: Context) -> int:
    """The highest ledger entry ``seq`` drawn so far (0: none)."""
    return ctx.runner.read(lambda uow: uow.last_seq())
