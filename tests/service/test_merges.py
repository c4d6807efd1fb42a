"""Merging two members through the engine, on every adapter: the absorbed member's points reach the
survivor lot by lot with their expiry dates, both sides on the ledger; its tier progress, habits,
referrals and keys follow; it is closed; retries replay, and every refusal writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import (
    Engine,
    EntryKind,
    EventKind,
    IdempotencyConflict,
    InvalidDatetime,
    InvalidId,
    InvalidInput,
    LoyaltyError,
    Member,
    MemberNotActive,
    MemberStatus,
    Merge,
    MergeBlocked,
    Program,
    Referrals,
    ReferralState,
    Return,
    Returned,
    Tiers,
    UnknownIdentifier,
    UnknownMember,
    balance_of,
)
from loyalty.checks import MAX_POINTS
from loyalty.errors import PointsOverflow
from loyalty.expiry import Expiry, ExpiryPolicy
from loyalty.habits import micros
from loyalty.identifiers import Identifiers
from loyalty.lots import lots_of
from loyalty.rewards import Gives, Reward
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import T0, sale
from tests.tiered_club import LEVELS
from tests.tiered_club import club as tiered_club

# Purchase points wait out a week's return window; every credit lives 30 days; a lost card
# still finds its member.
CLUB = Program(
    "Club",
    "EUR",
    pending_days=7,
    expiry=Expiry(ExpiryPolicy.LIFETIME, days=30),
    identifiers=Identifiers(lost_card="redirect"),
    referrals=Referrals(referrer_points=20, referee_points=10),
)
MEMBERS = ["A", "B"]
HABITS = ["visits|A", "visits|B", "seen|A", "seen|B", "spent|2024-03|A", "spent|2024-03|B"]


def club(store: Store, program: Program = CLUB) -> tuple[Engine, ManualClock]:
    """A with 10 points; B with 50 points from day 0 and 30 from day 5, all available by day 12."""
    clock = ManualClock(T0)
    engine = Engine(program, store, clock=clock)
    engine.enroll("A", at=T0, identifiers=["card:1000"])
    engine.enroll("B", at=T0, identifiers=["card:2000", "email:b@example.com"])
    engine.adjust("A", 10, id="A0", at=T0, reason="welcome", actor="crm")
    engine.adjust("B", 50, id="A1", at=T0, reason="welcome", actor="crm")
    clock.advance(days=5)
    engine.adjust("B", 30, id="A2", at=clock(), reason="goodwill", actor="crm")
    clock.advance(days=7)
    return engine, clock


def test_points_move_lot_by_lot_with_their_dates_and_both_sides_say_why(any_store: Store) -> None:
    engine, clock = club(any_store)
    made = engine.merge_members("A", "B", id="G1", at=clock(), reason="one person, two cards")
    assert isinstance(made, Merge)
    assert (made.survivor, made.absorbed, made.points, made.survivor_balance) == ("A", "B", 80, 90)
    assert [(lot.remaining, lot.expires_at) for lot in engine.lots("A")] == [
        (10, T0 + timedelta(days=30)),
        (50, T0 + timedelta(days=30)),
        (30, T0 + timedelta(days=35)),
    ]
    assert engine.lots("B") == []
    for member in MEMBERS:
        history = engine.history(member)
        assert engine.balance(member).total == balance_of(history)
        assert engine.lots(member) == lots_of(history)
    (sent,) = [e for e in engine.history("B") if e.kind is EntryKind.MERGE]
    assert (sent.points, sent.balance_after, sent.reason) == (-80, 0, "merged into A: one person, two cards")
    assert [(e.points, e.reason) for e in engine.history("A") if e.kind is EntryKind.MERGE] == [
        (50, "merged from B (its lot 2, earned 2024-03-01): one person, two cards"),
        (30, "merged from B (its lot 3, earned 2024-03-06): one person, two cards"),
    ]
    assert made.sent == sent and made.received == tuple(engine.history("A")[-2:])
    assert engine.member("B").status is MemberStatus.CLOSED
    merged, closed = engine.events()[-2:]
    assert (merged.kind, merged.member_id, merged.source_id) == (EventKind.MEMBER_MERGED, "B", "G1")
    assert merged.data == {
        "survivor": "A",
        "absorbed": "B",
        "points": 80,
        "lots": 2,
        "keys": ["card:2000", "email:b@example.com"],
        "referrals": [],
        "reason": "one person, two cards",
    }
    assert (closed.kind, closed.member_id) == (EventKind.MEMBER_STATUS_CHANGED, "B")
    assert closed.data == {
        "old": "active",
        "new": "closed",
        "reason": "merged into A: one person, two cards",
        "actor": "merge",
    }
    # The merged points expire on their own dates.
    clock.advance(days=19)
    assert engine.run_due().expired_points == 60
    assert engine.balance("A").available == 30


def test_a_member_without_points_is_merged_with_an_entry_on_each_side(any_store: Store) -> None:
    engine, clock = club(any_store)
    engine.enroll("C", at=T0)
    made = engine.merge_members("A", "C", id="G1", at=clock(), reason="duplicate")
    assert (made.points, made.survivor_balance) == (0, 10)
    assert [(e.kind, e.points, e.reason) for e in engine.history("C")] == [
        (EntryKind.MERGE, 0, "merged into A: duplicate")
    ]
    assert [(e.kind, e.points, e.reason) for e in engine.history("A")][-1] == (
        EntryKind.MERGE,
        0,
        "merged from C, no points: duplicate",
    )


def test_the_absorbed_members_keys_find_the_survivor(any_store: Store) -> None:
    engine, clock = club(any_store)
    engine.add_identifier("B", "phone:+31 20 555 0000", id="K1", at=T0)
    engine.replace_card("B", "card:2000", "card:2001", id="K2", at=T0)
    engine.remove_identifier("B", "phone:+31205550000", id="K3", at=T0)
    made = engine.merge_members("A", "B", id="G1", at=clock(), reason="duplicate")
    assert made.keys == ("card:2000", "card:2001", "email:b@example.com")
    for key in ("card:2001", "card:20-00", "email:B@example.com", "card:1000"):
        assert engine.find_member(key).id == "A"
    with pytest.raises(UnknownIdentifier):
        engine.find_member("phone:+31205550000")  # removed before the merge: finds no one
    assert {i.key for i in engine.identifiers("A")} == {"card:1000", *made.keys}
    assert [i.key for i in engine.identifiers("B")] == ["phone:+31205550000"]
    # A key of the absorbed member's is the survivor's to manage from now on.
    engine.remove_identifier("A", "email:b@example.com", id="K4", at=clock())


def test_a_retry_returns_the_original_and_a_reused_id_is_refused(any_store: Store) -> None:
    engine, clock = club(any_store)
    at = clock()
    made = engine.merge_members("A", "B", id="G1", at=at, reason="duplicate")
    before = snapshot(any_store, MEMBERS, ["G1"], HABITS)
    clock.advance(hours=1)
    assert engine.merge_members("A", "B", id="G1", at=at, reason="duplicate") == made
    assert snapshot(any_store, MEMBERS, ["G1"], HABITS) == before
    engine.enroll("C", at=T0)
    conflicts: list[tuple[Callable[[], object], str]] = [
        (lambda: engine.merge_members("A", "C", id="G1", at=at, reason="duplicate"), "absorbed"),
        (lambda: engine.merge_members("B", "A", id="G1", at=at, reason="duplicate"), "absorbed"),
        (lambda: engine.merge_members("A", "B", id="G1", at=at, reason="typo"), "reason"),
        (lambda: engine.redeem("A", 5, id="G1", at=at), "kind"),
    ]
    for changed, field in conflicts:
        with pytest.raises(IdempotencyConflict) as info:
            changed()
        assert info.value.field == field
    assert snapshot(any_store, MEMBERS, ["G1"], HABITS) == before


def test_refusals_name_the_field_and_write_nothing(any_store: Store) -> None:
    engine, clock = club(any_store)
    for member in ("S", "C", "H", "P"):
        engine.enroll(member, at=T0)
    engine.adjust("H", 10, id="A3", at=T0, reason="welcome", actor="crm")
    engine.hold("H", 4, id="H1", at=clock(), ttl=timedelta(hours=1))
    engine.record_purchase(sale("P1", "20.00", member="P", at=clock()))  # pending for a week
    engine.change_status("S", "suspended", id="ST1", at=T0, reason="chargeback", actor="crm")
    engine.change_status("C", "closed", id="ST2", at=T0, reason="left", actor="crm")
    members = [*MEMBERS, "S", "C", "H", "P"]
    before = snapshot(any_store, members, ["G1"], HABITS)
    at = clock()

    def merge(survivor: str, absorbed: str, **changed: object) -> Callable[[], object]:
        options: dict[str, object] = {"id": "G1", "at": at, "reason": "duplicate", **changed}
        return lambda: engine.merge_members(survivor, absorbed, **options)  # type: ignore[arg-type]

    refusals: list[tuple[Callable[[], object], type[LoyaltyError], str]] = [
        (merge("A", "A"), InvalidInput, "absorbed"),
        (merge("A", "Z"), UnknownMember, "absorbed"),
        (merge("0", "A"), UnknownMember, "survivor"),
        (merge("S", "A"), MemberNotActive, "survivor"),
        (merge("A", "S"), MemberNotActive, "absorbed"),
        (merge("C", "A"), MemberNotActive, "survivor"),
        (merge("A", "C"), MemberNotActive, "absorbed"),
        (merge("A", "H"), MergeBlocked, "absorbed"),
        (merge("A", "P"), MergeBlocked, "absorbed"),
        (merge("", "B"), InvalidId, "survivor"),
        (merge("A", None), InvalidId, "absorbed"),  # type: ignore[arg-type]
        (merge("A", "B", id=""), InvalidId, "id"),
        (merge("A", "B", at=at.replace(tzinfo=None)), InvalidDatetime, "at"),
        (merge("A", "B", reason=7), InvalidInput, "reason"),
    ]
    for refused, error, field in refusals:
        with pytest.raises(error) as info:
            refused()
        assert info.value.field == field, refused
    assert snapshot(any_store, members, ["G1"], HABITS) == before
    with pytest.raises(MergeBlocked) as held:
        merge("A", "H")()
    assert held.value.blocking == "holds" and "'H1'" in str(held.value)
    with pytest.raises(MergeBlocked) as pending:
        merge("A", "P")()
    assert pending.value.blocking == "pending"
    # Once the hold is released and the purchase's points are available, both merge.
    engine.release("H1", at=at)
    clock.advance(days=8)
    assert engine.merge_members("A", "H", id="G2", at=clock(), reason="duplicate").points == 10
    assert engine.merge_members("A", "P", id="G3", at=clock(), reason="duplicate").points == 20
    # A member merged once is closed: merging it again is refused.
    with pytest.raises(MemberNotActive) as again:
        engine.merge_members("B", "H", id="G4", at=clock(), reason="duplicate")
    assert (again.value.field, again.value.status) == ("absorbed", "closed")


def test_a_merge_the_survivor_cannot_hold_is_refused_before_the_absorbed_member_pays(
    any_store: Store,
) -> None:
    """The absorbed member's part used to commit, then the survivor's raised PointsOverflow: the
    points were in neither balance, and every run_due raised on the merge (found by review)."""
    engine, clock = club(any_store)
    engine.adjust("A", MAX_POINTS - 10, id="A3", at=clock(), reason="test", actor="crm")
    before = snapshot(any_store, MEMBERS, ["MG1"])
    with pytest.raises(PointsOverflow) as info:
        engine.merge_members("A", "B", id="MG1", at=clock(), reason="same person")
    assert info.value.field == "points"
    assert snapshot(any_store, MEMBERS, ["MG1"]) == before
    assert engine.run_due().finished_merges == 0


def test_an_unused_voucher_blocks_the_merge_until_it_is_used_voided_or_past_its_time(
    any_store: Store,
) -> None:
    coffee = Reward(
        id="coffee", name="A coffee", cost=30, gives=Gives.PRODUCT, sku="espresso", valid_for_days=7
    )
    engine, clock = club(any_store, Program("Cafe", "EUR", rewards=[coffee]))
    first = engine.redeem_reward("B", "coffee", id="V1", at=clock())
    before = snapshot(any_store, MEMBERS, ["G1"], HABITS)
    with pytest.raises(MergeBlocked) as info:
        engine.merge_members("A", "B", id="G1", at=clock(), reason="duplicate")
    assert (info.value.field, info.value.blocking) == ("absorbed", "vouchers")
    assert f"'{first.code}'" in str(info.value)
    assert snapshot(any_store, MEMBERS, ["G1"], HABITS) == before
    # Voided, its points are back in B's lots, and they move with the rest.
    engine.void_voucher(first.code, id="VV1", at=clock())
    engine.redeem_reward("B", "coffee", id="V2", at=clock())
    clock.advance(days=8)  # the second voucher's time is up: it ends unused, nothing to carry
    assert engine.merge_members("A", "B", id="G1", at=clock(), reason="duplicate").points == 50


def test_points_owed_from_a_return_block_the_merge_until_settled(any_store: Store) -> None:
    engine, clock = club(any_store, Program("Club", "EUR", clawback="negative"))
    engine.record_purchase(sale("P1", "40.00", member="B", at=clock()))
    engine.redeem("B", 120, id="R1", at=clock())
    engine.record_return(Return("RT1", "P1", clock(), [Returned("sku", 1)]))
    assert engine.balance("B").total < 0
    with pytest.raises(MergeBlocked) as owed:
        engine.merge_members("A", "B", id="G1", at=clock(), reason="duplicate")
    assert (owed.value.field, owed.value.blocking) == ("absorbed", "owed")


def test_past_due_points_are_written_off_and_never_carried(any_store: Store) -> None:
    engine, clock = club(any_store)
    clock.advance(days=19)  # day 31: B's 50 points of day 0 expired yesterday
    made = engine.merge_members("A", "B", id="G1", at=clock(), reason="duplicate")
    assert made.points == 30
    assert [(e.kind, e.points) for e in engine.history("B")][-2:] == [
        (EntryKind.EXPIRE, -50),
        (EntryKind.MERGE, -30),
    ]


@pytest.mark.parametrize("window", ["lifetime", "membership_year"])
def test_tier_progress_is_carried_and_can_lift_the_survivor(any_store: Store, window: str) -> None:
    engine = Engine(tiered_club(window=window), any_store, clock=lambda: T0 + timedelta(days=40))
    engine.enroll("A", at=T0)
    engine.enroll("B", at=T0 + timedelta(days=3))
    engine.record_purchase(sale("P1", "300.00", member="A", at=T0 + timedelta(days=1)))
    engine.record_purchase(sale("P2", "250.00", member="B", at=T0 + timedelta(days=4)))
    assert (engine.tier("A").value, engine.tier("B").value) == (Decimal(300), Decimal(250))
    made = engine.merge_members("A", "B", id="G1", at=T0 + timedelta(days=40), reason="duplicate")
    status = engine.tier("A")
    assert (status.tier.id, status.value) == ("silver", Decimal(550))
    assert engine.tier("B").value == 0
    (progress,) = [c for c in made.carried if c.what.startswith("tier")]
    assert (progress.taken.points, progress.added.points) == (Decimal(250), Decimal(250))
    # The move to silver is the merge's, with its entry bonus.
    assert [(e.kind.value, e.points) for e in engine.history("A") if e.source_id == "G1"] == [
        ("merge", 250),
        ("tier", 0),
        ("earn", 50),
    ]


def test_balance_tiers_follow_the_points(any_store: Store) -> None:
    wallet = Tiers(levels=LEVELS[:2], metric="balance", downgrade="immediate")
    engine = Engine(Program("Wallet", "EUR", tiers=wallet), any_store, clock=lambda: T0)
    for member in MEMBERS:
        engine.enroll(member, at=T0)
    engine.adjust("A", 300, id="A1", at=T0, reason="welcome", actor="crm")
    engine.adjust("B", 300, id="A2", at=T0, reason="welcome", actor="crm")
    made = engine.merge_members("A", "B", id="G1", at=T0, reason="duplicate")
    assert not [c for c in made.carried if c.what.startswith("tier")]
    assert (engine.tier("A").tier.id, engine.balance("A").total) == ("silver", 650)
    assert engine.balance("B").total == 0


def test_habits_are_carried(any_store: Store) -> None:
    engine, clock = club(any_store)
    first_a, first_b = T0 + timedelta(days=1), T0 + timedelta(hours=1)
    engine.record_purchase(sale("P1", "20.00", member="A", at=first_a))
    engine.record_purchase(sale("P2", "12.50", member="B", at=first_b))
    engine.record_purchase(sale("P3", "7.50", member="B", at=T0 + timedelta(days=2)))
    clock.advance(days=8)
    made = engine.merge_members("A", "B", id="G1", at=clock(), reason="duplicate")
    with any_store.unit_of_work(readonly=True) as uow:
        read = uow.tallies(HABITS)
    assert (read["visits|A"].count, read["visits|B"].count) == (3, 0)
    assert (read["spent|2024-03|A"].points, read["spent|2024-03|B"].points) == (Decimal(40), Decimal(0))
    last = Decimal(micros(T0 + timedelta(days=2)))
    assert (read["seen|A"].count, read["seen|A"].points) == (micros(first_b), last)
    assert read["seen|B"].count == 0 and read["seen|B"].points == 0
    assert {c.what for c in made.carried} == {"visits", "first and last visit", "spend 2024-03"}
    # The survivor's next purchase is not its first: its habits say it has bought before.
    assert engine.record_purchase(sale("P4", "10.00", member="A", at=clock())).points == 10


def test_referrals_follow_the_survivor(any_store: Store) -> None:
    engine, clock = club(any_store)
    code = engine.referral_code("B")
    engine.enroll("C", at=T0, referred_by=code)
    engine.enroll("D", at=T0, referred_by=code)
    engine.record_purchase(sale("P1", "10.00", member="D", at=T0 + timedelta(hours=1)))  # rewarded
    engine.enroll("E", at=T0, referred_by=engine.referral_code("A"))
    clock.advance(days=8)
    made = engine.merge_members("A", "B", id="G1", at=clock(), reason="duplicate")
    assert made.referrals == ("C", "D")
    report = engine.referrals("A")
    assert [(r.referee, r.referrer, r.code, r.state) for r in report.referred] == [
        ("C", "A", code, ReferralState.PENDING),
        ("D", "A", code, ReferralState.REWARDED),
        ("E", "A", engine.referral_code("A"), ReferralState.PENDING),
    ]
    assert engine.referrals("B").referred == []
    # C's first purchase now rewards the survivor.
    engine.record_purchase(sale("P2", "10.00", member="C", at=clock()))
    assert [(e.kind, e.points) for e in engine.history("A")][-1] == (EntryKind.EARN, 20)


def test_a_survivor_referred_by_the_absorbed_member_is_not_rewarded_for_itself(any_store: Store) -> None:
    clock = ManualClock(T0)
    engine = Engine(CLUB, any_store, clock=clock)
    engine.enroll("B", at=T0)
    engine.enroll("A", at=T0, referred_by=engine.referral_code("B"))
    made = engine.merge_members("A", "B", id="G1", at=T0, reason="duplicate")
    assert made.referrals == ()
    referral = engine.referrals("A").referred_by
    assert referral is not None
    assert (referral.referrer, referral.state, referral.reason) == (
        "B",
        ReferralState.REJECTED,
        "its referrer B was merged into it",
    )
    assert engine.record_purchase(sale("P1", "10.00", member="A", at=T0)).points == 10


def test_the_closed_member_can_be_reopened_empty(any_store: Store) -> None:
    engine, clock = club(any_store)
    engine.merge_members("A", "B", id="G1", at=clock(), reason="duplicate")
    reopened = engine.change_status("B", "active", id="ST1", at=clock(), reason="mistake", actor="crm")
    assert isinstance(reopened, Member) and engine.balance("B").total == 0
