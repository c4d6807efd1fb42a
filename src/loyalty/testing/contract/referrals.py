"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Referral codes and who referred whom."""

from __future__ import annotations

import attrs
import pytest

from loyalty.errors import StorageError
from loyalty.referrals import Referral, ReferralState
from loyalty.store import Store
from loyalty.testing.contract._base import CET, DAY, T0, ContractBase


class ReferralsContract(ContractBase):
    """Referral codes and who referred whom."""

    def test_referral_codes_are_one_per_member_and_unique(self, store: Store) -> None:
        self._enroll(store)
        self._enroll(store, "M2")
        with store.unit_of_work() as uow:
            assert uow.referral_code("M1") is None and uow.code_owner("ABCD2345") is None
            uow.add_referral_code("M1", "ABCD2345")
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert (uow.referral_code("M1"), uow.code_owner("ABCD2345")) == ("ABCD2345", "M1")
        for member_id, code in (("M2", "ABCD2345"), ("M1", "WXYZ6789"), ("nobody", "NOBO2345")):
            with pytest.raises(StorageError), store.unit_of_work() as uow:
                uow.add_referral_code(member_id, code)
        with store.unit_of_work() as uow:
            uow.add_referral_code("M2", "WXYZ6789")  # rolled back
        with store.unit_of_work(readonly=True) as uow:
            assert uow.referral_code("M2") is None and uow.code_owner("WXYZ6789") is None

    def test_referrals_round_trip_are_replaced_and_found_by_referrer(self, store: Store) -> None:
        for member_id in ("A", "B", "C"):
            self._enroll(store, member_id)
        first = Referral("C", "A", "ABCD2345", T0.astimezone(CET))
        rewarded = Referral(
            "B", "A", "ABCD2345", T0, ReferralState.QUALIFIED, None, "P1", 100, 25, 7, 6, T0 + DAY, T0
        )
        with store.unit_of_work() as uow:
            uow.put_referral(first)
            uow.put_referral(rewarded)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.referral("B") == rewarded and uow.referral("A") is None
            assert uow.referrals_by("A") == [rewarded, first]
            found = uow.referral("C")
            assert found is not None and found.referred_at.utcoffset() == CET.utcoffset(None)
            assert uow.referrals_by("B") == []
        rejected = attrs.evolve(rewarded, state=ReferralState.REJECTED, reason="returned")
        with store.unit_of_work() as uow:
            uow.put_referral(rejected)
            uow.commit()
        with store.unit_of_work() as uow:
            uow.put_referral(attrs.evolve(first, state=ReferralState.REJECTED))  # rolled back
        with store.unit_of_work(readonly=True) as uow:
            assert uow.referral("B") == rejected and uow.referral("C") == first
        # Either member unknown: refused by the store itself (no foreign key says so for the
        # referrer on PostgreSQL, whose referrals are the referee's rows).
        for unknown in (Referral("nobody", "A", "X", T0), Referral("C", "nobody", "X", T0)):
            with pytest.raises(StorageError), store.unit_of_work() as uow:
                uow.put_referral(unknown)
