"""A merge written as one member's unit of work each, on every adapter: the absorbed member's part,
the survivor's, then each referee's referral. A crash between them leaves the absorbed member's
points in neither balance (each balance still its ledger's) until a retry of the merge or
maintenance finishes it, with the result an uninterrupted merge gives, even when either member
was erased between the parts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any

import pytest

from loyalty import (
    Engine,
    EntryKind,
    IdempotencyConflict,
    MemberStatus,
    Merge,
    ReferralState,
    Return,
    balance_of,
    codec,
)
from loyalty.lots import lots_of
from loyalty.merges import REFEREES_PART, SURVIVOR_PART, merged_key
from loyalty.referral_bonuses import ReferrerBonus
from loyalty.referrals import Referral
from loyalty.service import referral_parts
from loyalty.store import Operation, Store, UnitOfWork, open_store
from loyalty.testing.clock import ManualClock
from loyalty.transfers import RECEIVED
from tests.service.helpers import T0, sale
from tests.service.test_merges import club

SURVIVED = SURVIVOR_PART + RECEIVED
MOVED = REFEREES_PART + RECEIVED
#: When the merges below happen (the engine clock after :func:`referring`).
AT = T0 + timedelta(days=20)


class Crash(Exception):
    """The process dying between two parts (no library error: nothing retries it)."""


class _Failing:
    """A unit of work that fails to write what its store's ``crash`` names, so nothing of it
    commits: a record whose key ends so, or (``"referral"``) any referral row."""

    def __init__(self, uow: UnitOfWork, crash: str) -> None:
        self._uow = uow
        self._crash = crash

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def add_operation(self, operation: Operation) -> None:
        if operation.key.endswith(self._crash):
            raise Crash(operation.key)
        self._uow.add_operation(operation)

    def put_referral(self, referral: Referral) -> None:
        if self._crash == "referral":
            raise Crash(referral.referee)
        self._uow.put_referral(referral)


class CrashingStore:
    """A store whose units of work crash on what ``crash`` names (nothing while it is empty)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.crash = ""

    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        return self._unit(readonly)

    @contextmanager
    def _unit(self, readonly: bool) -> Iterator[Any]:
        with self.store.unit_of_work(readonly=readonly) as uow:
            yield _Failing(uow, self.crash) if self.crash else uow

    def close(self) -> None:
        self.store.close()


def referring(store: Any) -> tuple[Engine, ManualClock]:
    """:func:`~tests.service.test_merges.club` (A holds 10 points, B 80) where B referred C and D
    (D's purchase rewarded B, whose bonus lot moves with the merge) and A referred E, and both
    A and B have bought (their habits are carried)."""
    engine, clock = club(store)
    code = engine.referral_code("B")
    engine.enroll("C", at=T0, referred_by=code)
    engine.enroll("D", at=T0, referred_by=code)
    engine.record_purchase(sale("P1", "10.00", member="D", at=T0 + timedelta(hours=1)))
    engine.enroll("E", at=T0, referred_by=engine.referral_code("A"))
    engine.record_purchase(sale("P2", "20.00", member="A", at=T0 + timedelta(days=1)))
    engine.record_purchase(sale("P3", "12.50", member="B", at=T0 + timedelta(hours=2)))
    clock.advance(days=8)
    return engine, clock


def half_merged(store: Store, crash: str) -> tuple[Engine, ManualClock]:
    """B merged into A as G1, crashed on what ``crash`` names."""
    wrapped = CrashingStore(store)
    engine, clock = referring(wrapped)
    wrapped.crash = crash
    with pytest.raises(Crash):
        engine.merge_members("A", "B", id="G1", at=clock(), reason="one person")
    wrapped.crash = ""
    return engine, clock


def figures(made: Merge) -> tuple[Any, ...]:
    """A merge's result but for its entries' numbers (a sequence rolled back leaves a gap)."""
    entries = [
        (e.member_id, e.kind, e.points, e.balance_after, e.expires_at, e.reason) for e in made.received
    ]
    return (
        made.id,
        made.points,
        made.reason,
        made.sent.points,
        entries,
        made.carried,
        made.referrals,
        made.keys,
    )


