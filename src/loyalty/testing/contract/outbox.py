"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

The outbox: events numbered in commit order, kept only with their change."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest

from loyalty.errors import InvalidInput
from loyalty.store import Store, UnitOfWork
from loyalty.testing.contract._base import CET, ContractBase, adjust_posting


class OutboxContract(ContractBase):
    """The outbox: events numbered in commit order, kept only with their change."""

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
            uow.append(adjust_posting("M1", 5, "a"))
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

        def write(uow: UnitOfWork, n: int, r: int) -> list[int]:
            uow.balance("M1", for_update=n % 2 == 0)
            for k in range(1 + r % 3):
                uow.add_event(self._event(n * 1000 + r * 10 + k))
            return []  # numbered at commit

        def read(uow: UnitOfWork, after: int) -> list[int]:
            page = [e.seq for e in uow.events(after=after)]
            # Contiguous from the cursor: nothing committed later slips in below it.
            assert page == list(range(after + 1, after + 1 + len(page)))
            return page

        try:
            seen, _ = self._poll_while_writing(store_factory, write, read, workers=workers, rounds=rounds)
            expected = workers * sum(1 + r % 3 for r in range(rounds))
            assert seen == list(range(1, expected + 1))
        finally:
            setup.close()
