"""Properties of returns over generated programs and purchases (the shipped strategies)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import Engine, LoyaltyError, open_store
from loyalty.ledger import EntryKind, balance_of
from loyalty.lots import lots_of
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.returns import Clawback, Return, Returned
from loyalty.testing.clock import ManualClock
from loyalty.testing.strategies import members, programs, purchases


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    programs(),
    purchases(),
    members(("M1", "M2", "M3")),
    st.lists(st.integers(0, 7), min_size=1, max_size=4),
    st.sampled_from(list(Clawback)),
)
def test_returns_never_take_back_more_than_was_earned(
    program: Program, purchase: Purchase, member: Member, orders: list[int], clawback: Clawback
) -> None:
    program = attrs.evolve(program, clawback=clawback)
    clock = ManualClock(purchase.at)
    engine = Engine(program, open_store("memory://"), clock=clock)
    try:
        engine.enroll(
            purchase.member_id,
            at=purchase.at - timedelta(days=1),
            birthday=member.birthday,
            attributes=member.attributes,
        )
        earned = engine.record_purchase(purchase).points
    except LoyaltyError:
        return  # a generated purchase the program refuses (a version window, say) is not the point
    taken = owed = uncollected = 0
    left: dict[str, Decimal] = {}
    whole: dict[str, bool] = {}
    for line in purchase.lines:
        left[line.sku] = left.get(line.sku, Decimal(0)) + Decimal(line.quantity)
        whole[line.sku] = whole.get(line.sku, True) and isinstance(line.quantity, int)
    for n, pick in enumerate(orders):
        skus = sorted(sku for sku, quantity in left.items() if quantity)
        if not skus:
            break
        sku = skus[pick % len(skus)]
        # One unit of what is sold in units; all that is left of weighed goods.
        quantity = Decimal(1) if whole[sku] else left[sku]
        back = engine.record_return(Return(f"R{n}", purchase.id, purchase.at, (Returned(sku, quantity),)))
        left[sku] -= quantity
        taken, owed, uncollected = taken + back.taken_back, owed + back.owed, uncollected + back.uncollected
        assert back.now_earns >= 0
        assert taken + owed + uncollected <= earned
    history = engine.history(purchase.member_id)
    assert engine.lots(purchase.member_id) == lots_of(history)
    assert engine.balance(purchase.member_id).total == balance_of(history)
    assert -sum(e.points for e in history if e.kind is EntryKind.RETURN) == taken
    if clawback is Clawback.CLAMP:
        assert balance_of(history) >= 0