def members(engine: Engine, *ids: str) -> list[tuple[Any, ...]]:
    """Each member's balance (checked against its ledger), lots, entries, status and referrals."""
    found: list[tuple[Any, ...]] = []
    for member in ids:
        history = engine.history(member)
        assert engine.balance(member).total == balance_of(history)
        assert engine.lots(member) == lots_of(history)
        lots = [(lot.remaining, lot.expires_at) for lot in engine.lots(member)]
        entries = [(e.kind, e.points, e.reason, e.source_id) for e in history]
        referred = [(r.referee, r.referrer, r.state) for r in engine.referrals(member).referred]
        found.append(
            (member, engine.balance(member).total, lots, entries, engine.member(member).status, referred)
        )
    return found


def uninterrupted() -> tuple[Engine, Merge]:
    """The same merge on a store where nothing crashed."""
    engine, clock = referring(open_store("memory://"))
    return engine, engine.merge_members("A", "B", id="G1", at=clock(), reason="one person")


def test_an_uninterrupted_merge_writes_every_part_and_leaves_nothing_to_finish(any_store: Store) -> None:
    engine, clock = referring(any_store)
    made = engine.merge_members("A", "B", id="G1", at=clock(), reason="one person")
    assert (made.points, made.survivor_balance, made.referrals) == (112, 142, ("C", "D"))
    with any_store.unit_of_work(readonly=True) as uow:
        kinds = [
            getattr(uow.operation("G1" + key), "kind", None) for key in ("", SURVIVED, REFEREES_PART, MOVED)
        ]
    assert kinds == [
        "member_merge",
        "member_merge_received",
        "member_merge_referees",
        "member_merge_referees_moved",
    ]
    assert engine.run_due().finished_merges == 0
    assert engine.merge_members("A", "B", id="G1", at=clock(), reason="one person") == made
    # What one unit of work holding every member wrote before, member by member.
    other, straight = uninterrupted()
    assert figures(made) == figures(straight)
    assert members(engine, *"ABCDE") == members(other, *"ABCDE")


def test_between_the_parts_the_points_are_in_neither_balance_and_each_balance_is_its_ledgers(
    any_store: Store,
) -> None:
    engine, _ = half_merged(any_store, SURVIVED)
    before = members(engine, "A", "B")
    assert [(m[0], m[1], m[4]) for m in before] == [
        ("A", 30, MemberStatus.ACTIVE),
        ("B", 0, MemberStatus.CLOSED),
    ]
    # The keys moved with the absorbed member's part; the referees' rows wait for theirs.
    assert engine.find_member("card:2000").id == "A"
    assert [r.referrer for r in engine.referrals("B").referred] == ["B", "B"]


@pytest.mark.parametrize("crash", [SURVIVED, "referral", MOVED])
def test_a_retry_after_a_crash_finishes_the_merge_with_the_uninterrupted_result(
    any_store: Store, crash: str
) -> None:
    engine, clock = half_merged(any_store, crash)
    finished = engine.merge_members("A", "B", id="G1", at=AT, reason="one person")
    other, straight = uninterrupted()
    assert figures(finished) == figures(straight)
    assert members(engine, *"ABCDE") == members(other, *"ABCDE")
    assert engine.merge_members("A", "B", id="G1", at=clock(), reason="one person") == finished
    assert engine.run_due().finished_merges == 0
    assert engine.verify().ok


