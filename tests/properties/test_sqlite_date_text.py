"""SQLite's lot dates: the text it compares is the instant's ISO form in UTC, to the microsecond."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from loyalty.store.sqlite.statements import sortable

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC) | offsets
)


@given(instants)
def test_date_text_is_the_utc_isoformat_to_the_microsecond(at: datetime) -> None:
    assert sortable(at) == at.astimezone(UTC).isoformat(timespec="microseconds")


@given(instants, instants)
def test_date_texts_sort_as_their_instants(a: datetime, b: datetime) -> None:
    text_a, text_b = sortable(a), sortable(b)
    assert text_a is not None and text_b is not None
    assert (text_a < text_b) == (a < b)
    assert (text_a == text_b) == (a == b)
