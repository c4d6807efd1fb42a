"""Which program version is in force, and the dates a later version gives earlier points."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalty.errors import InvalidInput
from loyalty.expiry import Expiry
from loyalty.program import Program
from loyalty.versions import by_label, in_force, lot_dates, same_body

SPRING = datetime(2024, 3, 1, tzinfo=UTC)
SUMMER = datetime(2024, 6, 1, tzinfo=UTC)
FIRST = Program("Club", "EUR", version="v1", effective_from=SPRING)
SECOND = Program("Club", "EUR", version="v2", effective_from=SUMMER)


def test_the_last_version_started_is_in_force() -> None:
    assert in_force((FIRST, SECOND), SPRING).version == "v1"
    assert in_force((FIRST, SECOND), SUMMER).version == "v2"


def test_before_the_first_version_is_refused_unless_the_first_is_taken() -> None:
    early = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="before the program's first version"):
        in_force((FIRST, SECOND), early)
    assert in_force((FIRST, SECOND), early, default_first=True).version == "v1"


def test_a_purchase_keeps_its_version_by_label() -> None:
    assert by_label((FIRST, SECOND), "v1", SUMMER).version == "v1"
    assert by_label((FIRST, SECOND), "gone", SUMMER).version == "v2"


def test_a_later_version_that_redates_gives_earlier_points_its_dates_once_in_force() -> None:
    keeps = Program("Club", "EUR", version="v1", expiry=Expiry("calendar"))
    redates = Program(
        "Club",
        "EUR",
        version="v2",
        effective_from=SUMMER,
        expiry=Expiry("calendar", years=2, redate_earlier=True),
    )
    earned = datetime(2024, 4, 1, tzinfo=UTC)
    versions = (keeps, redates)
    before = lot_dates(versions, keeps, earned, pending=False, now=SPRING)
    after = lot_dates(versions, keeps, earned, pending=False, now=SUMMER)
    assert before[1] is not None and after[1] is not None
    assert (before[1].year, after[1].year) == (2026, 2027)


def test_bodies_compare_effective_from_as_an_instant() -> None:
    one = {"version": "v1", "effective_from": "2024-03-01T01:00:00+01:00"}
    assert same_body(one, {"version": "v1", "effective_from": "2024-03-01T00:00:00+00:00"})
    assert not same_body(one, {"version": "v1", "effective_from": "2024-03-01T01:00:00+00:00"})
    assert not same_body(one, {"version": "v1"})
