"""Returns decided from a snapshot: what is taken back, from which lots, and what is refunded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loyalty.earning import evaluate, tally_keys
from loyalty.ledger import EntryKind
from loyalty.lots import Lot
from loyalty.plans import Account, planned_lot
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.return_plans import ReturnSnapshot, plan_return
from loyalty.returns import Clawback, Return, Returned, paid_key, refunded_key, returned_key, taken_key
from loyalty.tallies import Tally

T = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
LATER = T + timedelta(days=3)
SALE = Purchase(
    "T1", "M1", T, [Line("shirt", 2, Decimal("20.00")), Line("socks", 1, Decimal("10.00"))], "EUR"
)


def snapshot(program: Program, returned: Return, lots: tuple[Lot, ...], paid: int = 0) -> ReturnSnapshot:
    own, shared = tally_keys(program, SALE, None)
    context = {key: Tally() for key in (*own, *shared)}
    receipt = evaluate(program, SALE, tallies=context).receipt  # 50 points
    state = {key: Tally() for key in (returned_key("T1", 0), returned_key("T1", 1), taken_key("T1"))}
    state |= {paid_key("T1"): Tally(0, Decimal(paid)), refunded_key("T1"): Tally()}
    balance = sum(lot.remaining for lot in lots)
    account = Account("M1", balance, lots=lots)
    return ReturnSnapshot(
        returned, SALE, receipt, program, (program,), LATER, None, context, state, account, 1, None, None
    )


def test_a_void_takes_back_what_the_purchase_earned_from_its_own_lot_first() -> None:
    lots = (Lot(1, "M1", 50, 50, T), Lot(2, "M1", 30, 30, T - timedelta(days=9)))
    decided = plan_return(snapshot(Program("Club", "EUR"), Return("R1", "T1", LATER), lots))
    (posting,) = decided.plan.postings
    assert (posting.kind, posting.points, posting.draws) == (EntryKind.RETURN, -50, ((1, -50),))
    receipt = decided.receipt
    assert (receipt.void, receipt.earned, receipt.now_earns, receipt.taken_back) == (True, 50, 0, 50)
    assert receipt.balance_after == 30
    assert dict(decided.plan.tallies)[taken_key("T1")] == Tally(1, Decimal(50))


def test_a_part_return_takes_back_the_difference() -> None:
    lots = (Lot(1, "M1", 50, 50, T),)
    returned = Return("R1", "T1", LATER, (Returned("shirt", 1),))
    decided = plan_return(snapshot(Program("Club", "EUR"), returned, lots))
    assert (decided.receipt.now_earns, decided.receipt.taken_back) == (30, 20)
    assert dict(decided.plan.tallies)[returned_key("T1", 0)] == Tally(0, Decimal(1))


def test_points_already_spent_are_owed_under_a_future_clawback() -> None:
    lots = (Lot(1, "M1", 50, 20, T),)
    decided = plan_return(
        snapshot(Program("Club", "EUR", clawback=Clawback.FUTURE), Return("R1", "T1", LATER), lots)
    )
    assert (decided.receipt.taken_back, decided.receipt.owed) == (20, 30)
    assert dict(decided.plan.tallies)["owed|M1"] == Tally(0, Decimal(30))
    assert decided.receipt.balance_after == 0


def test_a_refund_comes_first_and_the_take_back_may_draw_on_its_new_lot() -> None:
    lots = (Lot(1, "M1", 50, 10, T),)
    decided = plan_return(snapshot(Program("Club", "EUR"), Return("R1", "T1", LATER), lots, paid=60))
    refund, take = decided.plan.postings
    assert (refund.kind, refund.points) == (EntryKind.REFUND, 60)
    assert (take.kind, take.points, take.draws) == (EntryKind.RETURN, -50, ((1, -10), (planned_lot(0), -40)))
    assert (decided.receipt.refunded, decided.receipt.balance_after) == (60, 20)
