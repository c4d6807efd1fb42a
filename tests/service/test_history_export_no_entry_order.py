"""A purchase that earned nothing wrote no entry: a history export places it by the ledger's last
entry when it was recorded (``ledger_seq`` in its record, read under its member's lock), as it
places a status change, not by the wall clock that recorded it. Under a clock that stood still
while back-dated purchases came in, it still comes after the purchase that earned before it
(which a referee's first purchase depends on) and never inside a suspension, and the import
into another adapter ends the same. Found by review (issue 15); on every adapter pair the round
trips use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from loyalty import Engine, Line, Program, Purchase, Referrals, history
from loyalty.store import Store
from loyalty.store.memory import MemoryStore
from loyalty.store.memory.data import Kept
from loyalty.testing.clock import ManualClock

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Shop", "EUR", referrals=Referrals(referrer_points=20, referee_points=10))


def _coat(id: str, member: str, at: datetime) -> Purchase:
    return Purchase(id, member, at, [Line("coat", 1, Decimal("80.00"))], "EUR")


def _gum(id: str, member: str, at: datetime) -> Purchase:
    return Purchase(id, member, at, [Line("gum", 1, Decimal("0.50"))], "EUR")


def _imported(source: Engine, store: Store, members: tuple[str, ...]) -> tuple[list[str], Engine]:
    """The ids ``source`` exports (but enrollments and referrals), checked to import whole into
    ``store`` with the same ledgers and statuses."""
    records = list(source.export_history())
    target = Engine(PROGRAM, store, clock=ManualClock(T0 + timedelta(days=1)))
    summary = target.import_events(list(history.write(records)))
    assert not summary.rejected, summary.stopped
    for member in members:
        ledgers = [[(e.kind, e.points, e.source_id) for e in one.history(member)] for one in (source, target)]
        assert ledgers[0] == ledgers[1]
        assert target.member(member).status is source.member(member).status
    kept = (history.Enrollment, history.Referred)
    return [r.id for r in records if not isinstance(r, kept)], target


def test_a_purchase_that_earned_nothing_goes_where_its_member_was_active_under_a_clock_that_stood_still(
    two_stores: tuple[Store, Store],
) -> None:
    # All recorded at one instant, at till times that do not say the order: the purchase that
    # earned nothing after the reinstatement is back-dated between the suspension and it.
    source = Engine(PROGRAM, two_stores[0], clock=ManualClock(T0))
    source.enroll("M1", at=T0 - timedelta(days=1))
    at = {
        key: T0 - timedelta(minutes=m)
        for key, m in [("P1", 40), ("Z1", 35), ("S1", 30), ("Z2", 20), ("S2", 10)]
    }
    assert source.record_purchase(_coat("P1", "M1", at["P1"])).points > 0
    assert source.record_purchase(_gum("Z1", "M1", at["Z1"])).points == 0
    source.change_status("M1", "suspended", id="S1", at=at["S1"], reason="fraud check", actor="ops")
    source.change_status("M1", "active", id="S2", at=at["S2"], reason="cleared", actor="ops")
    assert source.record_purchase(_gum("Z2", "M1", at["Z2"])).points == 0
    assert source.record_purchase(_coat("P2", "M1", T0)).points > 0
    ids, target = _imported(source, two_stores[1], ("M1",))
    # Z2 came after S2, with no entry written between S1 and it: it goes where M1 was active,
    # before S1 (by the clock it went between the two, and the import refused it). On
    # PostgreSQL a purchase's lock draws an entry number, unused by one that earned nothing, so
    # the ledger's last number has moved past S2's: it goes after S2, where it was.
    assert ids in (["P1", "Z1", "Z2", "S1", "S2", "P2"], ["P1", "Z1", "S1", "S2", "Z2", "P2"])
    for key in ("Z1", "Z2"):  # recorded there: a retry gets its receipt back
        assert target.record_purchase(_gum(key, "M1", at[key])).points == 0


def test_a_zero_point_purchase_a_suspension_and_a_reinstatement_at_one_instant_import_in_order(
    two_stores: tuple[Store, Store],
) -> None:
    source = Engine(PROGRAM, two_stores[0], clock=ManualClock(T0))
    source.enroll("M1", at=T0 - timedelta(days=1))
    assert source.record_purchase(_gum("Z1", "M1", T0)).points == 0
    source.change_status("M1", "suspended", id="S1", at=T0, reason="fraud check", actor="ops")
    source.change_status("M1", "active", id="S2", at=T0, reason="cleared", actor="ops")
    assert source.record_purchase(_coat("P1", "M1", T0)).points > 0
    source.change_status("M1", "closed", id="S3", at=T0, reason="left", actor="ops")
    ids, _ = _imported(source, two_stores[1], ("M1",))
    assert ids == ["Z1", "S1", "S2", "P1", "S3"]


def test_a_referees_zero_point_purchase_after_its_first_comes_after_it_under_a_clock_that_stood_still(
    two_stores: tuple[Store, Store],
) -> None:
    # The purchase that earned nothing is back-dated before the first purchase, which paid the
    # referral: by the clock it went first, and the import rejected the referral (its first
    # purchase earned nothing) and paid no bonus.
    source = Engine(PROGRAM, two_stores[0], clock=ManualClock(T0))
    source.enroll("A", at=T0 - timedelta(days=1))
    source.enroll("C", at=T0 - timedelta(days=1), referred_by=source.referral_code("A"))
    assert source.record_purchase(_coat("P1", "C", T0 - timedelta(minutes=10))).points > 0
    assert source.record_purchase(_gum("Z1", "C", T0 - timedelta(minutes=20))).points == 0
    ids, target = _imported(source, two_stores[1], ("A", "C"))
    assert ids == ["P1", "Z1"]
    assert target.balance("A").total == source.balance("A").total == 20


def test_only_a_purchase_that_earned_nothing_keeps_the_ledgers_last_entry() -> None:
    store = MemoryStore()
    source = Engine(PROGRAM, store, clock=ManualClock(T0))
    source.enroll("M1", at=T0 - timedelta(days=1))
    source.record_purchase(_coat("P1", "M1", T0))
    source.record_purchase(_gum("Z1", "M1", T0))
    with store.unit_of_work(readonly=True) as uow:
        earned, nothing = uow.operation("P1"), uow.operation("Z1")
        assert earned is not None and nothing is not None
        assert "ledger_seq" not in earned.result
        assert nothing.result["ledger_seq"] == uow.last_seq() == 1


@pytest.mark.parametrize("stood_still", [False, True], ids=["clock-ran", "clock-stood-still"])
def test_a_purchase_that_earned_nothing_of_an_earlier_release_goes_by_its_clock(stood_still: bool) -> None:
    # Its record has no ledger_seq: placed before the first command recorded after it, as before.
    store = MemoryStore()
    clock = ManualClock(T0)
    source = Engine(PROGRAM, store, clock=clock)
    source.enroll("M1", at=T0 - timedelta(days=1))
    source.record_purchase(_coat("P1", "M1", T0))
    clock.catch_up(T0 if stood_still else T0 + timedelta(minutes=1))
    source.record_purchase(_gum("Z1", "M1", T0 + timedelta(minutes=1)))
    clock.catch_up(T0 if stood_still else T0 + timedelta(minutes=2))
    source.record_purchase(_coat("P2", "M1", T0 + timedelta(minutes=2)))
    kept = store._data.operations["Z1"].operation("Z1")
    assert kept.result.pop("ledger_seq") == 1
    store._data.operations["Z1"] = Kept.of(kept)
    ids, _ = _imported(source, MemoryStore(), ("M1",))
    assert ids == ["P1", "Z1", "P2"]


def test_another_members_suspension_at_the_same_entry_does_not_hold_a_purchase_before_its_reinstatement(
    two_stores: tuple[Store, Store],
) -> None:
    # Nothing written between N's suspension, M's reinstatement and M's purchase that earned
    # nothing: only M's own changes from active go after it (found by review: N's suspension put
    # it before M's reinstatement, and the import refused it). The clock ran.
    clock = ManualClock(T0)
    source = Engine(PROGRAM, two_stores[0], clock=clock)

    def at(minutes: int) -> datetime:
        clock.catch_up(T0 + timedelta(minutes=minutes))
        return T0 + timedelta(minutes=minutes)

    for member in ("M", "N"):
        source.enroll(member, at=T0 - timedelta(days=1))
    assert source.record_purchase(_coat("P1", "M", at(1))).points > 0
    source.change_status("M", "suspended", id="S1", at=at(2), reason="fraud check", actor="ops")
    assert source.record_purchase(_coat("P2", "N", at(3))).points > 0
    source.change_status("N", "suspended", id="S2", at=at(4), reason="fraud check", actor="ops")
    source.change_status("M", "active", id="S3", at=at(5), reason="cleared", actor="ops")
    assert source.record_purchase(_gum("Z1", "M", at(6))).points == 0
    assert source.record_purchase(_coat("P3", "M", at(7))).points > 0
    ids, _ = _imported(source, two_stores[1], ("M", "N"))
    assert ids == ["P1", "S1", "P2", "S2", "S3", "Z1", "P3"]
