"""An erased member gets no more notices: no ``points_expiring`` reminder (nor its mark) for
its lots, no ``member_at_risk`` announcement and no tier review's ``tier_changed``, though its
lots, tallies and tier state stay (its figures are kept). Found by review; on every adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from loyalty import Engine, Expiry, Line, Program, Purchase, Tier, Tiers
from loyalty.expiry import reminded_key
from loyalty.habits import AtRisk, AtRiskReport
from loyalty.store import Store
from loyalty.testing.clock import ManualClock

T0 = datetime(2024, 1, 1, 10, tzinfo=UTC)
TIERS = Tiers(
    levels=[Tier(id="member"), Tier(id="gold", threshold=100)],
    window="calendar_year",
    downgrade="review",
    review="fixed",
    review_on="01-01",
)
PROGRAM = Program("Club", "EUR", remind_days=7, expiry=Expiry("lifetime", days=60), tiers=TIERS)


def _erased_regular(store: Store) -> tuple[Engine, ManualClock, str]:
    """A weekly shopper of gold standing, erased the day after its last visit: the engine, its
    clock and the member's pseudonym."""
    clock = ManualClock(T0)
    engine = Engine(PROGRAM, store, clock=clock)
    engine.enroll("M1", at=T0)
    for week in range(8):
        at = clock.catch_up(T0 + timedelta(weeks=week))
        engine.record_purchase(Purchase(f"P{week}", "M1", at, [Line("goods", 1, Decimal("20.00"))], "EUR"))
    assert engine.tier("M1").tier.id == "gold"
    at = clock.catch_up(T0 + timedelta(weeks=7, days=1))
    hidden = engine.erase("M1", id="E1", at=at, reason="art. 17", actor="dpo").pseudonym
    return engine, clock, hidden


def test_an_erased_members_lots_about_to_expire_are_not_announced(any_store: Store) -> None:
    engine, clock, hidden = _erased_regular(any_store)
    last = engine.events()[-1].seq
    clock.now = T0 + timedelta(days=55)  # the first lots expire within the week
    assert engine.run_due().reminders == 0
    assert [e.kind.value for e in engine.events(after=last)] == []
    lots = engine.lots(hidden)
    assert lots  # its figures are kept
    with any_store.unit_of_work(readonly=True) as uow:
        marks = [reminded_key(lot.member_id, lot.id, lot.expires_at) for lot in lots if lot.expires_at]
        assert all(not tally.count for tally in uow.tallies(marks).values())


def test_an_erased_member_is_neither_announced_at_risk_nor_reviewed(any_store: Store) -> None:
    engine, clock, hidden = _erased_regular(any_store)
    last = engine.events()[-1].seq
    clock.now = T0 + timedelta(weeks=12)  # four weeks after a weekly shopper's last visit
    assert engine.at_risk(factor=Decimal(2)).at_risk == []
    # Nor from a report made before its erasure.
    drifting = AtRisk(hidden, ("no visit",), T0, Decimal(28), Decimal(7), Decimal(0), Decimal(0))
    assert engine.announce_at_risk(AtRiskReport(clock.now, [drifting], [], 1)) == 0
    clock.now = datetime(2026, 1, 1, 12, tzinfo=UTC)  # past the review of an empty year: down
    engine.run_due()
    assert [e.kind.value for e in engine.events(after=last)] == []
