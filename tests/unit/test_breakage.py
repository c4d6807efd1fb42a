"""The breakage rate: of the points that reached their end in a period, the share that expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty.figures import PeriodTotals, figures

START = datetime(2024, 3, 1, tzinfo=UTC)
END = START + timedelta(days=30)


def totals(**by_kind: int) -> PeriodTotals:
    return PeriodTotals(by_kind, 0, 0, 0, 0, 0, 0, Decimal(0), 0, {})


def test_expiries_of_points_issued_earlier_do_not_push_it_past_100_percent() -> None:
    # A quiet month after a busy year: 1,100 points expire, 800 are issued and 400 redeemed.
    # Over issuance this was 137.5%; of the 1,500 points that ended, 1,100 expired.
    found = figures(totals(earn=800, redeem=-400, expire=-1100), START, END, "EUR")
    assert found.breakage_rate == Decimal("0.7333")
    assert (found.issued, found.redeemed, found.expired) == (800, 400, 1100)


def test_a_period_in_which_no_points_ended_has_no_breakage_rate() -> None:
    assert figures(totals(earn=500), START, END, "EUR").breakage_rate is None


def test_held_points_released_from_an_earlier_period_end_nothing() -> None:
    # Net redemptions below zero: a hold placed last month was released this month.
    found = figures(totals(earn=100, hold=-20, release=50, expire=-10), START, END, "EUR")
    assert found.redeemed == -30
    assert found.breakage_rate == Decimal("1.0000")


@given(
    st.integers(0, 10**9),
    st.integers(-(10**9), 0),
    st.integers(-(10**9), 0),
    st.integers(0, 10**9),
    st.integers(-(10**9), 0),
)
def test_it_is_a_share_from_0_to_1(earn: int, redeem: int, hold: int, release: int, expire: int) -> None:
    rate = figures(
        totals(earn=earn, redeem=redeem, hold=hold, release=release, expire=expire), START, END, "EUR"
    ).breakage_rate
    assert rate is None or Decimal(0) <= rate <= Decimal(1)
    assert (rate is None) == (expire == 0 and redeem + hold + release >= 0)
