"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Offline allowances: granted per terminal, used per member, and the engine's offline
redemptions over them (accepted within, declined beyond, reconciled per terminal)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from loyalty.engine import Engine
from loyalty.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    InvalidDatetime,
    InvalidInput,
    InvalidPoints,
    LoyaltyError,
    StorageError,
    UnknownTerminal,
)
from loyalty.ledger import EntryKind, balance_of
from loyalty.offline import OfflineAllowance, OfflineUse, total_key
from loyalty.program import Program
from loyalty.store import Store
from loyalty.testing.contract._base import CET, HOSTILE_STRINGS, T0, ContractBase

HOUR = timedelta(hours=1)


def _allowance(allowance_id: str, terminal: str = "till-7", *, opened: datetime = T0) -> OfflineAllowance:
    return OfflineAllowance(
        allowance_id, terminal, 100, 300, opened.astimezone(CET), opened + 8 * HOUR, "ops"
    )


class OfflineContract(ContractBase):
    """Offline allowances through the port, and offline redemptions through the engine."""

    def _offline_engine(self, store: Store, clawback: str = "clamp") -> Engine:
        """An engine whose clock is later than the till's redemptions: they arrive once it syncs."""
        engine = Engine(Program("Contract", "EUR", clawback=clawback), store, clock=lambda: T0 + 10 * HOUR)
        for member_id in ("M1", "M2", "M3"):
            engine.enroll(member_id, at=T0)
            engine.adjust(member_id, 60, id=f"top-up {member_id}", at=T0, reason="welcome", actor="staff")
        engine.grant_offline_allowance(
            "till-7", id="A1", at=T0, per_member=100, total=150, until=T0 + 8 * HOUR, actor="ops"
        )
        return engine

    def test_offline_allowances_round_trip_by_terminal_and_uses_add_up_per_member(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        later = _allowance("A2", opened=T0 + HOUR)
        earlier = _allowance(HOSTILE_STRINGS[0])
        with store.unit_of_work() as uow:
            uow.add_offline_allowance(later)
            uow.add_offline_allowance(earlier)
            uow.add_offline_allowance(_allowance("B1", "till-8"))
            uow.add_offline_use(OfflineUse("A2", "M2", 1, 40, 10, 0))
            uow.add_offline_use(OfflineUse("A2", "M1", 1, 30, 0, 0))
            uow.add_offline_use(OfflineUse("A2", "M2", 1, 20, 5, 2))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.offline_allowances("till-7") == [earlier, later]
            assert uow.offline_allowances("till-7")[0].opened_at.utcoffset() == CET.utcoffset(None)
            assert uow.offline_allowances("nowhere") == []
            assert uow.offline_uses("A2") == [
                OfflineUse("A2", "M1", 1, 30, 0, 0),
                OfflineUse("A2", "M2", 2, 60, 15, 2),
            ]
            assert uow.offline_uses("A2", "M2") == [OfflineUse("A2", "M2", 2, 60, 15, 2)]
            assert uow.offline_uses("A2", "M3") == []
            assert uow.offline_uses("B1") == []

    def test_offline_allowance_ids_are_unique_and_uses_need_an_allowance_and_a_member(
        self, store: Store
    ) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            uow.add_offline_allowance(_allowance("A1"))
            uow.commit()
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_offline_allowance(_allowance("A1", "till-8"))
            uow.commit()
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_offline_use(OfflineUse("nope", "M1", 1, 5))
            uow.commit()
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_offline_use(OfflineUse("A1", "nobody", 1, 5))
            uow.commit()
        with store.unit_of_work() as uow:
            uow.add_offline_allowance(_allowance("A2"))
            uow.add_offline_use(OfflineUse("A1", "M1", 1, 5))
            # Not committed: rolled back.
        with store.unit_of_work(readonly=True) as uow:
            assert [a.id for a in uow.offline_allowances("till-7")] == ["A1"]
            assert uow.offline_allowances("till-8") == []
            assert uow.offline_uses("A1") == []

    def test_offline_redemption_within_the_allowance_is_accepted_past_the_balance(self, store: Store) -> None:
        engine = self._offline_engine(store)
        entry = engine.redeem("M1", 90, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
        # Under the default clawback (clamp) the entry takes what there was; the rest is not collected.
        assert (entry.kind, entry.points, entry.balance_after) == (EntryKind.REDEEM, -60, 0)
        assert entry.reason.startswith("redemption, offline at terminal till-7 under allowance A1")
        assert "30 not collected" in entry.reason
        assert engine.balance("M1").available == 0 == balance_of(engine.history("M1"))
        [report] = engine.offline_report("till-7")
        assert report.members == (OfflineUse("A1", "M1", 1, 90, 30, 0),)
        assert (report.used, report.left, report.shortfall, report.declined) == (90, 60, 30, 0)

    def test_offline_shortfall_under_negative_clawback_is_a_debt_later_earnings_repay(
        self, store: Store
    ) -> None:
        engine = self._offline_engine(store, "negative")
        entry = engine.redeem("M1", 100, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
        assert (entry.points, entry.balance_after) == (-100, -40)
        assert "40 of 100 points beyond the balance, left as a debt" in entry.reason
        assert [lot.remaining for lot in engine.lots("M1")] == [-40]
        engine.adjust("M1", 50, id="later", at=T0 + 9 * HOUR, reason="goodwill", actor="staff")
        assert engine.balance("M1").available == 10 == balance_of(engine.history("M1"))
        assert [lot.remaining for lot in engine.lots("M1")] == [10]

    def test_offline_shortfall_under_future_clawback_is_owed_from_later_earnings(self, store: Store) -> None:
        engine = self._offline_engine(store, "future")
        entry = engine.redeem("M1", 70, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
        assert (entry.points, entry.balance_after) == (-60, 0)
        assert "10 owed" in entry.reason
        engine.adjust("M1", 50, id="later", at=T0 + 9 * HOUR, reason="goodwill", actor="staff")
        assert engine.balance("M1").available == 40 == balance_of(engine.history("M1"))
        assert engine.history("M1")[-1].kind is EntryKind.COLLECT

    def test_offline_redemption_beyond_the_allowance_is_declined_as_today(self, store: Store) -> None:
        engine = self._offline_engine(store)
        engine.redeem("M1", 80, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
        # Beyond per_member (80 + 30 > 100) and beyond the 0 points M1 has left.
        with pytest.raises(InsufficientPoints) as info:
            engine.redeem("M1", 30, id="R2", at=T0 + HOUR, offline=True, terminal="till-7")
        assert (info.value.field, info.value.available, info.value.requested) == ("points", 0, 30)
        engine.redeem("M2", 60, id="R3", at=T0 + HOUR, offline=True, terminal="till-7")
        # Beyond total (140 + 20 > 150) though within M3's own 100: M3 has 60, so it is covered.
        covered = engine.redeem("M3", 20, id="R4", at=T0 + HOUR, offline=True, terminal="till-7")
        assert (covered.points, covered.reason) == (-20, "redemption")
        with pytest.raises(InsufficientPoints):
            engine.redeem("M3", 50, id="R5", at=T0 + HOUR, offline=True, terminal="till-7")
        # After ``until``, the allowance no longer covers the till.
        with pytest.raises(InsufficientPoints):
            engine.redeem("M2", 5, id="R6", at=T0 + 9 * HOUR, offline=True, terminal="till-7")
        engine.adjust("M1", 500, id="A9", at=T0, reason="top-up", actor="staff")
        with pytest.raises(InsufficientPoints) as again:
            engine.redeem("M1", 30, id="R2", at=T0 + HOUR, offline=True, terminal="till-7")
        assert again.value.available == 0
        [report] = engine.offline_report("till-7")
        assert [(u.member_id, u.points, u.declined) for u in report.members] == [
            ("M1", 80, 1),
            ("M2", 60, 1),
            ("M3", 0, 1),
        ]
        assert (report.used, report.declined) == (140, 3)
        with store.unit_of_work(readonly=True) as uow:
            assert int(uow.tallies([total_key("A1")])[total_key("A1")].points) == 140

    def test_offline_redemption_retry_returns_the_original_and_reuse_is_refused(self, store: Store) -> None:
        engine = self._offline_engine(store)
        first = engine.redeem("M1", 90, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
        engine.adjust("M1", 500, id="A9", at=T0, reason="top-up", actor="staff")
        assert engine.redeem("M1", 90, id="R1", at=T0 + HOUR, offline=True, terminal="till-7") == first
        with pytest.raises(IdempotencyConflict) as info:
            engine.redeem("M1", 90, id="R1", at=T0 + HOUR, offline=True, terminal="till-8")
        assert info.value.field == "terminal"
        with pytest.raises(IdempotencyConflict):
            engine.redeem("M1", 90, id="R1", at=T0 + HOUR)
        [report] = engine.offline_report("till-7")
        assert report.members == (OfflineUse("A1", "M1", 1, 90, 30, 0),)
        until = T0 + 8 * HOUR
        again = engine.grant_offline_allowance(
            "till-7", id="A1", at=T0, per_member=100, total=150, until=until, actor="ops"
        )
        assert again == report.allowance
        with pytest.raises(IdempotencyConflict) as changed:
            engine.grant_offline_allowance(
                "till-7", id="A1", at=T0, per_member=100, total=151, until=until, actor="ops"
            )
        assert changed.value.field == "total"

    @pytest.mark.parametrize(
        ("change", "error", "field"),
        [
            ({"per_member": -5}, InvalidPoints, "per_member"),
            ({"total": 0}, InvalidPoints, "total"),
            ({"per_member": 200}, InvalidPoints, "per_member"),
            ({"until": datetime(2024, 3, 2)}, InvalidDatetime, "until"),
            ({"until": T0}, InvalidDatetime, "until"),
            ({"terminal_id": ""}, InvalidInput, "terminal_id"),
            ({"actor": 7}, InvalidInput, "actor"),
        ],
    )
    def test_a_bad_offline_allowance_is_refused_naming_its_field(
        self, engine: Engine, change: dict[str, object], error: type[LoyaltyError], field: str
    ) -> None:
        grant: dict[str, object] = {
            "terminal_id": "till-7",
            "id": "A1",
            "at": T0,
            "per_member": 100,
            "total": 150,
            "until": T0 + HOUR,
            "actor": "ops",
        }
        with pytest.raises(error) as info:
            engine.grant_offline_allowance(**(grant | change))  # type: ignore[arg-type]
        assert info.value.field == field
        with pytest.raises(UnknownTerminal):
            engine.offline_report("till-7")

    def test_a_bad_offline_redemption_is_refused_naming_its_field_and_writes_nothing(
        self, store: Store
    ) -> None:
        engine = self._offline_engine(store)
        with pytest.raises(UnknownTerminal) as unknown:
            engine.redeem("M1", 10, id="R1", at=T0 + HOUR, offline=True, terminal="till-9")
        assert unknown.value.field == "terminal"
        with pytest.raises(InvalidInput) as missing:
            engine.redeem("M1", 10, id="R1", at=T0 + HOUR, offline=True)
        assert missing.value.field == "terminal"
        with pytest.raises(InvalidInput) as online:
            engine.redeem("M1", 10, id="R1", at=T0 + HOUR, terminal="till-7")
        assert online.value.field == "terminal"
        with pytest.raises(InvalidInput) as flag:
            engine.redeem("M1", 10, id="R1", at=T0 + HOUR, offline="yes", terminal="till-7")  # type: ignore[arg-type]
        assert flag.value.field == "offline"
        with pytest.raises(UnknownTerminal) as report:
            engine.offline_report("till-9")
        assert report.value.field == "terminal_id"
        assert engine.balance("M1").available == 60
        assert len(engine.history("M1")) == 1
        assert engine.offline_report("till-7")[0].members == ()
        # Nothing was kept under the id either: it is free for the real redemption.
        assert engine.redeem("M1", 10, id="R1", at=T0 + HOUR).points == -10

    def test_concurrent_offline_redemptions_of_one_terminal_never_pass_its_total(
        self, store_factory: Callable[[], Store]
    ) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        members = [f"M{n}" for n in range(1, 7)]
        setup = store_factory()
        engine = Engine(Program("Contract", "EUR"), setup, clock=lambda: T0 + 10 * HOUR)
        for member_id in members:
            engine.enroll(member_id, at=T0)
        engine.grant_offline_allowance(
            "till-7", id="A1", at=T0, per_member=40, total=100, until=T0 + 8 * HOUR, actor="ops"
        )
        stores = [store_factory() for _ in members]
        start = threading.Barrier(len(members))

        def sync(n: int) -> bool:
            till = Engine(Program("Contract", "EUR"), stores[n], clock=lambda: T0 + 10 * HOUR)
            start.wait()
            try:
                till.redeem(members[n], 30, id=f"R{n}", at=T0 + HOUR, offline=True, terminal="till-7")
            except InsufficientPoints:
                return False
            return True

        try:
            with ThreadPoolExecutor(len(members)) as pool:
                accepted = sum(pool.map(sync, range(len(members))))
            # Each member has nothing: only the allowance lets them redeem, 3 x 30 of its 100.
            assert accepted == 3
            [report] = engine.offline_report("till-7")
            assert (report.used, report.declined, report.shortfall) == (90, 3, 90)
        finally:
            for store in [setup, *stores]:
                store.close()
