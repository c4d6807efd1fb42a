"""Redemption limits through the port: what a member spent today, and what paid for a purchase.

The pure limits are :mod:`loyalty.redemption`'s; this module reads what they
need in the command's unit of work, with the member's balance locked, so two
tills cannot pass a limit together. A day is the program's (its timezone);
what a member spent on it is a tally of redemptions and captured holds,
written only while a ``per_day`` limit is in force, plus the holds still open
that were made that day (a hold released or expired gives its points back to
the day by no longer being open).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from loyalty import codec
from loyalty.checks import check_id
from loyalty.errors import (
    AlreadyReturned,
    CurrencyMismatch,
    InsufficientPoints,
    InvalidInput,
    RedemptionLimit,
    UnknownPurchase,
)
from loyalty.money import Money
from loyalty.program import Program
from loyalty.redemption import PaymentQuote, day_key, limit_refusal, payment_quote, refusal
from loyalty.returns import paid_key, returned_key
from loyalty.service import locks
from loyalty.service.context import Context
from loyalty.store import Operation, UnitOfWork
from loyalty.store.spending import draw_points
from loyalty.tallies import Tally
from loyalty.versions import in_force

__all__ = [
    "Payment",
    "check_day",
    "count_spent",
    "draw_within_limits",
    "paid_purchase",
    "program_at",
    "quote_payment",
    "spent_on",
]


def program_at(ctx: Context, uow: UnitOfWork, at: datetime) -> Program:
    """The program version whose redemption terms apply to a request made at ``at``."""
    return in_force(ctx.programs.in_uow(uow), at, default_first=True)


def _day(program: Program, at: datetime) -> date:
    return at.astimezone(program.zone).date()


def spent_on(uow: UnitOfWork, member_id: str, program: Program, day: date) -> int:
    """What ``member_id`` spent on ``day``: redemptions, captured holds and holds still open."""
    key = day_key(member_id, day)
    counted = int(uow.tallies([key])[key].points)
    held = sum(hold.points for hold in uow.open_holds(member_id) if _day(program, hold.held_at) == day)
    return counted + held


def _used(uow: UnitOfWork, program: Program, member_id: str, at: datetime) -> int:
    """What the member spent on the day of ``at``: read only while a ``per_day`` limit is in
    force (nothing else asks, and the count is not kept without one)."""
    if program.redemption.per_day is None:
        return 0
    return spent_on(uow, member_id, program, _day(program, at))


def check_day(uow: UnitOfWork, program: Program, member_id: str, points: int, at: datetime) -> None:
    """Decline ``points`` leaving ``member_id`` at ``at`` beyond the day's ``per_day`` (a transfer's
    points, which no purchase limit concerns), raising :class:`~loyalty.errors.RedemptionLimit`."""
    refused = limit_refusal(program.redemption, points, day_used=_used(uow, program, member_id, at))
    if refused is not None:
        raise refused


def count_spent(uow: UnitOfWork, program: Program, member_id: str, at: datetime, points: int) -> None:
    """Add ``points`` spent at ``at`` to the member's day, while a ``per_day`` limit is in force."""
    if program.redemption.per_day is not None and points:
        uow.add_tallies({day_key(member_id, _day(program, at)): Tally(0, Decimal(points))})


def paid_purchase(uow: UnitOfWork, member_id: str, purchase_id: str) -> Operation:
    """Points may pay for a recorded purchase of the member's that has not come back in full."""
    sold = uow.operation(purchase_id)
    if sold is None or sold.kind != "purchase" or sold.request["member_id"] != member_id:
        raise UnknownPurchase("purchase_id", f"{member_id!r} has no purchase {purchase_id!r}")
    lines = sold.request["lines"]
    back = uow.tallies([returned_key(member_id, purchase_id, i) for i in range(len(lines))])
    if all(
        back[returned_key(member_id, purchase_id, i)].points >= Decimal(line["quantity"])
        for i, line in enumerate(lines)
    ):
        raise AlreadyReturned("purchase_id", f"purchase {purchase_id!r} has been returned in full")
    return sold


class Payment:
    """A recorded purchase that points pay for: what was paid already, its total, its own lot."""

    def __init__(self, uow: UnitOfWork, purchase_id: str, sold: Operation) -> None:
        key = paid_key(sold.request["member_id"], purchase_id)
        self.paid = int(uow.tallies([key])[key].points)
        self.total = codec.purchase_from_request(purchase_id, sold.request).total.amount
        lot = sold.result.get("lot")
        self.lot: int | None = lot if isinstance(lot, int) else None


def draw_within_limits(
    uow: UnitOfWork,
    program: Program,
    member_id: str,
    points: int,
    at: datetime,
    now: datetime,
    payment: Payment | None = None,
) -> tuple[tuple[int, int], ...]:
    """The draws of a redemption (or hold) of ``points`` made at ``at``, within the program's
    limits; raises :class:`~loyalty.errors.RedemptionLimit` or
    :class:`~loyalty.errors.InsufficientPoints` to decline it."""
    terms = program.redemption
    refused = limit_refusal(
        terms,
        points,
        day_used=_used(uow, program, member_id, at),
        paid=None if payment is None else payment.paid,
        basket=None if payment is None else payment.total,
    )
    if refused is not None:
        raise refused
    own = None if payment is None or terms.same_purchase else payment.lot
    try:
        return draw_points(uow, member_id, points, now, exclude=own, order=program.expiry.draw)
    except InsufficientPoints as short:
        if own is None or isinstance(short, RedemptionLimit):
            raise
        balance = uow.balance_by_state(member_id, now)
        if balance is not None and points <= balance.reach():
            # Enough points, but some are the purchase's own.
            raise refusal("same_purchase", short.available, points) from None
        raise


def quote_payment(ctx: Context, member_id: str, amount: Money, purchase_id: str | None) -> PaymentQuote:
    """How many points pay ``amount`` for ``member_id`` now (:meth:`loyalty.Engine.quote_payment`)."""
    check_id("member_id", member_id)
    if purchase_id is not None:
        check_id("purchase_id", purchase_id)
    if not isinstance(amount, Money):
        raise InvalidInput("amount", f"must be a Money, got {amount!r}")
    now = ctx.now()

    def query(uow: UnitOfWork) -> PaymentQuote:
        program = program_at(ctx, uow, now)
        if amount.currency != program.currency:
            raise CurrencyMismatch("amount", f"must be in {program.currency}, got {amount.currency}")
        if program.redemption.point_value is None:
            raise InvalidInput(
                "amount", "the program declares no redemption.point_value: points are not money"
            )
        balance = uow.balance_by_state(member_id, now)
        if balance is None:
            raise locks.unknown(uow, member_id)
        paying = (
            None
            if purchase_id is None
            else Payment(uow, purchase_id, paid_purchase(uow, member_id, purchase_id))
        )
        own = 0
        if paying is not None and paying.lot is not None and not program.redemption.same_purchase:
            # The purchase's own points, if still there to spend: a redemption may not draw them.
            lot = uow.lot(member_id, paying.lot)
            if lot is not None and lot.remaining > 0 and not lot.pending_at(now) and not lot.expired_at(now):
                own = lot.remaining
        return payment_quote(
            program.redemption,
            amount,
            available=max(0, balance.available),
            day_used=_used(uow, program, member_id, now),
            paid=None if paying is None else paying.paid,
            basket=None if paying is None else paying.total,
            own=own,
        )

    return ctx.runner.read(query)
