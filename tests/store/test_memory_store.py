"""The memory adapter passes the shipped store contract, refuses a bad tally or rule id even
after it stopped checking the keys and rule lists it has already seen, and reads back the
records it packed as they were given."""

from __future__ import annotations

import gc
import marshal
import pickle
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
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
from loyalty.store.memory.data import pack, unpack
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


class _Kind(StrEnum):
    PLAIN = "plain"


@pytest.mark.parametrize(
    ("request_", "result"),
    [
        # A purchase's record: plain dicts, lists, tuples, strings, numbers, None and booleans.
        (
            {"member_id": "M1", "lines": [{"sku": "A", "quantity": "2", "labels": {"c": "r"}}]},
            {"points": 3, "breakdown": [], "context": {"k": (1, "2.5")}, "guest": True, "tier": None},
        ),
        # Values marshal refuses are pickled instead and keep their types.
        ({"kind": _Kind.PLAIN, "big": 2**80}, {"amount": Decimal("2.50"), "ordered": OrderedDict(a=1)}),
    ],
)
def test_a_kept_record_reads_back_equal_with_its_types_and_as_a_fresh_copy(
    request_: dict[str, Any], result: dict[str, Any]
) -> None:
    body = pack(request_, result)
    first, second = unpack(body), unpack(body)
    assert first == (request_, result) == second
    for read, given in zip(first, (request_, result), strict=True):
        for name, value in given.items():
            assert type(read[name]) is type(value)
    first[0]["member_id"] = "changed"
    assert unpack(body)[0].get("member_id") == request_.get("member_id")


def test_a_kept_record_is_marshalled_where_it_can_be_and_pickled_where_not() -> None:
    assert marshal.loads(pack({"a": 1}, {"b": [2]})) == ({"a": 1}, {"b": [2]})
    assert pickle.loads(pack({"a": _Kind.PLAIN}, {})) == ({"a": _Kind.PLAIN}, {})


class TestSpillingMemoryStore(StoreContract):
    """A replay's memory store (``spill``): its operation records in a temporary SQLite file,
    each written there at once (a batch of one), pass the same contract."""

    durable = False

    @pytest.fixture
    def store_factory(self) -> Iterator[Callable[[], Store]]:
        shared = MemoryStore(spill=1)
        yield lambda: shared
        shared.close()  # its temporary file's connection (Python 3.13 warns of one left open)
