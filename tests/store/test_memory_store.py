"""The memory adapter passes the shipped store contract, and refuses a bad tally or rule id even
after it stopped checking the keys and rule lists it has already seen."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import pytest

from loyalty import Engine, Program
from loyalty.errors import InvalidInput
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.simulation import generate
from loyalty.store import Store, Tally
from loyalty.store.memory import MemoryStore
from loyalty.testing.contract import StoreContract


class TestMemoryStore(StoreContract):
    durable = False

    @pytest.fixture
    def store_factory(self) -> Callable[[], Store]:
        shared = MemoryStore()
        return lambda: shared


def test_add_tallies_refuses_what_is_not_a_tally() -> None:
    store = MemoryStore()
    with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
        uow.add_tallies({"k": (1, Decimal(1))})  # type: ignore[dict-item]
    assert info.value.field == "deltas"


def test_a_stored_key_is_not_checked_again_but_a_bad_value_or_key_still_is() -> None:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.add_tallies({"k": Tally(1, Decimal(1))})
        uow.commit()
    with store.unit_of_work() as uow:
        uow.add_tallies({"k": Tally(1, Decimal(1))})
        assert uow.tallies(["k", "new"]) == {"k": Tally(2, Decimal(2)), "new": Tally()}
        with pytest.raises(InvalidInput) as info:
            uow.add_tallies({"k": (1, Decimal(1))})  # type: ignore[dict-item]
        assert info.value.field == "deltas"
        for bad in ("a\x00b", "x" * 601):
            with pytest.raises(InvalidInput) as info:
                uow.add_tallies({"k": Tally(1, Decimal(1)), bad: Tally(1, Decimal(1))})
            assert info.value.field == "key"
            with pytest.raises(InvalidInput):
                uow.tallies(["k", bad])
        # Nothing of a refused call was added.
        assert uow.tallies(["k"]) == {"k": Tally(2, Decimal(2))}


def test_rule_ids_are_checked_on_every_append_whatever_was_appended_before() -> None:
    store = MemoryStore()
    at = datetime(2024, 3, 1, tzinfo=UTC)
    with store.unit_of_work() as uow:
        uow.add_member(Member("M1", at))
        posting = Posting("M1", EntryKind.EARN, 5, at, at, "T1", "purchase", rules=("base",))
        uow.append(posting)
        uow.append(attrs.evolve(posting, source_id="T2"))
        refused: list[Any] = [("a b",), ("base", 1), "base", ["base", "a\x00"]]
        for bad in refused:
            with pytest.raises(InvalidInput) as info:
                uow.append(attrs.evolve(posting, source_id="T3", rules=bad))
            assert info.value.field == "rules"
        assert uow.balance("M1") == 10


def test_a_recorded_purchase_leaves_the_collector_few_objects_to_walk() -> None:
    # Every object the store keeps is walked by each full collection: kept as JSON-shaped
    # dicts, a purchase's idempotency record alone was about six of them.
    workload = generate(members=20, purchases=600, seed=3)
    store = MemoryStore()
    engine = Engine(Program("Walk", "EUR"), store)
    for enrollment in workload.enrollments:
        engine.enroll(enrollment.member_id, at=enrollment.at)
    sales = workload.sales
    for purchase in sales[:100]:
        engine.record_purchase(purchase)
    gc.collect()
    before = len(gc.get_objects())
    for purchase in sales[100:]:
        engine.record_purchase(purchase)
    gc.collect()
    per_purchase = (len(gc.get_objects()) - before) / (len(sales) - 100)
    # The entry, its lot and a share of the tallies and indexes.
    assert per_purchase < 4
