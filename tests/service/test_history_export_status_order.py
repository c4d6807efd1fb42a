"""A status change wrote no entry: a history export places it among its member's commands by
the ledger's commit order (the member's last entry when it committed), not by the wall clock
that recorded it. Under a clock that stood still while back-dated commands came in, or two
application servers one 300 ms behind the other, a suspension still comes after the purchase
made before it and a reinstatement before the purchase it allowed, and the import takes them.
Found by review (issue 15); on every adapter pair the round trips use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest

from loyalty import Engine, Line, Program, Purchase, history
from loyalty.store import Store
from loyalty.store.memory import MemoryStore
from loyalty.testing.clock import ManualClock

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Shop", "EUR")


def _sale(id: str, at: datetime) -> Purchase:
    return Purchase(id, "M1", at, [Line("coat", 1, Decimal("80.00"))], "EUR")


def _imported(source: Engine, store: Store) -> list[str]:
    """The ids ``source`` exports (but enrollments), checked to import whole into ``store`` with
    the same ledger and status."""
    records = list(source.export_history())
    target = Engine(PROGRAM, store, clock=ManualClock(T0 + timedelta(days=1)))
    summary = target.import_events(list(history.write(records)))
    assert not summary.rejected, summary.stopped
    ledgers = [[(e.kind, e.points, e.source_id) for e in engine.history("M1")] for engine in (source, target)]
    assert ledgers[0] == ledgers[1]
    assert target.member("M1").status is source.member("M1").status
    return [r.id for r in records if not isinstance(r, history.Enrollment)]


def _suspended_and_back(first: Engine, second: Engine, at: list[datetime]) -> None:
    """A purchase, a suspension by ``first``, a correction while suspended, a reinstatement and
    a purchase by ``second``, each at its ``at``."""
    first.enroll("M1", at=T0 - timedelta(days=1))
    assert first.record_purchase(_sale("P1", at[0])).points > 0
    first.change_status("M1", "suspended", id="S1", at=at[1], reason="fraud check", actor="ops")
    second.adjust("M1", 5, id="A1", at=at[2], reason="goodwill", actor="ops")
    second.change_status("M1", "active", id="S2", at=at[3], reason="cleared", actor="ops")
    assert second.record_purchase(_sale("P2", at[4])).points > 0


def test_a_suspension_and_reinstatement_under_a_clock_that_stood_still_import(
    two_stores: tuple[Store, Store],
) -> None:
    # All recorded at one instant, the purchases back-dated behind the status changes around them.
    source = Engine(PROGRAM, two_stores[0], clock=ManualClock(T0))
    minutes = [10, 20, 30, 40, 50]
    at = [T0 - timedelta(minutes=60 - m) for m in minutes]
    at[0], at[4] = at[1] + timedelta(minutes=5), at[3] - timedelta(minutes=5)
    _suspended_and_back(source, source, at)
    assert _imported(source, two_stores[1]) == ["P1", "S1", "A1", "S2", "P2"]


@pytest.mark.parametrize("suspended_ahead", [True, False], ids=["suspended-ahead", "reinstated-ahead"])
def test_a_suspension_and_reinstatement_from_a_clock_behind_import(
    two_stores: tuple[Store, Store], suspended_ahead: bool
) -> None:
    # Two application servers, one 300 ms behind: the ledger keeps commit order, the clock does
    # not. The one ahead suspends (its record after the reinstatement and the purchase by the
    # one behind), or the one behind does (the purchase before the suspension by the clock).
    store = two_stores[0]
    ahead = Engine(PROGRAM, store, clock=ManualClock(T0 + timedelta(milliseconds=300)))
    behind = Engine(PROGRAM, store, clock=ManualClock(T0))
    first, second = (ahead, behind) if suspended_ahead else (behind, ahead)
    _suspended_and_back(first, second, [T0] * 5)
    assert _imported(ahead, two_stores[1]) == ["P1", "S1", "A1", "S2", "P2"]


def test_a_status_change_of_an_earlier_release_goes_by_its_clock() -> None:
    # Its event has no ledger_seq: placed before the first command recorded after it, as before.
    store = MemoryStore()
    clock = ManualClock(T0)
    source = Engine(PROGRAM, store, clock=clock)
    at = [T0 + timedelta(minutes=m) for m in range(5)]
    for each in at:
        clock.catch_up(each)
        if each == at[0]:
            source.enroll("M1", at=T0 - timedelta(days=1))
            source.record_purchase(_sale("P1", each))
        elif each == at[1]:
            source.change_status("M1", "suspended", id="S1", at=each, reason="fraud check", actor="ops")
        elif each == at[2]:
            source.adjust("M1", 5, id="A1", at=each, reason="goodwill", actor="ops")
        elif each == at[3]:
            source.change_status("M1", "active", id="S2", at=each, reason="cleared", actor="ops")
        else:
            source.record_purchase(_sale("P2", each))
    events = store._data.events
    for n, event in enumerate(events):
        if "ledger_seq" in event.data:
            old = {k: v for k, v in event.data.items() if k != "ledger_seq"}
            events[n] = attrs.evolve(event, data=old)
    assert not any("ledger_seq" in e.data for e in source.events(limit=100))
    assert _imported(source, MemoryStore()) == ["P1", "S1", "A1", "S2", "P2"]
