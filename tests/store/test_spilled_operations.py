"""A replay's operation records in a temporary SQLite file (loyalty.store.memory.spilled)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

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


@pytest.mark.parametrize(
    "at",
    [
        AT,  # a replay's clock: the history's own offset
        AT.replace(fold=1),
        datetime(2024, 3, 1, 8, 30, tzinfo=UTC),
        datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=ZoneInfo("Europe/Amsterdam")),
        datetime(2024, 3, 1, 9, 30, 0, 7, tzinfo=timezone(timedelta(hours=1), "CET")),
        datetime(2024, 3, 1, 8, 30, tzinfo=timezone(timedelta(0), "UTC")),  # named as the default
        datetime(
            2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=5, minutes=30, seconds=1, microseconds=3))
        ),
    ],
)
@pytest.mark.parametrize(
    "facts",
    [
        None,
        ("2024-03-01T09:30:00+01:00", "T1", "M1", "12.45"),
        ("x", "T1", Decimal(1), 2),
        ("x", "T1", bytearray(b"M1"), None),  # marshal would give bytes back
        ("x", "T1", ["M1"], None),
    ],
)
def test_a_records_time_and_facts_come_back_with_their_own_zone(
    request: pytest.FixtureRequest, at: datetime, facts: object
) -> None:
    ops = SpilledOperations(batch=1)
    request.addfinalizer(ops.close)
    ops["T1"] = Kept("purchase", pack({}, {}), at, facts)  # type: ignore[arg-type]
    ops["T2"] = kept(2)  # the batch of one is in the file
    found = ops["T1"]
    assert not ops._recent
    assert (found.recorded_at, found.facts) == (at, facts)
    assert type(found.facts) is type(facts)
    assert found.recorded_at.tzinfo == at.tzinfo and found.recorded_at.tzname() == at.tzname()
    assert repr(found.recorded_at) == repr(at) and repr(found.facts) == repr(facts)
    assert found.recorded_at.fold == at.fold and found.recorded_at.utcoffset() == at.utcoffset()


def _written(request: pytest.FixtureRequest, count: int, batch: int) -> SpilledOperations:
    ops = SpilledOperations(batch=batch)
    request.addfinalizer(ops.close)
    for n in range(count):
        ops[f"T{n}"] = kept(n)
    return ops


def _queries_for_absent_keys(ops: SpilledOperations, absent: int = 1_000) -> int:
    """How many queries ``absent`` keys never written cost (each is answered ``None``)."""
    queries: list[str] = []
    ops._conn.set_trace_callback(queries.append)
    assert [ops.get(f"X{n}") for n in range(absent)] == [None] * absent
    ops._conn.set_trace_callback(None)
    return len(queries)


def test_a_key_never_written_is_answered_without_a_query_whatever_the_files_size(
    request: pytest.FixtureRequest,
) -> None:
    # Past the filter's first room (4,096 keys) twice: it is built again larger from the file.
    ops = _written(request, 10_000, batch=100)
    # A false "may hold" costs a query: about one in seventy, never most.
    assert _queries_for_absent_keys(ops) < 50
    assert all(ops[f"T{n}"] == kept(n) for n in range(0, 10_000, 7))
    assert len(ops) == 10_000


def test_a_batch_larger_than_the_filters_room_grows_it_as_far_as_it_needs(
    request: pytest.FixtureRequest,
) -> None:
    # 30,000 keys in one batch, past a first room of 4,096: doubled once, the filter would say
    # "may hold" for about one absent key in eight.
    ops = _written(request, 30_000, batch=30_000)
    assert not ops._recent
    assert _queries_for_absent_keys(ops) < 50
    assert all(ops[f"T{n}"] == kept(n) for n in range(0, 30_000, 97))
