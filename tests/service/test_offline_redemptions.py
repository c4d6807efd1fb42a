"""Offline redemptions and the program's other terms, on every adapter: limits and statuses still
apply within an allowance, a later allowance takes over, points paid for a purchase come back with
its return, and a refused request writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import (
    Engine,
    InsufficientPoints,
    InvalidPoints,
    MemberNotActive,
    MemberStatus,
    PointsOverflow,
    Program,
    RedemptionLimit,
    Return,
)
from loyalty.checks import MAX_POINTS
from loyalty.ledger import balance_of
from loyalty.program import EarnRate
from loyalty.redemption import Redemption
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import T0, sale

HOUR = timedelta(hours=1)


def start(store: Store, *, clawback: str = "clamp", **terms: object) -> Engine:
    """M1, enrolled two hours before T0, with 100 points (a 1.00 EUR purchase at 1 point per cent),
    till-7 granted 500 a member from T0 for 8 hours; the engine hears of the till's redemptions
    10 hours after T0."""
    program = Program(
        "Club",
        "EUR",
        rate=EarnRate(100, Decimal("1.00")),
        redemption=Redemption(**terms),  # type: ignore[arg-type]
        clawback=clawback,
    )
    engine = Engine(program, store, clock=lambda: T0 + 10 * HOUR)
    engine.enroll("M1", at=T0 - 2 * HOUR)
    engine.record_purchase(sale("P0", "1.00"))
    engine.grant_offline_allowance(
        "till-7", id="A1", at=T0, per_member=500, total=1000, until=T0 + 8 * HOUR, actor="ops"
    )
    return engine


def test_an_offline_redemption_taking_the_balance_past_the_64_bit_edge_is_refused_unwritten(
    any_store: Store,
) -> None:
    # Under clawback "negative" an offline redemption may leave a debt; one past -(2**63 - 1) is
    # refused as any other write past the range, naming the points, and nothing is written.
    engine = start(any_store, clawback="negative")
    for till in ("till-8", "till-9"):
        engine.grant_offline_allowance(
            till,
            id=f"A-{till}",
            at=T0,
            per_member=MAX_POINTS,
            total=MAX_POINTS,
            until=T0 + 8 * HOUR,
            actor="ops",
        )
    engine.redeem("M1", MAX_POINTS, id="R1", at=T0, offline=True, terminal="till-8")
    assert engine.balance("M1").total == 100 - MAX_POINTS
    before = snapshot(any_store, ["M1"], ["R2"])
    with pytest.raises(PointsOverflow) as refused:
        engine.redeem("M1", 200, id="R2", at=T0, offline=True, terminal="till-9")
    assert refused.value.field == "points"
    assert snapshot(any_store, ["M1"], ["R2"]) == before
    assert [report.used for report in engine.offline_report("till-9")] == [0]


def test_the_programs_limits_apply_within_an_allowance_and_a_decline_is_counted(any_store: Store) -> None:
    engine = start(any_store, minimum=20, per_day=150)
    before = snapshot(any_store, ["M1"], ["R1"], [])
    with pytest.raises(InvalidPoints):
        engine.redeem("M1", 10, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
    assert snapshot(any_store, ["M1"], ["R1"], []) == before
    engine.redeem("M1", 120, id="R2", at=T0 + HOUR, offline=True, terminal="till-7")
    with pytest.raises(RedemptionLimit) as limited:
        engine.redeem("M1", 40, id="R3", at=T0 + 2 * HOUR, offline=True, terminal="till-7")
    assert (limited.value.limit, limited.value.available) == ("per_day", 30)
    [report] = engine.offline_report("till-7")
    assert [(u.points, u.shortfall, u.declined) for u in report.members] == [(120, 20, 1)]


def test_a_suspended_member_cannot_redeem_offline(any_store: Store) -> None:
    engine = start(any_store)
    engine.change_status("M1", MemberStatus.SUSPENDED, id="S1", at=T0, reason="fraud check", actor="ops")
    with pytest.raises(MemberNotActive):
        engine.redeem("M1", 50, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
    assert engine.offline_report("till-7")[0].members == ()


def test_the_latest_allowance_covering_a_redemption_is_the_one_it_counts_against(any_store: Store) -> None:
    engine = start(any_store)
    engine.grant_offline_allowance(
        "till-7", id="A2", at=T0 + 4 * HOUR, per_member=50, total=50, until=T0 + 6 * HOUR, actor="ops"
    )
    # Before A2 opened: A1's. During A2: A2's, whose 50 a member it passes (beyond, and short).
    engine.redeem("M1", 120, id="R1", at=T0 + HOUR, offline=True, terminal="till-7")
    with pytest.raises(InsufficientPoints):
        engine.redeem("M1", 60, id="R2", at=T0 + 5 * HOUR, offline=True, terminal="till-7")
    # After A2's window, A1 covers the till again.
    engine.redeem("M1", 10, id="R3", at=T0 + 7 * HOUR, offline=True, terminal="till-7")
    # After both, the latest opened (A2) is the one a decline counts against.
    with pytest.raises(InsufficientPoints):
        engine.redeem("M1", 10, id="R4", at=T0 + 9 * HOUR, offline=True, terminal="till-7")
    first, second = engine.offline_report("till-7")
    assert [(u.points, u.shortfall, u.declined) for u in first.members] == [(130, 30, 0)]
    assert [(u.points, u.declined) for u in second.members] == [(0, 2)]


def test_a_redemption_before_any_allowance_opened_is_an_ordinary_one(any_store: Store) -> None:
    engine = start(any_store)
    with pytest.raises(InsufficientPoints):
        engine.redeem("M1", 150, id="R1", at=T0 - HOUR, offline=True, terminal="till-7")
    assert (
        engine.redeem("M1", 50, id="R2", at=T0 - HOUR, offline=True, terminal="till-7").reason == "redemption"
    )
    assert engine.offline_report("till-7")[0].members == ()


@pytest.mark.parametrize(
    ("clawback", "refunded"),
    [("clamp", 150), ("future", 180), ("negative", 180)],
)
def test_points_paid_offline_for_a_purchase_come_back_with_its_return_as_far_as_the_member_bore_them(
    any_store: Store, clawback: str, refunded: int
) -> None:
    engine = start(any_store, clawback=clawback)
    engine.record_purchase(sale("P1", "0.50", at=T0 + HOUR))
    # 150 balance: all of it and 30 more paid offline for P1.
    engine.redeem("M1", 180, id="R1", at=T0 + HOUR, offline=True, terminal="till-7", purchase_id="P1")
    receipt = engine.record_return(Return("V1", "P1", T0 + 9 * HOUR))
    assert receipt.refunded == refunded
    # The void takes P1's 50 back; under clamp the 30 forgiven are not the member's to get back,
    # under future and negative the refund first settles the 30 owed or in debt.
    assert engine.balance("M1").available == 100 == balance_of(engine.history("M1"))
