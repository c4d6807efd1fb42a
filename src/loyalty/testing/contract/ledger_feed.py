"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

The ledger feed: every member's entries by ``seq``, a reader paging by it never skipping one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from loyalty.store import Store, UnitOfWork
from loyalty.testing.contract._base import ContractBase, adjust_posting, debit


class LedgerFeedContract(ContractBase):
    """The ledger feed: every member's entries by ``seq``, none skipped however late it committed."""

    def test_the_feed_reads_every_members_entries_by_seq_with_a_cursor(self, store: Store) -> None:
        self._enroll(store, "M1")
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 10, "a"))
            uow.append(adjust_posting("M2", 7, "b"))
            uow.commit()
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.append(adjust_posting("M2", 99, "lost"))
            raise RuntimeError("the till crashed")
        with store.unit_of_work() as uow:
            debit(uow, "M1", -4, "c")
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            feed = uow.entries()
            history = sorted(uow.history("M1") + uow.history("M2"), key=lambda entry: entry.seq)
            assert feed == history
            assert [(e.member_id, e.points, e.balance_after) for e in feed] == [
                ("M1", 10, 10),
                ("M2", 7, 7),
                ("M1", -4, 6),
            ]
            first, second, third = (entry.seq for entry in feed)
        with store.unit_of_work(readonly=True) as uow:
            assert [e.seq for e in uow.entries(after=first)] == [second, third]
        with store.unit_of_work(readonly=True) as uow:
            assert [e.seq for e in uow.entries(after=first, limit=1)] == [second]
        with store.unit_of_work(readonly=True) as uow:
            assert uow.entries(after=third) == []

    def test_last_seq_is_the_highest_entry_number_drawn(self, store: Store) -> None:
        self._enroll(store, "M1")
        with store.unit_of_work() as uow:
            assert uow.last_seq() == 0
            uow.append(adjust_posting("M1", 10, "a"))
            uow.commit()
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 99, "lost"))
            raise RuntimeError("the till crashed")
        with store.unit_of_work() as uow:
            (first,) = uow.history("M1")
            # A number drawn by a writer that rolled back may count (PostgreSQL's sequence).
            assert uow.last_seq() >= first.seq
            uow.append(adjust_posting("M1", 5, "b"))
            uow.commit()
        with store.unit_of_work() as uow:
            drawn = uow.last_seq()
        with store.unit_of_work(readonly=True) as uow:
            assert drawn == uow.history("M1")[-1].seq

    def test_a_reader_paging_the_feed_never_skips_an_entry_that_committed_late(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        workers, rounds = 4, 12
        setup = store_factory()
        for n in range(workers):
            self._enroll(setup, f"M{n}")

        def write(uow: UnitOfWork, n: int, r: int) -> list[int]:
            # Each its own member: nothing orders the writers but the store.
            return [uow.append(adjust_posting(f"M{n}", 1, f"w{n}-{r}-{k}")).seq for k in range(1 + r % 2)]

        def read(uow: UnitOfWork, after: int) -> list[int]:
            return [e.seq for e in uow.entries(after=after, limit=7)]

        try:
            seen, committed = self._poll_while_writing(
                store_factory, write, read, workers=workers, rounds=rounds
            )
            assert len(committed) == workers * sum(1 + r % 2 for r in range(rounds))
            # Once each, in order, and none left behind by one that committed after a later one.
            assert seen == committed
        finally:
            setup.close()
