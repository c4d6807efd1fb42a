"""A span cut into calendar periods for figures over time: days, weeks, months, quarters or years
of the program's timezone, at most 40, the first and last cut at the span's ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from loyalty.figures import periods

AMS = ZoneInfo("Europe/Amsterdam")


def test_days_start_at_local_midnight_across_a_clock_change() -> None:
    start = datetime(2024, 3, 29, 12, tzinfo=AMS)
    cut = periods(start, datetime(2024, 4, 2, tzinfo=AMS), AMS)
    # Elapsed time, in UTC: two instants of one zone subtract as wall-clock times.
    assert [b.astimezone(UTC) - a.astimezone(UTC) for a, b in cut] == [
        timedelta(hours=12),
        timedelta(hours=24),
        timedelta(hours=23),
        timedelta(hours=24),
    ]
    assert all(b.astimezone(AMS).hour == 0 for _, b in cut)


def test_longer_spans_take_longer_steps_and_never_more_than_40() -> None:
    start = datetime(2020, 2, 12, tzinfo=UTC)  # a Wednesday
    weeks = periods(start, start + timedelta(weeks=30), UTC)
    assert len(weeks) == 31 and weeks[1][0].weekday() == 0  # from Monday
    quarters = periods(start, datetime(2025, 2, 12, tzinfo=UTC), UTC)
    assert len(quarters) == 21 and [a.month for a, _ in quarters[1:5]] == [4, 7, 10, 1]
    years = periods(start, datetime(2070, 1, 1, tzinfo=UTC), UTC)
    assert len(years) == 50 and years[1][0] == datetime(2021, 1, 1, tzinfo=UTC)  # beyond 40 quarters, years
    for cut in (weeks, quarters, years):
        assert cut[0][0] == start and all(a < b and b == c for (a, b), (c, _) in pairwise(cut))


def test_an_empty_span_is_one_empty_period() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    assert periods(at, at, UTC) == [(at, at)]
