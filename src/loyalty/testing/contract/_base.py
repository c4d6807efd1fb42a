"""What every part of the store contract shares: fixtures, clock, helpers and hostile strings."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import ClassVar

import attrs
import pytest

from loyalty.engine import Engine
from loyalty.errors import TransientStorageError
from loyalty.holds import Hold
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import draw
from loyalty.members import Member
from loyalty.outbox import EventKind, NewEvent
from loyalty.program import Program
from loyalty.store import Store, UnitOfWork

__all__ = ["CET", "DAY", "HOSTILE_STRINGS", "T0", "THIRD", "ContractBase", "adjust_posting", "debit"]

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


def adjust_posting(member_id: str, points: int, source: str, *, at: datetime = T0) -> Posting:
    return Posting(member_id, EntryKind.ADJUST, points, at, T0, source, "contract test", actor="tester")


def debit(uow: UnitOfWork, member_id: str, points: int, source: str) -> Entry:
    """Append a debit of ``points`` (negative), drawn from the member's lots in spending order."""
    draws = draw(uow.lots(member_id), -points, T0, pending=True)
    return uow.append(attrs.evolve(adjust_posting(member_id, points, source), draws=draws))


class ContractBase:
    """The fixtures and helpers every part of the contract uses; its options are the adapter's."""

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
    racing_holds: ClassVar[int] = 400
    #: Threads x read-for-update-then-add cycles in the concurrent tally test.
    tally_workers: ClassVar[int] = 8
    tally_cycles: ClassVar[int] = 25

    def _poll_while_writing(
        self,
        store_factory: Callable[[], Store],
        write: Callable[[UnitOfWork, int, int], list[int]],
        read: Callable[[UnitOfWork, int], list[int]],
        *,
        workers: int,
        rounds: int,
    ) -> tuple[list[int], list[int]]:
        """What a reader paging with a cursor saw while writers committed, in the order it saw it,
        and the numbers the writers committed, sorted.

        Writer ``n`` runs ``write(uow, n, r)`` for each round ``r`` (the numbers it wrote) in a
        unit of work that dawdles up to 3 ms before it commits (again after a transient
        failure), each writer on a handle of its own; the reader's ``read(uow, after)`` gives the
        numbers of a page after ``after``, and it reads until an empty page once the writers are
        done.
        """
        stores = [store_factory() for _ in range(workers + 1)]
        done = threading.Event()
        written: list[int] = []

        def writer(n: int) -> None:
            for r in range(rounds):
                while True:
                    try:
                        with stores[n].unit_of_work() as uow:
                            numbers = write(uow, n, r)
                            time.sleep(random.uniform(0, 0.003))
                            uow.commit()
                        written.extend(numbers)
                        break
                    except TransientStorageError:
                        continue

        def reader() -> list[int]:
            seen: list[int] = []
            while True:
                finished = done.is_set()
                with stores[workers].unit_of_work(readonly=True) as uow:
                    page = read(uow, seen[-1] if seen else 0)
                # A page that does not begin after its cursor would be read again and again.
                assert not (seen and page) or page[0] > seen[-1], (
                    f"a page after {seen[-1]} began with {page[0]}"
                )
                seen += page
                if finished and not page:
                    return seen

        try:
            with ThreadPoolExecutor(workers + 1) as pool:
                polled = pool.submit(reader)
                list(pool.map(writer, range(workers)))
                done.set()
                return polled.result(), sorted(written)
        finally:
            for store in stores:
                store.close()

    def _enroll(self, store: Store, member_id: str = "M1") -> Member:
        member = Member(member_id, T0)
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.commit()
        return member

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
            adjust_posting(member_id, points, source),
            vests_at=None if vests is None else T0 + vests,
            expires_at=None if expires is None else T0 + expires,
        )
        return uow.append(posting)

    def _event(self, n: int, member_id: str = "M1") -> NewEvent:
        return NewEvent(
            EventKind.TIER_CHANGED, member_id, T0.astimezone(CET), T0, f"s{n}", {"n": n, "x": [1, "a"]}
        )

    def _hold(self, uow: UnitOfWork, hold_id: str, points: int, lot: int, *, member_id: str = "M1") -> Hold:
        hold = Hold(hold_id, member_id, points, ((lot, -points),), T0.astimezone(CET), T0 + DAY)
        uow.append(
            attrs.evolve(adjust_posting(member_id, -points, hold_id), kind=EntryKind.HOLD, draws=hold.draws)
        )
        uow.add_hold(hold)
        return hold
