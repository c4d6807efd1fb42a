"""The kinds the SQL adapters index for maintenance's search are the ones it searches for."""

from __future__ import annotations

from loyalty.erasure_parts import KIND
from loyalty.service import merging, referral_parts, surviving
from loyalty.transfers import PARTED_KINDS


def test_every_kind_maintenance_looks_for_half_written_is_indexed() -> None:
    searched = {
        "transfer",
        merging.OWED,
        surviving.REFEREES,
        referral_parts.OWED,
        referral_parts.OWED_BACK,
        KIND,
    }
    assert set(PARTED_KINDS) == searched
