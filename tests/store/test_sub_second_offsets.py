"""A time whose UTC offset is not whole seconds (Python allows one: ``timezone(timedelta(
microseconds=...))``) is refused at the input on every adapter, naming the field, nothing written:
SQLite kept its offset cut to whole seconds, so the entry read back as another wall-clock time and
``verify`` found its chain broken, while the in-memory store kept it (found by review, reproduced
before schema 23 too). The engine's clock is held to the same rule."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine, Line, Program, Purchase
from loyalty.errors import InvalidDatetime
from loyalty.store import Store
from tests.adapters import ADAPTERS, ONE_CONNECTION, fresh_store

ODD = timezone(timedelta(hours=-3, microseconds=250_000))
AT = datetime(2024, 3, 2, 12, tzinfo=ODD)


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with fresh_store(request.param, tmp_path, ONE_CONNECTION) as store:
        yield store


def test_a_sub_second_offset_is_refused_naming_the_field_and_nothing_is_written(store: Store) -> None:
    engine = Engine(Program("Club", "EUR"), store, clock=lambda: AT.astimezone(UTC))
    engine.enroll("M1", at=datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(InvalidDatetime) as refused:
        engine.record_purchase(Purchase("P1", "M1", AT, [Line("x", 1, Decimal(10))], "EUR"))
    assert refused.value.field == "at"
    with store.unit_of_work(readonly=True) as uow:
        assert uow.operation("P1") is None and uow.history("M1") == []
    # The same instant at a whole-second offset is kept as given, and verifies.
    at = AT.astimezone(timezone(timedelta(hours=-3)))
    engine.record_purchase(Purchase("P1", "M1", at, [Line("x", 1, Decimal(10))], "EUR"))
    assert engine.history("M1")[-1].occurred_at.utcoffset() == timedelta(hours=-3)
    assert engine.verify().ok


def test_a_clock_at_a_sub_second_offset_is_refused_naming_it(store: Store) -> None:
    engine = Engine(Program("Club", "EUR"), store, clock=lambda: AT)
    with pytest.raises(InvalidDatetime) as refused:
        engine.enroll("M1", at=datetime(2024, 1, 1, tzinfo=UTC))
    assert refused.value.field == "clock"
    with store.unit_of_work(readonly=True) as uow:
        assert uow.member("M1") is None
