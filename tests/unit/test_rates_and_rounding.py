"""A program's base rate and rounding mode: checked when built, printed as written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty import EarnRate, InvalidAmount, InvalidInput, Program, Rounding


class TestProgram:
    @pytest.mark.parametrize("per", [Decimal(0), Decimal(-1), Decimal("NaN"), 1.0, 10])
    def test_rate_per_must_be_a_positive_decimal(self, per: object) -> None:
        with pytest.raises(InvalidAmount) as info:
            EarnRate(1, per)  # type: ignore[arg-type]
        assert info.value.field == "rate.per"

    # (2**63: above what a balance holds, refused here, not later under the base rule's name.)
    @pytest.mark.parametrize("points", [0, -1, 1.5, True, 2**63, 10**20])
    def test_rate_points_must_be_a_positive_int(self, points: object) -> None:
        with pytest.raises(InvalidInput) as info:
            EarnRate(points)  # type: ignore[arg-type]
        assert info.value.field == "rate.points"

    def test_rate_prints_as_written(self) -> None:
        # Equal Decimals, different spellings: the explanation keeps each one's.
        assert str(EarnRate(1, Decimal("10.00"))) == "1 point per 10.00"
        assert str(EarnRate(1, Decimal("10.0"))) == "1 point per 10.0"
        assert str(EarnRate(4, Decimal("1"))) == "4 points per 1"

    def test_rounding_modes_map_to_decimal_modes(self) -> None:
        assert [r.decimal_mode for r in Rounding] == ["ROUND_FLOOR", "ROUND_HALF_UP", "ROUND_HALF_EVEN"]
        assert Rounding("half_even") is Rounding.HALF_EVEN

    def test_rounding_must_be_a_rounding(self) -> None:
        assert Program("P", "EUR", rounding="half_up").rounding is Rounding.HALF_UP
        with pytest.raises(InvalidInput) as info:
            Program("P", "EUR", rounding="ceiling")
        assert info.value.field == "rounding"
