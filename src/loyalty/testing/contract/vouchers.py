"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Vouchers: kept by code, found by member, by date and by the purchase they were bought
against, each ended exactly once."""

from __future__ import annotations

import attrs
import pytest

from loyalty.errors import StorageError
from loyalty.ledger import EntryKind
from loyalty.store import Store, UnitOfWork
from loyalty.testing.contract._base import CET, DAY, HOSTILE_STRINGS, T0, ContractBase, adjust_posting
from loyalty.vouchers import Voucher, VoucherStatus, code_for, issue


class VouchersContract(ContractBase):
    """Vouchers: kept by code, found by member, by date and by purchase, each ended exactly once."""

    def _voucher(
        self,
        uow: UnitOfWork,
        key: str,
        points: int,
        lot: int,
        *,
        member_id: str = "M1",
        days: int = 30,
        purchase_id: str | None = None,
    ) -> Voucher:
        voucher = issue(
            code_for(key),
            member_id,
            "coffee",
            points,
            ((lot, -points),),
            at=T0.astimezone(CET),
            valid_for_days=days,
            purchase_id=purchase_id,
        )
        uow.append(
            attrs.evolve(adjust_posting(member_id, -points, key), kind=EntryKind.REDEEM, draws=voucher.draws)
        )
        uow.add_voucher(voucher)
        return voucher

    def test_vouchers_round_trip_and_are_found_by_member_date_and_purchase(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            lot = self._credit(uow, 100, "a").seq
            theirs = self._credit(uow, 100, "b", member_id="M2").seq
            first = self._voucher(uow, "V1", 30, lot, purchase_id=HOSTILE_STRINGS[0])
            soon = self._voucher(uow, "V2", 20, lot, days=1)
            self._voucher(uow, "V3", 5, theirs, member_id="M2", days=2)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.voucher(first.code) == first
            kept = uow.voucher(first.code)
            assert kept is not None and kept.issued_at.utcoffset() == CET.utcoffset(None)
            assert uow.voucher("NOPE") is None
            assert {v.code for v in uow.vouchers("M1")} == {first.code, soon.code}
            assert uow.vouchers("nobody") == []
            assert [v.code for v in uow.due_vouchers(T0 + 2 * DAY)] == [soon.code, code_for("V3")]
            assert [v.code for v in uow.due_vouchers(T0 + 2 * DAY, limit=1)] == [soon.code]
            assert uow.due_vouchers(T0) == []
            assert uow.vouchers_bought_against(HOSTILE_STRINGS[0]) == [first]
            assert uow.vouchers_bought_against("other") == []
            assert uow.lots("M1")[0].remaining == 50

    def test_a_members_vouchers_come_by_issue_time_then_code_and_a_purchases_by_code(
        self, store: Store
    ) -> None:
        # Issued out of the order of their codes, two at one instant: the order is the port's,
        # not the order of writing or of codes alone (a member's "oldest first" rests on it).
        self._enroll(store)
        keys = [f"order-{n}" for n in range(5)]
        times = [T0 + DAY, T0, T0 + 2 * DAY, T0, T0 + DAY]
        with store.unit_of_work() as uow:
            lot = self._credit(uow, 100, "a").seq
            made = []
            for key, at in zip(keys, times, strict=True):
                voucher = issue(
                    code_for(key),
                    "M1",
                    "coffee",
                    5,
                    ((lot, -5),),
                    at=at.astimezone(CET),
                    valid_for_days=30,
                    purchase_id="P-order" if at != T0 + 2 * DAY else None,
                )
                uow.append(
                    attrs.evolve(adjust_posting("M1", -5, key), kind=EntryKind.REDEEM, draws=voucher.draws)
                )
                uow.add_voucher(voucher)
                made.append(voucher)
            uow.commit()
        by_time = sorted(made, key=lambda v: (v.issued_at, v.code))
        by_code = sorted((v for v in made if v.purchase_id == "P-order"), key=lambda v: v.code)
        assert [v.code for v in by_time] != [v.code for v in made]  # the test means something
        with store.unit_of_work(readonly=True) as uow:
            assert [v.code for v in uow.vouchers("M1")] == [v.code for v in by_time]
            assert [v.code for v in uow.vouchers_bought_against("P-order")] == [v.code for v in by_code]

    def test_a_voucher_ends_exactly_once(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            lot = self._credit(uow, 100, "a").seq
            voucher = self._voucher(uow, "V1", 30, lot, purchase_id="P1")
            uow.commit()
        with store.unit_of_work() as uow:
            ended = uow.end_voucher(voucher.code, VoucherStatus.USED, T0 + DAY, used_for="P9")
            assert ended == voucher.ended(VoucherStatus.USED, T0 + DAY, "P9")
            with pytest.raises(StorageError) as info:
                uow.end_voucher(voucher.code, VoucherStatus.VOIDED, T0 + DAY)
            assert info.value.field == "code"
            uow.commit()
        with store.unit_of_work() as uow:
            for status in (VoucherStatus.EXPIRED, VoucherStatus.REVOKED):
                with pytest.raises(StorageError):
                    uow.end_voucher(voucher.code, status, T0)
            with pytest.raises(StorageError):
                uow.end_voucher("unknown", VoucherStatus.VOIDED, T0)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.voucher(voucher.code) == ended
            assert uow.due_vouchers(T0 + 100 * DAY) == []
            assert uow.vouchers_bought_against("P1") == []  # only issued ones
            assert uow.vouchers("M1") == [ended]

    def test_vouchers_roll_back_and_a_duplicate_code_fails(self, store: Store) -> None:
        self._enroll(store)
        with store.unit_of_work() as uow:
            lot = self._credit(uow, 100, "a").seq
            voucher = self._voucher(uow, "V1", 30, lot)
            uow.commit()
        with store.unit_of_work() as uow:
            self._voucher(uow, "V2", 10, lot)
            uow.end_voucher(voucher.code, VoucherStatus.VOIDED, T0)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.voucher(code_for("V2")) is None
            kept = uow.voucher(voucher.code)
            assert kept is not None and kept.open
            assert [v.code for v in uow.due_vouchers(T0 + 100 * DAY)] == [voucher.code]
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_voucher(voucher)
        with pytest.raises(StorageError), store.unit_of_work() as uow:
            uow.add_voucher(attrs.evolve(voucher, code="OTHER", member_id="nobody"))
