"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

The purchases that wrote no entry (:meth:`loyalty.store.OperationsRole.purchases_without_entry`),
which a history export slots in among the commands the ledger feed names."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from loyalty.engine import Engine
from loyalty.ledger import EntryKind
from loyalty.purchases import Line, Purchase
from loyalty.store import Operation, Store, UnitOfWork
from loyalty.testing.contract._base import CET, DAY, T0, ContractBase, adjust_posting


def _sale(key: str, at: datetime, recorded: datetime, member_id: str = "M1") -> Operation:
    request: dict[str, Any] = {"member_id": member_id, "at": at.isoformat(), "lines": [], "currency": "EUR"}
    return Operation(key, "purchase", request, {"points": 0}, recorded)


def _pages(uow: UnitOfWork, limit: int) -> list[str]:
    """Every key listed, page after page of ``limit``."""
    keys: list[str] = []
    after = None
    while True:
        page = uow.purchases_without_entry(after=after, limit=limit)
        assert len(page) <= limit
        keys.extend(op.key for op in page)
        if len(page) < limit:
            return keys
        after = page[-1]


class NoEntryContract(ContractBase):
    """The purchases that wrote no entry, in the order a history export merges them."""

    def test_the_purchases_that_wrote_no_entry_are_listed_by_recording_then_time(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            # Recorded later, rung up earlier: the recording goes first.
            uow.add_operation(_sale("P-late", T0, T0 + 2 * DAY))
            # Recorded at one instant (in another offset): the purchase's time, then the key.
            uow.add_operation(_sale("P-b", T0 - DAY, (T0 + DAY).astimezone(CET), "M2"))
            uow.add_operation(_sale("P-a", T0 - DAY, T0 + DAY))
            uow.add_operation(_sale("P-first", T0 - 2 * DAY, (T0 + DAY).astimezone(CET)))
            uow.add_operation(_sale("P-early", T0 + 3 * DAY, T0))
            # Not a purchase: never listed, entry or not.
            uow.add_operation(Operation("X1", "event", {"member_id": "M1", "at": T0.isoformat()}, {}, T0))
            uow.commit()
        expected = ["P-early", "P-first", "P-a", "P-b", "P-late"]
        with store.unit_of_work(readonly=True) as uow:
            listed = uow.purchases_without_entry(limit=10)
            assert [op.key for op in listed] == expected
            assert listed[0] == _sale("P-early", T0 + 3 * DAY, T0)
            assert uow.purchases_without_entry(limit=2) == listed[:2]
            assert uow.purchases_without_entry(after=listed[1], limit=2) == listed[2:4]
            assert uow.purchases_without_entry(after=listed[-1], limit=10) == []
            for limit in (1, 2, 3, 5):
                assert _pages(uow, limit) == expected

    def test_a_purchase_with_an_entry_under_its_key_is_not_listed(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            # Its record kept with its entry where the adapter can (the same key, time and instant).
            assert uow.operation("P-earned") is None
            uow.append(attrs.evolve(adjust_posting("M1", 5, "P-earned"), kind=EntryKind.EARN))
            uow.add_operation(_sale("P-earned", T0, T0))
            # An entry of another time under its key (a tier move's, say): kept apart, not listed.
            assert uow.operation("P-moved") is None
            uow.append(attrs.evolve(adjust_posting("M1", 0, "P-moved", at=T0 - DAY), kind=EntryKind.TIER))
            uow.add_operation(_sale("P-moved", T0, T0))
            # Its entry written in another unit of work: not listed either.
            uow.add_operation(_sale("P-later", T0, T0))
            uow.add_operation(_sale("P-none", T0, T0))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 3, "P-later"))
            # Read in the unit of work that wrote the entry: it counts already.
            assert [op.key for op in uow.purchases_without_entry(limit=10)] == ["P-none"]
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            for limit in (1, 2, 10):
                assert _pages(uow, limit) == ["P-none"]

    def test_the_engines_purchase_that_earned_nothing_is_listed(self, engine: Engine) -> None:
        engine.enroll("M1", at=T0)
        engine.record_purchase(Purchase("T1", "M1", T0, [Line("x", 3, Decimal("4.15"))], "EUR"))
        small = Purchase("T2", "M1", T0, [Line("gum", 1, Decimal("0.50"))], "EUR")
        assert engine.record_purchase(small).points == 0
        engine.record_purchase(Purchase("T3", "M1", T0, [Line("x", 1, Decimal("4.15"))], "EUR"))
        with engine.store.unit_of_work(readonly=True) as uow:
            [listed] = uow.purchases_without_entry(limit=10)
            assert listed == uow.operation("T2")
