"""A merge whose absorbed member is owed points a half-written command has yet to credit (a
transfer's receiver's part, another merge's survivor's part, left by a crash or a till running
at the same moment): the merge writes those first, so the points reach the survivor, on every
adapter, and no closed member is left holding points."""

from __future__ import annotations

import pytest

from loyalty import MemberStatus
from loyalty.service import merging
from loyalty.store import Store
from tests.service import test_merge_parts, test_transfer_parts


def test_a_transfer_half_written_to_the_absorbed_member_reaches_the_survivor(any_store: Store) -> None:
    engine, clock, _ = test_transfer_parts.half_sent(any_store)  # A sent B 60, B's part not written
    assert engine.balance("B").total == 0
    engine.enroll("S", at=clock())
    made = engine.merge_members("S", "B", id="G1", at=clock(), reason="one person")
    # The transfer's receiver's part first: B had the 60 when it was absorbed.
    assert made.points == 60
    assert (engine.balance("S").total, engine.balance("B").total, engine.balance("A").total) == (60, 0, 20)
    assert engine.member("B").status is MemberStatus.CLOSED
    assert engine.run_due().finished_transfers == 0
    assert engine.verify().ok


def test_a_merge_half_written_into_the_absorbed_member_reaches_the_next_survivor(any_store: Store) -> None:
    engine, clock = test_merge_parts.half_merged(
        any_store, test_merge_parts.SURVIVED
    )  # B into A, A's part not written
    before = engine.balance("A").total
    owed = -engine.history("B")[-1].points  # what G1 took off B, for A
    assert owed > 0
    engine.enroll("S", at=clock())
    made = engine.merge_members("S", "A", id="G2", at=clock(), reason="one person")
    # G1's survivor's part first: A had B's points when it was absorbed in turn.
    assert made.points == before + owed
    assert engine.balance("S").total == made.points
    assert [engine.balance(m).total for m in "AB"] == [0, 0]
    assert engine.run_due().finished_merges == 0
    assert engine.verify().ok


def test_a_backlog_of_half_written_parts_past_one_look_is_finished_before_the_merge(
    any_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A look covers 3 here (1,000 in earnest): the transfer to B comes after 4 others in key order.
    monkeypatch.setattr(merging, "_OWED_LOOKED_AT", 3)
    engine, clock, wrapped = test_transfer_parts.crashing_club(any_store)
    engine.enroll("R", at=clock())
    engine.enroll("S", at=clock())
    wrapped.crashing = True
    for n in range(4):
        with pytest.raises(test_transfer_parts.Crash):
            engine.transfer("A", "R", 1, id=f"a{n}", at=clock(), reason="half written")
    with pytest.raises(test_transfer_parts.Crash):
        engine.transfer("A", "B", 60, id="z-to-B", at=clock(), reason="half written")
    wrapped.crashing = False
    made = engine.merge_members("S", "B", id="G1", at=clock(), reason="one person")
    assert (made.points, engine.balance("S").total, engine.balance("B").total) == (60, 60, 0)
    # The first look's three finished on the way, as maintenance would have; the fourth is left to it.
    assert engine.balance("R").total == 3
    assert engine.run_due().finished_transfers == 1 and engine.balance("R").total == 4
