"""Guest quotes: what a card not yet enrolled would earn on a basket if its holder joined now.

Read, decide; nothing is written. The guest is a member enrolled at the
purchase's time with nothing known of it: no attributes, no birthday, no
visits, none of its own tallies, the lowest tier. What all members share (a
campaign's budget) is read from the store as a recorded purchase would read
it, so that a spent budget is not promised.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from loyalty.earning import evaluate, tally_keys
from loyalty.errors import InvalidInput
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.service import tiering
from loyalty.service.context import Context
from loyalty.service.purchases import check_purchase
from loyalty.store import UnitOfWork
from loyalty.tallies import Tally
from loyalty.tier_decisions import decide
from loyalty.tier_moves import review
from loyalty.tiers import TierState

__all__ = ["quote_guest"]


def quote_guest(ctx: Context, purchase: Purchase, *, explain: bool) -> Receipt:
    """What ``purchase`` would earn its member as a new one (see :meth:`loyalty.Engine.quote`)."""
    check_purchase(purchase)
    program = ctx.programs.at(purchase.at)
    return ctx.runner.read(lambda uow: _quote_in(ctx, uow, program, purchase, explain=explain))


def _none(_: str) -> Decimal:
    """A new member's tier metric in any bucket of the window."""
    return Decimal(0)


def _nothing(_: datetime) -> Decimal:
    """A new member's tier metric in any window."""
    return Decimal(0)


def _quote_in(
    ctx: Context, uow: UnitOfWork, program: Program, purchase: Purchase, *, explain: bool
) -> Receipt:
    """:func:`quote_guest` in the read-only unit of work ``uow``."""
    # The purchase's id is neither looked up nor reserved: the sale may yet be recorded, under
    # this id, for the member who joins.
    if uow.member(purchase.member_id) is not None:
        raise InvalidInput(
            "member_id",
            f"member {purchase.member_id!r} is enrolled: quote its purchase without guest=True "
            "(a guest quote leaves out what it has earned towards)",
        )
    member = Member(purchase.member_id, purchase.at)
    # A guest's own tallies are all zero (read as such when absent); only the shared ones are read.
    _, shared = tally_keys(program, purchase, member, explain=explain)
    read: dict[str, Tally] = uow.tallies(shared) if shared else {}
    current = tiering.tiered_now(ctx, uow)
    if current is None:
        receipt = evaluate(program, purchase, member=member, tallies=read, explain=explain).receipt
        return attrs.evolve(receipt, guest=True)
    tiers = current.tiers
    assert tiers is not None
    now = ctx.now()
    # As a member enrolled at the purchase's time whose reviews due by now were carried out.
    start = TierState.initial(member.id, tiers, member.enrolled_at)
    state, _ = review(start, tiers, now, current.zone, member.enrolled_at, _nothing, _none)
    decided = decide(
        program,
        current,
        purchase,
        member,
        read=read,
        balance=0,
        state=state,
        now=now,
        measure=_nothing,
        progress=_none,
    )
    receipt = decided.receipt
    if explain:
        # The reasons, worked out for the member at the tier the purchase earns at.
        explained = evaluate(program, purchase, member=decided.member, tallies=read, explain=True).receipt
        receipt = attrs.evolve(
            explained, tier=receipt.tier, tier_reached=receipt.tier_reached, tier_bonus=receipt.tier_bonus
        )
    return attrs.evolve(receipt, balance_after=None, guest=True)
