"""A receipt rendered for a till slip: within its width, money at the currency's cents, points
without the noise of exact arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty import earn
from loyalty.errors import InvalidInput
from loyalty.money import Money
from loyalty.program import EarnRate, Program, Rounding
from loyalty.purchases import Line, Purchase
from loyalty.receipts import MIN_WIDTH, Contribution, Receipt, Skipped

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def _receipt(**changes: object) -> Receipt:
    values: dict[str, object] = {
        "source_id": "S01-T2-000123",
        "member_id": "M1",
        "occurred_at": T,
        "amount": Money(Decimal("13.60"), "EUR"),
        "points": 13,
        "breakdown": (
            Contribution("base", "base", Decimal("7.40"), "1 point per 1.00 EUR on croissant 7.40", 0),
            Contribution("base", "base", Decimal("6.20"), "1 point per 1.00 EUR on coffee 6.20", 1),
        ),
        "rounding": Rounding.FLOOR,
        "rounding_adjustment": Decimal("-0.60"),
        "balance_after": 13,
    }
    values.update(changes)
    return Receipt(**values)  # type: ignore[arg-type]


def test_a_42_character_slip() -> None:
    assert _receipt().render(width=42) == (
        "Purchase S01-T2-000123: 13.60 EUR\n"
        "  base (1 point per 1.00 EUR on croissant\n"
        "    7.40)                            +7.40\n"
        "  base (1 point per 1.00 EUR on coffee\n"
        "    6.20)                            +6.20\n"
        "  rounding (floor)                   -0.60\n"
        "  points earned                         13\n"
        "  balance                               13"
    )


def test_a_guest_quote_says_to_join_under_the_points_and_shows_no_balance() -> None:
    # A guest quote has no balance: its last figure is the points, then the invitation.
    plain = _receipt(balance_after=None).render(width=42)
    assert plain.endswith("  points earned                         13")
    assert _receipt(balance_after=None, guest=True).render(width=42) == (
        plain + "\n  join now to earn these points"
    )
    narrow = _receipt(balance_after=None, guest=True).render(width=MIN_WIDTH)
    assert narrow.endswith("  points earned       13\n  join now to earn these\n    points")
    assert "join now" not in _receipt().render()


def test_the_narrowest_slip_keeps_every_word() -> None:
    receipt = _receipt(
        skipped=(Skipped("happy", "Happy hour", "outside window Mon/Tue/Wed/Thu/Fri 14:00-17:00"),),
        tier_reached="gold",
        tier_bonus=250,
    )
    text = receipt.render(width=MIN_WIDTH)
    assert max(len(line) for line in text.splitlines()) <= MIN_WIDTH
    assert text.endswith(
        "  entry bonus       +250\n"
        "  balance             13\n"
        "  not applied:\n"
        "    Happy hour: outside\n"
        "      window Mon/Tue/Wed\n"
        "      /Thu/Fri\n"
        "      14:00-17:00"
    )


def test_a_word_longer_than_the_slip_is_cut_not_left_sticking_out() -> None:
    text = _receipt(source_id="X" * 60).render(width=30)
    assert [len(line) for line in text.splitlines()[:3]] == [30, 30, 24]
    assert "".join(text.splitlines()[:3]).replace(" ", "") == "Purchase" + "X" * 60 + ":13.60EUR"


@pytest.mark.parametrize("width", [MIN_WIDTH - 1, 0, -50, True, 42.0, "42", None])
def test_a_width_that_is_no_slip_is_refused(width: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        _receipt().render(width=width)  # type: ignore[arg-type]
    assert caught.value.field == "width"
    assert f"at least {MIN_WIDTH}" in caught.value.message


def test_exact_points_are_shown_to_two_places_and_money_to_its_cents() -> None:
    program = Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")))
    sale = Purchase("T1", "M1", T, [Line("flour", Decimal("1.25"), Decimal("2.47"))], "EUR")
    receipt = earn(program, sale)
    assert receipt.breakdown[0].points == Decimal("3.0875")
    assert receipt.render() == (
        "Purchase T1: 3.09 EUR\n"
        "  base (1 point per 1.00 EUR on flour 3.09)  +3.09\n"
        "  rounding (floor)                           -0.09\n"
        "  points earned                                  3"
    )


def test_trailing_zeros_of_exact_arithmetic_are_not_shown() -> None:
    receipt = _receipt(
        breakdown=(Contribution("x2", "Double", Decimal("-0.3700"), "x2 on tart", 0),),
        rounding_adjustment=Decimal("0.0000"),
    )
    assert "  Double (x2 on tart)                -0.37" in receipt.render(width=42).splitlines()


def test_a_program_with_finer_points_shows_its_places() -> None:
    receipt = _receipt(
        breakdown=(Contribution("base", "base", Decimal("123.45"), "a third", None),),
        points=123,
        scale=3,
        rounding_adjustment=Decimal("-0.45"),
        balance_after=None,
    )
    assert receipt.render(width=30).splitlines()[2:] == [
        "  base (a third)        +0.123",
        "  rounding (floor)      -0.000",
        "  points earned          0.123",
    ]
