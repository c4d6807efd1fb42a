"""Referrals: scenarios with exact numbers on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loyalty import (
    Clawback,
    Engine,
    EntryKind,
    InsufficientPoints,
    InvalidInput,
    Line,
    MemberAlreadyEnrolled,
    Program,
    Purchase,
    PurchaseBonus,
    ReferralCodeTaken,
    Return,
    Returned,
    UnknownReferralCode,
)
from loyalty.lots import lots_of
from loyalty.outbox import EventKind
from loyalty.referrals import ALPHABET, Referrals, ReferralState, cap_key
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def club(**terms: Any) -> Program:
    extra = terms.pop("program", {})
    return Program("Club", "EUR", referrals=Referrals(**terms), **extra)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


def setup(program: Program, store: Store, clock: ManualClock) -> tuple[Engine, str]:
    engine = Engine(program, store, clock=clock)
    engine.enroll("ann", at=T0, attributes={"phone": "h-ann"})
    return engine, engine.referral_code("ann")


def buy(engine: Engine, key: str, member: str, amount: str, at: datetime, quantity: int = 1) -> Any:
    return engine.record_purchase(
        Purchase(key, member, at, [Line("goods", quantity, Decimal(amount))], "EUR")
    )


def test_a_first_purchase_rewards_both_and_the_referrer_hears_of_it(
    any_store: Store, clock: ManualClock
) -> None:
    engine, code = setup(club(referrer_points=100, referee_share=Decimal("0.5")), any_store, clock)
    engine.enroll("bob", at=T0, referred_by=f" {code[:4].lower()}-{code[4:]} ")  # as a customer types it
    receipt = buy(engine, "B1", "bob", "60.00", T0)
    assert (receipt.points, receipt.balance_after) == (60, 90)  # 60 earned + half of it as a welcome
    assert engine.balance("ann").available == 100
    report = engine.referrals("ann")
    assert (report.code, report.points) == (code, 100)
    (bob,) = report.referred
    assert (bob.referee, bob.state, bob.purchase_id, bob.referrer_points, bob.referee_points) == (
        "bob",
        ReferralState.REWARDED,
        "B1",
        100,
        30,
    )
    assert engine.referrals("bob").referred_by == bob
    (event,) = engine.events()
    assert (event.kind, event.member_id, event.data["referee"], event.data["referrer_points"]) == (
        EventKind.REFERRAL_REWARDED,
        "ann",
        "bob",
        100,
    )
    assert buy(engine, "B2", "bob", "60.00", T0).balance_after == 150  # only the first purchase qualifies
    for member in ("ann", "bob"):
        assert engine.lots(member) == lots_of(engine.history(member))


def test_bonuses_wait_out_the_return_window_when_the_program_says_so(
    store: Store, clock: ManualClock
) -> None:
    program = club(referrer_points=100, referee_points=25, pending=True, program={"pending_days": 14})
    engine, code = setup(program, store, clock)
    engine.enroll("bob", at=T0, referred_by=code)
    buy(engine, "B1", "bob", "40.00", T0)
    assert (engine.balance("ann").pending, engine.balance("bob").pending) == (100, 65)
    assert engine.referrals("ann").referred[0].state is ReferralState.QUALIFIED
    with pytest.raises(InsufficientPoints):
        engine.redeem("ann", 50, id="R1", at=T0)
    clock.now = T0 + timedelta(days=14)
    assert engine.referrals("ann").referred[0].state is ReferralState.REWARDED
    assert (engine.balance("ann").available, engine.balance("bob").available) == (100, 65)


def test_returning_the_qualifying_purchase_takes_both_bonuses_back(
    any_store: Store, clock: ManualClock
) -> None:
    engine, code = setup(
        club(referrer_points=100, referee_points=25, min_spend=Decimal("50.00")), any_store, clock
    )
    engine.enroll("bob", at=T0, referred_by=code)
    engine.enroll("cat", at=T0, referred_by=code)
    buy(engine, "B1", "bob", "30.00", T0, quantity=2)
    buy(engine, "C1", "cat", "30.00", T0, quantity=2)
    # Bob's return leaves 30.00, below the minimum: no reward for it. Cat returns nothing.
    engine.record_return(Return("B1-R", "B1", clock.catch_up(T0 + timedelta(days=1)), [Returned("goods", 1)]))
    states = {r.referee: (r.state, r.reason) for r in engine.referrals("ann").referred}
    assert states == {
        "bob": (ReferralState.REJECTED, "the qualifying purchase B1 was returned: bonuses taken back"),
        "cat": (ReferralState.REWARDED, None),
    }
    assert (engine.balance("ann").total, engine.balance("bob").total) == (100, 30)
    assert engine.referrals("ann").points == 100
    taken = [(e.points, e.reason) for e in engine.history("ann") if e.kind is EntryKind.RETURN]
    assert taken == [(-100, "referral bonus taken back, B1 returned: 100 of 100")]


def test_a_spent_referral_bonus_comes_back_under_the_clawback(store: Store, clock: ManualClock) -> None:
    engine, code = setup(club(referrer_points=100, program={"clawback": Clawback.NEGATIVE}), store, clock)
    engine.enroll("bob", at=T0, referred_by=code)
    buy(engine, "B1", "bob", "10.00", T0)
    engine.redeem("ann", 80, id="ann-R", at=T0)
    engine.record_return(Return("B1-void", "B1", clock.catch_up(T0 + timedelta(days=1))))
    assert engine.balance("ann").total == -80
    assert engine.lots("ann") == lots_of(engine.history("ann"))


def test_a_cap_per_period_rejects_the_referrals_beyond_it(store: Store, clock: ManualClock) -> None:
    engine, code = setup(club(referrer_points=10, cap=2, cap_period="month"), store, clock)
    for name in ("b", "c", "d"):
        engine.enroll(name, at=T0, referred_by=code)
        buy(engine, f"{name}1", name, "5.00", clock.catch_up(T0 + timedelta(hours=1)))
    engine.enroll("e", at=T0, referred_by=code)
    buy(engine, "e1", "e", "5.00", clock.catch_up(datetime(2024, 4, 2, tzinfo=UTC)))  # a new month
    states = {r.referee: (r.state.value, r.reason) for r in engine.referrals("ann").referred}
    assert states == {
        "b": ("rewarded", None),
        "c": ("rewarded", None),
        "d": ("rejected", "the referrer already has 2 rewarded referrals this month"),
        "e": ("rewarded", None),
    }
    assert engine.balance("ann").total == 30


def test_the_referrers_rewarded_referrals_are_counted_under_the_periods_cap_key(
    store: Store, clock: ManualClock
) -> None:
    assert cap_key("2024-03", "ann") == "referrals|2024-03|ann"
    engine, code = setup(club(referrer_points=10, cap=2, cap_period="month"), store, clock)
    for name in ("b", "c"):
        engine.enroll(name, at=T0, referred_by=code)
        buy(engine, f"{name}1", name, "5.00", clock.catch_up(T0 + timedelta(hours=1)))
    engine.record_return(
        Return("c1-void", "c1", clock.catch_up(T0 + timedelta(days=1)))
    )  # taken back: counts off
    month = T0.strftime("%Y-%m")
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tallies([cap_key(month, "ann")])[cap_key(month, "ann")].count == 1


def test_first_purchases_that_do_not_qualify_are_rejected_with_why(store: Store, clock: ManualClock) -> None:
    engine, code = setup(club(referrer_points=10, min_spend=Decimal("20.00"), within_days=30), store, clock)
    engine.enroll("small", at=T0, referred_by=code)
    engine.enroll("late", at=T0, referred_by=code)
    buy(engine, "S1", "small", "19.99", T0)
    buy(engine, "L1", "late", "50.00", clock.catch_up(T0 + timedelta(days=31)))
    buy(engine, "S2", "small", "50.00", T0)  # too late: only the first purchase qualifies
    states = {r.referee: r.reason for r in engine.referrals("ann").referred}
    assert states == {
        "small": "first purchase of 19.99 is below the minimum of 20.00",
        "late": "first purchase more than 30 days after enrolling",
    }
    assert engine.balance("ann").total == 0


def test_nobody_refers_themselves(store: Store, clock: ManualClock) -> None:
    engine, code = setup(club(referrer_points=10, identity="phone"), store, clock)
    # A second card for the same phone: recorded, rejected, never rewarded.
    engine.enroll("ann-2", at=T0, referred_by=code, attributes={"phone": "h-ann"})
    buy(engine, "A1", "ann-2", "50.00", T0)
    (second,) = engine.referrals("ann").referred
    assert (second.state, second.reason) == (ReferralState.REJECTED, "same phone as the referrer")
    assert engine.balance("ann").total == 0
    # The member itself cannot come back in through its own code.
    with pytest.raises(MemberAlreadyEnrolled) as info:
        engine.enroll("ann", at=T0, attributes={"phone": "h-ann"}, referred_by=code)
    assert info.value.field == "referred_by"


def test_an_attribution_is_made_once_and_a_bad_code_writes_nothing(store: Store, clock: ManualClock) -> None:
    engine, code = setup(club(referrer_points=10), store, clock)
    engine.enroll("zed", at=T0)
    other = engine.referral_code("zed")
    engine.enroll("bob", at=T0, referred_by=code)
    assert engine.enroll("bob", at=T0, referred_by=code.lower()).id == "bob"  # a retry
    before = snapshot(store, ["bob", "new"])
    with pytest.raises(MemberAlreadyEnrolled) as info:
        engine.enroll("bob", at=T0, referred_by=other)
    assert info.value.field == "referred_by"
    with pytest.raises(UnknownReferralCode) as unknown:
        engine.enroll("new", at=T0, referred_by="ZZZZ9999")
    assert unknown.value.field == "referred_by"
    with pytest.raises(InvalidInput):
        engine.enroll("new", at=T0, referred_by="no!")
    assert snapshot(store, ["bob", "new"]) == before
    assert engine.referrals("bob").referred_by is not None


def test_codes_are_unambiguous_unique_case_blind_and_may_be_the_merchants(
    store: Store, clock: ManualClock
) -> None:
    engine, code = setup(club(referrer_points=10), store, clock)
    assert len(code) == 8 and set(code) <= set(ALPHABET) and not set(code) & set("0O1IL")
    assert engine.referral_code("ann") == code
    engine.enroll("shop", at=T0)
    assert engine.referral_code("shop", code="summer-24") == "SUMMER24"
    with pytest.raises(ReferralCodeTaken):
        engine.referral_code("shop", code="OTHER")
    engine.enroll("copy", at=T0)
    with pytest.raises(ReferralCodeTaken):
        engine.referral_code("copy", code="Summer24")
    codes = {engine.referral_code(f"m{n}") for n in range(200) if engine.enroll(f"m{n}", at=T0)}
    assert len(codes) == 200


def test_without_referral_terms_an_attribution_waits(store: Store, clock: ManualClock) -> None:
    engine = Engine(Program("Club", "EUR"), store, clock=clock)
    engine.enroll("ann", at=T0)
    engine.enroll("bob", at=T0, referred_by=engine.referral_code("ann"))
    buy(engine, "B1", "bob", "10.00", T0)
    assert engine.referrals("ann").referred[0].state is ReferralState.PENDING


def test_a_rule_can_target_members_who_just_redeemed(store: Store, clock: ManualClock) -> None:
    invite = PurchaseBonus(id="invite", name="Invite a friend", points=20, redeemed_within_days=7)
    engine = Engine(Program("Club", "EUR", rules=[invite]), store, clock=clock)
    engine.enroll("ann", at=T0)
    assert buy(engine, "P1", "ann", "50.00", T0).points == 50
    basket = Purchase("P2", "ann", T0, [Line("goods", 1, Decimal("1.00"))], "EUR")
    assert {s.rule: s.reason for s in engine.explain(basket).skipped}["invite"] == (
        "only for members who redeemed in the last 7 days; never redeemed"
    )
    engine.redeem("ann", 30, id="R1", at=clock.catch_up(T0 + timedelta(days=1)))
    assert (
        buy(engine, "P2", "ann", "1.00", clock.catch_up(T0 + timedelta(days=8))).points == 21
    )  # 7 days after: still in
    late = Purchase(
        "P3",
        "ann",
        clock.catch_up(T0 + timedelta(days=8, seconds=1)),
        [Line("goods", 1, Decimal("1.00"))],
        "EUR",
    )
    assert {s.rule: s.reason for s in engine.explain(late).skipped}["invite"] == (
        "only for members who redeemed in the last 7 days; last on 2024-03-02"
    )
    engine.hold("ann", 10, id="H1", at=clock.catch_up(T0 + timedelta(days=9)), ttl=timedelta(minutes=5))
    engine.capture(
        "H1", id="H1-c", at=clock.catch_up(T0 + timedelta(days=9))
    )  # paying at the till counts too
    assert buy(engine, "P4", "ann", "1.00", clock.catch_up(T0 + timedelta(days=10))).points == 21


# -- found in review ---------------------------------------------------------------------------


def test_a_second_card_is_caught_at_the_qualifying_purchase_too(store: Store, clock: ManualClock) -> None:
    engine, code = setup(club(referrer_points=100, referee_points=50, identity="phone"), store, clock)
    engine.enroll("bob", at=T0, referred_by=code)  # no phone yet
    engine.update_member("bob", id="U1", at=T0, attributes={"phone": "h-ann"})
    buy(engine, "B1", "bob", "50.00", T0)
    (bob,) = engine.referrals("ann").referred
    assert (bob.state, bob.reason) == (ReferralState.REJECTED, "same phone as the referrer")
    assert engine.balance("ann").total == 0


def test_a_first_purchase_that_earns_nothing_rewards_nobody_and_keeps_the_cap(
    store: Store, clock: ManualClock
) -> None:
    engine, code = setup(
        club(referrer_share=Decimal("1"), referee_share=Decimal("1"), cap=1, cap_period="month"), store, clock
    )
    engine.enroll("bob", at=T0, referred_by=code)
    engine.enroll("cat", at=T0, referred_by=code)
    buy(engine, "B1", "bob", "0.50", T0)  # 0 points
    buy(engine, "C1", "cat", "50.00", T0)
    states = {r.referee: (r.state.value, r.reason) for r in engine.referrals("ann").referred}
    assert states == {
        "bob": ("rejected", "the first purchase earned no points to share"),
        "cat": ("rewarded", None),
    }
    assert [e.data["referee"] for e in engine.events()] == ["cat"]


def test_a_taken_back_referral_is_announced(store: Store, clock: ManualClock) -> None:
    engine, code = setup(club(referrer_points=100), store, clock)
    engine.enroll("bob", at=T0, referred_by=code)
    buy(engine, "B1", "bob", "50.00", T0)
    engine.record_return(Return("B1-void", "B1", clock.catch_up(T0 + timedelta(hours=1))))
    assert [(e.kind, e.member_id, e.source_id) for e in engine.events()] == [
        (EventKind.REFERRAL_REWARDED, "ann", "B1"),
        (EventKind.REFERRAL_REVOKED, "ann", "B1-void"),
    ]


def test_a_redemption_after_a_late_purchase_does_not_count_for_it(store: Store, clock: ManualClock) -> None:
    invite = PurchaseBonus(id="invite", points=20, redeemed_within_days=7)
    engine = Engine(Program("Club", "EUR", rules=[invite]), store, clock=clock)
    engine.enroll("ann", at=T0)
    engine.adjust("ann", 50, id="A1", at=T0, reason="welcome", actor="staff")
    engine.redeem("ann", 30, id="R1", at=clock.catch_up(T0 + timedelta(days=10)))
    late = buy(
        engine, "P0", "ann", "10.00", clock.catch_up(T0 + timedelta(days=1))
    )  # an offline till, days later
    assert late.points == 10


@pytest.mark.parametrize("status", ["suspended", "closed"])
def test_a_referrer_that_may_not_earn_gets_no_bonus_and_the_referee_still_does(
    any_store: Store, clock: ManualClock, status: str
) -> None:
    terms = club(referrer_points=100, referee_share=Decimal("0.5"), cap=1, cap_period="month")
    engine, code = setup(terms, any_store, clock)
    engine.enroll("bob", at=T0, referred_by=code)
    engine.change_status("ann", status, id="S1", at=T0, reason="chargeback", actor="crm")
    receipt = buy(engine, "B1", "bob", "60.00", T0)
    assert (receipt.points, receipt.balance_after) == (60, 90)  # the referee's welcome as ever
    why = f"the referrer was {status} at the qualifying purchase: no referrer bonus, now or later"
    (bob,) = engine.referrals("ann").referred
    assert (bob.state, bob.reason, bob.referrer_points, bob.referee_points, bob.referrer_lot) == (
        ReferralState.REWARDED,
        why,
        0,
        30,
        None,
    )
    assert engine.referrals("ann").points == 0
    assert engine.history("ann") == []
    # The referrer was not rewarded: nothing to tell it.
    assert EventKind.REFERRAL_REWARDED not in [event.kind for event in engine.events()]
    # Not paid when it may earn again.
    engine.change_status("ann", "active", id="S2", at=T0, reason="cleared", actor="crm")
    buy(engine, "B2", "bob", "60.00", T0)
    assert (engine.balance("ann").total, engine.balance("bob").total) == (0, 150)
    # The qualifying purchase comes back: the referee's welcome goes; the referrer, never rewarded,
    # keeps its cap's place and hears nothing.
    engine.record_return(Return("B1-void", "B1", clock.catch_up(T0 + timedelta(hours=1))))
    assert (engine.balance("ann").total, engine.balance("bob").total) == (0, 60)
    assert EventKind.REFERRAL_REVOKED not in [event.kind for event in engine.events()]
    month = cap_key(T0.strftime("%Y-%m"), "ann")
    with any_store.unit_of_work(readonly=True) as uow:
        assert uow.tallies([month])[month].count == 0


def test_a_referral_rewarding_only_a_referrer_that_may_not_earn_is_rejected(
    store: Store, clock: ManualClock
) -> None:
    engine, code = setup(club(referrer_points=100, cap=1, cap_period="month"), store, clock)
    engine.enroll("bob", at=T0, referred_by=code)
    engine.enroll("cat", at=T0, referred_by=code)
    engine.change_status("ann", "suspended", id="S1", at=T0, reason="chargeback", actor="crm")
    buy(engine, "B1", "bob", "50.00", T0)
    engine.change_status("ann", "active", id="S2", at=T0, reason="cleared", actor="crm")
    buy(engine, "C1", "cat", "50.00", T0)  # the cap was not used by bob's
    states = {r.referee: (r.state.value, r.reason) for r in engine.referrals("ann").referred}
    assert states == {
        "bob": (
            "rejected",
            "the referrer was suspended at the qualifying purchase: no referrer bonus, now or later",
        ),
        "cat": ("rewarded", None),
    }
    assert engine.balance("ann").total == 100
