"""A rendered receipt fits its slip whatever the width, and loses nothing on the way."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from loyalty import earn
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import MIN_WIDTH
from loyalty.testing.strategies import programs, purchases


def _squeezed(text: str) -> str:
    return "".join(text.split())


@given(programs(), purchases(), st.integers(MIN_WIDTH, 120), st.integers(0, 10**6))
def test_every_line_fits_and_every_figure_is_shown(
    program: Program, purchase: Purchase, width: int, balance: int
) -> None:
    receipt = earn(program, purchase, explain=True, balance_before=balance)
    text = receipt.render(width=width)
    assert all(len(line) <= width for line in text.splitlines())
    # Wrapping moves words to other lines (and cuts a word longer than a line), never drops one.
    squeezed = _squeezed(text)
    for c in receipt.breakdown:
        assert _squeezed(f"{c.name} ({c.detail})") in squeezed
    for s in receipt.skipped:
        assert _squeezed(f"{s.name}: {s.reason}") in squeezed
    assert _squeezed(f"Purchase {receipt.source_id}: {receipt.amount}") in squeezed
    lines = text.splitlines()
    # Each figure ends a line (right-aligned at the slip's edge): the points each rule gave, at
    # most two places (or the program's scale), the points earned and the balance.
    places = max(2, receipt.scale)
    figures = [line.split()[-1] for line in lines if len(line) == width]
    for c in receipt.breakdown:
        shown = c.points.scaleb(-receipt.scale)  # the program's integers, with its decimals
        exact = shown.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        assert f"{shown:+f}" in figures or f"{exact:+f}" in figures
    assert figures.count(receipt.shown_points()) >= 1
    balance_line = next(line for line in lines if line.startswith("  balance "))
    assert balance_line.split()[-1] == receipt.shown_points(receipt.balance_after)


@given(programs(), purchases())
def test_the_points_a_rule_gave_are_shown_to_at_most_the_programs_places(
    program: Program, purchase: Purchase
) -> None:
    receipt = earn(program, purchase)
    places = max(2, receipt.scale)
    for line in receipt.render(width=120).splitlines()[1:]:
        figure = line.split()[-1]
        if figure[0] in "+-" and "." in figure:
            assert len(figure.split(".")[1]) <= places
