"""Purchases as values: totals rounded once and exact, immutable, their fields checked."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

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


class TestCheckedOnce:
    """A purchase's values are checked once, when the till's values come in; what is worked out
    from them (the total) is made without checking again, and refused exactly as before."""

    def test_the_total_is_made_unchecked_but_equals_a_checked_one(self) -> None:
        total = basket("1.005", "2.10").total
        assert total == Money(Decimal("3.11"), "EUR")
        assert repr(total) == repr(Money(Decimal("3.11"), "EUR"))
        assert hash(total) == hash(Money(Decimal("3.11"), "EUR"))

    def test_an_exact_total_with_too_many_places_is_still_refused_as_the_amount(self) -> None:
        # 1.5 x 0.333333333333 has 13 places: more than any amount may have.
        line = Line("weighed", Decimal("1.5"), Decimal("0.333333333333"))
        with pytest.raises(InvalidAmount) as info:
            Purchase("P", "M", T0, [line], "EUR")
        assert info.value.field == "amount"

    def test_a_total_rounded_up_to_the_bound_is_still_refused(self) -> None:
        line = Line("bulk", 1, Decimal("999999999999999999999999.995"))
        with pytest.raises(InvalidAmount) as info:
            Purchase("P", "M", T0, [line], "EUR")
        assert info.value.field == "amount"

    @pytest.mark.parametrize("field", ["discount", "tax"])
    def test_a_callers_zero_or_bad_discount_and_tax_are_still_checked(self, field: str) -> None:
        zero: dict[str, Any] = {field: Decimal("0.00")}
        assert getattr(Line("a", 1, Decimal(1), **zero), field) == 0
        for bad in (0.5, Decimal("NaN"), Decimal("-0.01"), Decimal("1E-13")):
            given: dict[str, Any] = {field: bad}
            with pytest.raises(InvalidAmount) as info:
                Line("a", 1, Decimal(1), **given)
            assert info.value.field == field

    @pytest.mark.parametrize("quantity", [10**24, 10**30])
    def test_a_whole_quantity_beyond_the_bound_is_refused(self, quantity: int) -> None:
        with pytest.raises(InvalidInput) as info:
            Line("a", quantity, Decimal(1))
        assert info.value.field == "quantity"

    @pytest.mark.parametrize("sku", ["a\u200bb", "a\x00", "a\nb", "\u202eab", "a\ud800"])
    def test_ids_with_control_or_format_characters_are_refused(self, sku: str) -> None:
        with pytest.raises(InvalidInput) as info:
            Line(sku, 1, Decimal(1))
        assert info.value.field == "sku"

    @pytest.mark.parametrize("sku", ["café-crème", "コーヒー", "a b", "A\u00a0B"])
    def test_printable_ids_beyond_ascii_are_accepted(self, sku: str) -> None:
        assert Line(sku, 1, Decimal(1)).sku == sku
