"""The storage adapter contract, as a pytest mixin every adapter adopts.

An adapter passes when a subclass of :class:`StoreContract` that provides the
``store_factory`` fixture passes. Our three adapters adopt it like this::

    import pytest
    from loyalty.store.sqlite import SQLiteStore
    from loyalty.testing.contract import StoreContract

    class TestSQLiteStore(StoreContract):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: SQLiteStore(tmp_path / "loyalty.db")

``store_factory`` returns a function that opens a *new handle* on one fresh,
empty storage location each time it is called; the suite closes the handles it
opens. Set ``durable = False`` for a store that does not outlive its handle
(such a store's factory returns the same instance every time) and
``concurrent = False`` for one that cannot be shared between threads.

The mixin's name does not start with ``Test``, so pytest never collects it on
its own. Call :func:`pytest.register_assert_rewrite` on this module (our
conftest does) to get pytest's detailed assertion messages from it.
"""

from __future__ import annotations

import decimal
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import pytest

from loyalty.checks import MAX_POINTS
from loyalty.engine import Engine
from loyalty.errors import (
    HoldEnded,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidInput,
    LoyaltyError,
    StorageError,
    TransientStorageError,
)
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import Entry, EntryKind, Posting, balance_of
from loyalty.lots import Lot, draw, lots_of
from loyalty.members import Member
from loyalty.outbox import EventKind, NewEvent
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.referrals import Referral, ReferralState
from loyalty.store import Operation, Store, StoredProgram, UnitOfWork
from loyalty.tallies import Tally
from loyalty.testing.contract_reads import ReadsContract
from loyalty.testing.snapshots import snapshot
from loyalty.tiers import Tier, Tiers, TierState

__all__ = ["HOSTILE_STRINGS", "StoreContract"]

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
CET = timezone(timedelta(hours=1))
THIRD = Decimal("0.3333333333333333333333333333")
DAY = timedelta(days=1)

#: Strings that have broken SQL, JSON and terminal handling elsewhere; ids must
#: survive them verbatim (or be refused by validation before any write).
HOSTILE_STRINGS = (
    "'; DROP TABLE entries; --",
    'Robert"); DROP TABLE members;--',
    "%s %(x)s {0} $1 ?",
    "\\x00 not a nul",
    "ünïcødé ✓ 会员 🎉",
    "a" * 128,
)


def _posting(member_id: str, points: int, source: str, *, at: datetime = T0) -> Posting:
    return Posting(member_id, EntryKind.ADJUST, points, at, T0, source, "contract test", actor="tester")


def _debit(uow: UnitOfWork, member_id: str, points: int, source: str) -> Entry:
    """Append a debit of ``points`` (negative), drawn from the member's lots in spending order."""
    draws = draw(uow.lots(member_id), -points, T0, pending=True)
    return uow.append(attrs.evolve(_posting(member_id, points, source), draws=draws))


