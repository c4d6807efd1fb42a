"""Review (helper 11): a purchase that earned nothing and a command naming it recorded at one
instant (a clock that stood still) must be exported in the order they were made."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loyalty import Engine, Line, Program, Purchase, history, open_store
from loyalty.testing.clock import ManualClock

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_a_redemption_against_a_purchase_of_no_points_at_its_instant_imports() -> None:
    program = Program("Shop", "EUR")
    source = Engine(program, open_store("memory://"), clock=ManualClock(T0))
    source.enroll("M1", at=T0)
    source.adjust("M1", 50, id="A1", at=T0, reason="gift", actor="ops")
    assert (
        source.record_purchase(Purchase("P2", "M1", T0, [Line("gum", 1, Decimal("0.50"))], "EUR")).points == 0
    )
    source.redeem("M1", 10, id="R1", at=T0, purchase_id="P2")
    records = [r.id for r in source.export_history() if not isinstance(r, history.Enrollment)]
    assert records == ["A1", "P2", "R1"]
    target = Engine(program, open_store("memory://"), clock=ManualClock(T0))
    summary = target.import_events(list(history.write(source.export_history())))
    assert not summary.rejected, summary.stopped
    assert target.balance("M1").total == source.balance("M1").total == 40


def test_a_redemption_against_a_purchase_of_no_points_from_a_clock_behind_imports() -> None:
    # Two application servers, one 300 ms behind: the ledger keeps commit order, the clock does not.
    program, store = Program("Shop", "EUR"), open_store("memory://")
    ahead = Engine(program, store, clock=ManualClock(T0 + timedelta(milliseconds=300)))
    behind = Engine(program, store, clock=ManualClock(T0))
    ahead.enroll("M1", at=T0)
    ahead.adjust("M1", 50, id="A1", at=T0, reason="gift", actor="ops")
    ahead.record_purchase(Purchase("P2", "M1", T0, [Line("gum", 1, Decimal("0.50"))], "EUR"))
    behind.redeem("M1", 10, id="R1", at=T0 + timedelta(seconds=1), purchase_id="P2")
    target = Engine(program, open_store("memory://"), clock=ManualClock(T0 + timedelta(days=1)))
    summary = target.import_events(list(history.write(ahead.export_history())))
    assert not summary.rejected, summary.stopped
