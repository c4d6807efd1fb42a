"""Purchases as values: totals rounded once and exact, immutable, their fields checked."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty import InvalidAmount, InvalidInput, Line, Money, Purchase

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def basket(*prices: str, currency: str = "EUR") -> Purchase:
    return Purchase("P1", "M1", T0, [Line(f"s{i}", 1, Decimal(p)) for i, p in enumerate(prices)], currency)


class TestPurchase:
    def test_total_sums_lines_and_rounds_once(self) -> None:
        p = Purchase(
            "P",
            "M",
            T0,
            [Line("fuel", Decimal("10.005"), Decimal("1.899")), Line("x", 2, Decimal("1.00"))],
            "EUR",
        )
        # 10.005 x 1.899 = 18.999495, + 2.00 = 20.999495 -> 21.00
        assert p.total == Money(Decimal("21.00"), "EUR")

    def test_large_amounts_stay_exact(self) -> None:
        # 28 significant digits would be exceeded by the default Decimal context.
        big = Line("bulk", Decimal("999999.999"), Decimal("99999999999999999.99"))
        total = Purchase("P", "M", T0, [big, big], "EUR").total.amount
        assert total == Decimal("199999999799999999980000.00")

    def test_a_total_beyond_the_bound_is_refused(self) -> None:
        big = Line("bulk", Decimal("999999999999.999"), Decimal("999999999999999999999.99"))
        with pytest.raises(InvalidAmount) as info:
            Purchase("P", "M", T0, [big], "EUR")
        assert info.value.field == "lines"

    def test_lines_become_a_tuple(self) -> None:
        lines = [Line("a", 1, Decimal(1))]
        p = Purchase("P", "M", T0, lines, "EUR")
        lines.append(Line("b", 1, Decimal(1)))
        assert len(p.lines) == 1

    def test_is_immutable(self) -> None:
        p = basket("1.00")
        with pytest.raises(AttributeError):
            p.id = "other"  # type: ignore[misc]

    def test_optional_store_and_terminal_are_checked(self) -> None:
        with pytest.raises(InvalidInput) as info:
            Purchase("P", "M", T0, [Line("a", 1, Decimal(1))], "EUR", store_id="")
        assert info.value.field == "store_id"
