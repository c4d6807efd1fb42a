"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Lots: opened by credits, drawn by debits, dated, re-dated and expired once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import attrs
import pytest

from loyalty.engine import Engine
from loyalty.errors import StorageError
from loyalty.ledger import EntryKind, Posting, balance_of
from loyalty.lots import Lot, lots_of
from loyalty.members import Member
from loyalty.program import Program
from loyalty.store import Store, UnitOfWork
from loyalty.testing.contract._base import CET, DAY, T0, ContractBase, adjust_posting, debit
from loyalty.testing.snapshots import snapshot


class LotsContract(ContractBase):
    """Lots: opened by credits, drawn by debits, dated, re-dated and expired once."""

    def test_a_credit_opens_a_lot_and_a_debit_draws_from_it(self, store: Store) -> None:
        self._enroll(store)
        local = T0.astimezone(CET)
        with store.unit_of_work() as uow:
            credit = uow.append(
                attrs.evolve(
                    adjust_posting("M1", 40, "a", at=local),
                    vests_at=T0 + timedelta(days=14),
                    expires_at=T0 + DAY,
                )
            )
            plain = self._credit(uow, 25, "b")
            debit = uow.append(attrs.evolve(adjust_posting("M1", -30, "c"), draws=((credit.seq, -30),)))
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
            uow.append(
                attrs.evolve(adjust_posting("M1", -15, "c"), draws=((first.seq, -10), (second.seq, -5)))
            )
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
                uow.append(attrs.evolve(adjust_posting("M1", points, "bad"), draws=pairs))
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
            uow.append(attrs.evolve(adjust_posting("M1", -10, "c"), draws=((kept.seq, -10),)))
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
            uow.append(attrs.evolve(adjust_posting("M1", -5, "f"), draws=((spent, -5),)))
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
            rolling = uow.append(
                attrs.evolve(adjust_posting("M1", 10, "a"), expires_at=T0 + DAY, rolling=True)
            ).seq
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
            debit(uow, "M1", -5, "spend")  # lot "a" (soonest-expiring) gives 5 of its 10
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

    def test_a_roll_moves_every_open_rolling_lot_dated_before_its_date_and_lists_none(
        self, store: Store
    ) -> None:
        # Activity under an inactivity policy: the entry names the date, not the lots.
        with store.unit_of_work(readonly=True) as uow:
            if not getattr(uow, "applies_rolls", False):
                pytest.skip("this adapter does not apply rolls (applies_rolls): it is sent the lots")
        self._enroll(store)
        self._enroll(store, "M2")

        def rolling(uow: UnitOfWork, points: int, source: str, days: int, member_id: str = "M1") -> int:
            posting = attrs.evolve(adjust_posting(member_id, points, source), expires_at=T0 + days * DAY)
            return uow.append(attrs.evolve(posting, rolling=True)).seq

        with store.unit_of_work() as uow:
            soon, later, spent = rolling(uow, 10, "a", 1), rolling(uow, 5, "b", 5), rolling(uow, 4, "c", 1)
            pending = uow.append(
                attrs.evolve(
                    adjust_posting("M1", 6, "p"), vests_at=T0 + 2 * DAY, expires_at=T0 + DAY, rolling=True
                )
            ).seq
            plain = self._credit(uow, 7, "d", expires=DAY).seq
            theirs = rolling(uow, 3, "e", 1, member_id="M2")
            uow.append(attrs.evolve(adjust_posting("M1", -4, "spend"), draws=((spent, -4),)))  # "c" closed
            uow.commit()
        roll = Posting(
            "M1", EntryKind.REDATE, 0, T0, T0, "r", "activity", expires_at=T0 + 3 * DAY, rolling=True
        )
        with store.unit_of_work() as uow:
            uow.append(roll)  # not committed: nothing moves
        with store.unit_of_work() as uow:
            assert {lot.id: lot.expires_at for lot in uow.lots("M1")}[soon] == T0 + DAY
            # A lot opened in the same unit of work, just before, moves too.
            fresh = rolling(uow, 2, "f", 2)
            entry = uow.append(roll)
            uow.commit()
        assert (entry.redates, entry.expires_at, entry.rolling) == ((), T0 + 3 * DAY, True)
        with store.unit_of_work(readonly=True) as uow:
            dates = {lot.id: lot.expires_at for lot in uow.lots("M1")}
            moved = dict.fromkeys((soon, pending, fresh), T0 + 3 * DAY)
            assert dates == {**moved, later: T0 + 5 * DAY, plain: T0 + DAY}
            closed = uow.lot("M1", spent)
            assert closed is not None and closed.expires_at == T0 + DAY  # a roll moves open lots only
            assert [lot.expires_at for lot in uow.lots("M2")] == [T0 + DAY]
            assert [lot.id for lot in uow.due_lots(T0 + 3 * DAY)] == [plain, theirs, soon, pending, fresh]
            history = uow.history("M1")
            assert history[-1] == entry
            assert uow.lots("M1") == lots_of(history)
        # A roll's date is an instant: a naive one is refused and nothing is written.
        before = snapshot(store, ["M1", "M2"])
        with pytest.raises(StorageError) as info, store.unit_of_work() as uow:
            uow.append(attrs.evolve(roll, expires_at=(T0 + 9 * DAY).replace(tzinfo=None)))
        assert info.value.field == "expires_at"
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
