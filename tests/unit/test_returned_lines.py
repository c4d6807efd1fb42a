"""What a return names: its lines checked, the units left after it, and the purchase that remains."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any

import pytest

from loyalty.errors import InvalidInput, InvalidQuantity
from loyalty.purchases import MAX_LINES, Line, Purchase
from loyalty.returns import Return, Returned, refund_due, remaining, returned_after

T = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SALE = Purchase("T1", "M1", T, [Line("shirt", 1, Decimal("60.00")), Line("socks", 3, Decimal("5.00"))], "EUR")


def refused(lines: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        Return("R1", "T1", T, lines)
    return info.value


def test_a_return_of_as_many_lines_as_a_purchase_may_have_is_accepted() -> None:
    assert len(Return("R1", "T1", T, [Returned("shirt", 1)] * MAX_LINES).lines or ()) == MAX_LINES


def test_a_return_of_more_lines_than_a_purchase_may_have_is_refused() -> None:
    error = refused([Returned("shirt", 1)] * (MAX_LINES + 1))
    assert str(error) == f"lines: at most {MAX_LINES} lines, got {MAX_LINES + 1}"


@pytest.mark.parametrize(("lines", "kind"), [(5, "int"), ("shirt", "str"), (b"shirt", "bytes")])
def test_lines_that_are_not_a_sequence_are_refused(lines: object, kind: str) -> None:
    error = refused(lines)
    assert str(error) == f"lines: must be a sequence of Returned, or None for a void, not {kind}"


def test_an_item_that_is_not_a_returned_is_refused_by_its_place() -> None:
    error = refused([Returned("shirt", 1), ("socks", 1)])
    assert str(error) == "lines[1]: must be a Returned, not tuple"


def test_an_empty_return_is_refused_and_told_that_none_is_a_void() -> None:
    error = refused([])
    assert str(error) == "lines: a return needs at least one line (None voids the whole purchase)"


def test_any_iterable_of_returned_lines_is_kept_as_a_tuple() -> None:
    returned = Return("R1", "T1", T, iter([Returned("socks", 2)]))
    assert returned.lines == (Returned("socks", 2),)


def wrong(lines: tuple[Returned, ...], before: dict[int, Decimal] | None = None) -> InvalidQuantity:
    with pytest.raises(InvalidQuantity) as info:
        returned_after(SALE, before or {}, lines)
    return info.value


def test_a_sku_the_purchase_did_not_have_names_the_returned_line() -> None:
    error = wrong((Returned("socks", 1), Returned("hat", 1)))
    assert str(error) == "lines[1].sku: purchase 'T1' has no 'hat'"


def test_a_fraction_of_a_whole_unit_names_the_quantity() -> None:
    error = wrong((Returned("socks", Decimal("0.5")),))
    assert str(error) == "lines[0].quantity: 'socks' was sold in whole units, not 0.5"


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ({1: Decimal(1)}, "4 of 'socks' returned, but only 2 are left to return"),
        ({1: Decimal(3)}, "4 of 'socks' returned, but only 0 are left to return"),
    ],
)
def test_more_units_than_are_left_say_how_many_are(before: dict[int, Decimal], message: str) -> None:
    error = wrong((Returned("socks", 4),), before)
    assert str(error) == f"lines[0].quantity: {message}"


def test_a_fully_returned_line_leaves_the_lines_after_it() -> None:
    kept = remaining(SALE, returned_after(SALE, {}, (Returned("shirt", 1),)))
    assert kept is not None
    assert [(line.sku, line.quantity, line.amount) for line in kept.lines] == [("socks", 3, Decimal("15.00"))]


def test_a_kept_discount_is_cut_down_below_twelve_places() -> None:
    sale = Purchase("T1", "M1", T, [Line("tea", 3, Decimal("3.00"), discount=Decimal("1.00"))], "EUR")
    kept = remaining(sale, {0: Decimal(1)})
    assert kept is not None
    # Two thirds of 1.00 is 0.6666...: down to 12 places, never up to ...667.
    assert kept.lines[0].discount == Decimal("0.666666666666")


def test_a_return_under_a_narrow_decimal_context_is_worked_out_exactly() -> None:
    sale = Purchase(
        "T1", "M1", T, [Line("tea", 3, Decimal("3.00"), discount=Decimal("1.00"), tax=Decimal("0.50"))], "EUR"
    )
    with localcontext() as narrow:
        narrow.prec = 4
        kept = remaining(sale, {0: Decimal(1)})
        refund = refund_due(1000, 0, sale, kept)
    assert kept is not None
    assert (kept.lines[0].discount, kept.lines[0].tax) == (
        Decimal("0.666666666666"),
        Decimal("0.333333333333"),
    )
    # 8.00 paid, 5.333333333334 kept: 333 of 1000 points paid for the unit come back (rounded down).
    assert refund == 333
