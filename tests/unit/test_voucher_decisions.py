"""Vouchers' pure decisions: the code from the caller's id, validity, and who may use one when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from loyalty.errors import VoucherEnded, VoucherExpired, VoucherNotOwned
from loyalty.referrals import ALPHABET
from loyalty.vouchers import CODE_LENGTH, VoucherStatus, check_open, check_use, code_for, issue

T = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))


def test_a_code_is_the_same_for_the_same_id_and_differs_between_ids_and_attempts() -> None:
    assert code_for("R1") == code_for("R1")
    codes = {code_for(f"R{n}") for n in range(2000)} | {code_for("R1", 1)}
    assert len(codes) == 2001
    assert all(len(code) == CODE_LENGTH and set(code) <= set(ALPHABET) for code in codes)


def test_a_voucher_is_valid_for_its_days_of_elapsed_time_from_the_tills_time() -> None:
    voucher = issue("C", "M1", "coffee", 300, ((1, -300),), at=T, valid_for_days=30, purchase_id="P1")
    assert voucher.expires_at == datetime(2024, 3, 31, 8, 30, tzinfo=UTC)
    assert (voucher.status, voucher.purchase_id, voucher.ended_at) == (VoucherStatus.ISSUED, "P1", None)
    check_use(voucher, voucher.expires_at - timedelta(microseconds=1), member_id="M1")
    check_use(voucher, T, member_id=None)
    with pytest.raises(VoucherExpired) as expired:
        check_use(voucher, voucher.expires_at, member_id="M1")
    assert (expired.value.field, expired.value.status) == ("code", "expired")


def test_a_voucher_is_used_once_and_only_by_its_member() -> None:
    voucher = issue("C", "M1", "coffee", 300, ((1, -200), (2, -100)), at=T, valid_for_days=1)
    with pytest.raises(VoucherNotOwned) as theirs:
        check_use(voucher, T, member_id="M2")
    assert theirs.value.field == "code"
    for status in (VoucherStatus.USED, VoucherStatus.VOIDED, VoucherStatus.EXPIRED, VoucherStatus.REVOKED):
        ended = voucher.ended(status, T)
        for check in (lambda v: check_use(v, T, member_id="M1"), check_open):
            with pytest.raises(VoucherEnded) as info:
                check(ended)
            assert (info.value.field, info.value.status) == ("code", status.value)
    assert voucher.give_back() == ((2, 100), (1, 200))
