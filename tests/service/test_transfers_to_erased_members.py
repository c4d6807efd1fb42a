"""A transfer whose receiver's part is written after an erasure, on every adapter: an erased
receiver is credited nothing (the points go back to the sender, saying why), and a receiver of
an erased sender reads what the erasure makes of a transfer written whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any

import pytest

from loyalty import Engine, EntryKind, MemberErased, Store, balance_of, open_store
from loyalty.lots import lots_of
from loyalty.store import Operation, UnitOfWork
from loyalty.testing.clock import ManualClock
from loyalty.transfers import RECEIVED
from tests.service.helpers import T0
from tests.service.test_transfer_parts import half_sent
from tests.service.test_transfers import club


def returned(receiver: str) -> str:
    """The text of the points sent back to the sender: it names the receiver by its pseudonym."""
    return f"transfer to {receiver} returned: {receiver} was erased"


def agrees(engine: Engine, *members: str) -> None:
    """Each member's balance and lots are its ledger's, and every chain verifies."""
    for member in members:
        history = engine.history(member)
        assert engine.balance(member).total == balance_of(history)
        assert engine.lots(member) == lots_of(history)
    assert engine.verify().ok


def test_an_erased_receiver_is_credited_nothing_and_the_points_go_back_to_the_sender(
    any_store: Store,
) -> None:
    engine, clock, _ = half_sent(any_store)
    hidden = engine.erase("B", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    clock.advance(hours=1)
    assert engine.run_due().finished_transfers == 1
    assert (engine.balance("A").total, engine.balance(hidden).total) == (80, 0)
    assert engine.history(hidden) == []
    assert [(e.kind, e.points, e.reason, e.source_id) for e in engine.history("A")[-2:]] == [
        (EntryKind.TRANSFER, 50, returned(hidden), "X1"),
        (EntryKind.TRANSFER, 10, returned(hidden), "X1"),
    ]
    # The points keep the dates they had, as the receiver's lots would have.
    assert sorted((lot.remaining, lot.expires_at) for lot in engine.lots("A")) == [
        (10, T0 + timedelta(days=35)),
        (20, T0 + timedelta(days=35)),
        (50, T0 + timedelta(days=30)),
    ]
    agrees(engine, "A", hidden)
    # Nothing is left to finish, and a retry is refused as for any command about an erased member.
    assert engine.run_due().finished_transfers == 0
    with pytest.raises(MemberErased):
        engine.transfer("A", "B", 60, id="X1", at=T0 + timedelta(days=12), reason="family pooling")
    assert engine.balance("A").total == 80


def test_a_receiver_of_an_erased_sender_reads_as_after_a_transfer_written_whole(any_store: Store) -> None:
    engine, clock, _ = half_sent(any_store)
    hidden = engine.erase("A", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    assert engine.run_due().finished_transfers == 1
    # Not "transfer from A: None": what the erasure makes of a receiver's entries of a transfer.
    other, other_clock = club(open_store("memory://"))
    other.transfer("A", "B", 60, id="X1", at=other_clock(), reason="family pooling")
    other.erase("A", id="E1", at=other_clock(), reason="asked", actor="dpo")
    assert [(e.kind, e.points, e.reason, e.expires_at) for e in engine.history("B")] == [
        (e.kind, e.points, e.reason, e.expires_at) for e in other.history("B")
    ]
    assert [e.reason for e in engine.history("B")] == ["erased", "erased"]
    assert engine.balance("B").total == 60
    agrees(engine, hidden, "B")


def test_points_sent_between_two_members_both_erased_go_to_neither(any_store: Store) -> None:
    engine, clock, _ = half_sent(any_store)
    sender, receiver = (
        engine.erase(member, id=key, at=clock(), reason="asked", actor="dpo").pseudonym
        for key, member in (("E1", "A"), ("E2", "B"))
    )
    assert engine.run_due().finished_transfers == 1
    assert (engine.balance(sender).total, engine.balance(receiver).total) == (20, 0)
    with any_store.unit_of_work(readonly=True) as uow:
        kept = uow.operation("X1" + RECEIVED)
    assert kept is not None and kept.result == {"returned": [], "receiver_erased": True}
    assert engine.run_due().finished_transfers == 0
    agrees(engine, sender, receiver)


class _Watching:
    """A unit of work that tells its store when a record of the kind it watches is added."""

    def __init__(self, uow: UnitOfWork, kind: str, seen: Callable[[], None]) -> None:
        self._uow = uow
        self._kind = kind
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def add_operation(self, operation: Operation) -> None:
        self._uow.add_operation(operation)
        if operation.kind == self._kind:
            self._seen()


class ErasingStore:
    """A store that runs ``between`` once, before the unit of work after the first part of a
    command written in two (by default a transfer's: its sender's part)."""

    def __init__(self, store: Store, kind: str = "transfer") -> None:
        self.store = store
        self.kind = kind
        self.between: Callable[[], object] | None = None
        self._due = False

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        return self._unit(readonly)

    def _seen(self) -> None:
        self._due = True

    @contextmanager
    def _unit(self, readonly: bool) -> Iterator[Any]:
        if self._due and self.between is not None:
            between, self.between, self._due = self.between, None, False
            between()
        with self.store.unit_of_work(readonly=readonly) as uow:
            yield _Watching(uow, self.kind, self._seen)

    def close(self) -> None:
        self.store.close()


def test_a_transfer_whose_receiver_is_erased_between_its_parts_is_refused_with_the_points_back(
    any_store: Store,
) -> None:
    wrapped = ErasingStore(any_store)
    engine, clock = club(wrapped)  # type: ignore[arg-type]
    at: ManualClock = clock
    erased: list[str] = []
    wrapped.between = lambda: erased.append(
        engine.erase("B", id="E1", at=at(), reason="asked", actor="dpo").pseudonym
    )
    with pytest.raises(MemberErased) as refused:
        engine.transfer("A", "B", 60, id="X1", at=clock(), reason="family pooling")
    assert refused.value.field == "to_member"
    [hidden] = erased
    assert (engine.balance("A").total, engine.balance(hidden).total) == (80, 0)
    assert [e.reason for e in engine.history("A")[-2:]] == [returned(hidden), returned(hidden)]
    assert engine.run_due().finished_transfers == 0
    agrees(engine, "A", hidden)


class _Blind:
    """A unit of work that does not see the records and events of command ``key``, as an erasure's
    searches do not see a sender's part not yet committed (PostgreSQL, read committed)."""

    def __init__(self, uow: UnitOfWork, key: str) -> None:
        self._uow = uow
        self._key = key

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def member_records(self, member_id: str) -> list[Any]:
        return [record for record in self._uow.member_records(member_id) if record.key != self._key]

    def mentioning(self, member_id: str) -> tuple[list[Any], list[Any]]:
        records, events = self._uow.mentioning(member_id)
        return (
            [record for record in records if record.key != self._key],
            [event for event in events if event.source_id != self._key],
        )


