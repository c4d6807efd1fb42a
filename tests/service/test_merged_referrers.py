"""A referrer merged into another member, on every adapter: a return of its referee's qualifying
purchase takes the bonus back from the lot the merge moved it to (not the survivor's other lots),
and finding where a merged member went reads its merge's entry, not its history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from loyalty import Engine, EntryKind, ReferralState, Return
from loyalty.merges import merged_key
from loyalty.referral_bonuses import REFERRER_PART
from loyalty.service import referral_parts
from loyalty.store import Store, UnitOfWork
from loyalty.tallies import Tally
from loyalty.transfers import RECEIVED
from tests.service.helpers import T0
from tests.service.test_merge_parts import AT, SURVIVED, half_merged, members, referring

#: What B's bonus for D's purchase P1 (its lot) comes to.
BONUS = 20


def open_lots(engine: Engine, member: str) -> dict[int, tuple[int, int]]:
    return {lot.id: (lot.points, lot.remaining) for lot in engine.lots(member)}


def bonus_lot(engine: Engine, *merges: tuple[str, str], taken: bool = False) -> int:
    """The lot that B's bonus for P1 is in after the ``merges`` (survivor and id, in order): each
    survivor's credit names the absorbed member's lot it came from. Whole, unless ``taken``."""
    (paid,) = [e for e in engine.history("B") if e.kind is EntryKind.EARN and e.source_id == "P1"]
    lot_id, member = paid.seq, "B"
    for member, merge in merges:
        (credit,) = [
            e for e in engine.history(member) if e.source_id == merge and f"its lot {lot_id}," in e.reason
        ]
        lot_id = credit.seq
    if not taken:
        assert open_lots(engine, member)[lot_id] == (BONUS, BONUS)
    return lot_id


def taken_back(engine: Engine, member: str, lot: int, before: dict[int, tuple[int, int]], via: str) -> None:
    """The return of P1 took the bonus from ``lot`` alone, saying so; the other lots are untouched."""
    last = engine.history(member)[-1]
    assert (last.kind, last.points, last.source_id, last.draws) == (
        EntryKind.RETURN,
        -BONUS,
        "P1-void",
        ((lot, -BONUS),),
    )
    assert last.reason == (
        f"referral bonus taken back, P1 returned: {BONUS} of {BONUS}, from lot {lot}, where {via} moved it"
    )
    assert open_lots(engine, member) == {k: v for k, v in before.items() if k != lot}


def retried(engine: Engine, member: str) -> None:
    """A retry of the return and maintenance write nothing more: the take-back is idempotent."""
    kept = members(engine, member, "B")
    engine.record_return(Return("P1-void", "P1", AT))
    done = engine.run_due()
    assert (done.paid_referrals, done.finished_merges) == (0, 0)
    assert members(engine, member, "B") == kept
    assert engine.verify().ok


def test_a_take_back_after_the_referrers_merge_draws_the_bonus_lot_the_merge_moved(any_store: Store) -> None:
    engine, clock = referring(any_store)
    engine.merge_members("A", "B", id="G1", at=clock(), reason="one person")
    lot, before, balance = bonus_lot(engine, ("A", "G1")), open_lots(engine, "A"), engine.balance("A").total
    engine.record_return(Return("P1-void", "P1", AT))
    assert engine.balance("A").total == balance - BONUS
    taken_back(engine, "A", lot, before, "merge G1")
    retried(engine, "A")


def test_a_bonus_moved_by_two_merges_is_taken_from_the_last_survivors_lot(any_store: Store) -> None:
    engine, clock = referring(any_store)
    engine.enroll("F", at=T0)
    engine.merge_members("A", "B", id="G1", at=clock(), reason="one person")
    engine.merge_members("F", "A", id="G2", at=clock(), reason="one person again")
    lot, before, balance = (
        bonus_lot(engine, ("A", "G1"), ("F", "G2")),
        open_lots(engine, "F"),
        engine.balance("F").total,
    )
    engine.record_return(Return("P1-void", "P1", AT))
    assert engine.balance("F").total == balance - BONUS
    taken_back(engine, "F", lot, before, "merges G1, G2")
    retried(engine, "F")


def test_a_take_back_naming_the_absorbed_member_is_forwarded_and_draws_the_moved_lot(
    any_store: Store,
) -> None:
    """D's referral still names B (the merge crashed before moving it): the take-back reaches B,
    closed, and is forwarded to A, whose part draws the lot the merge moved the bonus to."""
    engine, _ = half_merged(any_store, "referral")
    lot, before, balance = bonus_lot(engine, ("A", "G1")), open_lots(engine, "A"), engine.balance("A").total
    engine.record_return(Return("P1-void", "P1", AT))
    assert (engine.balance("A").total, engine.balance("B").total) == (balance - BONUS, 0)
    taken_back(engine, "A", lot, before, "merge G1")
    with any_store.unit_of_work(readonly=True) as uow:
        forwarded = uow.operation("P1-void" + REFERRER_PART + RECEIVED)
        assert forwarded is not None and forwarded.result["forwarded"] == "A"
    done = engine.run_due()
    assert (done.paid_referrals, done.finished_merges) == (0, 1)
    retried(engine, "A")


def test_a_take_back_between_the_merges_parts_writes_the_survivors_part_first(any_store: Store) -> None:
    """The merge crashed before the survivor's part: the bonus is in neither balance. The take-back,
    forwarded to A, writes A's part of the merge first (under A's lock, which it holds), then draws
    the lot it credited with the bonus; A's own lots are untouched."""
    engine, _ = half_merged(any_store, SURVIVED)
    own, balance = open_lots(engine, "A"), engine.balance("A").total
    engine.record_return(Return("P1-void", "P1", AT))
    credits = [e for e in engine.history("A") if e.source_id == "G1"]
    lot = bonus_lot(engine, ("A", "G1"), taken=True)
    assert engine.balance("A").total == balance + sum(e.points for e in credits) - BONUS
    moved = {e.seq: (e.points, e.points) for e in credits}
    taken_back(engine, "A", lot, {**own, **moved}, "merge G1")
    done = engine.run_due()
    assert (done.paid_referrals, done.finished_merges) == (0, 1)  # the referees' part is left
    referral = engine.referrals("D").referred_by
    assert referral is not None and (referral.referrer, referral.state) == ("A", ReferralState.REJECTED)
    retried(engine, "A")


