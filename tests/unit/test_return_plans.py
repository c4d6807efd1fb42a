"""Returns decided from a snapshot: what is taken back, from which lots, and what is refunded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from loyalty.earning import evaluate, tally_keys
from loyalty.expiry import Expiry
from loyalty.habits import spent_key
from loyalty.ledger import EntryKind
from loyalty.lots import DrawOrder, Lot
from loyalty.members import Member
from loyalty.plans import Account, planned_lot
from loyalty.program import EarnRate, Program
from loyalty.purchases import Line, Purchase
from loyalty.return_plans import ReturnPlan, ReturnSnapshot, plan_return
from loyalty.returns import Clawback, Return, Returned, paid_key, refunded_key, returned_key, taken_key
from loyalty.rules import BirthdayBonus, FirstPurchase, SpendRule
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
    state = {
        key: Tally()
        for key in (returned_key("M1", "T1", 0), returned_key("M1", "T1", 1), taken_key("M1", "T1"))
    }
    state |= {paid_key("M1", "T1"): Tally(0, Decimal(paid)), refunded_key("M1", "T1"): Tally()}
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
    assert dict(decided.plan.tallies)[taken_key("M1", "T1")] == Tally(1, Decimal(50))


def test_a_part_return_takes_back_the_difference() -> None:
    lots = (Lot(1, "M1", 50, 50, T),)
    returned = Return("R1", "T1", LATER, (Returned("shirt", 1),))
    decided = plan_return(snapshot(Program("Club", "EUR"), returned, lots))
    assert (decided.receipt.now_earns, decided.receipt.taken_back) == (30, 20)
    assert dict(decided.plan.tallies)[returned_key("M1", "T1", 0)] == Tally(0, Decimal(1))


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


def plan_of(
    program: Program,
    returned: Return,
    lots: tuple[Lot, ...] = (),
    *,
    sale: Purchase = SALE,
    points: int | None = None,
    state: dict[str, Tally] | None = None,
    paid: int = 0,
    member: Member | None = None,
    versions: tuple[Program, ...] | None = None,
) -> ReturnPlan:
    """``plan_return`` on ``sale`` as recorded (``points``: as if it had been recorded earning so)."""
    own, shared = tally_keys(program, sale, member)
    context = {key: Tally() for key in (*own, *shared)}
    receipt = evaluate(program, sale, member=member, tallies=context).receipt
    if points is not None:
        receipt = attrs.evolve(receipt, points=points)
    lines = range(len(sale.lines))
    read = {key: Tally() for key in (*(returned_key("M1", "T1", i) for i in lines), taken_key("M1", "T1"))}
    read |= {paid_key("M1", "T1"): Tally(0, Decimal(paid)), refunded_key("M1", "T1"): Tally()}
    read |= state or {}
    account = Account("M1", sum(lot.remaining for lot in lots), lots=lots)
    return plan_return(
        ReturnSnapshot(
            returned, sale, receipt, program, versions or (program,), LATER, member, context, read, account, 1
        )
    )


def test_a_whole_line_returned_keeps_what_the_lines_after_it_earn() -> None:
    sale = Purchase(
        "T1", "M1", T, [Line("shirt", 1, Decimal("60.00")), Line("socks", 1, Decimal("5.00"))], "EUR"
    )
    returned = Return("R1", "T1", LATER, (Returned("shirt", 1),))
    decided = plan_of(Program("Club", "EUR"), returned, (Lot(1, "M1", 65, 65, T),), sale=sale)
    assert (decided.receipt.taken_back, decided.receipt.now_earns) == (60, 5)
    assert decided.plan.postings[0].reason == "return of T1: 60 of the 60 points its goods earned taken back"


def test_points_are_taken_back_from_the_own_lot_then_pending_then_available_ones() -> None:
    lots = (
        Lot(1, "M1", 50, 10, T),
        Lot(2, "M1", 20, 20, T - timedelta(days=20), expires_at=T + timedelta(days=100)),
        Lot(3, "M1", 15, 15, T - timedelta(days=9), expires_at=T + timedelta(days=30)),
        Lot(4, "M1", 15, 15, T, vests_at=LATER + timedelta(days=1)),
    )
    soonest = plan_of(Program("Club", "EUR"), Return("R1", "T1", LATER), lots)
    assert soonest.plan.postings[0].draws == ((1, -10), (4, -15), (3, -15), (2, -10))
    oldest = plan_of(
        Program("Club", "EUR", expiry=Expiry(draw=DrawOrder.OLDEST_EARNED)), Return("R1", "T1", LATER), lots
    )
    assert oldest.plan.postings[0].draws == ((1, -10), (4, -15), (2, -20), (3, -5))


def test_a_void_and_a_part_return_say_which_they_were() -> None:
    lots = (Lot(1, "M1", 50, 50, T),)
    void = plan_of(Program("Club", "EUR"), Return("R1", "T1", LATER), lots)
    assert void.plan.postings[0].reason == "void of T1: 50 of the 50 points its goods earned taken back"
    part = plan_of(
        Program("Club", "EUR", returns="proportional", rate=EarnRate(1, Decimal(1))),
        Return("R1", "T1", LATER, (Returned("socks", 1),)),
        lots,
    )
    assert part.plan.postings[0].reason == (
        "return of T1: 10 of the 10 points the amount returned earns taken back"
    )


def test_the_first_return_measures_from_what_the_purchase_was_recorded_earning() -> None:
    # Recorded at 40 (say under an earlier release): the shirt's 20 points are not all there to take.
    returned = Return("R1", "T1", LATER, (Returned("shirt", 1),))
    decided = plan_of(Program("Club", "EUR"), returned, (Lot(1, "M1", 40, 40, T),), points=40)
    assert (decided.receipt.earned, decided.receipt.taken_back) == (40, 10)


def test_the_returns_of_a_purchase_never_take_more_than_it_earned() -> None:
    state = {returned_key("M1", "T1", 0): Tally(0, Decimal(1)), taken_key("M1", "T1"): Tally(1, Decimal(35))}
    decided = plan_of(
        Program("Club", "EUR"), Return("R1", "T1", LATER), (Lot(1, "M1", 50, 15, T),), state=state
    )
    # What is left earns 30, but only 15 of the 50 earned are still to take.
    assert decided.receipt.taken_back == 15
    assert dict(decided.plan.tallies)[taken_key("M1", "T1")] == Tally(1, Decimal(15))


def test_a_later_return_recomputes_with_the_tallies_the_purchase_was_evaluated_with() -> None:
    program = Program("Club", "EUR", rules=[FirstPurchase(id="welcome", points=100)])
    own, shared = tally_keys(program, SALE, None)
    assert "visits|M1" in (*own, *shared)
    # The member had visited before: no welcome, then or when recomputed.
    state = {returned_key("M1", "T1", 0): Tally(0, Decimal(1)), taken_key("M1", "T1"): Tally(1, Decimal(20))}
    snap = attrs.evolve(
        snapshot(program, Return("R2", "T1", LATER, (Returned("shirt", 1),)), (Lot(1, "M1", 50, 30, T),)),
        context={key: Tally(1, Decimal(0)) if key == "visits|M1" else Tally() for key in (*own, *shared)},
    )
    snap = attrs.evolve(snap, receipt=attrs.evolve(snap.receipt, points=50), state={**snap.state, **state})
    assert plan_return(snap).receipt.taken_back == 20


def test_a_return_gives_back_the_budget_and_the_month_spend_the_goods_used() -> None:
    program = Program(
        "Club", "EUR", rules=[SpendRule(id="double", points=1, budget=10_000)], timezone="Europe/Amsterdam"
    )
    at = datetime(2024, 3, 31, 23, 30, tzinfo=UTC)  # 1 April in Amsterdam
    sale = attrs.evolve(SALE, at=at)
    part = plan_of(program, Return("R1", "T1", LATER, (Returned("shirt", 1),)), sale=sale)
    tallies = dict(part.plan.tallies)
    assert tallies[spent_key("M1", "2024-04")] == Tally(0, Decimal("-20.00"))
    assert {t for k, t in tallies.items() if k.startswith("budget|")} == {Tally(0, Decimal(-20))}
    void = plan_of(program, Return("R1", "T1", LATER), sale=sale)
    assert dict(void.plan.tallies)[spent_key("M1", "2024-04")] == Tally(-1, Decimal("-50.00"))


def test_a_refund_opens_a_lot_dated_as_points_earned_at_the_return() -> None:
    program = Program("Club", "EUR", pending_days=14, expiry=Expiry("lifetime", days=30, from_vesting=True))
    decided = plan_of(program, Return("R1", "T1", LATER), paid=60)
    refund = decided.plan.postings[0]
    # Given back at once, not pending: it expires 30 days from the return itself.
    assert (refund.kind, refund.vests_at, refund.expires_at) == (
        EntryKind.REFUND,
        None,
        LATER + timedelta(days=30),
    )
    assert dict(decided.plan.tallies)[refunded_key("M1", "T1")] == Tally(0, Decimal(60))


def test_a_refund_rolls_with_the_members_lots_under_an_inactivity_expiry() -> None:
    program = Program("Club", "EUR", expiry=Expiry("inactivity", months=6))
    refund = plan_of(program, Return("R1", "T1", LATER), paid=60).plan.postings[0]
    assert (refund.kind, refund.rolling) == (EntryKind.REFUND, True)


def test_the_postings_are_dated_by_the_till_recorded_now_and_keyed_by_the_return() -> None:
    at = LATER - timedelta(hours=1)
    decided = plan_of(Program("Club", "EUR"), Return("R1", "T1", at), (Lot(1, "M1", 50, 50, T),), paid=60)
    refund, take = decided.plan.postings
    assert (refund.occurred_at, refund.recorded_at, refund.source_id) == (at, LATER, "R1")
    assert refund.reason == "60 points paid for returned goods of T1"
    assert (take.occurred_at, take.recorded_at, take.source_id) == (at, LATER, "R1")


def test_a_return_before_the_programs_first_dated_version_draws_in_that_versions_order() -> None:
    # A purchase kept from before the program's versions were dated still comes back.
    program = Program(
        "Club", "EUR", effective_from=LATER + timedelta(days=1), expiry=Expiry(draw=DrawOrder.OLDEST_EARNED)
    )
    lots = (
        Lot(1, "M1", 50, 30, T),
        Lot(2, "M1", 20, 20, T - timedelta(days=20), expires_at=T + timedelta(days=100)),
        Lot(3, "M1", 20, 20, T - timedelta(days=9), expires_at=T + timedelta(days=30)),
    )
    decided = plan_of(program, Return("R1", "T1", LATER), lots)
    assert decided.plan.postings[0].draws == ((1, -30), (2, -20))


def test_a_later_return_recomputes_with_the_member_the_purchase_was_evaluated_with() -> None:
    program = Program("Club", "EUR", rules=[BirthdayBonus(id="birthday", points=100)])
    member = Member("M1", T - timedelta(days=400), birthday=T.date())
    state = {returned_key("M1", "T1", 0): Tally(0, Decimal(1)), taken_key("M1", "T1"): Tally(1, Decimal(20))}
    returned = Return("R2", "T1", LATER, (Returned("shirt", 1),))
    decided = plan_of(program, returned, (Lot(1, "M1", 150, 130, T),), state=state, member=member)
    # The birthday bonus stays with the socks: 130 earned before this return, 110 after it.
    assert (decided.receipt.earned, decided.receipt.now_earns, decided.receipt.taken_back) == (150, 110, 20)


def test_a_refund_gets_the_dates_of_a_version_that_redated_earlier_points_by_now() -> None:
    earned_under = Program("Club", "EUR", expiry=Expiry("lifetime", days=30))
    at = LATER - timedelta(hours=1)
    redating = Program(
        "Club",
        "EUR",
        version="2",
        effective_from=LATER - timedelta(minutes=30),
        expiry=Expiry("lifetime", days=10, redate_earlier=True),
    )
    decided = plan_of(earned_under, Return("R1", "T1", at), paid=60, versions=(earned_under, redating))
    # Given back before the new version, written after it: its dates, like the points it re-dated.
    assert decided.plan.postings[0].expires_at == at + timedelta(days=10)