class BlindStore:
    """A store whose units of work do not see command ``key`` while ``blind``."""

    def __init__(self, store: Store, key: str) -> None:
        self.store = store
        self.key = key
        self.blind = False

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        return self._unit(readonly)

    @contextmanager
    def _unit(self, readonly: bool) -> Iterator[Any]:
        with self.store.unit_of_work(readonly=readonly) as uow:
            yield _Blind(uow, self.key) if self.blind else uow

    def close(self) -> None:
        self.store.close()


def test_a_receiver_erased_unseen_by_its_erasure_during_the_senders_part_gets_the_points_sent_back(
    any_store: Store,
) -> None:
    # The state a PostgreSQL erasure of B left when it searched while A's part of X1 was not yet
    # committed: B is under its pseudonym, X1's record still names B by its old id.
    blind = BlindStore(any_store, "X1")
    engine, clock, _ = half_sent(blind)  # type: ignore[arg-type]
    blind.blind = True
    hidden = engine.erase("B", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    blind.blind = False
    with any_store.unit_of_work(readonly=True) as uow:
        sent = uow.operation("X1")
    assert sent is not None and sent.request["to_member"] == "B"
    clock.advance(hours=1)

    assert engine.run_due().finished_transfers == 1

    assert (engine.balance("A").total, engine.balance(hidden).total) == (80, 0)
    assert [(e.points, e.reason) for e in engine.history("A")[-2:]] == [
        (50, returned(hidden)),
        (10, returned(hidden)),
    ]
    with any_store.unit_of_work(readonly=True) as uow:
        kept = uow.operation("X1" + RECEIVED)
    assert kept is not None and kept.request["to_member"] == hidden and kept.result["receiver_erased"]
    assert engine.run_due().finished_transfers == 0
    agrees(engine, "A", hidden)
    with pytest.raises(MemberErased) as refused:
        engine.transfer("A", "B", 60, id="X1", at=T0 + timedelta(days=12), reason="family pooling")
    assert refused.value.field == "to_member" and engine.balance("A").total == 80
