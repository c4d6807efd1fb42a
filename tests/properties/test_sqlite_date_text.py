"""SQLite's lot dates: the text it compares is the instant's ISO form in UTC, to the microsecond,
also when made in SQL from an entry's microseconds."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from loyalty.store.rows import restore_instant
from loyalty.store.sqlite.entries import till_text
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


@given(instants, st.integers(-86_399, 86_399), st.integers(0, 999_999))
def test_a_till_time_is_written_as_its_entry_reads_it_back(at: datetime, seconds: int, micro: int) -> None:
    # The record of layout 3 leaves out the till time's text only where it is what the entry
    # gives back (loyalty.store.sqlite.entries.till_text), whatever the offset, even a strange one.
    for offset in (timedelta(seconds=seconds), timedelta(seconds=seconds, microseconds=micro)):
        if abs(offset) >= timedelta(hours=24):
            continue
        local = at.astimezone(timezone(offset))
        occurred = (local - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        whole = int(offset.total_seconds())
        assert till_text(local, occurred, whole) == restore_instant(occurred, whole).isoformat()