@pytest.mark.parametrize("crash", [SURVIVED, "referral", MOVED])
def test_maintenance_finishes_a_merge_nobody_retried(any_store: Store, crash: str) -> None:
    engine, clock = half_merged(any_store, crash)
    clock.advance(hours=1)
    assert engine.run_due().finished_merges == 1
    assert engine.run_due().finished_merges == 0
    other, straight = uninterrupted()
    assert members(engine, *"ABCDE") == members(other, *"ABCDE")
    again = engine.merge_members("A", "B", id="G1", at=AT, reason="one person")
    assert figures(again) == figures(straight)
    # C's first purchase rewards the survivor.
    engine.record_purchase(sale("P4", "10.00", member="C", at=clock()))
    assert [(e.kind, e.points) for e in engine.history("A")][-1] == (EntryKind.EARN, 20)


def test_a_reused_id_is_refused_between_the_parts_and_finishes_nothing(any_store: Store) -> None:
    engine, clock = half_merged(any_store, SURVIVED)
    with pytest.raises(IdempotencyConflict) as refused:
        engine.merge_members("A", "B", id="G1", at=clock(), reason="another")
    assert refused.value.field == "reason"
    assert engine.balance("A").total == 30


def test_an_absorbed_member_erased_between_the_parts_reads_as_after_a_merge_written_whole(
    any_store: Store,
) -> None:
    engine, clock = half_merged(any_store, SURVIVED)
    hidden = engine.erase("B", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    assert engine.run_due().finished_merges == 1
    other, _ = uninterrupted()
    theirs = other.erase("B", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    # As if the merge had been written whole before the erasure: the credits' text erased too,
    # B named by its pseudonym (each store's own: drawn with its own secret).
    assert repr(members(engine, *"ACDE")).replace(hidden, "<B>") == repr(members(other, *"ACDE")).replace(
        theirs, "<B>"
    )
    assert [e.reason for e in engine.history("A") if e.kind is EntryKind.MERGE] == ["erased"] * 4
    assert [(r.referee, r.referrer) for r in engine.referrals("A").referred] == [
        ("C", "A"),
        ("D", "A"),
        ("E", "A"),
    ]
    with any_store.unit_of_work(readonly=True) as uow:
        assert uow.balance("B") is None and uow.balance(hidden) == 0
        assert uow.member_status(hidden) is MemberStatus.ERASED
    assert engine.verify().ok


def test_a_survivor_erased_between_the_parts_is_credited_as_an_erasure_keeps_every_balance(
    any_store: Store,
) -> None:
    engine, clock = half_merged(any_store, SURVIVED)
    hidden = engine.erase("A", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    assert engine.run_due().finished_merges == 1
    other, _ = uninterrupted()
    theirs = other.erase("A", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    with any_store.unit_of_work(readonly=True) as uow, other.store.unit_of_work(readonly=True) as them:
        assert (uow.balance(hidden), them.balance(theirs)) == (142, 142)
        lots = [(lot.remaining, lot.expires_at) for lot in uow.lots(hidden)]
        assert lots == [(lot.remaining, lot.expires_at) for lot in them.lots(theirs)]
        referrals = [(r.referee, r.referrer, r.state) for r in uow.referrals_by(hidden)]
    assert referrals == [
        ("C", hidden, ReferralState.PENDING),
        ("D", hidden, ReferralState.REWARDED),
        ("E", hidden, ReferralState.PENDING),
    ]
    assert repr(members(engine, *"BCDE")).replace(hidden, "<A>") == repr(members(other, *"BCDE")).replace(
        theirs, "<A>"
    )
    assert engine.verify().ok


def test_a_merge_recorded_whole_by_an_earlier_version_replays_and_is_left_alone(any_store: Store) -> None:
    engine, clock = referring(any_store)
    _, made = uninterrupted()
    request = {"survivor": "A", "absorbed": "B", "at": clock().isoformat(), "reason": "one person"}
    with any_store.unit_of_work() as uow:
        uow.add_operation(Operation("G1", "member_merge", request, codec.unstructure(made), clock()))
        uow.commit()
    assert engine.merge_members("A", "B", id="G1", at=clock(), reason="one person") == made
    assert engine.run_due().finished_merges == 0
    assert engine.balance("A").total == 30  # the earlier version wrote its entries; none here


def test_a_referees_purchase_and_return_between_the_parts_reward_and_take_from_the_survivor(
    any_store: Store,
) -> None:
    engine, _ = half_merged(any_store, SURVIVED)
    # C's row still names B, closed: its bonus is forwarded to A, in A's own unit of work.
    engine.record_purchase(sale("P4", "10.00", member="C", at=AT))
    assert (engine.balance("A").total, engine.balance("B").total) == (50, 0)
    assert [(e.kind, e.points) for e in engine.history("A")][-1] == (EntryKind.EARN, 20)
    engine.record_return(Return("P4-void", "P4", AT))
    assert (engine.balance("A").total, engine.balance("B").total) == (30, 0)
    assert engine.run_due().finished_merges == 1
    assert [m[:2] for m in members(engine, *"ABC")] == [("A", 142), ("B", 0), ("C", 0)]
    referral = engine.referrals("C").referred_by
    assert referral is not None and (referral.referrer, referral.state) == ("A", ReferralState.REJECTED)
    assert engine.run_due().paid_referrals == 0
    assert engine.verify().ok


def test_a_bonus_owed_to_the_absorbed_member_after_its_part_is_forwarded_to_the_survivor(
    any_store: Store,
) -> None:
    """As when C's purchase read B active just before B's part committed, and B's own part of the
    bonus came after it: B is credited nothing, A its bonus, each in its own unit of work."""
    engine, _ = half_merged(any_store, SURVIVED)
    bonus = ReferrerBonus("B", "C", "P4", 20, 10, AT, None, None, None, False)
    with any_store.unit_of_work() as uow:
        owed = referral_parts.owe(uow, bonus, AT)
        uow.commit()
    referral_parts.finish(engine._ctx, owed)
    assert (engine.balance("A").total, engine.balance("B").total) == (50, 0)
    assert [(e.kind, e.points) for e in engine.history("A")][-1] == (EntryKind.EARN, 20)
    with any_store.unit_of_work(readonly=True) as uow:
        forwarded = uow.operation(owed.key + RECEIVED)
        assert forwarded is not None and forwarded.result["forwarded"] == "A"
        assert referral_parts.paid_lot(uow, "P4") == engine.history("A")[-1].seq
        assert referral_parts.unfinished(uow, "P4") is None
    done = engine.run_due()
    assert (done.paid_referrals, done.finished_merges) == (0, 1)
    assert [m[:2] for m in members(engine, "A", "B")] == [("A", 162), ("B", 0)]


def test_a_return_after_the_absorbed_member_is_erased_between_the_parts_takes_the_bonus_from_the_survivor(
    any_store: Store,
) -> None:
    """D's purchase paid B a bonus; B's part of the merge into A is written, A's is not, and B is
    erased: D's return finds B (erased, not closed) merged into A by its mark and takes the bonus
    back from A, as when B was not erased."""
    engine, clock = half_merged(any_store, SURVIVED)
    engine.erase("B", id="E1", at=clock(), reason="asked", actor="dpo")
    assert engine.record_return(Return("P1-void", "P1", AT)).taken_back == 10
    engine.run_due()
    other, _ = half_merged(open_store("memory://"), SURVIVED)
    other.record_return(Return("P1-void", "P1", AT))
    other.run_due()
    assert engine.balance("A").total == other.balance("A").total == 122
    assert engine.verify().ok


def test_erasing_a_merged_member_renames_its_merged_mark(any_store: Store) -> None:
    """The ``merged|<id>`` tally is the member's: erasure keeps it under the pseudonym only."""
    engine, clock = referring(any_store)
    engine.merge_members("A", "B", id="G1", at=clock(), reason="one person")
    hidden = engine.erase("B", id="E1", at=clock(), reason="asked", actor="dpo").pseudonym
    with any_store.unit_of_work(readonly=True) as uow:
        marks = uow.tallies([merged_key("B"), merged_key(hidden)])
    assert marks[merged_key("B")].count == 0 and marks[merged_key(hidden)].count > 0