class _Counting:
    """A unit of work counting the entries its ``history`` reads give back."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.read = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._uow, name)

    def history(self, member_id: str, **page: Any) -> list[Any]:
        found: list[Any] = self._uow.history(member_id, **page)
        self.read += len(found)
        return found


def where(store: Store, member: str) -> tuple[str | None, int]:
    """Where ``member`` went, and how many of its entries were read to find it."""
    with store.unit_of_work(readonly=True) as uow:
        counting = _Counting(uow)
        return referral_parts.merged_into(counting, member), counting.read


def test_finding_where_a_merged_member_went_reads_its_merges_entry_alone(any_store: Store) -> None:
    engine, clock = referring(any_store)
    for n in range(30):
        engine.adjust("B", 1, id=f"B{n}", at=clock(), reason="goodwill", actor="crm")
    engine.merge_members("A", "B", id="G1", at=clock(), reason="one person")
    assert where(any_store, "B") == ("A", 1)
    assert where(any_store, "A") == (None, 0)  # not closed
    # A merge of an earlier version kept no mark: the history says, read whole as before.
    with any_store.unit_of_work() as uow:
        uow.add_tallies({merged_key("B"): Tally(-uow.tallies([merged_key("B")])[merged_key("B")].count)})
        uow.commit()
    survivor, read = where(any_store, "B")
    assert survivor == "A" and read == len(engine.history("B")) > 30


def test_a_member_closed_or_reopened_by_hand_went_nowhere(any_store: Store) -> None:
    engine, clock = referring(any_store)
    engine.change_status("C", "closed", id="S1", at=clock(), reason="left", actor="crm")
    assert where(any_store, "C") == (None, 0)
    engine.merge_members("A", "B", id="G1", at=clock(), reason="one person")
    engine.change_status("B", "active", id="S2", at=clock(), reason="not the same person", actor="crm")
    assert where(any_store, "B") == (None, 0)
    engine.change_status(
        "B", "closed", id="S3", at=clock() + timedelta(seconds=1), reason="left", actor="crm"
    )
    assert where(any_store, "B") == (None, 0)  # closed by hand since its merge, not by it
    engine.change_status("B", "active", id="S4", at=clock(), reason="back", actor="crm")
    engine.merge_members("A", "B", id="G2", at=clock(), reason="one person after all")
    assert where(any_store, "B") == ("A", 1)
