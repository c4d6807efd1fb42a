"""A receipt the evaluation makes keeps its breakdown as rows until it is read: the same value."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime
from decimal import Decimal

import attrs
import pytest

from loyalty.earning import earn
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.receipts import Receipt, breakdown_rows
from loyalty.rules import Multiplier

PROGRAM = Program(
    "Club", "EUR", rules=[Multiplier(id="cake-x2", name="Cake week", factor=2, categories=["cake"])]
)
SALE = Purchase(
    "T1-42",
    "M1",
    datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
    [Line("coffee", 2, Decimal("3.40")), Line("tart", 1, Decimal("4.15"), category="cake")],
    "EUR",
)


def made_whole(receipt: Receipt) -> Receipt:
    """The same receipt made the ordinary way, from its contributions."""
    return Receipt(**{field.name: getattr(receipt, field.name) for field in attrs.fields(Receipt)})


def test_rows_are_the_contributions_fields_in_order() -> None:
    receipt = earn(PROGRAM, SALE)
    rows = breakdown_rows(receipt)
    assert [r[0] for r in rows] == ["base", "base", "cake-x2"]
    assert rows == tuple((c.rule, c.name, c.points, c.detail, c.line) for c in receipt.breakdown)
    # A receipt made from contributions gives the same rows.
    assert breakdown_rows(made_whole(receipt)) == rows


def test_equal_alike_and_hashable_before_the_breakdown_is_read() -> None:
    lazy, whole = earn(PROGRAM, SALE), made_whole(earn(PROGRAM, SALE))
    assert lazy == whole and whole == lazy
    assert hash(earn(PROGRAM, SALE)) == hash(whole)
    assert repr(earn(PROGRAM, SALE)) == repr(whole)
    assert earn(PROGRAM, SALE).to_dict() == whole.to_dict()
    assert earn(PROGRAM, SALE).rules == whole.rules == ("base", "cake-x2")
    assert earn(PROGRAM, SALE).render() == whole.render()


def test_copied_pickled_and_evolved_alike() -> None:
    whole = made_whole(earn(PROGRAM, SALE))
    assert pickle.loads(pickle.dumps(earn(PROGRAM, SALE))) == whole
    assert copy.deepcopy(earn(PROGRAM, SALE)) == whole
    evolved = attrs.evolve(earn(PROGRAM, SALE), balance_after=7)
    assert evolved == attrs.evolve(whole, balance_after=7)
    assert evolved.breakdown == whole.breakdown


def test_a_misspelt_attribute_still_raises() -> None:
    receipt = earn(PROGRAM, SALE)
    with pytest.raises(AttributeError):
        receipt.breakdwon  # type: ignore[attr-defined]  # noqa: B018
