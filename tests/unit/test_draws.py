"""Drawing points from lots in spending order (soonest-expiring or oldest-earned first), read only
as far as needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from loyalty.errors import InsufficientPoints
from loyalty.lots import Balance, DrawOrder, Lot, draw, draw_from, repayments, summarize, take_back


def test_drawing_from_a_lazy_order_reads_only_the_lots_it_takes() -> None:
    t = datetime(2024, 3, 1, tzinfo=UTC)
    lots = [Lot(n, "M1", 10, 10, t, expires_at=t + timedelta(days=n)) for n in range(1, 6)]
    read: list[int] = []

    def lazily() -> Iterator[Lot]:
        for lot in lots:
            read.append(lot.id)
            yield lot

    assert draw_from(lazily(), 20, 50) == ((1, -10), (2, -10))
    assert read == [1, 2]  # the second lot covers it: the third is never asked for
    assert draw_from(iter(lots), 20, 50) == draw(lots, 20, t)
    with pytest.raises(InsufficientPoints) as info:
        draw_from(lazily(), 20, 15)
    assert (info.value.available, info.value.requested) == (15, 20)
    assert draw_from(lazily(), 0, 0) == ()


T = datetime(2024, 3, 1, tzinfo=UTC)
#: Earned in the order 1, 2, 3, 4; they expire 3, 1, never, 2 (lot 4 is still pending on T + 10d).
LOTS = [
    Lot(1, "M1", 10, 10, T, expires_at=T + timedelta(days=90)),
    Lot(2, "M1", 10, 10, T + timedelta(days=1), expires_at=T + timedelta(days=30)),
    Lot(3, "M1", 10, 10, T + timedelta(days=2)),
    Lot(
        4,
        "M1",
        10,
        10,
        T + timedelta(days=3),
        vests_at=T + timedelta(days=14),
        expires_at=T + timedelta(days=60),
    ),
]
NOW = T + timedelta(days=10)


@pytest.mark.parametrize(
    ("order", "first_three"),
    [
        (DrawOrder.SOONEST_EXPIRING, ((2, -10), (1, -10), (3, -5))),
        (DrawOrder.OLDEST_EARNED, ((1, -10), (2, -10), (3, -5))),
    ],
)
def test_a_draw_takes_available_lots_in_the_programs_order(
    order: DrawOrder, first_three: tuple[tuple[int, int], ...]
) -> None:
    assert draw(LOTS, 25, NOW, order=order) == first_three
    # Pending points come after every available one, whatever the order.
    assert draw(LOTS, 40, NOW, pending=True, order=order)[-1] == (4, -10)
    with pytest.raises(InsufficientPoints):
        draw(LOTS, 31, NOW, order=order)


def test_oldest_earned_breaks_ties_by_lot_and_never_takes_expired_points() -> None:
    same_time = [Lot(7, "M1", 5, 5, T), Lot(6, "M1", 5, 5, T), Lot(5, "M1", 5, 5, T, expires_at=T)]
    assert draw(same_time, 10, NOW, order=DrawOrder.OLDEST_EARNED) == ((6, -5), (7, -5))


def test_a_return_takes_its_own_lot_first_then_pending_then_the_programs_order() -> None:
    assert take_back(LOTS, 25, 3, NOW, DrawOrder.OLDEST_EARNED) == ((3, -10), (4, -10), (1, -5))
    assert take_back(LOTS, 25, 3, NOW, DrawOrder.SOONEST_EXPIRING) == ((3, -10), (4, -10), (2, -5))


def test_a_lot_is_spent_until_just_before_its_expiry_instant_and_to_its_last_point() -> None:
    ends = T + timedelta(days=30)
    lots = [Lot(1, "M1", 10, 1, T, expires_at=ends), Lot(2, "M1", 10, 0, T), Lot(3, "M1", 10, 4, T)]
    # One point left is drawn; a spent lot is never named; the lot is usable up to the instant before.
    assert draw(lots, 3, ends - timedelta(microseconds=1)) == ((1, -1), (3, -2))
    assert take_back(lots, 3, None, ends - timedelta(microseconds=1)) == ((1, -1), (3, -2))
    # At its expiry instant the lot is overdue: neither spent nor taken back by a return.
    assert draw(lots, 3, ends) == ((3, -3),)
    assert take_back(lots, 5, 1, ends) == ((3, -4),)
    assert summarize(lots, ends) == Balance(available=4, overdue=1)


def test_a_debt_counts_against_the_points_a_draw_can_reach() -> None:
    lots = [Lot(1, "M1", 10, 10, T), Lot(2, "M1", -4, -4, T)]
    assert draw(lots, 6, NOW) == ((1, -6),)
    with pytest.raises(InsufficientPoints) as info:
        draw(lots, 7, NOW)
    assert str(info.value) == "points: 7 requested but only 6 available"
    assert (info.value.available, info.value.requested) == (6, 7)


def test_a_credit_repays_debts_oldest_first_as_far_as_its_points_go() -> None:
    debts = [Lot(9, "M1", -5, -5, T), Lot(3, "M1", -4, -4, T), Lot(6, "M1", -5, -2, T)]
    assert repayments(debts, 7) == ((3, 4), (6, 2), (9, 1))
    assert repayments(debts, 4) == ((3, 4),)
    assert repayments(debts, 20) == ((3, 4), (6, 2), (9, 5))
    assert repayments([], 5) == ()


def test_a_balance_adds_up_every_lot_in_each_state() -> None:
    later = T + timedelta(days=5)
    lots = [
        Lot(1, "M1", 3, 3, T),
        Lot(2, "M1", 4, 4, T),
        Lot(3, "M1", 5, 5, T, vests_at=T + timedelta(days=14)),
        Lot(4, "M1", 6, 6, T, vests_at=T + timedelta(days=14)),
        Lot(5, "M1", 7, 7, T, expires_at=later),
        Lot(6, "M1", 8, 8, T, expires_at=later),
    ]
    balance = summarize(lots, later)
    assert balance == Balance(available=7, pending=11, overdue=15)
    # What a redemption may take, and a staff correction (pending points too).
    assert (balance.reach(), balance.reach(pending=True)) == (7, 18)
