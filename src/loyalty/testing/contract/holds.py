"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Holds: found open by member and by date, each ended exactly once."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import attrs
import pytest

from loyalty.engine import Engine
from loyalty.errors import (
    HoldEnded,
    StorageError,
)
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import EntryKind, balance_of
from loyalty.lots import lots_of
from loyalty.members import Member
from loyalty.program import Program
from loyalty.store import Store
from loyalty.testing.contract._base import CET, DAY, T0, ContractBase, adjust_posting


class HoldsContract(ContractBase):
    """Holds: found open by member and by date, each ended exactly once."""

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
                    adjust_posting("M1", -15, "h"), kind=EntryKind.HOLD, draws=((first, -10), (second, -5))
                )
            )
            uow.commit()
        with store.unit_of_work() as uow:
            assert [lot.id for lot in uow.lots("M1")] == [second]
            back = uow.append(
                attrs.evolve(
                    adjust_posting("M1", 12, "h"), kind=EntryKind.RELEASE, draws=((second, 5), (first, 7))
                )
            )
            assert back.draws == ((second, 5), (first, 7))
            with pytest.raises(StorageError):  # a lot never takes back more than it was earned with
                uow.append(attrs.evolve(adjust_posting("M1", 4, "x"), draws=((first, 4),)))
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
