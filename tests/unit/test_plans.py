"""Plans: a credit repays debts, collects what is owed and rolls with the member's lots, as the
ledger would; balances are decided with the postings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty.checks import MAX_POINTS
from loyalty.errors import PointsOverflow
from loyalty.ledger import EntryKind, Posting
from loyalty.lots import Lot
from loyalty.plans import Account, Planner, planned_lot
from loyalty.tallies import Tally

T = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def earn(points: int, member: str = "M1", expires_at: datetime | None = None) -> Posting:
    return Posting(member, EntryKind.EARN, points, T, T, "T1", "purchase", expires_at=expires_at)


def debt(lot_id: int, remaining: int) -> Lot:
    return Lot(lot_id, "M1", remaining, remaining, T)


def test_a_plain_credit_is_one_posting_moving_the_balance() -> None:
    planner = Planner([Account("M1", balance=7)])
    assert planner.credit(earn(10)) == 0
    plan = planner.plan()
    assert plan.postings == (earn(10),)
    assert plan.balances == (17,)
    assert dict(plan.tallies) == {}
    assert planner.balance("M1") == 17


def test_a_credit_repays_debts_oldest_first_out_of_its_own_points() -> None:
    account = Account("M1", balance=-8, debt=8, debts=(debt(9, -5), debt(4, -3)))
    planner = Planner([account])
    planner.credit(earn(6))
    plan = planner.plan()
    assert plan.postings[0].draws == ((4, 3), (9, 3))
    assert plan.balances == (-2,)
    assert dict(plan.tallies) == {"debt|M1": Tally(0, Decimal(-6))}


def test_a_second_credit_repays_what_the_first_left() -> None:
    planner = Planner([Account("M1", balance=-8, debt=8, debts=(debt(4, -8),))])
    planner.credit(earn(5))
    planner.credit(earn(5))
    plan = planner.plan()
    assert [p.draws for p in plan.postings] == [((4, 5),), ((4, 3),)]
    assert plan.balances == (-3, 2)
    assert dict(plan.tallies) == {"debt|M1": Tally(0, Decimal(-8))}


def test_what_is_owed_is_collected_from_the_lot_the_credit_opens() -> None:
    planner = Planner([Account("M1", balance=0, owed=30)])
    assert planner.credit(earn(20)) == 0
    assert planner.credit(earn(20)) == 2
    plan = planner.plan()
    kinds = [(p.kind, p.points, p.draws) for p in plan.postings]
    assert kinds == [
        (EntryKind.EARN, 20, ()),
        (EntryKind.COLLECT, -20, ((planned_lot(0), -20),)),
        (EntryKind.EARN, 20, ()),
        (EntryKind.COLLECT, -10, ((planned_lot(2), -10),)),
    ]
    assert plan.balances == (20, 0, 20, 10)
    assert dict(plan.tallies) == {"owed|M1": Tally(0, Decimal(-30))}


def test_a_rolling_credit_expires_with_the_members_latest_lot_or_later() -> None:
    later, sooner = T + timedelta(days=90), T + timedelta(days=30)
    planner = Planner([Account("M1", balance=0, rolling_until=later)], rolling=True)
    planner.credit(earn(5, expires_at=sooner))
    planner.credit(earn(5, expires_at=later + timedelta(days=1)))
    planner.credit(earn(5, expires_at=None))
    dates = [(p.rolling, p.expires_at) for p in planner.plan().postings]
    assert dates == [(True, later), (True, later + timedelta(days=1)), (True, later + timedelta(days=1))]


def test_credits_to_two_members_move_their_own_balances() -> None:
    planner = Planner([Account("M1", balance=1), Account("M2", balance=100)])
    planner.credit(earn(10, "M2"))
    planner.credit(earn(10, "M1"))
    assert planner.plan().balances == (110, 11)
    assert (planner.balance("M1"), planner.balance("M2")) == (11, 110)


def test_a_balance_leaving_the_64_bit_range_is_refused() -> None:
    planner = Planner([Account("M1", balance=MAX_POINTS - 1)])
    with pytest.raises(PointsOverflow):
        planner.credit(earn(2))
    assert planner.plan().postings == ()


def test_tracked_lots_move_with_the_postings_and_new_lots_sort_last() -> None:
    lots = (Lot(3, "M1", 10, 10, T), Lot(7, "M1", 5, 5, T))
    planner = Planner([Account("M1", balance=15, lots=lots)])
    planner.post(Posting("M1", EntryKind.REDEEM, -12, T, T, "R1", "redemption", draws=((3, -10), (7, -2))))
    planner.credit(earn(4))
    assert [(lot.id, lot.remaining) for lot in planner.lots("M1")] == [(7, 3), (planned_lot(1), 4)]


def test_a_credit_after_a_take_back_repays_the_debt_it_left() -> None:
    planner = Planner([Account("M1", balance=0)])
    take = Posting("M1", EntryKind.RETURN, -10, T, T, "R1", "return")
    planner.post(take)  # nothing to draw from: a debt lot of -10 opens
    planner.owe("M1", debt=10)
    planner.credit(earn(25))
    plan = planner.plan()
    assert plan.postings[1].draws == ((planned_lot(0), 10),)
    assert plan.balances == (-10, 15)
    assert dict(plan.tallies) == {"debt|M1": Tally(0, Decimal(0))}  # added and repaid in one plan


def test_a_credit_after_a_take_back_collects_what_it_left_owing() -> None:
    planner = Planner([Account("M1", balance=0)])
    planner.owe("M1", owed=7)
    planner.credit(earn(20))
    assert [(p.kind, p.points) for p in planner.plan().postings] == [
        (EntryKind.EARN, 20),
        (EntryKind.COLLECT, -7),
    ]


def test_only_a_lot_that_stays_open_moves_the_rolling_date() -> None:
    sooner, later = T + timedelta(days=30), T + timedelta(days=60)
    planner = Planner([Account("M1", balance=0, owed=50, rolling_until=sooner)], rolling=True)
    planner.credit(earn(5, expires_at=later))  # all of it collected: no lot stays open
    planner.owe("M1", owed=-45)
    planner.credit(earn(5, expires_at=T + timedelta(days=10)))
    assert planner.plan().postings[-1].expires_at == sooner


def test_a_credit_can_roll_under_another_version_than_the_plans() -> None:
    planner = Planner([Account("M1", balance=0, rolling_until=T + timedelta(days=90))], rolling=False)
    planner.credit(earn(5, expires_at=T + timedelta(days=30)), rolling=True)
    planner.credit(earn(5, expires_at=T + timedelta(days=30)))
    first, second = planner.plan().postings
    assert (first.rolling, first.expires_at) == (True, T + timedelta(days=90))
    assert (second.rolling, second.expires_at) == (False, T + timedelta(days=30))
