"""SQLite's lot dates: the text it compares is the instant's ISO form in UTC, to the microsecond,
also when made in SQL from an entry's microseconds."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from loyalty.store.sqlite.statements import EARNED_IN_ENTRIES, ISO_OF_ENTRY, earned_key, sortable

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


@given(instants)
def test_an_entrys_microseconds_read_as_its_lots_texts_in_sql(at: datetime) -> None:
    # An entry's occurred_at is microseconds since 1970 (schema 22): the SQL that makes a lot's
    # earned_at of it (a lot moved to ``lots``) and its key in the oldest-earned order.
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    with closing(sqlite3.connect(":memory:")) as conn:
        iso, key = conn.execute(
            f"SELECT {ISO_OF_ENTRY}, {EARNED_IN_ENTRIES} FROM (SELECT ? AS occurred_at)",
            (micros,),
        ).fetchone()
    assert iso == at.astimezone(UTC).isoformat()
    assert key == earned_key(at)