class StoreContract(ReadsContract):
    """Mixin with the tests every storage adapter must pass (those of :class:`ReadsContract` too)."""

    durable: ClassVar[bool] = True
    concurrent: ClassVar[bool] = True
    #: Workers x purchases per worker in the concurrent-purchase test.
    concurrent_workers: ClassVar[int] = 4
    concurrent_purchases: ClassVar[int] = 50

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        pytest.fail(f"{type(self).__name__} must override the store_factory fixture")

    @pytest.fixture
    def store(self, store_factory: Callable[[], Store]) -> Iterator[Store]:
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def engine(self, store: Store) -> Engine:
        return Engine(Program("Contract", "EUR"), store, clock=lambda: T0)

    #: Holds that capture, release and expiry race on.
    racing_holds: ClassVar[int] = 1000
    #: Threads x read-for-update-then-add cycles in the concurrent tally test.
    tally_workers: ClassVar[int] = 8
    tally_cycles: ClassVar[int] = 25

    def _enroll(self, store: Store, member_id: str = "M1") -> Member:
        member = Member(member_id, T0)
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.commit()
        return member

    # -- members and balances ---------------------------------------------------------------

    def test_unknown_member_has_no_balance(self, store: Store) -> None:
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("nobody") is None
            assert uow.balance("nobody") is None
            assert uow.history("nobody") == []

    def test_member_ids_page_in_code_point_order(self, store: Store) -> None:
        for member_id in ("b", "a", "B", "ü", "a2"):
            self._enroll(store, member_id)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member_ids(limit=10) == ["B", "a", "a2", "b", "ü"]
            assert uow.member_ids(after="a", limit=2) == ["a2", "b"]
            assert uow.member_ids(after="ü", limit=5) == []

    def test_member_round_trips(self, store: Store) -> None:
        member = Member(
            "M1",
            datetime(2024, 3, 31, 2, 30, tzinfo=CET),
            date(2000, 2, 29),
            {"segment": "student", "visits": 3, "vip": True},
        )
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.member("M1")
            assert uow.balance("M1") == 0
        assert got == member
        assert got is not None and got.enrolled_at.utcoffset() == timedelta(hours=1)

    def test_member_birthday_change_time_round_trips(self, store: Store) -> None:
        changed = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
        member = Member("M1", T0, date(1990, 1, 1), birthday_changed_at=changed)
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.member("M1")
        assert got == member
        assert got is not None and got.birthday_changed_at is not None
        assert got.birthday_changed_at.utcoffset() == timedelta(hours=-5, minutes=-30)

    def test_update_member_replaces_birthday_and_attributes(self, store: Store) -> None:
        enrolled = datetime(2024, 3, 31, 2, 30, tzinfo=CET)
        member = Member("M1", enrolled, date(2000, 2, 29), {"segment": "student"})
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.add_member(Member("M2", T0, date(1980, 5, 5), {"segment": "bystander"}))
            entry = uow.append(_posting("M1", 10, "A1"))
            uow.commit()
        changed = datetime(2024, 6, 1, 14, 0, 5, 123456, tzinfo=timezone(timedelta(hours=-5)))
        updated = attrs.evolve(
            member,
            birthday=date(1999, 12, 31),
            attributes={"segment": "staff", "vip": True, "visits": 7, "note": "'; DROP TABLE members; --"},
            birthday_changed_at=changed,
        )
        with store.unit_of_work() as uow:
            uow.update_member(updated)
            assert uow.member("M1") == updated
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.member("M1")
            assert (uow.balance("M1"), uow.history("M1")) == (10, [entry])
            assert uow.member("M2") == Member("M2", T0, date(1980, 5, 5), {"segment": "bystander"})
        assert got == updated
        assert got is not None and got.birthday_changed_at is not None
        assert got.birthday_changed_at.utcoffset() == timedelta(hours=-5)
        assert got.enrolled_at.utcoffset() == timedelta(hours=1)
        cleared = attrs.evolve(updated, birthday=None, attributes={}, birthday_changed_at=None)
        with store.unit_of_work() as uow:
            uow.update_member(cleared)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("M1") == cleared

    def test_update_member_rolls_back(self, store: Store) -> None:
        member = self._enroll(store)
        with store.unit_of_work() as uow:
            uow.update_member(attrs.evolve(member, birthday=date(2001, 1, 1), birthday_changed_at=T0))
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.update_member(attrs.evolve(member, attributes={"segment": "vip"}))
            raise RuntimeError("crash between the write and the commit")
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("M1") == member

    def test_update_of_an_unknown_member_fails(self, store: Store) -> None:
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.update_member(Member("nobody", T0, date(2000, 1, 1)))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member("nobody") is None

    def test_append_numbers_entries_and_moves_the_balance(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            first = uow.append(_posting("M1", 40, "a"))
            second = _debit(uow, "M1", -15, "b")
            assert uow.balance("M1", for_update=True) == 25
            uow.commit()
        assert second.seq > first.seq
        assert (first.balance_after, second.balance_after) == (40, 25)
        with store.unit_of_work(readonly=True) as uow:
            history = uow.history("M1")
            assert uow.balance("M1") == balance_of(history) == 25
        assert history == [first, second]

    def test_history_pages_with_after_and_limit(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            mine = [uow.append(_posting("M1", n, f"k{n}")) for n in range(1, 8)]
            uow.append(_posting("M2", 99, "other"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.history("M1", limit=3) == mine[:3]
            assert uow.history("M1", after=mine[2].seq, limit=3) == mine[3:6]
            assert uow.history("M1", after=mine[-1].seq) == []

    def test_entries_keep_their_till_offset_and_both_times(self, store: Store) -> None:
        self._enroll(store)
        local = datetime(2024, 10, 27, 2, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
        with store.unit_of_work() as uow:
            uow.append(_posting("M1", 5, "late", at=local))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            (entry,) = uow.history("M1")
        assert entry.occurred_at == local
        assert entry.occurred_at.utcoffset() == timedelta(hours=2)
        assert entry.recorded_at == T0

    def test_entries_keep_their_rules_and_program_version(self, store: Store) -> None:
        self._enroll(store)
        rules = ("base", "double-tuesday", "x2'\";--", "ünï✓🎉")
        with store.unit_of_work() as uow:
            many = uow.append(
                Posting("M1", EntryKind.EARN, 12, T0, T0, "P1", "purchase", None, rules, "2024 'spring' ✓")
            )
            one = uow.append(
                Posting("M1", EntryKind.EARN, 3, T0, T0, "P2", "purchase", None, ("base",), "v1")
            )
            none = _debit(uow, "M1", -2, "R1")
            uow.commit()
        assert (many.rules, many.program_version) == (rules, "2024 'spring' ✓")
        assert (one.rules, one.program_version) == (("base",), "v1")
        assert (none.rules, none.program_version) == ((), None)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.history("M1") == [many, one, none]

    @pytest.mark.parametrize("bad", ["two words", "", "tab\there", "new\nline", "nul\x00", "lone \ud800"])
    def test_rule_ids_that_would_not_come_back_whole_are_refused(self, store: Store, bad: str) -> None:
        self._enroll(store)
        with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
            uow.append(Posting("M1", EntryKind.EARN, 5, T0, T0, "P1", "purchase", None, ("base", bad)))
            uow.commit()
        assert info.value.field == "rules"
        with store.unit_of_work(readonly=True) as uow:
            assert (uow.balance("M1"), uow.history("M1")) == (0, [])

    def test_balances_stay_exact_at_the_64_bit_edge(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(_posting("M1", MAX_POINTS, "max"))
            _debit(uow, "M1", -MAX_POINTS, "back")
            uow.append(_posting("M1", MAX_POINTS - 1, "again"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == MAX_POINTS - 1
            assert [e.points for e in uow.history("M1")] == [MAX_POINTS, -MAX_POINTS, MAX_POINTS - 1]

    # -- lots -------------------------------------------------------------------------------

    def _credit(
        self,
        uow: UnitOfWork,
        points: int,
        source: str,
        *,
        member_id: str = "M1",
        vests: timedelta | None = None,
        expires: timedelta | None = None,
    ) -> Entry:
        posting = attrs.evolve(
            _posting(member_id, points, source),
            vests_at=None if vests is None else T0 + vests,
            expires_at=None if expires is None else T0 + expires,
        )
        return uow.append(posting)

    def test_a_credit_opens_a_lot_and_a_debit_draws_from_it(self, store: Store) -> None:
        self._enroll(store)
        local = T0.astimezone(CET)
        with store.unit_of_work() as uow:
            credit = uow.append(
                attrs.evolve(
                    _posting("M1", 40, "a", at=local), vests_at=T0 + timedelta(days=14), expires_at=T0 + DAY
                )
            )
            plain = self._credit(uow, 25, "b")
            debit = uow.append(attrs.evolve(_posting("M1", -30, "c"), draws=((credit.seq, -30),)))
            uow.commit()
        assert debit.draws == ((credit.seq, -30),)
        with store.unit_of_work(readonly=True) as uow:
            history = uow.history("M1")
            assert history == [credit, plain, debit]
            lots = uow.lots("M1")
            assert lots == [
                Lot(credit.seq, "M1", 40, 10, local, T0 + timedelta(days=14), T0 + DAY),
                Lot(plain.seq, "M1", 25, 25, T0),
            ]
            assert lots == lots_of(history)
            assert lots[0].earned_at.utcoffset() == local.utcoffset()
            assert sum(lot.remaining for lot in lots) == uow.balance("M1")

    def test_a_lot_drawn_to_zero_is_closed(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            first = self._credit(uow, 10, "a", expires=DAY)
            second = self._credit(uow, 10, "b")
            uow.append(attrs.evolve(_posting("M1", -15, "c"), draws=((first.seq, -10), (second.seq, -5))))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert [(lot.id, lot.remaining) for lot in uow.lots("M1")] == [(second.seq, 5)]
            assert uow.due_lots(T0 + 2 * DAY) == []
            assert uow.lots("M1") == lots_of(uow.history("M1"))

    @pytest.mark.parametrize(
        "bad",
        ["short", "foreign", "overdraw", "twice", "positive", "credit", "unknown"],
    )
    def test_draws_that_do_not_fit_are_refused_before_anything_is_written(
        self, store: Store, bad: str
    ) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            mine = self._credit(uow, 10, "a").seq
            other = self._credit(uow, 10, "b").seq
            theirs = self._credit(uow, 50, "c", member_id="M2").seq
            uow.commit()
        before = snapshot(store, ["M1", "M2"])
        draws = {
            "short": (-15, ((mine, -10),)),
            "foreign": (-15, ((mine, -10), (theirs, -5))),
            "overdraw": (-15, ((mine, -15),)),
            "twice": (-10, ((mine, -5), (mine, -5))),
            "positive": (-5, ((mine, -10), (other, 5))),
            "credit": (5, ((mine, -5),)),
            "unknown": (-5, ((other + theirs + 100, -5),)),
        }
        points, pairs = draws[bad]
        with store.unit_of_work() as uow:
            with pytest.raises(StorageError) as info:
                uow.append(attrs.evolve(_posting("M1", points, "bad"), draws=pairs))
            assert info.value.field == "draws"
            # Refused before any write: the unit of work is still usable, and unchanged.
            assert uow.balance("M1") == 20
            assert [lot.remaining for lot in uow.lots("M1")] == [10, 10]
            uow.commit()
        assert snapshot(store, ["M1", "M2"]) == before

    def test_lots_roll_back_with_the_unit_of_work(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            kept = self._credit(uow, 10, "a", expires=DAY)
            uow.commit()
        with store.unit_of_work() as uow:
            self._credit(uow, 5, "b", vests=DAY, expires=DAY)
            uow.append(attrs.evolve(_posting("M1", -10, "c"), draws=((kept.seq, -10),)))
            assert uow.lots("M1")[0].id != kept.seq
        with store.unit_of_work(readonly=True) as uow:
            assert [(lot.id, lot.remaining) for lot in uow.lots("M1")] == [(kept.seq, 10)]
            assert [lot.id for lot in uow.due_lots(T0 + DAY)] == [kept.seq]
            assert uow.pending_lots("M1", T0) == []

    def test_pending_lots_are_those_not_yet_vested(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            soon = self._credit(uow, 10, "a", vests=DAY).seq
            later = self._credit(uow, 20, "b", vests=3 * DAY).seq
            self._credit(uow, 30, "c")
            self._credit(uow, 40, "d", member_id="M2", vests=3 * DAY)
            spent = self._credit(uow, 5, "e", vests=3 * DAY).seq
            uow.append(attrs.evolve(_posting("M1", -5, "f"), draws=((spent, -5),)))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert [lot.id for lot in uow.pending_lots("M1", T0)] == [soon, later]
            # Vested at its instant exactly.
            assert [lot.id for lot in uow.pending_lots("M1", T0 + DAY)] == [later]
            assert [lot.id for lot in uow.pending_lots("M1", T0 + DAY - timedelta(microseconds=1))] == [
                soon,
                later,
            ]
            assert uow.pending_lots("M1", T0 + 3 * DAY) == []
            assert uow.pending_lots("nobody", T0) == []

    def test_due_lots_come_soonest_first_and_page(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            late = self._credit(uow, 1, "a", expires=3 * DAY).seq
            early = self._credit(uow, 2, "b", expires=DAY).seq
            tie = self._credit(uow, 3, "c", member_id="M2", expires=DAY).seq
            self._credit(uow, 4, "d")
            self._credit(uow, 5, "e", expires=10 * DAY)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.due_lots(T0) == []
            assert [lot.id for lot in uow.due_lots(T0 + DAY)] == [early, tie]
            assert [lot.id for lot in uow.due_lots(T0 + 3 * DAY)] == [early, tie, late]
            assert [lot.id for lot in uow.due_lots(T0 + 3 * DAY, limit=2)] == [early, tie]
            assert [lot.id for lot in uow.due_lots(T0 + 3 * DAY, member_id="M1")] == [early, late]
            assert [lot.id for lot in uow.due_lots(T0 + 3 * DAY, member_id="M2", limit=1)] == [tie]
            # Instants compare as instants, whatever the offset they are given in.
            assert [lot.id for lot in uow.due_lots((T0 + DAY).astimezone(CET))] == [early, tie]

    def test_redate_entries_move_open_lots_dates_and_the_ledger_says_so(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            rolling = uow.append(attrs.evolve(_posting("M1", 10, "a"), expires_at=T0 + DAY, rolling=True)).seq
            plain = self._credit(uow, 5, "b").seq
            theirs = self._credit(uow, 7, "c", member_id="M2", expires=DAY).seq
            uow.commit()
        redate = Posting(
            "M1",
            EntryKind.REDATE,
            0,
            T0,
            T0,
            "r",
            "activity",
            rolling=True,  # every lot it moves rolls from now on
            redates=((rolling, T0 + 9 * DAY), (plain, T0 + 2 * DAY)),
        )
        with store.unit_of_work() as uow:
            entry = uow.append(redate)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            lots = {lot.id: lot for lot in uow.lots("M1")}
            assert (lots[rolling].expires_at, lots[rolling].rolling) == (T0 + 9 * DAY, True)
            assert (lots[plain].expires_at, lots[plain].rolling) == (T0 + 2 * DAY, True)
            assert [lot.id for lot in uow.due_lots(T0 + 2 * DAY)] == [theirs, plain]
            assert [lot.id for lot in uow.due_lots(T0 + 9 * DAY, member_id="M1")] == [plain, rolling]
            history = uow.history("M1")
            assert history[-1] == entry and entry.redates == redate.redates and entry.balance_after == 15
            assert uow.lots("M1") == lots_of(history)
            assert [lot.id for lot in uow.open_lots(limit=10)] == [rolling, plain, theirs]
            assert [lot.id for lot in uow.open_lots(after=rolling, limit=1)] == [plain]
        # Never another member's lot, an unknown one, twice, or with points or draws; nothing is written.
        with store.unit_of_work() as uow:
            _debit(uow, "M1", -5, "spend")  # lot "a" (soonest-expiring) gives 5 of its 10
            uow.commit()
        bad = [
            attrs.evolve(redate, redates=((theirs, T0),)),
            attrs.evolve(redate, redates=((rolling, T0), (rolling, T0))),
            attrs.evolve(redate, points=1),
            attrs.evolve(redate, kind=EntryKind.ADJUST),
            attrs.evolve(redate, redates=((999_999, T0),)),
        ]
        before = snapshot(store, ["M1", "M2"])
        for posting in bad:
            with pytest.raises(StorageError) as info, store.unit_of_work() as uow:
                uow.append(posting)
            assert info.value.field == "redates", posting
        assert snapshot(store, ["M1", "M2"]) == before

    def test_redates_roll_back_with_the_unit_of_work(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            lot = self._credit(uow, 10, "a", expires=DAY).seq
            uow.commit()
        with store.unit_of_work() as uow:
            uow.append(Posting("M1", EntryKind.REDATE, 0, T0, T0, "r", "x", redates=((lot, None),)))
        with store.unit_of_work(readonly=True) as uow:
            assert [(open_.id, open_.expires_at) for open_ in uow.lots("M1")] == [(lot, T0 + DAY)]
            assert [due.id for due in uow.due_lots(T0 + DAY)] == [lot]

    def test_engine_run_due_expires_each_lot_once_across_engines(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        setup = store_factory()
        members = [f"M{n}" for n in range(20)]
        with setup.unit_of_work() as uow:
            for member_id in members:
                uow.add_member(Member(member_id, T0))
                for n in range(3):
                    self._credit(uow, 10, f"{member_id}-{n}", member_id=member_id, expires=(n + 1) * DAY)
            uow.commit()
        workers = 4
        stores = [store_factory() for _ in range(workers)]
        later = T0 + 2 * DAY
        start = threading.Barrier(workers)

        def work(n: int) -> int:
            engine = Engine(Program("Contract", "EUR"), stores[n], clock=lambda: later)
            start.wait()
            return engine.run_due(batch=7).expired_lots

        try:
            with ThreadPoolExecutor(workers) as pool:
                expired = sum(pool.map(work, range(workers)))
            assert expired == 2 * len(members)
            engine = Engine(Program("Contract", "EUR"), setup, clock=lambda: later)
            assert engine.run_due().expired_lots == 0
            for member_id in members:
                history = engine.history(member_id)
                assert [e.points for e in history if e.kind is EntryKind.EXPIRE] == [-10, -10]
                assert engine.balance(member_id).total == 10 == balance_of(history)
                assert engine.lots(member_id) == lots_of(history)
        finally:
            for store in stores:
                store.close()
            setup.close()

    # -- tiers ------------------------------------------------------------------------------

    def test_tier_states_round_trip_are_replaced_and_found_by_due_date(self, store: Store) -> None:
        for member_id in ("M1", "M2", "M3", "M4"):
            self._enroll(store, member_id)
        first = TierState("M1", "gold", "silver", T0, T0 + DAY, T0 + DAY, "gold", T0 + 2 * DAY, ("a", "b"))
        with store.unit_of_work() as uow:
            assert uow.tier_state("M1") is None
            uow.put_tier_state(first)
            uow.put_tier_state(TierState("M2", "silver", "silver", T0, T0 + DAY, T0 + DAY))
            uow.put_tier_state(TierState("M3", "silver", "silver", T0, T0, T0 + 2 * DAY))
            uow.put_tier_state(TierState("M4", "member", "member", T0))  # never due
            assert uow.tier_state("M1") == first  # read back in its own unit of work
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            stored = uow.tier_state("M1")
            assert stored == first and stored is not None and stored.reached == ("a", "b")
            assert [s.member_id for s in uow.due_tier_states(T0 + 3 * DAY)] == ["M1", "M2", "M3"]
            assert [s.member_id for s in uow.due_tier_states(T0 + DAY)] == ["M1", "M2"]  # ties by member
            assert [s.member_id for s in uow.due_tier_states(T0 + 3 * DAY, limit=1)] == ["M1"]
            assert uow.due_tier_states(T0) == []
        moved = attrs.evolve(first, tier="silver", due_at=T0 + 5 * DAY, floor=None, floor_until=None)
        with store.unit_of_work() as uow:
            uow.put_tier_state(moved)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tier_state("M1") == moved
            assert [s.member_id for s in uow.due_tier_states(T0 + 3 * DAY)] == ["M2", "M3"]
            assert [s.member_id for s in uow.due_tier_states(T0 + 5 * DAY)] == ["M2", "M3", "M1"]

    def test_tier_states_roll_back_and_need_a_member(self, store: Store) -> None:
        self._enroll(store)
        kept = TierState("M1", "gold", "gold", T0, T0 + DAY, T0 + DAY)
        with store.unit_of_work() as uow:
            uow.put_tier_state(kept)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.put_tier_state(attrs.evolve(kept, tier="silver", due_at=None))
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tier_state("M1") == kept
            assert uow.due_tier_states(T0 + DAY) == [kept]
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.put_tier_state(TierState("nobody", "gold", "gold", T0))
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tier_state("nobody") is None

    def test_engine_run_due_reviews_each_tier_once_across_engines(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        tiers = Tiers(
            levels=[Tier(id="member"), Tier(id="gold", threshold=100)],
            window="rolling",
            months=12,
            downgrade="review",
            review="anniversary",
        )
        program = Program("Contract", "EUR", tiers=tiers)
        setup = store_factory()
        members = [f"M{n}" for n in range(24)]
        year = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
        engine = Engine(program, setup, clock=lambda: T0)
        for member_id in members:
            engine.enroll(member_id, at=T0)
            engine.record_purchase(
                Purchase(f"{member_id}-1", member_id, T0, [Line("x", 1, Decimal(100))], "EUR")
            )
        workers = 4
        stores = [store_factory() for _ in range(workers)]
        start = threading.Barrier(workers)

        def work(n: int) -> int:
            racer = Engine(program, stores[n], clock=lambda: year + DAY)
            start.wait()
            return racer.run_due(batch=5).tier_changes

        try:
            with ThreadPoolExecutor(workers) as pool:
                changes = sum(pool.map(work, range(workers)))
            assert changes == len(members)
            after = Engine(program, setup, clock=lambda: year + DAY)
            assert after.run_due() == after.run_due() == attrs.evolve(after.run_due(), tier_reviews=0)
            for member_id in members:
                moves = [e.reason for e in after.history(member_id) if e.kind is EntryKind.TIER]
                assert len(moves) == 2, moves  # up with the purchase, down at the first anniversary
                assert after.tier(member_id).tier.id == "member"
        finally:
            for store in stores:
                store.close()
            setup.close()

    # -- figures ----------------------------------------------------------------------------

    def test_period_totals_add_up_the_ledger_and_the_purchases(self, store: Store) -> None:
        before, start, end = T0, T0 + 10 * DAY, T0 + 20 * DAY
        clock = [before]
        engine = Engine(Program("Contract", "EUR"), store, clock=lambda: clock[0])
        for member_id in ("A", "B", "C"):
            engine.enroll(member_id, at=before)
        engine.enroll("late", at=end + DAY)  # enrolled after the period: not counted
        for key, member_id, day, amount in (
            ("P1", "A", 1, "10.00"),
            ("P2", "B", 2, "20.50"),
            ("P3", "A", 11, "30.25"),
            ("P4", "C", 12, "7.00"),
            ("P5", "C", 25, "99.00"),  # after the period
        ):
            clock[0] = T0.astimezone(CET) + day * DAY
            engine.record_purchase(Purchase(key, member_id, clock[0], [Line("x", 1, Decimal(amount))], "EUR"))
        engine.redeem("A", 5, id="R1", at=T0 + 13 * DAY)
        with store.unit_of_work(readonly=True) as uow:
            totals = uow.period_totals(start, end, before)
        assert totals.by_kind == {"earn": 37, "redeem": -5}
        assert (totals.outstanding, totals.members, totals.purchases, totals.spend) == (
            62,
            3,
            2,
            Decimal("37.25"),
        )
        assert (totals.active, totals.active_before, totals.retained) == (2, 2, 1)

    # -- referrals --------------------------------------------------------------------------

    def test_referral_codes_are_one_per_member_and_unique(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            assert uow.referral_code("M1") is None and uow.code_owner("ABCD2345") is None
            uow.add_referral_code("M1", "ABCD2345")
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert (uow.referral_code("M1"), uow.code_owner("ABCD2345")) == ("ABCD2345", "M1")
        for member_id, code in (("M2", "ABCD2345"), ("M1", "WXYZ6789")):
            with pytest.raises(StorageError), store.unit_of_work() as uow:
                uow.add_referral_code(member_id, code)
        with store.unit_of_work() as uow:
            uow.add_referral_code("M2", "WXYZ6789")  # rolled back
        with store.unit_of_work(readonly=True) as uow:
            assert uow.referral_code("M2") is None and uow.code_owner("WXYZ6789") is None

    def test_referrals_round_trip_are_replaced_and_found_by_referrer(self, store: Store) -> None:
        for member_id in ("A", "B", "C"):
            self._enroll(store, member_id)
        first = Referral("C", "A", "ABCD2345", T0.astimezone(CET))
        rewarded = Referral(
            "B", "A", "ABCD2345", T0, ReferralState.QUALIFIED, None, "P1", 100, 25, 7, 6, T0 + DAY, T0
        )
        with store.unit_of_work() as uow:
            uow.put_referral(first)
            uow.put_referral(rewarded)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.referral("B") == rewarded and uow.referral("A") is None
            assert uow.referrals_by("A") == [rewarded, first]
            found = uow.referral("C")
            assert found is not None and found.referred_at.utcoffset() == CET.utcoffset(None)
            assert uow.referrals_by("B") == []
        rejected = attrs.evolve(rewarded, state=ReferralState.REJECTED, reason="returned")
        with store.unit_of_work() as uow:
            uow.put_referral(rejected)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.put_referral(attrs.evolve(first, state=ReferralState.REJECTED))  # rolled back
        with store.unit_of_work(readonly=True) as uow:
            assert uow.referral("B") == rejected and uow.referral("C") == first
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.put_referral(Referral("nobody", "A", "X", T0))

    # -- the outbox -------------------------------------------------------------------------

    def _event(self, n: int, member_id: str = "M1") -> NewEvent:
        return NewEvent(
            EventKind.TIER_CHANGED, member_id, T0.astimezone(CET), T0, f"s{n}", {"n": n, "x": [1, "a"]}
        )

    def test_events_are_numbered_in_order_and_read_with_a_cursor(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_event(self._event(1))
            uow.add_event(self._event(2))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.add_event(self._event(3))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            events = uow.events()
            assert [(e.seq, e.data["n"]) for e in events] == [(1, 1), (2, 2), (3, 3)]
            first = events[0]
            assert first == self._event(1).recorded(1)
            assert first.occurred_at.utcoffset() == CET.utcoffset(None) and first.data["x"] == [1, "a"]
            assert [e.seq for e in uow.events(after=1)] == [2, 3]
            assert [e.seq for e in uow.events(after=1, limit=1)] == [2]
            assert uow.events(after=3) == []

    def test_events_roll_back_with_their_change(self, store: Store) -> None:
        self._enroll(store)
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.append(_posting("M1", 5, "a"))
            uow.add_event(self._event(1))
            raise RuntimeError("the till crashed")
        with store.unit_of_work() as uow:
            uow.add_event(self._event(2))  # not committed
        with store.unit_of_work(readonly=True) as uow:
            assert uow.events() == [] and uow.history("M1") == []
        with store.unit_of_work() as uow:
            uow.add_event(self._event(3))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert [(e.seq, e.data["n"]) for e in uow.events()] == [(1, 3)]  # no gap either
        with pytest.raises(InvalidInput), store.unit_of_work() as uow:
            uow.add_event(attrs.evolve(self._event(4), data={"bad": float("nan")}))

    def test_a_reader_polling_with_a_cursor_sees_every_event_once_in_order(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        setup = store_factory()
        self._enroll(setup)
        workers, rounds = 4, 15
        stores = [store_factory() for _ in range(workers + 1)]
        done = threading.Event()

        def write(n: int) -> None:
            for r in range(rounds):
                while True:
                    try:
                        with stores[n].unit_of_work() as uow:
                            uow.balance("M1", for_update=n % 2 == 0)
                            for k in range(1 + r % 3):
                                uow.add_event(self._event(n * 1000 + r * 10 + k))
                            time.sleep(random.uniform(0, 0.002))
                            uow.commit()
                        break
                    except TransientStorageError:
                        continue

        def read() -> list[int]:
            seen: list[int] = []
            while True:
                finished = done.is_set()
                with stores[workers].unit_of_work(readonly=True) as uow:
                    batch = uow.events(after=seen[-1] if seen else 0)
                # Contiguous from the cursor: nothing committed later slips in below it.
                assert [e.seq for e in batch] == list(range(len(seen) + 1, len(seen) + 1 + len(batch)))
                seen += [e.seq for e in batch]
                if finished:
                    return seen

        try:
            with ThreadPoolExecutor(workers + 1) as pool:
                reader = pool.submit(read)
                list(pool.map(write, range(workers)))
                done.set()
                seen = reader.result()
            expected = workers * sum(1 + r % 3 for r in range(rounds))
            assert seen == list(range(1, expected + 1))
        finally:
            for store in stores:
                store.close()
            setup.close()

    # -- holds ------------------------------------------------------------------------------

    def _hold(self, uow: UnitOfWork, hold_id: str, points: int, lot: int, *, member_id: str = "M1") -> Hold:
        hold = Hold(hold_id, member_id, points, ((lot, -points),), T0.astimezone(CET), T0 + DAY)
        uow.append(attrs.evolve(_posting(member_id, -points, hold_id), kind=EntryKind.HOLD, draws=hold.draws))
        uow.add_hold(hold)
        return hold

    def test_holds_round_trip_and_are_found_open_by_member_and_by_date(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            lot = self._credit(uow, 100, "a").seq
            theirs = self._credit(uow, 100, "b", member_id="M2").seq
            first = self._hold(uow, "H1", 30, lot)
            later = self._hold(uow, "H0", 20, lot)
            uow.end_hold("H0", HoldStatus.RELEASED, 0, T0)  # ended holds are neither open nor due
            self._hold(uow, "H2", 5, theirs, member_id="M2")
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.hold("H1") == first
            held = uow.hold("H1")
            assert held is not None and held.held_at.utcoffset() == CET.utcoffset(None)
            assert uow.hold("nope") is None
            assert [h.id for h in uow.open_holds("M1")] == ["H1"]
            assert [h.id for h in uow.due_holds(T0 + DAY)] == ["H1", "H2"]
            assert [h.id for h in uow.due_holds(T0 + DAY, limit=1)] == ["H1"]
            assert uow.due_holds(T0) == []
            ended = uow.hold("H0")
            assert ended == later.ended(HoldStatus.RELEASED, 0, T0)
            assert uow.lots("M1")[0].remaining == 50

    def test_a_hold_ends_exactly_once(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            lot = self._credit(uow, 100, "a").seq
            self._hold(uow, "H1", 30, lot)
            uow.commit()
        with store.unit_of_work() as uow:
            ended = uow.end_hold("H1", HoldStatus.CAPTURED, 25, T0 + DAY)
            assert (ended.status, ended.captured, ended.ended_at) == (HoldStatus.CAPTURED, 25, T0 + DAY)
            with pytest.raises(StorageError) as info:
                uow.end_hold("H1", HoldStatus.RELEASED, 0, T0 + DAY)
            assert info.value.field == "hold_id"
            uow.commit()
        with store.unit_of_work() as uow:
            for status in (HoldStatus.EXPIRED, HoldStatus.RELEASED):
                with pytest.raises(StorageError):
                    uow.end_hold("H1", status, 0, T0)
            with pytest.raises(StorageError):
                uow.end_hold("unknown", HoldStatus.RELEASED, 0, T0)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.hold("H1") == ended
            assert uow.open_holds("M1") == []

    def test_holds_roll_back_and_a_duplicate_id_fails(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            lot = self._credit(uow, 100, "a").seq
            self._hold(uow, "H1", 30, lot)
            uow.commit()
        with store.unit_of_work() as uow:
            self._hold(uow, "H2", 10, lot)
            uow.end_hold("H1", HoldStatus.RELEASED, 0, T0)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.hold("H2") is None
            held = uow.hold("H1")
            assert held is not None and held.open
            assert [h.id for h in uow.due_holds(T0 + DAY)] == ["H1"]
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_hold(Hold("H1", "M1", 5, ((lot, -5),), T0, T0 + DAY))

    def test_points_given_back_return_to_their_lots_even_closed_ones(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            first = self._credit(uow, 10, "a", expires=DAY).seq
            second = self._credit(uow, 10, "b").seq
            uow.append(
                attrs.evolve(
                    _posting("M1", -15, "h"), kind=EntryKind.HOLD, draws=((first, -10), (second, -5))
                )
            )
            uow.commit()
        with store.unit_of_work() as uow:
            assert [lot.id for lot in uow.lots("M1")] == [second]
            back = uow.append(
                attrs.evolve(_posting("M1", 12, "h"), kind=EntryKind.RELEASE, draws=((second, 5), (first, 7)))
            )
            assert back.draws == ((second, 5), (first, 7))
            with pytest.raises(StorageError):  # a lot never takes back more than it was earned with
                uow.append(attrs.evolve(_posting("M1", 4, "x"), draws=((first, 4),)))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            lots = uow.lots("M1")
            assert [(lot.id, lot.remaining) for lot in lots] == [(first, 7), (second, 10)]
            assert lots == lots_of(uow.history("M1"))
            assert [lot.id for lot in uow.due_lots(T0 + DAY)] == [first]
            assert uow.balance("M1") == 17

    def test_engine_capture_release_and_expiry_race_ends_each_hold_once(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        holds = self.racing_holds
        members = [f"M{n}" for n in range(10)]
        setup = store_factory()
        ttl = timedelta(minutes=5)
        till = Engine(Program("Contract", "EUR"), setup, clock=lambda: T0)
        with setup.unit_of_work() as uow:
            for member_id in members:
                uow.add_member(Member(member_id, T0))
                self._credit(uow, holds, f"{member_id}-credit", member_id=member_id)
            uow.commit()
        ids = [f"H{n}" for n in range(holds)]
        for n, hold_id in enumerate(ids):
            till.hold(members[n % len(members)], 1 + n % 3, id=hold_id, at=T0, ttl=ttl)
        workers = 3
        stores = [store_factory() for _ in range(workers)]
        start = threading.Barrier(workers)
        under_way = threading.Event()
        # Two tills see the holds still open; maintenance runs after they expired.
        clocks = [T0, T0 + ttl - timedelta(seconds=1), T0 + ttl]

        def work(n: int) -> dict[str, int]:
            engine = Engine(Program("Contract", "EUR"), stores[n], clock=lambda: clocks[n])
            outcomes = {"captured": 0, "released": 0, "expired": 0, "refused": 0}
            start.wait()
            if n == 2:
                # Maintenance is the fastest of the three: it joins once the tills are under way,
                # one hold per unit of work as they do, so all three contend hold by hold.
                under_way.wait(timeout=30)
                outcomes["expired"] = engine.run_due(batch=1).expired_holds
                return outcomes
            # Each till goes through the holds in its own (seeded) order, maintenance by expiry.
            order = random.Random(n).sample(ids, len(ids))
            for done, hold_id in enumerate(order):
                if done == len(order) // 4:
                    under_way.set()
                try:
                    if n == 0:
                        engine.capture(hold_id, id=f"C-{hold_id}", at=T0)
                        outcomes["captured"] += 1
                    else:
                        ended = engine.release(hold_id, at=T0)
                        outcomes["released" if ended.status is HoldStatus.RELEASED else "refused"] += 1
                except HoldEnded:
                    outcomes["refused"] += 1
            return outcomes

        try:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(work, range(workers)))
            with setup.unit_of_work(readonly=True) as uow:
                final = {hold_id: uow.hold(hold_id) for hold_id in ids}
            counts = dict.fromkeys(HoldStatus, 0)
            for hold in final.values():
                assert hold is not None
                counts[hold.status] += 1
            assert counts[HoldStatus.OPEN] == 0
            # What each worker says it ended is exactly what the store holds: nothing ended twice.
            assert counts[HoldStatus.CAPTURED] == sum(r["captured"] for r in results)
            assert counts[HoldStatus.EXPIRED] == sum(r["expired"] for r in results)
            released = counts[HoldStatus.RELEASED]
            assert released <= sum(r["released"] for r in results)
            for member_id in members:
                history = till.history(member_id)
                mine = [h for h in final.values() if h is not None and h.member_id == member_id]
                given_back = [e for e in history if e.kind is EntryKind.RELEASE]
                # One give-back per hold that did not end captured, none for a captured one.
                assert sorted(e.source_id for e in given_back) == sorted(
                    h.id for h in mine if h.status is not HoldStatus.CAPTURED
                )
                spent = sum(h.points for h in mine if h.status is HoldStatus.CAPTURED)
                assert balance_of(history) == holds - spent
                assert till.lots(member_id) == lots_of(history)
        finally:
            for store in stores:
                store.close()
            setup.close()

    # -- the unit of work -------------------------------------------------------------------

    def test_rolls_back_uncommitted_work_by_default(self, store: Store) -> None:
        member = self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(_posting("M1", 10, "lost"))
            uow.add_member(Member("M2", T0))
            uow.add_operation(Operation("op", "test", {}, {}, T0))
            uow.update_member(attrs.evolve(member, birthday=date(2000, 1, 1)))
            uow.add_tallies({"k": Tally(1, Decimal(1))})
            uow.add_program_version(StoredProgram("v1", None, {}, T0))
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == 0
            assert uow.history("M1") == []
            assert uow.member("M1") == member
            assert uow.member("M2") is None
            assert uow.operation("op") is None
            assert uow.tallies(["k"]) == {"k": Tally()}
            assert uow.program_versions() == []

    def test_rolls_back_when_the_block_raises(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_tallies({"k": Tally(1, Decimal("1.5"))})
            uow.add_program_version(StoredProgram("v1", None, {}, T0))
            uow.commit()
        before = snapshot(store, ["M1"], ["op"], ["k", "new"], programs=True)
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.append(_posting("M1", 10, "lost"))
            uow.add_operation(Operation("op", "test", {}, {}, T0))
            uow.add_tallies({"k": Tally(1, Decimal(1)), "new": Tally(1, Decimal(1))})
            uow.add_program_version(StoredProgram("v2", T0, {}, T0))
            raise RuntimeError("crash between the write and the commit")
        assert snapshot(store, ["M1"], ["op"], ["k", "new"], programs=True) == before

    def test_committed_work_is_visible_to_a_new_unit_of_work(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.append(_posting("M1", 7, "kept"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("M1") == 7

    # -- operations (idempotency records) ---------------------------------------------------

    def test_operation_round_trips(self, store: Store) -> None:
        request: dict[str, Any] = {"member_id": "M1", "lines": [{"sku": "ü'\"", "q": "1.5"}], "n": None}
        result: dict[str, Any] = {"points": 12, "nested": {"deep": [1, 2, {"x": "🎉"}]}, "flag": True}
        with store.unit_of_work() as uow:
            uow.add_operation(Operation("T1-000001", "purchase", request, result, T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.operation("T1-000001") == Operation("T1-000001", "purchase", request, result, T0)
            assert uow.operation("T1-000002") is None

    def test_a_second_operation_with_the_same_key_fails_and_keeps_nothing(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_operation(Operation("dup", "purchase", {"a": 1}, {}, T0))
            uow.commit()
        before = snapshot(store, ["M1"], ["dup"])
        with pytest.raises(LoyaltyError), store.unit_of_work() as uow:
            uow.append(_posting("M1", 10, "dup"))
            uow.add_operation(Operation("dup", "purchase", {"a": 2}, {}, T0))
            uow.commit()
        assert snapshot(store, ["M1"], ["dup"]) == before

    @pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
    def test_hostile_strings_are_stored_verbatim(self, store: Store, hostile: str) -> None:
        member = Member(hostile, T0, None, {hostile: hostile})
        program = StoredProgram(hostile, T0, {hostile: [hostile]}, T0)
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.append(
                Posting(hostile, EntryKind.ADJUST, 3, T0, T0, hostile, hostile, hostile, ("base",), hostile)
            )
            uow.add_operation(Operation(hostile, hostile, {hostile: hostile}, {hostile: [hostile]}, T0))
            uow.add_tallies({hostile: Tally(1, Decimal(1))})
            uow.add_program_version(program)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member(hostile) == member
            (entry,) = uow.history(hostile)
            assert (entry.source_id, entry.reason, entry.actor, entry.program_version) == (hostile,) * 4
            assert entry.rules == ("base",)
            operation = uow.operation(hostile)
            assert operation is not None and operation.result == {hostile: [hostile]}
            assert uow.tallies([hostile]) == {hostile: Tally(1, Decimal(1))}
            assert uow.program_versions() == [program]
            # The tables are still there and still answer.
            assert uow.balance(hostile) == 3

    @pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
    def test_hostile_ids_through_the_engine_leave_the_schema_intact(
        self, engine: Engine, hostile: str
    ) -> None:
        engine.enroll("bystander", at=T0)
        engine.adjust("bystander", 7, id="seed", at=T0, reason="before", actor="test")
        engine.enroll(hostile, at=T0, attributes={"note": hostile})
        line = Line(hostile, 1, Decimal("12.00"), category=hostile)
        receipt = engine.record_purchase(Purchase(hostile, hostile, T0, [line], "EUR", store_id=hostile))
        redemption = "r/" + hostile[:126]
        engine.redeem(hostile, 2, id=redemption, at=T0, reason=hostile)
        assert (
            engine.record_purchase(Purchase(hostile, hostile, T0, [line], "EUR", store_id=hostile)) == receipt
        )
        assert engine.balance(hostile).available == 10
        assert [e.source_id for e in engine.history(hostile)] == [hostile, redemption]
        assert engine.member(hostile).attributes == {"note": hostile}
        assert engine.balance("bystander").available == 7
        engine.adjust("bystander", 1, id="after", at=T0, reason="tables still writable", actor="test")
        assert engine.balance("bystander").available == 8

    _WRITES: ClassVar[dict[str, Callable[[UnitOfWork], object]]] = {
        "add_member": lambda uow: uow.add_member(Member("M2", T0)),
        "update_member": lambda uow: uow.update_member(Member("M1", T0, date(2000, 1, 1))),
        "append": lambda uow: uow.append(_posting("M1", 5, "A1")),
        "add_operation": lambda uow: uow.add_operation(Operation("op", "test", {}, {}, T0)),
        "add_tallies": lambda uow: uow.add_tallies({"k": Tally(1, Decimal(1))}),
        "add_tallies (none)": lambda uow: uow.add_tallies({}),
        "add_program_version": lambda uow: uow.add_program_version(StoredProgram("v1", None, {}, T0)),
        "put_tier_state": lambda uow: uow.put_tier_state(TierState("M1", "gold", "gold", T0)),
        "add_event": lambda uow: uow.add_event(NewEvent(EventKind.HOLD_EXPIRED, "M1", T0, T0, "h", {})),
        "add_referral_code": lambda uow: uow.add_referral_code("M1", "ABCD2345"),
        "put_referral": lambda uow: uow.put_referral(Referral("M1", "M2", "ABCD2345", T0)),
    }

    @pytest.mark.parametrize("write", list(_WRITES))
    def test_a_read_only_unit_of_work_refuses_writes(self, store: Store, write: str) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_tallies({"k": Tally(2, Decimal("0.5"))})
            uow.commit()
        before = snapshot(store, ["M1", "M2"], ["op"], ["k"], programs=True)
        with pytest.raises(StorageError), store.unit_of_work(readonly=True) as uow:
            # Reading is fine, for update too (it locks nothing in a read-only unit of work).
            seen = uow.tallies(["k", "new"], for_update=True)
            assert seen == {"k": Tally(2, Decimal("0.5")), "new": Tally()}
            assert uow.program_versions() == []
            self._WRITES[write](uow)
            uow.commit()
        assert snapshot(store, ["M1", "M2"], ["op"], ["k", "new"], programs=True) == {
            **before,
            "tallies": {"k": Tally(2, Decimal("0.5")), "new": Tally()},
        }

    # -- tallies ----------------------------------------------------------------------------

    def test_tallies_start_at_zero(self, store: Store) -> None:
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies([]) == {}
            assert uow.tallies(["cap:M1:2024-03", "budget"]) == {"cap:M1:2024-03": Tally(), "budget": Tally()}
        with store.unit_of_work() as uow:
            assert uow.tallies(["budget", "budget"], for_update=True) == {"budget": Tally()}
            assert uow.tallies({"x", "y"}, for_update=True) == {"x": Tally(), "y": Tally()}
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies(["budget"]) == {"budget": Tally()}

    def test_tallies_add_up_exactly(self, store: Store) -> None:
        forty_digits = Decimal("123456789012345678901234567890123456.7891")
        deltas = [
            Tally(1, THIRD),
            Tally(1, THIRD),
            Tally(2, Decimal("-1.5")),
            Tally(1, forty_digits),
            Tally(0, Decimal("1E-12")),
            Tally(-1, Decimal(0)),
            Tally(1, forty_digits.copy_negate()),
        ]
        for delta in deltas:
            with store.unit_of_work() as uow:
                uow.add_tallies({"sum": delta, "halves": Tally(1, Decimal("-1.5"))})
                uow.commit()
        with store.unit_of_work() as uow:
            uow.add_tallies({"third": Tally(1, THIRD), "neg": Tally(1, Decimal("-1.5"))})
            uow.add_tallies({"wide": Tally(1, THIRD)})
            uow.commit()
        with store.unit_of_work() as uow:
            uow.add_tallies({"wide": Tally(1, forty_digits)})
            uow.commit()
        exact = decimal.Context(prec=200)
        expected = Decimal(0)
        for delta in deltas:
            expected = exact.add(expected, delta.points)
        # The 40-digit ones cancel, which they only do exactly if no sum was rounded.
        assert expected == Decimal("-0.8333333333323333333333333334")
        with store.unit_of_work(readonly=True) as uow:
            got = uow.tallies(["sum", "halves", "third", "neg", "wide", "untouched"])
        assert got == {
            "sum": Tally(5, expected),
            "halves": Tally(7, Decimal("-10.5")),
            "third": Tally(1, THIRD),
            "neg": Tally(1, Decimal("-1.5")),
            # 64 significant digits.
            "wide": Tally(2, Decimal("123456789012345678901234567890123457.1224333333333333333333333333")),
            "untouched": Tally(),
        }
        assert str(got["third"].points.normalize()) == str(THIRD)

    def test_tallies_added_in_a_unit_of_work_are_read_back_in_it(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_tallies({"a": Tally(1, Decimal("2.5"))})
            uow.add_tallies({"a": Tally(1, Decimal("0.25")), "b": Tally(3, Decimal(0))})
            expected = {"a": Tally(2, Decimal("2.75")), "b": Tally(3, Decimal(0))}
            assert uow.tallies(["a", "b"], for_update=True) == expected
            uow.add_tallies({"a": Tally(-2, Decimal("-2.75"))})
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies(["a", "b"]) == {"a": Tally(0, Decimal(0)), "b": Tally(3, Decimal(0))}

    def test_tally_keys_up_to_600_characters_round_trip(self, store: Store) -> None:
        keys = ["a" * 600, "🎉" * 600, "ü'\"; DROP TABLE tallies; --", "cap:M1:2024-03", "", " "]
        with store.unit_of_work() as uow:
            uow.add_tallies({key: Tally(n + 1, Decimal(n)) for n, key in enumerate(keys)})
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies(keys) == {key: Tally(n + 1, Decimal(n)) for n, key in enumerate(keys)}

    @pytest.mark.parametrize("key", ["x" * 601, "nul\x00", "lone \ud800"])
    def test_tally_keys_no_adapter_can_store_are_refused(self, store: Store, key: str) -> None:
        with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
            uow.add_tallies({"ok": Tally(1, Decimal(1)), key: Tally(1, Decimal(1))})
            uow.commit()
        assert info.value.field == "key"
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies(["ok"]) == {"ok": Tally()}
        with pytest.raises(InvalidInput), store.unit_of_work(readonly=True) as uow:
            uow.tallies([key])

    def test_tallies_roll_back_with_the_unit_of_work(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_tallies({"kept": Tally(1, Decimal("1.1"))})
            uow.commit()
        with store.unit_of_work() as uow:
            uow.add_tallies({"kept": Tally(5, Decimal(5)), "new": Tally(1, Decimal(1))})
            uow.add_tallies({"kept": Tally(1, Decimal(1))})
        expected = {"kept": Tally(1, Decimal("1.1")), "new": Tally()}
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies(["kept", "new"]) == expected
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.tallies(["kept", "new"], for_update=True)
            uow.add_tallies({"kept": Tally(5, Decimal(5)), "new": Tally(1, Decimal(1))})
            raise RuntimeError("crash between the write and the commit")
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies(["kept", "new"]) == expected

    def test_tallies_for_update_serialize_concurrent_writers(
        self, store_factory: Callable[[], Store]
    ) -> None:
        """Workers share a budget, which must never be overspent, and race for a new key each round."""
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        workers, cycles = self.tally_workers, self.tally_cycles
        budget, cost = Decimal(100), Decimal("0.7")
        fits = min(workers * cycles, int(budget / cost))
        setup = store_factory()
        stores = [store_factory() for _ in range(workers)]
        start = threading.Barrier(workers)

        def cycle(store: Store, keys: list[str], round_key: str) -> bool:
            with store.unit_of_work() as uow:
                seen = uow.tallies(keys, for_update=True)
                deltas = {"visits": Tally(1, Decimal(0))}
                if seen[round_key].count == 0:
                    # First to a key nobody had added to: exactly one worker may see it at zero.
                    deltas[round_key] = Tally(1, Decimal(0))
                spend = seen["budget"].points + cost <= budget
                if spend:
                    deltas["budget"] = Tally(1, cost)
                uow.add_tallies(deltas)
                uow.commit()
            return spend

        def work(n: int) -> int:
            granted = 0
            start.wait()
            for i in range(cycles):
                keys = ["budget", "visits", f"round:{i}"]
                # Workers name the keys in different orders: the adapter must not deadlock.
                keys = keys[n % 3 :] + keys[: n % 3]
                for attempt in range(100):
                    try:
                        granted += cycle(stores[n], keys, f"round:{i}")
                        break
                    except TransientStorageError:
                        if attempt == 99:
                            raise
            return granted

        try:
            with ThreadPoolExecutor(workers) as pool:
                granted = sum(pool.map(work, range(workers)))
            assert granted == fits
            rounds = [f"round:{i}" for i in range(cycles)]
            with setup.unit_of_work(readonly=True) as uow:
                assert uow.tallies(["budget", "visits"]) == {
                    "budget": Tally(fits, cost * fits),
                    "visits": Tally(workers * cycles, Decimal(0)),
                }
                assert uow.tallies(rounds) == {key: Tally(1, Decimal(0)) for key in rounds}
        finally:
            for store in [setup, *stores]:
                store.close()

    @pytest.mark.parametrize("existing", [False, True], ids=["new key", "existing key"])
    def test_a_writer_reading_tallies_for_update_waits_for_the_one_before_it(
        self, store_factory: Callable[[], Store], existing: bool
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        first, second = store_factory(), store_factory()
        base = Tally(1, Decimal(1)) if existing else Tally()
        if existing:
            with first.unit_of_work() as uow:
                uow.add_tallies({"k": base})
                uow.commit()
        started = threading.Event()

        def follow() -> dict[str, Tally]:
            started.set()
            with second.unit_of_work() as uow:
                seen = uow.tallies(["k"], for_update=True)
                uow.add_tallies({"k": Tally(1, Decimal("0.25"))})
                uow.commit()
            return seen

        try:
            with ThreadPoolExecutor(1) as pool:
                with first.unit_of_work() as uow:
                    # A new key has no row to lock, and must serialize all the same.
                    assert uow.tallies(["k"], for_update=True) == {"k": base}
                    follower = pool.submit(follow)
                    started.wait()
                    time.sleep(0.3)
                    assert not follower.done(), "a second writer read a tally another one is deciding on"
                    uow.add_tallies({"k": Tally(1, Decimal("0.5"))})
                    uow.commit()
                assert follower.result(timeout=30) == {"k": base + Tally(1, Decimal("0.5"))}
            with first.unit_of_work(readonly=True) as uow:
                assert uow.tallies(["k"]) == {"k": base + Tally(2, Decimal("0.75"))}
        finally:
            first.close()
            second.close()

    # -- program versions -------------------------------------------------------------------

    def test_program_versions_round_trip_in_order(self, store: Store) -> None:
        body: dict[str, Any] = {
            "name": "Corner Bakery 'ü' 🎉",
            "rules": [{"id": "base", "rate": "1.00", "cap": None, "days": [1, 2]}],
            "flag": True,
        }
        # 2024-02-29T22:30Z: earlier than "2024-03" although its local text sorts later.
        spring = StoredProgram(
            "2024-spring",
            datetime(2024, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            body,
            datetime(2024, 2, 1, 12, 0, 0, 1, tzinfo=CET),
        )
        march = StoredProgram("2024-03", datetime(2024, 3, 1, tzinfo=UTC), {"v": 3}, T0)
        # The same instant as "2024-03": ordered by version.
        march_b = StoredProgram("2024-03-b", datetime(2024, 3, 1, 1, tzinfo=CET), {"v": 4}, T0)
        first = StoredProgram("v1", None, {"v": 1}, T0)
        zeroth = StoredProgram("v0", None, {}, T0)
        with store.unit_of_work() as uow:
            uow.add_program_version(march_b)
            uow.add_program_version(first)
            uow.add_program_version(spring)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.add_program_version(march)
            uow.add_program_version(zeroth)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            got = uow.program_versions()
        assert got == [zeroth, first, spring, march, march_b]
        assert got[2].effective_from is not None and got[2].effective_from.utcoffset() == timedelta(hours=2)
        assert got[2].recorded_at.utcoffset() == timedelta(hours=1)
        assert got[4].effective_from is not None and got[4].effective_from.utcoffset() == timedelta(hours=1)

    def test_a_second_program_version_with_the_same_version_fails_and_keeps_nothing(
        self, store: Store
    ) -> None:
        first = StoredProgram("v1", None, {"a": 1}, T0)
        with store.unit_of_work() as uow:
            uow.add_program_version(first)
            uow.commit()
        with pytest.raises(LoyaltyError), store.unit_of_work() as uow:
            uow.add_tallies({"k": Tally(1, Decimal(1))})
            uow.add_program_version(StoredProgram("v1", T0, {"a": 2}, T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.program_versions() == [first]
            assert uow.tallies(["k"]) == {"k": Tally()}

    def test_program_versions_roll_back(self, store: Store) -> None:
        with store.unit_of_work() as uow:
            uow.add_program_version(StoredProgram("v1", None, {}, T0))
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.add_program_version(StoredProgram("v2", T0, {}, T0))
            assert [p.version for p in uow.program_versions()] == ["v2"]
            raise RuntimeError("crash between the write and the commit")
        with store.unit_of_work(readonly=True) as uow:
            assert uow.program_versions() == []

    # -- durability -------------------------------------------------------------------------

    def test_tallies_programs_and_member_updates_survive_reopening(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.durable:
            pytest.skip("this store does not outlive its handle")
        program = StoredProgram("v1", datetime(2024, 1, 1, tzinfo=CET), {"rules": ["base"]}, T0)
        member = Member("M1", T0, date(2000, 1, 1), {"segment": "staff"}, birthday_changed_at=T0)
        first = store_factory()
        try:
            with first.unit_of_work() as uow:
                uow.add_member(Member("M1", T0))
                uow.update_member(member)
                uow.add_tallies({"k": Tally(2, THIRD)})
                uow.add_program_version(program)
                uow.commit()
        finally:
            first.close()
        second = store_factory()
        try:
            with second.unit_of_work(readonly=True) as uow:
                assert uow.member("M1") == member
                assert uow.tallies(["k"]) == {"k": Tally(2, THIRD)}
                assert uow.program_versions() == [program]
        finally:
            second.close()

    def test_committed_work_survives_reopening(self, store_factory: Callable[[], Store]) -> None:
        if not self.durable:
            pytest.skip("this store does not outlive its handle")
        first = store_factory()
        engine = Engine(Program("Contract", "EUR"), first, clock=lambda: T0)
        engine.enroll("M1", at=T0)
        receipt = engine.record_purchase(Purchase("P1", "M1", T0, [Line("x", 2, Decimal("10.00"))], "EUR"))
        first.close()
        second = store_factory()
        try:
            again = Engine(Program("Contract", "EUR"), second, clock=lambda: T0)
            assert again.balance("M1").available == 20
            assert (
                again.record_purchase(Purchase("P1", "M1", T0, [Line("x", 2, Decimal("10.00"))], "EUR"))
                == receipt
            )
            assert again.balance("M1").available == 20
        finally:
            second.close()

    # -- the engine over this store ---------------------------------------------------------

    def test_engine_purchase_retry_returns_the_original_receipt(self, engine: Engine) -> None:
        engine.enroll("M1", at=T0)
        purchase = Purchase("P1", "M1", T0, [Line("x", 3, Decimal("4.15"))], "EUR")
        receipt = engine.record_purchase(purchase)
        assert engine.record_purchase(purchase) == receipt
        assert engine.balance("M1").available == 12 == balance_of(engine.history("M1"))
        assert len(engine.history("M1")) == 1
        with pytest.raises(IdempotencyConflict) as info:
            engine.record_purchase(Purchase("P1", "M1", T0, [Line("x", 4, Decimal("4.15"))], "EUR"))
        assert info.value.field == "lines[0].quantity"
        assert len(engine.history("M1")) == 1

    def test_engine_declined_redemption_stays_declined(self, engine: Engine) -> None:
        engine.enroll("M1", at=T0)
        engine.adjust("M1", 20, id="A1", at=T0, reason="welcome", actor="staff")
        with pytest.raises(InsufficientPoints):
            engine.redeem("M1", 30, id="R1", at=T0)
        engine.adjust("M1", 100, id="A2", at=T0, reason="top-up", actor="staff")
        with pytest.raises(InsufficientPoints) as info:
            engine.redeem("M1", 30, id="R1", at=T0)
        assert (info.value.available, info.value.requested) == (20, 30)
        assert engine.balance("M1").available == 120

    def test_engine_concurrent_purchases_on_one_member_lose_nothing(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        workers, per_worker = self.concurrent_workers, self.concurrent_purchases
        setup = store_factory()
        Engine(Program("Contract", "EUR"), setup).enroll("M1", at=T0)
        stores = [store_factory() for _ in range(workers)]
        start = threading.Barrier(workers)

        def work(n: int) -> None:
            engine = Engine(Program("Contract", "EUR"), stores[n])
            start.wait()
            for i in range(per_worker):
                engine.record_purchase(
                    Purchase(f"W{n}-{i}", "M1", T0, [Line("x", 1, Decimal("3.00"))], "EUR")
                )

        try:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(work, range(workers)))
            engine = Engine(Program("Contract", "EUR"), setup)
            assert engine.balance("M1").available == 3 * workers * per_worker
            assert balance_of(engine.history("M1")) == 3 * workers * per_worker
        finally:
            for store in [setup, *stores]:
                store.close()

    def test_engine_concurrent_redemptions_never_overdraw(self, store_factory: Callable[[], Store]) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        setup = store_factory()
        engine = Engine(Program("Contract", "EUR"), setup, clock=lambda: T0)
        engine.enroll("M1", at=T0)
        engine.adjust("M1", 1000, id="seed", at=T0, reason="opening balance", actor="test")
        workers = 10
        stores = [store_factory() for _ in range(workers)]

        def redeem(n: int) -> bool:
            mine = Engine(Program("Contract", "EUR"), stores[n % workers], clock=lambda: T0)
            try:
                mine.redeem("M1", 30, id=f"R{n}", at=T0)
            except InsufficientPoints:
                return False
            return True

        try:
            with ThreadPoolExecutor(workers) as pool:
                outcomes = list(pool.map(redeem, range(50)))
            assert outcomes.count(True) == 33
            assert engine.balance("M1").available == 10 == balance_of(engine.history("M1"))
        finally:
            for store in [setup, *stores]:
                store.close()

    def test_storage_errors_are_loyalty_errors(self, store: Store) -> None:
        self._enroll(store)
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_member(Member("M1", T0))
            uow.commit()
