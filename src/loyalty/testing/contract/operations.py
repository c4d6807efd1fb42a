"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Operations (idempotency records), hostile strings and read-only units of work."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import pytest

from loyalty.engine import Engine
from loyalty.errors import (
    LoyaltyError,
    StorageError,
)
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.outbox import EventKind, NewEvent
from loyalty.purchases import Line, Purchase
from loyalty.referrals import Referral
from loyalty.store import Operation, Store, StoredProgram, UnitOfWork
from loyalty.tallies import Tally
from loyalty.testing.contract._base import (
    CET,
    DAY,
    HOSTILE_STRINGS,
    T0,
    ContractBase,
    adjust_posting,
    debit,
)
from loyalty.testing.snapshots import snapshot
from loyalty.tiers import TierState
from loyalty.transfers import RECEIVED


class OperationsContract(ContractBase):
    """Operations (idempotency records), hostile strings and read-only units of work."""

    def test_operation_round_trips(self, store: Store) -> None:
        request: dict[str, Any] = {"member_id": "M1", "lines": [{"sku": "ü'\"", "q": "1.5"}], "n": None}
        result: dict[str, Any] = {"points": 12, "nested": {"deep": [1, 2, {"x": "🎉"}]}, "flag": True}
        with store.unit_of_work() as uow:
            uow.add_operation(Operation("T1-000001", "purchase", request, result, T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.operation("T1-000001") == Operation("T1-000001", "purchase", request, result, T0)
            assert uow.operation("T1-000002") is None

    def test_an_operation_is_kept_as_it_was_when_added(self, store: Store) -> None:
        # A caller that reuses or edits its dicts afterwards must not rewrite a kept
        # receipt, and one that edits what it read must not rewrite it either.
        request: dict[str, Any] = {"member_id": "M1", "lines": [{"sku": "A", "quantity": "1"}]}
        result: dict[str, Any] = {"points": 12, "breakdown": [{"rule": "base", "points": "12"}]}
        with store.unit_of_work() as uow:
            uow.add_operation(Operation("T1-000001", "purchase", request, result, T0))
            request["lines"][0]["sku"] = "B"
            result["breakdown"].clear()
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            read = uow.operation("T1-000001")
            assert read is not None
            read.result["breakdown"].clear()
        with store.unit_of_work(readonly=True) as uow:
            kept = uow.operation("T1-000001")
            assert kept is not None
            assert kept.request == {"member_id": "M1", "lines": [{"sku": "A", "quantity": "1"}]}
            assert kept.result == {"points": 12, "breakdown": [{"rule": "base", "points": "12"}]}

    def test_an_operation_and_its_members_balance_are_read_together(self, store: Store) -> None:
        self._enroll(store)
        kept = Operation("T1-000001", "purchase", {"member_id": "M1"}, {"points": 3}, T0)
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 25, "A1"))
            uow.add_operation(kept)
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.operation_and_lock("T1-000002", "M1") == (None, 25)
            assert uow.operation_and_lock("T1-000001", "M1") == (kept, 25)
            assert uow.operation_and_lock("T1-000002", "nobody") == (None, None)
            # Locked as by balance(for_update=True): the unit of work decides and writes on it.
            uow.add_tallies({"visits|M1": Tally(1)})
            assert uow.append(adjust_posting("M1", 5, "A2")).balance_after == 30
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.operation_and_lock("T1-000001", "M1") == (kept, 30)
            assert uow.tallies(["visits|M1"]) == {"visits|M1": Tally(1)}

    @pytest.mark.parametrize("first", [-5, 0, 7])
    def test_entries_after_a_lookup_and_lock_come_back_in_the_order_appended(
        self, store: Store, first: int
    ) -> None:
        """Whatever an adapter does ahead of time when a command begins with a lookup and a lock
        (PostgreSQL draws the number of the member's next entry), the entries come back in the
        order appended, with the balances each left, and another member's are untouched."""
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 10, "A0"))
            uow.commit()
        with store.unit_of_work() as uow:
            assert uow.operation_and_lock("K1", "M1") == (None, 10)
            made = []
            if first < 0:
                made.append(debit(uow, "M1", first, "A1"))  # draws on the lot it checks first
            elif first:
                made.append(uow.append(adjust_posting("M1", first, "A1")))
            made += [uow.append(adjust_posting("M1", points, f"A{points}")) for points in (3, 4)]
            other = uow.append(adjust_posting("M2", 2, "B1"))
            left = list(itertools.accumulate((e.points for e in made), initial=10))[1:]
            assert [e.balance_after for e in made] == left
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            history = uow.history("M1")
            assert history[1:] == made
            assert [e.seq for e in history] == sorted(e.seq for e in history)
            assert uow.history("M2") == [other]
            assert uow.balance("M1") == made[-1].balance_after

    def test_a_second_operation_with_the_same_key_fails_and_keeps_nothing(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_operation(Operation("dup", "purchase", {"a": 1}, {}, T0))
            uow.commit()
        before = snapshot(store, ["M1"], ["dup"])
        with pytest.raises(LoyaltyError), store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 10, "dup"))
            uow.add_operation(Operation("dup", "purchase", {"a": 2}, {}, T0))
            uow.commit()
        assert snapshot(store, ["M1"], ["dup"]) == before

    def test_unreceived_transfers_are_the_senders_records_without_their_receivers(self, store: Store) -> None:
        """A transfer's record with a ``runs`` result and nothing under its key and
        :data:`~loyalty.transfers.RECEIVED` is half written; a decline, another kind, a whole
        transfer (an earlier version's record) or one with its receiver's record is not. In key
        order, at most ``limit``."""
        sent = {"sent": {"points": -5}, "runs": [[5, None, False]]}
        with store.unit_of_work() as uow:
            for key in ("T3", "T1", "T2", "T4"):
                uow.add_operation(Operation(key, "transfer", {"from_member": "M1", "points": 5}, sent, T0))
            uow.add_operation(Operation("T2" + RECEIVED, "transfer_received", {}, {"received": []}, T0))
            uow.add_operation(
                Operation("T5", "transfer", {}, {"declined": {"available": 0, "requested": 5}}, T0)
            )
            uow.add_operation(Operation("T6", "redemption", {}, {"runs": 1}, T0))
            uow.add_operation(Operation("T7", "transfer", {}, {"sent": {}, "received": []}, T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            found = uow.unreceived_transfers(limit=10)
            assert [op.key for op in found] == ["T1", "T3", "T4"]
            assert found[0] == Operation("T1", "transfer", {"from_member": "M1", "points": 5}, sent, T0)
            assert [op.key for op in uow.unreceived_transfers(limit=2)] == ["T1", "T3"]

    def test_unfinished_parts_are_the_first_parts_records_without_their_second(self, store: Store) -> None:
        """A record of the kind asked with nothing under its key and
        :data:`~loyalty.transfers.RECEIVED` is half written; one with its second part's record, or
        of another kind, is not. In key order, at most ``limit``."""
        owed = {"bonus": {"points": 5}}
        with store.unit_of_work() as uow:
            for key in ("P3", "P1", "P2", "P4"):
                uow.add_operation(Operation(key, "referral_reward", {"member_id": "M1"}, owed, T0))
            uow.add_operation(Operation("P2" + RECEIVED, "referral_reward_received", {}, {}, T0))
            uow.add_operation(Operation("P5", "transfer", {}, owed, T0))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            found = uow.unfinished_parts("referral_reward", limit=10)
            assert [op.key for op in found] == ["P1", "P3", "P4"]
            assert found[0] == Operation("P1", "referral_reward", {"member_id": "M1"}, owed, T0)
            assert [op.key for op in uow.unfinished_parts("referral_reward", limit=2)] == ["P1", "P3"]
            assert uow.unfinished_parts("member_merge", limit=10) == []

    @pytest.mark.parametrize("first", ["entry", "operation"])
    def test_a_purchase_written_with_its_entry_keeps_its_key_for_every_kind(
        self, store: Store, first: str
    ) -> None:
        """A purchase's record added right after the entry it wrote (the SQL adapters keep it in
        that entry's row) comes back as added, inside the unit of work and after it, counts once
        in the period's figures, and its key stays taken, whichever record comes second."""
        self._enroll(store)
        at = T0.astimezone(CET)
        request = {"member_id": "M1", "at": at.isoformat(), "lines": [{"sku": "A", "quantity": "1"}]}
        result = {"amount": {"amount": "5.00", "currency": "EUR"}, "points": 5}
        kept = Operation("K1", "purchase", request, result, T0)
        other = Operation("K1", "redeem", {"member_id": "M1", "points": 2}, {"declined": {}}, T0)
        with store.unit_of_work() as uow:
            assert uow.operation("K1") is None  # as a command begins
            if first == "entry":
                entry = uow.append(adjust_posting("M1", 5, "K1", at=at))
                uow.add_operation(kept)
                assert uow.history("M1") == [entry]
            else:
                uow.add_operation(other)
            assert uow.operation("K1") == (kept if first == "entry" else other)
            uow.commit()
        before = snapshot(store, ["M1"], ["K1"])
        for looked in (False, True):
            with pytest.raises(LoyaltyError), store.unit_of_work() as uow:
                if looked:
                    assert uow.operation("K1") is not None
                if first == "entry":
                    uow.add_operation(other)
                else:
                    uow.append(adjust_posting("M1", 5, "K1", at=at))
                    uow.add_operation(kept)
                uow.commit()
            assert snapshot(store, ["M1"], ["K1"]) == before
        if first == "entry":
            with pytest.raises(LoyaltyError), store.unit_of_work() as uow:
                uow.append(adjust_posting("M1", 5, "K1", at=at))
                uow.add_operation(kept)
                uow.commit()
            assert snapshot(store, ["M1"], ["K1"]) == before
            with store.unit_of_work(readonly=True) as uow:
                totals = uow.period_totals(T0 - DAY, T0 + DAY, T0 - 2 * DAY)
            assert (totals.purchases, totals.active, totals.spend) == (1, 1, Decimal("5.00"))

    @pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
    def test_hostile_strings_are_stored_verbatim(self, store: Store, hostile: str) -> None:
        member = Member(hostile, T0, None, {hostile: hostile})
        program = StoredProgram(hostile, T0, {hostile: [hostile]}, T0)
        with store.unit_of_work() as uow:
            uow.add_member(member)
            uow.append(
                Posting(hostile, EntryKind.ADJUST, 3, T0, T0, hostile, hostile, hostile, ("base",), hostile)
            )
            uow.add_operation(Operation(hostile, hostile, {hostile: hostile}, {hostile: [hostile]}, T0))
            uow.add_tallies({hostile: Tally(1, Decimal(1))})
            uow.add_program_version(program)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.member(hostile) == member
            (entry,) = uow.history(hostile)
            assert (entry.source_id, entry.reason, entry.actor, entry.program_version) == (hostile,) * 4
            assert entry.rules == ("base",)
            operation = uow.operation(hostile)
            assert operation is not None and operation.result == {hostile: [hostile]}
            assert uow.tallies([hostile]) == {hostile: Tally(1, Decimal(1))}
            assert uow.program_versions() == [program]
            # The tables are still there and still answer.
            assert uow.balance(hostile) == 3

    @pytest.mark.parametrize("hostile", HOSTILE_STRINGS)
    def test_hostile_ids_through_the_engine_leave_the_schema_intact(
        self, engine: Engine, hostile: str
    ) -> None:
        engine.enroll("bystander", at=T0)
        engine.adjust("bystander", 7, id="seed", at=T0, reason="before", actor="test")
        engine.enroll(hostile, at=T0, attributes={"note": hostile})
        line = Line(hostile, 1, Decimal("12.00"), category=hostile)
        receipt = engine.record_purchase(Purchase(hostile, hostile, T0, [line], "EUR", store_id=hostile))
        redemption = "r/" + hostile[:126]
        engine.redeem(hostile, 2, id=redemption, at=T0, reason=hostile)
        assert (
            engine.record_purchase(Purchase(hostile, hostile, T0, [line], "EUR", store_id=hostile)) == receipt
        )
        assert engine.balance(hostile).available == 10
        assert [e.source_id for e in engine.history(hostile)] == [hostile, redemption]
        assert engine.member(hostile).attributes == {"note": hostile}
        assert engine.balance("bystander").available == 7
        engine.adjust("bystander", 1, id="after", at=T0, reason="tables still writable", actor="test")
        assert engine.balance("bystander").available == 8

    _WRITES: ClassVar[dict[str, Callable[[UnitOfWork], object]]] = {
        "add_member": lambda uow: uow.add_member(Member("M2", T0)),
        "update_member": lambda uow: uow.update_member(Member("M1", T0, date(2000, 1, 1))),
        "append": lambda uow: uow.append(adjust_posting("M1", 5, "A1")),
        "add_operation": lambda uow: uow.add_operation(Operation("op", "test", {}, {}, T0)),
        "add_tallies": lambda uow: uow.add_tallies({"k": Tally(1, Decimal(1))}),
        "add_tallies (none)": lambda uow: uow.add_tallies({}),
        "add_program_version": lambda uow: uow.add_program_version(StoredProgram("v1", None, {}, T0)),
        "put_tier_state": lambda uow: uow.put_tier_state(TierState("M1", "gold", "gold", T0)),
        "add_event": lambda uow: uow.add_event(NewEvent(EventKind.HOLD_EXPIRED, "M1", T0, T0, "h", {})),
        "add_referral_code": lambda uow: uow.add_referral_code("M1", "ABCD2345"),
        "put_referral": lambda uow: uow.put_referral(Referral("M1", "M2", "ABCD2345", T0)),
    }

    @pytest.mark.parametrize("write", list(_WRITES))
    def test_a_read_only_unit_of_work_refuses_writes(self, store: Store, write: str) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_tallies({"k": Tally(2, Decimal("0.5"))})
            uow.commit()
        before = snapshot(store, ["M1", "M2"], ["op"], ["k"], programs=True)
        with pytest.raises(StorageError), store.unit_of_work(readonly=True) as uow:
            # Reading is fine, for update too (it locks nothing in a read-only unit of work).
            seen = uow.tallies(["k", "new"], for_update=True)
            assert seen == {"k": Tally(2, Decimal("0.5")), "new": Tally()}
            assert uow.program_versions() == []
            self._WRITES[write](uow)
            uow.commit()
        assert snapshot(store, ["M1", "M2"], ["op"], ["k", "new"], programs=True) == {
            **before,
            "tallies": {"k": Tally(2, Decimal("0.5")), "new": Tally()},
        }
