"""Period figures from their totals: the lifetime value is rounded once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loyalty.figures import PeriodTotals, figures

START = datetime(2024, 3, 1, tzinfo=UTC)


END = START + timedelta(days=30)


def test_the_lifetime_value_is_rounded_once() -> None:
    totals = PeriodTotals({}, 0, 3, 3, 3, 2, 3, Decimal("300.00"), 0, {})
    found = figures(totals, START, END, "EUR")
    assert str(found.lifetime_value) == "300.00 EUR"  # not 300.03 from 100.00 / 0.3333
