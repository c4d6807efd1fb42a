"""A purchase that earned nothing is placed beside the ledger feed by the wall clock that
recorded it, the commands by the feed's commit order: a command naming such a purchase (a
redemption paid by it, a return of it) recorded at its instant (a clock that stood still), or by
a server whose clock is behind, still comes after it in a history export, and the import takes
it. Found by review (helper 11); on every adapter pair the round trips use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loyalty import Engine, Line, Program, Purchase, history
from loyalty.returns import Return
from loyalty.store import Store
from loyalty.testing.clock import ManualClock

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PROGRAM = Program("Shop", "EUR")


def _gum(id: str, at: datetime) -> Purchase:
    return Purchase(id, "M1", at, [Line("gum", 1, Decimal("0.50"))], "EUR")


def _imported(source: Engine, store: Store) -> list[str]:
    """The ids ``source`` exports (but enrollments), checked to import whole into ``store``."""
    records = list(source.export_history())
    target = Engine(PROGRAM, store, clock=ManualClock(T0 + timedelta(days=1)))
    summary = target.import_events(list(history.write(records)))
    assert not summary.rejected, summary.stopped
    assert target.balance("M1").total == source.balance("M1").total
    ledgers = [[(e.kind, e.points, e.source_id) for e in engine.history("M1")] for engine in (source, target)]
    assert ledgers[0] == ledgers[1]
    return [r.id for r in records if not isinstance(r, history.Enrollment)]


def test_a_redemption_against_a_purchase_of_no_points_at_its_instant_imports(
    two_stores: tuple[Store, Store],
) -> None:
    source = Engine(PROGRAM, two_stores[0], clock=ManualClock(T0))
    source.enroll("M1", at=T0)
    source.adjust("M1", 50, id="A1", at=T0, reason="gift", actor="ops")
    assert source.record_purchase(_gum("P2", T0)).points == 0
    source.redeem("M1", 10, id="R1", at=T0, purchase_id="P2")
    source.record_return(Return("RT2", "P2", T0))
    assert _imported(source, two_stores[1]) == ["A1", "P2", "R1", "RT2"]


def test_commands_naming_a_purchase_of_no_points_from_a_clock_behind_import(
    two_stores: tuple[Store, Store],
) -> None:
    # Two application servers, one 300 ms behind: the ledger keeps commit order, the clock does not.
    store = two_stores[0]
    ahead = Engine(PROGRAM, store, clock=ManualClock(T0 + timedelta(milliseconds=300)))
    behind = Engine(PROGRAM, store, clock=ManualClock(T0))
    ahead.enroll("M1", at=T0)
    ahead.adjust("M1", 50, id="A1", at=T0, reason="gift", actor="ops")
    ahead.record_purchase(_gum("P2", T0))
    behind.redeem("M1", 10, id="R1", at=T0 + timedelta(seconds=1), purchase_id="P2")
    behind.redeem("M1", 5, id="R2", at=T0 + timedelta(seconds=2), purchase_id="P2")
    behind.record_return(Return("RT2", "P2", T0 + timedelta(seconds=3)))
    # Written once, before the first command naming it.
    assert _imported(ahead, two_stores[1]) == ["A1", "P2", "R1", "R2", "RT2"]
