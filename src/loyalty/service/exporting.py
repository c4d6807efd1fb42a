"""Exporting members as a history (:mod:`loyalty.history`) that :mod:`~loyalty.service.importing`
reads back: each member's enrollment, then its open points as opening balances.

Members are read ``page`` at a time, by id, each page in one read-only unit of work (a
consistent picture of those members), so the memory used is a page's whatever the store.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from loyalty import codec
from loyalty.checks import MAX_ID_LENGTH
from loyalty.earning_keys import member_keys
from loyalty.errors import InvalidInput
from loyalty.history import Enrollment, Event, OpenHold, OpeningBalance, OpenVoucher
from loyalty.history_vouchers import DrawnLot
from loyalty.identifiers import IdentifierStatus
from loyalty.members import MemberStatus
from loyalty.program import Program
from loyalty.referrals import ReferralState
from loyalty.service.context import Context
from loyalty.store import UnitOfWork
from loyalty.tallies import Tally
from loyalty.vouchers import Voucher

__all__ = ["MAX_PAGE", "export_members", "opening_id"]

#: The most members one read may hold.
MAX_PAGE = 10_000


def opening_id(member_id: str, lot: int) -> str:
    """The id of the opening balance exported for lot ``lot``: the member's, where it fits, and
    the lot's number, which no other lot of the store has."""
    own = f"OPEN-{member_id}-{lot}"
    return own if len(own) <= MAX_ID_LENGTH else f"OPEN-{lot}"


def _tier(uow: UnitOfWork, member_id: str) -> dict[str, Any] | None:
    state = uow.tier_state(member_id)
    if state is None:
        return None
    # The member is the record's own: not said twice.
    return {k: v for k, v in codec.unstructure(state).items() if k != "member_id"}


def _tallies(
    uow: UnitOfWork, member_id: str, program: Program, years: Sequence[int]
) -> dict[str, Any] | None:
    keys = member_keys(program, member_id, years)
    suffix = len(member_id) + 1
    found = uow.tallies(keys)
    kept = {
        key[:-suffix]: {"count": tally.count, "points": str(tally.points)}
        for key, tally in sorted(found.items())
        if tally != Tally()
    }
    return kept or None


def _member(uow: UnitOfWork, member_id: str, program: Program, years: Sequence[int]) -> list[Event]:
    member = uow.member(member_id)
    assert member is not None  # listed by the store
    if member.status is MemberStatus.ERASED:
        # Nothing personal is left to carry, and its points can never be used again.
        return []
    status = None if member.status is MemberStatus.ACTIVE else member.status.value
    keys = tuple(i.key for i in uow.identifiers(member_id) if i.status is IdentifierStatus.ACTIVE)
    joined, birthday, attributes = member.enrolled_at, member.birthday, member.attributes
    referral = uow.referral(member_id)
    referred_by = None if referral is None else referral.code
    decided = None if referral is None or referral.state is ReferralState.PENDING else referral.state.value
    own = uow.referral_code(member_id)
    # Whatever the sign-up rules paid is in the lots exported below: an import pays it no more.
    enrollment = Enrollment(
        f"ENR-{member_id}",
        member_id,
        joined,
        birthday,
        attributes,
        keys,
        referred_by,
        True,
        own,
        decided,
        status,
        _tier(uow, member_id),
        _tallies(uow, member_id, program, years),
    )
    records: list[Event] = [enrollment]
    for lot in uow.lots(member_id):
        # Debts (points a return took back beyond the balance) are owed, not held: not exported.
        if lot.remaining > 0:
            opening = opening_id(member_id, lot.id)
            records.append(
                OpeningBalance(opening, member_id, lot.remaining, lot.earned_at, lot.expires_at, lot.vests_at)
            )
    records.extend(_voucher(uow, v) for v in uow.vouchers(member_id) if v.open)
    for hold in uow.open_holds(member_id):
        lots = _drawn(uow, member_id, hold.draws)
        records.append(OpenHold(hold.id, member_id, hold.held_at, hold.points, hold.expires_at, lots))
    return records


def _drawn(uow: UnitOfWork, member_id: str, draws: tuple[tuple[int, int], ...]) -> list[DrawnLot]:
    """The dates of the lots ``draws`` took points from (a void or release gives them back)."""
    lots = []
    for lot_id, taken in draws:
        lot = uow.lot(member_id, lot_id)
        assert lot is not None  # lots are never deleted, and a voucher or hold draws on its member's own
        lots.append(DrawnLot(-taken, lot.earned_at, lot.expires_at))
    return lots


def _voucher(uow: UnitOfWork, voucher: Voucher) -> OpenVoucher:
    """An unused voucher, with the lots its points came from."""
    code, member, reward, points = voucher.code, voucher.member_id, voucher.reward_id, voucher.points
    lots, expires = _drawn(uow, member, voucher.draws), voucher.expires_at
    return OpenVoucher(f"VCH-{code}", member, voucher.issued_at, code, reward, points, expires, lots)


def _page(
    uow: UnitOfWork, *, after: str, page: int, program: Program, years: Sequence[int]
) -> tuple[list[str], list[Event]]:
    ids = uow.member_ids(after=after, limit=page)
    return ids, [record for member_id in ids for record in _member(uow, member_id, program, years)]


def export_members(ctx: Context, *, page: int) -> Iterator[Event]:
    """Every member's records, by member id (see :meth:`loyalty.Engine.export_members`)."""
    if isinstance(page, bool) or not isinstance(page, int) or not 0 < page <= MAX_PAGE:
        raise InvalidInput("page", f"must be an int from 1 to {MAX_PAGE}, got {page!r}")
    after = ""
    now = ctx.now()
    # The tallies the rules in force read; birthday bonuses around this year (a window may span two).
    program, years = ctx.programs.at(now), (now.year - 1, now.year, now.year + 1)
    while True:
        read = functools.partial(_page, after=after, page=page, program=program, years=years)
        ids, records = ctx.runner.read(read)
        yield from records
        if len(ids) < page:
            return
        after = ids[-1]
