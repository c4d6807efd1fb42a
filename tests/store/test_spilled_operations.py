"""A replay's operation records in a temporary SQLite file (loyalty.store.memory.spilled)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from loyalty.store.memory.data import Kept, pack
from loyalty.store.memory.spilled import SpilledOperations

AT = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))


def kept(n: int) -> Kept:
    facts = (AT.isoformat(), f"T{n}", "M1", "12.45") if n % 2 else None
    return Kept("purchase" if n % 2 else "redemption", pack({"n": n}, {"d": Decimal(n)}), AT, facts)


def test_records_past_a_batch_are_in_the_file_and_read_back_equal(request: pytest.FixtureRequest) -> None:
    ops = SpilledOperations(batch=3)
    request.addfinalizer(ops.close)
    for n in range(7):
        ops[f"T{n}"] = kept(n)
    assert len(ops._recent) == 1  # six written to the file, two batches
    assert len(ops) == 7
    for n in range(7):
        found = ops[f"T{n}"]
        assert found == kept(n)
        assert found.recorded_at.utcoffset() == timedelta(hours=1)
    assert sorted(ops) == [f"T{n}" for n in range(7)]
    assert "T9" not in ops and ops.get("T9") is None
    with pytest.raises(KeyError):
        ops["T9"]


def test_a_record_in_the_file_is_rewritten_and_deleted_there(request: pytest.FixtureRequest) -> None:
    ops = SpilledOperations(batch=1)
    request.addfinalizer(ops.close)
    ops["T1"] = kept(1)
    ops["T2"] = kept(2)
    assert not ops._recent
    ops["T1"] = kept(3)
    assert ops["T1"] == kept(3) and len(ops) == 2
    del ops["T1"]
    assert "T1" not in ops and len(ops) == 1
    with pytest.raises(KeyError):
        del ops["T1"]


def test_a_key_found_absent_then_added_is_found(request: pytest.FixtureRequest) -> None:
    ops = SpilledOperations(batch=1)
    request.addfinalizer(ops.close)
    assert ops.get("T1") is None  # remembered as absent
    ops["T1"] = kept(1)
    assert ops["T1"] == kept(1)
    other = Kept("purchase", pack({}, {}), datetime(2024, 1, 1, tzinfo=UTC), None)
    ops["T2"] = other
    assert ops.pop("T2") == other and "T2" not in ops
