"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Tallies: exact sums, valid keys, writers serialized."""

from __future__ import annotations

import decimal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from loyalty.earning_keys import visits_key
from loyalty.errors import (
    InvalidInput,
    TransientStorageError,
)
from loyalty.habits import seen_key, spent_key
from loyalty.returns import owed_key
from loyalty.store import Store
from loyalty.tallies import Tally
from loyalty.testing.contract._base import THIRD, ContractBase, adjust_posting


class TalliesContract(ContractBase):
    """Tallies: exact sums, valid keys, writers serialized."""

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
        """Workers share a budget, which must never be overspent, and race for a new key each round
        (every other round a key of a member's own, ``cap|round|<n>|M1``, which an adapter may keep
        apart from the budget's)."""
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        workers, cycles = self.tally_workers, self.tally_cycles
        budget, cost = Decimal(100), Decimal("0.7")
        fits = min(workers * cycles, int(budget / cost))
        setup = store_factory()
        stores = [store_factory() for _ in range(workers)]
        start = threading.Barrier(workers)
        rounds = [f"cap|round|{i}|M1" if i % 2 else f"round:{i}" for i in range(cycles)]

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
                keys = ["budget", "visits", rounds[i]]
                # Workers name the keys in different orders: the adapter must not deadlock.
                keys = keys[n % 3 :] + keys[: n % 3]
                for attempt in range(100):
                    try:
                        granted += cycle(stores[n], keys, rounds[i])
                        break
                    except TransientStorageError:
                        if attempt == 99:
                            raise
            return granted

        try:
            with ThreadPoolExecutor(workers) as pool:
                granted = sum(pool.map(work, range(workers)))
            assert granted == fits
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

    def test_a_members_own_tallies_add_up_wherever_the_adapter_keeps_them(self, store: Store) -> None:
        """The tallies every purchase touches (visits, first and last visit, what it owes, a
        month's spend) may live in the member's row (as on SQLite): written before the member
        enrolled, for months in any order, rolled back or read in the unit of work that wrote
        them, they add up as any other tally."""
        visits, owed = visits_key("M9"), owed_key("M9")
        march, april, may, june = (spent_key("M9", f"2024-0{month}") for month in (3, 4, 5, 6))
        with store.unit_of_work() as uow:
            uow.add_tallies({visits: Tally(2, Decimal(0)), may: Tally(1, Decimal("5.5"))})
            uow.commit()
        self._enroll(store, "M9")
        with store.unit_of_work() as uow:
            assert uow.balance("M9", for_update=True) == 0
            assert uow.tallies([visits, may, owed]) == {
                visits: Tally(2, Decimal(0)),
                may: Tally(1, Decimal("5.5")),
                owed: Tally(),
            }
            uow.add_tallies({visits: Tally(1, Decimal(0)), may: Tally(1, Decimal(1))})
            uow.add_tallies({april: Tally(1, Decimal(2)), june: Tally(1, Decimal("0.25"))})
            uow.append(adjust_posting("M9", 5, "a"))
            uow.add_tallies({march: Tally(1, THIRD), owed: Tally(0, Decimal(3))})
            assert uow.tallies([visits, june, may]) == {
                visits: Tally(3, Decimal(0)),
                june: Tally(1, Decimal("0.25")),
                may: Tally(2, Decimal("6.5")),
            }
            uow.commit()
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.add_tallies({visits: Tally(5, Decimal(0)), spent_key("M9", "2024-07"): Tally(1, Decimal(1))})
            raise RuntimeError("crash before the commit")
        with store.unit_of_work() as uow:
            uow.add_tallies({june: Tally(1, Decimal(1)), may: Tally(0, Decimal("-6.5"))})
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies([visits, march, april, may, june, owed, spent_key("M9", "2024-07")]) == {
                visits: Tally(3, Decimal(0)),
                march: Tally(1, THIRD),
                april: Tally(1, Decimal(2)),
                may: Tally(2, Decimal(0)),
                june: Tally(2, Decimal("1.25")),
                owed: Tally(0, Decimal(3)),
                spent_key("M9", "2024-07"): Tally(),
            }
            assert uow.balance("M9") == 5

    def test_an_add_that_cannot_be_exact_adds_nothing(self, store: Store) -> None:
        """A sum that would need more than 1,000 digits is refused, and none of the call's other
        deltas is added, wherever the adapter keeps the tallies."""
        self._enroll(store, "M8")
        with store.unit_of_work() as uow:
            uow.add_tallies({seen_key("M8"): Tally(0, Decimal("1E+999"))})
            uow.commit()
        untouched = {visits_key("M8"): Tally(), "other": Tally()}
        with store.unit_of_work() as uow:
            uow.balance("M8", for_update=True)
            with pytest.raises(InvalidInput):
                uow.add_tallies(
                    {visits_key("M8"): Tally(1), "other": Tally(1), seen_key("M8"): Tally(0, Decimal("1E-5"))}
                )
            assert uow.tallies(list(untouched)) == untouched
            uow.add_tallies({"other": Tally(1)})
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies([*untouched, seen_key("M8")]) == {
                visits_key("M8"): Tally(),
                "other": Tally(1),
                seen_key("M8"): Tally(0, Decimal("1E+999")),
            }
