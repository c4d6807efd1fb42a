"""What a return takes back when points were spent, and what it refunds of points paid."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from loyalty.purchases import Line, Purchase
from loyalty.returns import Clawback, Clawed, claw, refund_due, remaining

T = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
SALE = Purchase("T1", "M1", T, [Line("a", 3, Decimal("10.00")), Line("b", 1, Decimal("10.00"))], "EUR")


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (Clawback.NEGATIVE, Clawed(taken=50, debt=20, owed=0, uncollected=0)),
        (Clawback.FUTURE, Clawed(taken=30, debt=0, owed=20, uncollected=0)),
        (Clawback.CLAMP, Clawed(taken=30, debt=0, owed=0, uncollected=20)),
    ],
)
def test_what_the_member_spent_is_split_by_the_clawback(policy: Clawback, expected: Clawed) -> None:
    assert claw(policy, 50, 20) == expected


@pytest.mark.parametrize("policy", list(Clawback))
def test_nothing_short_takes_everything_whatever_the_policy(policy: Clawback) -> None:
    assert claw(policy, 50, 0) == Clawed(50, 0, 0, 0)


def test_the_note_says_what_was_left_behind() -> None:
    assert claw(Clawback.FUTURE, 50, 20).note() == ", 20 owed"
    assert claw(Clawback.CLAMP, 50, 20).note() == ", 20 not collected"
    assert claw(Clawback.NEGATIVE, 50, 20).note() == ""


def test_a_void_refunds_every_point_paid_less_those_refunded() -> None:
    assert refund_due(100, 0, SALE, None) == 100
    assert refund_due(100, 40, SALE, None) == 60


def test_a_part_return_refunds_its_share_rounded_down() -> None:
    left = remaining(SALE, {0: Decimal(1)})  # 10.00 of 40.00 back
    assert refund_due(99, 0, SALE, left) == 24  # 24.75 rounded down
    assert refund_due(99, 24, SALE, left) == 0


def test_nothing_paid_refunds_nothing_and_never_below_zero() -> None:
    assert refund_due(0, 0, SALE, None) == 0
    assert refund_due(10, 30, SALE, None) == 0
