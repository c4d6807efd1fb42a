"""Guest quotes: what a card not enrolled would earn on a basket if its holder joined, written nowhere."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from loyalty import (
    Engine,
    FirstPurchase,
    InvalidInput,
    Line,
    Program,
    Purchase,
    PurchaseBonus,
    StampCard,
    UnknownMember,
    open_store,
)
from loyalty.receipts import Receipt
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import T0, engine_for, sale
from tests.tiered_club import AMS, club

# A first-purchase bonus (a new member gets it), a students-only bonus (a guest has no
# attributes), a stamp on every second visit (a guest has none yet) and a budgeted launch bonus.
CLUB = Program(
    "Club",
    "EUR",
    rules=[
        FirstPurchase(id="welcome", points=100),
        PurchaseBonus(id="students", points=20, members={"segment": ["student"]}),
        StampCard(id="coffee", points=5, every=2),
        PurchaseBonus(id="launch", points=40, budget=40),
    ],
)
GUEST_KEYS = ["visits|NEW", "budget|launch"]


def recorded_for_a_new_member(program: Program, purchase: Purchase) -> Receipt:
    """What recording ``purchase`` gives a member enrolled at its time, in a store of its own."""
    with open_store("memory://") as elsewhere:
        engine = Engine(program, elsewhere, clock=lambda: T0)
        engine.enroll(purchase.member_id, at=purchase.at)
        return engine.record_purchase(purchase)


def test_a_guest_quote_earns_what_recording_gives_a_member_who_has_just_enrolled(any_store: Store) -> None:
    engine = engine_for(any_store, CLUB)
    purchase = sale("P1", "12.34", member="NEW")
    quoted = engine.quote(purchase, guest=True)
    recorded = recorded_for_a_new_member(CLUB, purchase)
    assert quoted.points == recorded.points == 12 + 100 + 40
    assert quoted == attrs.evolve(recorded, balance_after=None, guest=True)
    # The guest's first stamp, as for any new member; no student bonus.
    assert quoted.rules == ("base", "welcome", "coffee", "launch")
    assert quoted.breakdown[2].detail == "stamp 1 of 2"
    assert quoted.guest and quoted.balance_after is None


def test_a_guest_explanation_says_why_the_member_rules_give_nothing(any_store: Store) -> None:
    engine = engine_for(any_store, CLUB)
    explained = engine.explain(sale("P1", member="NEW"), guest=True)
    assert explained.guest
    assert explained.points == engine.quote(sale("P1", member="NEW"), guest=True).points == 150
    assert {s.rule: s.reason for s in explained.skipped}["students"] == (
        "member has no segment; only for segment=student"
    )


def test_a_guest_quote_writes_nothing_and_leaves_the_id_free_to_record(any_store: Store) -> None:
    engine = engine_for(any_store, CLUB)
    before = snapshot(any_store, ["NEW", "M1"], ["P1"], GUEST_KEYS, programs=True)
    quoted = engine.quote(sale("P1", member="NEW"), guest=True)
    engine.explain(sale("P1", member="NEW"), guest=True)
    assert snapshot(any_store, ["NEW", "M1"], ["P1"], GUEST_KEYS, programs=True) == before
    with pytest.raises(UnknownMember):
        engine.record_purchase(sale("P1", member="NEW"))
    engine.enroll("NEW", at=T0)
    recorded = engine.record_purchase(sale("P1", member="NEW"))
    assert (recorded.points, recorded.breakdown) == (quoted.points, quoted.breakdown)
    assert engine.balance("NEW").available == quoted.points


def test_a_guest_quote_does_not_promise_a_spent_budget(any_store: Store) -> None:
    engine = engine_for(any_store, CLUB)
    assert engine.quote(sale("P1", member="NEW"), guest=True).points_of("launch") == 40
    engine.record_purchase(sale("P2"))  # M1 takes the whole launch budget
    quoted = engine.quote(sale("P1", member="NEW"), guest=True)
    assert "launch" not in quoted.rules
    assert quoted.points == 10 + 100
    engine.enroll("NEW", at=T0)
    assert engine.record_purchase(sale("P1", member="NEW")).points == quoted.points


def test_a_guest_quote_under_tiers_earns_at_the_lowest_tier_and_may_lift_the_member(any_store: Store) -> None:
    program = club(upgrade="this_purchase")
    at = T0.astimezone(AMS)
    engine = Engine(program, any_store, clock=ManualClock(at))
    purchase = Purchase("P1", "NEW", at, [Line("goods", 1, Decimal("600.00"))], "EUR")
    quoted = engine.quote(purchase, guest=True)
    assert (quoted.points, quoted.tier, quoted.tier_reached, quoted.tier_bonus) == (
        750,
        "silver",
        "silver",
        50,
    )
    recorded = recorded_for_a_new_member(program, purchase)
    assert quoted == attrs.evolve(recorded, balance_after=None, guest=True)
    small = attrs.evolve(purchase, lines=(Line("goods", 1, Decimal("20.00")),))
    explained = engine.explain(small, guest=True)
    assert (explained.points, explained.tier, explained.tier_reached) == (20, "member", None)


def test_a_guest_quote_for_an_enrolled_member_is_refused_naming_the_member(any_store: Store) -> None:
    engine = engine_for(any_store, CLUB)
    before = snapshot(any_store, ["M1"], ["P1"], programs=True)
    for ask in (engine.quote, engine.explain):
        with pytest.raises(InvalidInput) as refused:
            ask(sale("P1"), guest=True)
        assert refused.value.field == "member_id"
        assert "'M1' is enrolled" in str(refused.value)
    assert snapshot(any_store, ["M1"], ["P1"], programs=True) == before


def test_a_guest_quote_under_a_later_version_uses_the_version_in_force_at_the_purchase(store: Store) -> None:
    later = attrs.evolve(CLUB, version="2", effective_from=T0.replace(month=6), rules=())
    engine = engine_for(store, CLUB, later)
    assert engine.quote(sale("P1", member="NEW"), guest=True).program_version == "1"
    june = engine.quote(sale("P2", member="NEW", at=T0.replace(month=7)), guest=True)
    assert (june.program_version, june.points) == ("2", 10)
