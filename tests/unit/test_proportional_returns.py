"""Proportional returns decided purely: the amount returned at the base rate, rounded as earning rounds,
never more than the purchase earned, and the same whether the goods come back at once or in parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.earning import earn, evaluate, tally_keys
from loyalty.errors import ConfigError
from loyalty.lots import Lot
from loyalty.plans import Account
from loyalty.program import EarnRate, Program
from loyalty.proportional import proportional_take
from loyalty.purchases import Line, Purchase
from loyalty.return_plans import ReturnSnapshot, plan_return
from loyalty.returns import Return, Returned, ReturnPolicy, paid_key, refunded_key, returned_key, taken_key
from loyalty.rules import Multiplier
from loyalty.tallies import Tally

T = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
TENS = Program("Club", "EUR", rate=EarnRate(1, Decimal("10.00")), returns="proportional")
SALE = Purchase(
    "T1",
    "M1",
    T,
    [Line("shirt", 2, Decimal("12.50")), Line("socks", 3, Decimal("4.00"), tax=Decimal("2.00"))],
    "EUR",
)


def test_the_amount_returned_earns_at_the_base_rate_rounded_as_earning_rounds() -> None:
    # 12.50 back at 1 point per 10.00 is 1.25 points: floor 1, half_up 1, and 2 for 17.50 under half_up.
    assert proportional_take(TENS, SALE, {0: Decimal(1)}, earned=3, taken=0).take == 1
    half_up = Program(
        "Club", "EUR", rate=EarnRate(1, Decimal("10.00")), rounding="half_up", returns="proportional"
    )
    assert proportional_take(half_up, SALE, {0: Decimal(1), 1: Decimal(1)}, earned=3, taken=0).take == 2


def test_a_return_below_one_rate_step_takes_nothing_under_floor() -> None:
    share = proportional_take(TENS, SALE, {1: Decimal(2)}, earned=3, taken=0)
    assert (share.amount, share.due, share.take) == (Decimal("8.00"), 0, 0)


def test_tax_is_left_out_of_the_amount_when_the_program_earns_without_it() -> None:
    exclusive = Program(
        "Club", "EUR", rate=EarnRate(1, Decimal("1.00")), tax="exclusive", returns="proportional"
    )
    # 3 socks at 4.00 with 2.00 tax: all three back is 10.00 without tax.
    share = proportional_take(exclusive, SALE, {1: Decimal(3)}, earned=35, taken=0)
    assert (share.amount, share.take) == (Decimal("10.00"), 10)


def test_a_return_never_takes_more_than_the_purchase_earned() -> None:
    share = proportional_take(TENS, SALE, {0: Decimal(2)}, earned=1, taken=0)
    assert (share.due, share.take) == (1, 1)
    assert share.detail == (
        "25.00 EUR returned so far at 1 point per 10.00 EUR: 2 points (floor), 0 taken before"
        "; at most the 1 it earned"
    )


def test_once_nothing_is_left_the_rest_of_what_it_earned_goes() -> None:
    # A multiplier doubled the sale: the rate alone would take 3 of the 6, but a full return takes all.
    share = proportional_take(TENS, SALE, {0: Decimal(2), 1: Decimal(3)}, earned=6, taken=2)
    assert (share.due, share.take) == (6, 4)
    assert share.detail == (
        "37.00 EUR returned so far at 1 point per 10.00 EUR: 3 points (floor), 2 taken before"
        "; nothing left, so all it earned"
    )


def test_points_kept_in_hundredths_are_taken_back_in_hundredths() -> None:
    # Scale 2: the rate, like every point figure, counts hundredths (100 is 1.00 point).
    fine = Program("Club", "EUR", rate=EarnRate(100, Decimal("10.00")), scale=2, returns="proportional")
    share = proportional_take(fine, SALE, {0: Decimal(1)}, earned=370, taken=0)
    assert (share.take, share.detail.split(": ")[1]) == (125, "1.25 points (floor), 0.00 taken before")


def test_a_program_without_a_base_rate_cannot_return_proportionally() -> None:
    with pytest.raises(ConfigError) as info:
        Program.from_dict({"name": "Club", "currency": "EUR", "rate": False, "returns": "proportional"})
    assert [path for path, _ in info.value.problems] == ["returns"]


def test_the_return_policy_round_trips_through_json() -> None:
    assert Program.from_dict(TENS.to_dict()) == TENS
    assert TENS.to_dict()["returns"] == "proportional"
    assert Program("Club", "EUR").returns is ReturnPolicy.RECOMPUTE


lines = st.lists(
    st.tuples(st.integers(1, 5), st.decimals(Decimal("0.01"), Decimal("80.00"), places=2)),
    min_size=1,
    max_size=4,
)
programs = st.builds(
    lambda points, per, rounding, factor: Program(
        "Club",
        "EUR",
        rate=EarnRate(points, per),
        rounding=rounding,
        returns="proportional",
        rules=[Multiplier(id="x", factor=factor)] if factor != 1 else [],
    ),
    st.integers(1, 5),
    st.sampled_from([Decimal("1.00"), Decimal("3.00"), Decimal("10.00")]),
    st.sampled_from(["floor", "half_up", "half_even"]),
    st.sampled_from([Decimal(1), Decimal("0.5"), Decimal(2)]),
)


@given(programs, lines, st.data())
def test_part_returns_take_what_one_return_would_and_never_more_than_earned(
    program: Program, basket: list[tuple[int, Decimal]], data: st.DataObject
) -> None:
    sale = Purchase("T1", "M1", T, [Line(f"s{i}", q, p) for i, (q, p) in enumerate(basket)], "EUR")
    earned = earn(program, sale).points
    first = {i: Decimal(data.draw(st.integers(0, q))) for i, (q, _) in enumerate(basket)}
    second = {i: Decimal(data.draw(st.integers(int(first[i]), q))) for i, (q, _) in enumerate(basket)}
    one = proportional_take(program, sale, second, earned=earned, taken=0).take
    a = proportional_take(program, sale, first, earned=earned, taken=0).take
    b = proportional_take(program, sale, second, earned=earned, taken=a).take
    assert 0 <= a + b == one <= earned
    everything = {i: Decimal(q) for i, (q, _) in enumerate(basket)}
    assert proportional_take(program, sale, everything, earned=earned, taken=a).take == earned - a


def plan(program: Program, returned: Return, *, spent: int = 0) -> ReturnSnapshot:
    sale = Purchase("T1", "M1", T, [Line("shirt", 2, Decimal("25.00"))], "EUR")
    own, shared = tally_keys(program, sale, None)
    context = {key: Tally() for key in (*own, *shared)}
    receipt = evaluate(program, sale, tallies=context).receipt
    state = {
        key: Tally()
        for key in (
            returned_key("M1", "T1", 0),
            taken_key("M1", "T1"),
            paid_key("M1", "T1"),
            refunded_key("M1", "T1"),
        )
    }
    left = receipt.points - spent
    lots = (Lot(1, "M1", receipt.points, left, T),) if left else ()
    account = Account("M1", left, lots=lots)
    later = T + timedelta(days=1)
    return ReturnSnapshot(
        returned, sale, receipt, program, (program,), later, None, context, state, account, 1
    )


def test_the_return_receipt_says_how_a_proportional_take_back_was_worked_out() -> None:
    decided = plan_return(plan(TENS, Return("R1", "T1", T, [Returned("shirt", 1)]))).receipt
    assert (decided.earned, decided.taken_back, decided.now_earns, decided.policy) == (
        5,
        2,
        3,
        ReturnPolicy.PROPORTIONAL,
    )
    assert (
        decided.detail
        == "25.00 EUR returned so far at 1 point per 10.00 EUR: 2 points (floor), 0 taken before"
    )


def test_a_proportional_take_back_of_spent_points_follows_the_clawback() -> None:
    future = Program(
        "Club", "EUR", rate=EarnRate(1, Decimal("10.00")), returns="proportional", clawback="future"
    )
    decided = plan_return(plan(future, Return("R1", "T1", T, [Returned("shirt", 1)]), spent=4)).receipt
    assert (decided.taken_back, decided.owed, decided.balance_after) == (1, 1, 0)
