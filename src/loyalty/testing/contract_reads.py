"""The storage contract for reads that cost what they return: part of :class:`StoreContract`.

:class:`ReadsContract` checks the balance by state, the spendable lots in draw order and their
pages, member paging and the period totals' edges, each against what the lots, the holds or the
ledger say when read whole. :class:`~loyalty.testing.contract.StoreContract` inherits it, so
every adapter that adopts the contract runs these too.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import pytest

from loyalty.errors import InsufficientPoints
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import EntryKind, Posting
from loyalty.lots import Balance, DrawOrder, Lot, draw, draw_order, summarize
from loyalty.members import Member
from loyalty.store import Operation, Store, UnitOfWork
from loyalty.store.spending import draw_points

__all__ = ["ReadsContract"]

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)
EARNED = NOW - timedelta(days=90)
TICK = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
PLUS5 = timezone(timedelta(hours=5))


def _credit(
    uow: UnitOfWork,
    points: int,
    source: str,
    *,
    member_id: str = "M1",
    vests: datetime | None = None,
    expires: datetime | None = None,
    earned: datetime = EARNED,
) -> int:
    """A lot of ``points`` with the dates given; its id."""
    posting = Posting(member_id, EntryKind.ADJUST, points, earned, EARNED, source, "reads contract", "tester")
    return uow.append(attrs.evolve(posting, vests_at=vests, expires_at=expires)).seq


def _expected(uow: UnitOfWork, member_id: str, now: datetime) -> Balance:
    """The balance by state from every open lot and hold, read whole."""
    found = summarize(uow.lots(member_id), now)
    held = sum(hold.points for hold in uow.open_holds(member_id))
    return Balance(found.available, found.pending, found.overdue, held)


def _in_draw_order(
    uow: UnitOfWork,
    member_id: str,
    now: datetime,
    *,
    pending: bool,
    order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
) -> list[Lot]:
    """What :func:`loyalty.lots.draw` would take from, in its order, from every open lot."""
    usable = [lot for lot in uow.lots(member_id) if lot.remaining > 0 and not lot.expired_at(now)]
    return sorted(
        (lot for lot in usable if pending or not lot.pending_at(now)),
        key=lambda lot: draw_order(lot, now, order),
    )


def _pages(
    uow: UnitOfWork,
    member_id: str,
    now: datetime,
    *,
    pending: bool,
    limit: int,
    order: DrawOrder = DrawOrder.SOONEST_EXPIRING,
) -> Iterator[Lot]:
    after: Lot | None = None
    while True:
        page = uow.spendable_lots(member_id, now, pending=pending, after=after, limit=limit, order=order)
        assert len(page) <= limit
        yield from page
        if len(page) < limit:
            return
        after = page[-1]


class ReadsContract:
    """Mixin with the contract's tests of the reads that must cost what they return."""

    def _member(self, store: Store, member_id: str = "M1") -> None:
        with store.unit_of_work() as uow:
            uow.add_member(Member(member_id, EARNED - timedelta(days=1)))
            uow.commit()

    def _mixed_lots(self, store: Store) -> dict[str, int]:
        """M1's lots of every kind the draw order knows, by name, and an open and an ended hold."""
        self._member(store)
        self._member(store, "M2")
        with store.unit_of_work() as uow:
            lots = {
                "soon": _credit(uow, 10, "soon", expires=NOW + HOUR),
                "tie": _credit(uow, 11, "tie", expires=NOW + HOUR),
                "later": _credit(uow, 12, "later", expires=NOW + 2 * HOUR),
                "never": _credit(uow, 13, "never"),
                "never2": _credit(uow, 14, "never2"),
                "vested-now": _credit(uow, 15, "vested-now", vests=NOW, expires=NOW + 3 * HOUR),
                "pending": _credit(uow, 16, "pending", vests=NOW + TICK, expires=NOW + HOUR),
                "pending-never": _credit(uow, 17, "pending-never", vests=NOW + HOUR),
                "expired-now": _credit(uow, 18, "expired-now", expires=NOW),
                "pending-expired": _credit(uow, 19, "pending-expired", vests=NOW + HOUR, expires=NOW),
                "spent": _credit(uow, 20, "spent", expires=NOW + HOUR),
                "theirs": _credit(uow, 21, "theirs", member_id="M2", expires=NOW + HOUR),
            }
            spent = ((lots["spent"], -20),)
            uow.append(Posting("M1", EntryKind.REDEEM, -20, NOW, NOW, "R", "spent", draws=spent))
            # A return beyond what the lot it draws on has left opens a debt of 22.
            back = ((lots["never2"], -8),)
            lots["debt"] = uow.append(
                Posting("M1", EntryKind.RETURN, -30, NOW, NOW, "V", "back", draws=back)
            ).seq
            for hold_id, points, ended in (("H1", 4, False), ("H2", 3, True)):
                draws = ((lots["never"], -points),)
                uow.append(Posting("M1", EntryKind.HOLD, -points, NOW, NOW, hold_id, "hold", draws=draws))
                uow.add_hold(Hold(hold_id, "M1", points, draws, NOW, NOW + HOUR))
                if ended:
                    uow.end_hold(hold_id, HoldStatus.RELEASED, 0, NOW)
            uow.commit()
        return lots

    # -- the balance by state ---------------------------------------------------------------

    def test_balance_by_state_of_an_unknown_member_is_none(self, store: Store) -> None:
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance_by_state("nobody", NOW) is None

    def test_balance_by_state_of_a_new_member_is_zero(self, store: Store) -> None:
        self._member(store)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance_by_state("M1", NOW) == Balance(0, 0, 0, 0)

    def test_balance_by_state_splits_the_lots_at_their_dates(self, store: Store) -> None:
        self._mixed_lots(store)
        with store.unit_of_work(readonly=True) as uow:
            found = uow.balance_by_state("M1", NOW)
            # Expired at its instant exactly, pending or not; vested at its instant exactly.
            available = 10 + 11 + 12 + (13 - 4 - 3) + (14 - 8) + 15 - 22
            assert found == Balance(available, pending=16 + 17, overdue=18 + 19, held=4)
            assert found is not None and found.total == uow.balance("M1")
            # The same instant in another offset is the same balance.
            assert uow.balance_by_state("M1", NOW.astimezone(PLUS5)) == found

    def test_balance_by_state_agrees_with_the_lots_read_whole_at_every_edge(self, store: Store) -> None:
        self._mixed_lots(store)
        with store.unit_of_work(readonly=True) as uow:
            for now in (EARNED, NOW - TICK, NOW, NOW + TICK, NOW + HOUR, NOW + 3 * HOUR, NOW + 9 * HOUR):
                assert uow.balance_by_state("M1", now) == _expected(uow, "M1", now), now

    def test_balance_by_state_agrees_with_the_lots_read_whole_after_redates_and_holds(
        self, store: Store
    ) -> None:
        # Lots whose dates a redate moved (SQLite keeps them apart from their entries from then
        # on), and holds of both members opened, captured, released and expired.
        lots = self._mixed_lots(store)
        moves = ((lots["later"], NOW - HOUR), (lots["pending"], NOW + 5 * HOUR), (lots["tie"], NOW))
        with store.unit_of_work() as uow:
            uow.append(Posting("M1", EntryKind.REDATE, 0, NOW, NOW, "RD", "redate", redates=moves))
            for hold_id, member_id, lot, points, ends in (
                ("H3", "M1", lots["soon"], 2, HoldStatus.CAPTURED),
                ("H4", "M1", lots["soon"], 1, HoldStatus.EXPIRED),
                ("H5", "M2", lots["theirs"], 6, None),
                ("H6", "M2", lots["theirs"], 5, HoldStatus.RELEASED),
            ):
                draws = ((lot, -points),)
                uow.append(
                    Posting(member_id, EntryKind.HOLD, -points, NOW, NOW, hold_id, "hold", draws=draws)
                )
                uow.add_hold(Hold(hold_id, member_id, points, draws, NOW, NOW + HOUR))
                if ends is not None:
                    uow.end_hold(hold_id, ends, points if ends is HoldStatus.CAPTURED else 0, NOW)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            for now in (
                EARNED,
                NOW - HOUR,
                NOW - TICK,
                NOW,
                NOW + TICK,
                NOW + HOUR,
                NOW + 5 * HOUR,
                NOW + 9 * HOUR,
            ):
                for member_id in ("M1", "M2"):
                    found = uow.balance_by_state(member_id, now)
                    assert found == _expected(uow, member_id, now), (member_id, now)
                    assert found is not None and found.total == uow.balance(member_id)
            assert [uow.balance_by_state(m, NOW).held for m in ("M1", "M2")] == [4, 6]  # type: ignore[union-attr]

    # -- the lots spending reads ------------------------------------------------------------

    def test_spendable_lots_come_in_draw_order(self, store: Store) -> None:
        lots = self._mixed_lots(store)
        with store.unit_of_work(readonly=True) as uow:
            available = uow.spendable_lots("M1", NOW, limit=100)
            assert [lot.id for lot in available] == [
                lots["soon"],
                lots["tie"],
                lots["later"],
                lots["vested-now"],
                lots["never"],
                lots["never2"],
            ]
            everything = uow.spendable_lots("M1", NOW, pending=True, limit=100)
            assert [lot.id for lot in everything[6:]] == [lots["pending"], lots["pending-never"]]
            assert everything[:6] == available
            assert everything == _in_draw_order(uow, "M1", NOW, pending=True)
            assert uow.spendable_lots("nobody", NOW, pending=True, limit=100) == []

    def test_spendable_lots_agree_with_every_open_lot_at_every_edge(self, store: Store) -> None:
        self._mixed_lots(store)
        with store.unit_of_work(readonly=True) as uow:
            for now in (EARNED, NOW - TICK, NOW, NOW + TICK, NOW + HOUR, NOW + 3 * HOUR):
                for pending in (False, True):
                    found = uow.spendable_lots("M1", now.astimezone(PLUS5), pending=pending, limit=100)
                    assert found == _in_draw_order(uow, "M1", now, pending=pending), (now, pending)

    @pytest.mark.parametrize("limit", [1, 2, 3, 5, 8])
    def test_spendable_lots_page_after_the_last_lot_read(self, store: Store, limit: int) -> None:
        self._mixed_lots(store)
        with store.unit_of_work(readonly=True) as uow:
            for pending in (False, True):
                whole = uow.spendable_lots("M1", NOW, pending=pending, limit=100)
                assert list(_pages(uow, "M1", NOW, pending=pending, limit=limit)) == whole

    def test_nothing_is_spendable_after_a_lot_outside_the_order(self, store: Store) -> None:
        lots = self._mixed_lots(store)
        with store.unit_of_work(readonly=True) as uow:
            expired = uow.lot("M1", lots["expired-now"])
            pending = uow.lot("M1", lots["pending"])
            assert expired is not None and pending is not None
            assert uow.spendable_lots("M1", NOW, pending=True, after=expired, limit=100) == []
            assert uow.spendable_lots("M1", NOW, after=pending, limit=100) == []
            after_pending = uow.spendable_lots("M1", NOW, pending=True, after=pending, limit=100)
            assert [lot.id for lot in after_pending] == [lots["pending-never"]]

    def test_drawing_through_pages_answers_as_drawing_from_every_lot(self, store: Store) -> None:
        self._mixed_lots(store)
        with store.unit_of_work(readonly=True) as uow:
            for pending in (False, True):
                for points in (1, 10, 11, 21, 40, 50, 51, 70, 71, 200):
                    try:
                        whole: object = draw(uow.lots("M1"), points, NOW, pending=pending)
                    except InsufficientPoints as short:
                        whole = (short.available, short.requested)
                    try:
                        paged: object = draw_points(uow, "M1", points, NOW, pending=pending)
                    except InsufficientPoints as short:
                        paged = (short.available, short.requested)
                    assert paged == whole, (points, pending)
            with pytest.raises(InsufficientPoints) as info:
                draw_points(uow, "nobody", 1, NOW)
            assert (info.value.available, info.value.requested) == (0, 1)

    def test_many_lots_page_in_draw_order(self, store: Store) -> None:
        self._member(store)
        with store.unit_of_work() as uow:
            for n in range(60):
                # Expiry dates in another order than the ids, ties among them, every seventh undated.
                expires = None if n % 7 == 0 else NOW + (n * 37 % 11) * HOUR
                vests = NOW + HOUR if n % 5 == 0 else None
                _credit(uow, n + 1, f"L{n}", vests=vests, expires=expires)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            for pending in (False, True):
                expected = _in_draw_order(uow, "M1", NOW, pending=pending)
                assert list(_pages(uow, "M1", NOW, pending=pending, limit=4)) == expected

    def test_oldest_earned_lots_page_in_their_order_and_draw_as_every_lot_would(self, store: Store) -> None:
        self._member(store)
        with store.unit_of_work() as uow:
            for n in range(48):
                # Earned in another order than the ids, with ties, whole seconds and microseconds,
                # in two offsets; some expired or pending at NOW + HOUR, every seventh undated.
                earned = EARNED + (n * 37 % 13) * HOUR + (0, 1, 500_000, 999_999)[n % 4] * TICK
                expires = None if n % 7 == 0 else NOW + (n * 5 % 9 - 2) * HOUR
                vests = NOW + 2 * HOUR if n % 5 == 0 else None
                at = earned.astimezone(PLUS5) if n % 2 else earned
                _credit(uow, n + 1, f"L{n}", vests=vests, expires=expires, earned=at)
            uow.commit()
        oldest = DrawOrder.OLDEST_EARNED
        with store.unit_of_work(readonly=True) as uow:
            for now in (NOW, NOW + HOUR, NOW + 2 * HOUR):
                for pending in (False, True):
                    expected = _in_draw_order(uow, "M1", now, pending=pending, order=oldest)
                    whole = uow.spendable_lots("M1", now, pending=pending, limit=100, order=oldest)
                    assert whole == expected, (now, pending)
                    paged = _pages(uow, "M1", now, pending=pending, limit=4, order=oldest)
                    assert list(paged) == expected, (now, pending)
                    for points in (1, 30, 200, 600, 5000):
                        try:
                            drawn: object = draw_points(uow, "M1", points, now, pending=pending, order=oldest)
                        except InsufficientPoints as short:
                            drawn = (short.available, short.requested)
                        try:
                            all_lots: object = draw(
                                uow.lots("M1"), points, now, pending=pending, order=oldest
                            )
                        except InsufficientPoints as short:
                            all_lots = (short.available, short.requested)
                        assert drawn == all_lots, (now, pending, points)
            expired = next(lot for lot in uow.lots("M1") if lot.expired_at(NOW + HOUR))
            assert (
                uow.spendable_lots("M1", NOW + HOUR, pending=True, after=expired, limit=9, order=oldest) == []
            )

    # -- members ----------------------------------------------------------------------------

    def test_member_ids_page_through_every_member_once(self, store: Store) -> None:
        names = [f"m{n * 7919 % 101:03d}" for n in range(101)] + ["Z", "é", "ü", "a b", "会员"]
        with store.unit_of_work() as uow:
            for name in names:
                uow.add_member(Member(name, EARNED))
            uow.commit()
        seen: list[str] = []
        with store.unit_of_work(readonly=True) as uow:
            # Bounded: a cursor that does not move past ``after`` fails here rather than loop.
            for _ in range(len(names) // 9 + 2):
                page = uow.member_ids(after=seen[-1] if seen else "", limit=9)
                if not page:
                    break
                assert len(page) <= 9
                assert not seen or page[0] > seen[-1], f"a page after {seen[-1]!r} began with {page[0]!r}"
                seen += page
            else:
                pytest.fail("member_ids gave more pages than there are members")
            assert uow.member_ids(after="\U0010ffff", limit=5) == []
        assert seen == sorted(names)

    # -- period totals ----------------------------------------------------------------------

    def test_outstanding_points_are_the_same_counted_from_either_end(self, store: Store) -> None:
        self._member(store)
        days = [EARNED + timedelta(days=n, hours=n % 5) for n in range(20)]
        with store.unit_of_work() as uow:
            for n, day in enumerate(days):
                points = -(n % 3 + 1) if n % 4 == 3 else 10 + n
                draws = ((uow.lots("M1")[0].id, points),) if points < 0 else ()
                uow.append(Posting("M1", EntryKind.ADJUST, points, day, day, f"E{n}", "x", "t", draws=draws))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            history = uow.history("M1")
            ends = (days[0] - TICK, days[0], days[3], days[10], days[16] + TICK, days[-1], days[-1] + HOUR)
            for end in ends:
                totals = uow.period_totals(end - timedelta(days=1), end, end - timedelta(days=2))
                assert totals.outstanding == sum(e.points for e in history if e.occurred_at < end), end

    def test_purchases_count_in_the_period_of_their_till_time(self, store: Store) -> None:
        self._member(store)
        request = {"member_id": "M1", "at": (NOW - TICK).astimezone(PLUS5).isoformat()}
        result = {"amount": {"amount": "12.50", "currency": "EUR"}}
        with store.unit_of_work() as uow:
            # Recorded long after it was rung up: the till time counts, not the recording time.
            uow.add_operation(Operation("P1", "purchase", request, result, NOW + timedelta(days=3)))
            uow.add_operation(
                Operation("R1", "redemption", {"member_id": "M1", "at": NOW.isoformat()}, {}, NOW)
            )
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            before = uow.period_totals(NOW - HOUR, NOW, NOW - 2 * HOUR)
            assert (before.purchases, before.active, before.spend) == (1, 1, Decimal("12.50"))
            after = uow.period_totals(NOW, NOW + HOUR, NOW - HOUR)
            assert (after.purchases, after.active, after.active_before, after.retained) == (0, 0, 1, 0)
