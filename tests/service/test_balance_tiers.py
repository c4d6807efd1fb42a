"""Tiers on the current balance, on every adapter: every write that changes a balance moves the
tier (earning, redeeming, corrections, holds, returns, expiry), written as tier moves are."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty import Engine, EntryKind, InsufficientPoints, Line, Program, Purchase, Return
from loyalty.expiry import Expiry, ExpiryPolicy
from loyalty.outbox import EventKind
from loyalty.rewards import Gives, Reward
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.testing.snapshots import snapshot
from tests.adapters import ADAPTERS, fresh_store
from tests.tiered_club import AMS, club

T0 = datetime(2024, 1, 10, 12, 0, tzinfo=AMS)
REWARD = Reward(id="coffee", name="A coffee", cost=100, gives=Gives.PRODUCT, sku="espresso")


def start(program: Program, store: Store) -> tuple[Engine, ManualClock]:
    clock = ManualClock(T0)
    engine = Engine(program, store, clock=clock)
    engine.enroll("M1", at=T0)
    return engine, clock


def buy(engine: Engine, key: str, amount: str, at: datetime = T0) -> Any:
    return engine.record_purchase(Purchase(key, "M1", at, [Line("goods", 1, Decimal(amount))], "EUR"))


def tiers_moved(engine: Engine) -> list[tuple[str, str]]:
    return [(e.source_id, e.reason.split(":")[0]) for e in engine.history("M1") if e.kind is EntryKind.TIER]


def test_a_balance_tier_follows_every_write_that_changes_the_balance(any_store: Store) -> None:
    engine, _ = start(club(metric="balance", downgrade="immediate"), any_store)
    assert buy(engine, "P1", "1400.00").tier_reached == "silver"  # 1400, and silver's 50 on top
    engine.redeem("M1", 1000, id="R1", at=T0)
    assert (engine.tier("M1").tier.id, engine.tier("M1").value) == ("member", Decimal(450))
    engine.adjust("M1", 1200, id="A1", at=T0, reason="goodwill", actor="staff")
    assert (engine.tier("M1").tier.id, engine.balance("M1").total) == ("gold", 1850)  # gold's 200 paid
    engine.hold("M1", 1000, id="H1", at=T0, ttl=timedelta(hours=1))
    assert engine.tier("M1").tier.id == "silver"  # held points have left the balance
    engine.release("H1", at=T0)
    engine.hold("M1", 400, id="H2", at=T0, ttl=timedelta(hours=1))
    engine.capture("H2", id="C2", at=T0, points=100)  # 300 of the 400 come back
    assert (engine.tier("M1").tier.id, engine.balance("M1").total) == ("gold", 1750)
    assert tiers_moved(engine) == [
        ("P1", "tier Member -> Silver"),
        ("R1", "tier Silver -> Member"),
        ("A1", "tier Member -> Gold"),
        ("H1", "tier Gold -> Silver"),
        ("H1", "tier Silver -> Gold"),
        ("H2", "tier Gold -> Silver"),
        ("C2", "tier Silver -> Gold"),
    ]
    assert [e.reason for e in engine.history("M1") if e.source_id == "R1"][-1] == (
        "tier Silver -> Member: down to Member: a balance of 450, below Silver's 500"
    )
    changed = [e for e in engine.events() if e.kind is EventKind.TIER_CHANGED]
    assert len(changed) == 7
    bonuses = [e.points for e in engine.history("M1") if e.reason.startswith("entry bonus")]
    assert bonuses == [50, 200]  # each paid once, whatever the round trips


def test_an_entry_bonus_that_lifts_the_balance_further_is_on_the_receipt(any_store: Store) -> None:
    engine, _ = start(club(metric="balance", downgrade="immediate"), any_store)
    basket = Purchase("P1", "M1", T0, [Line("goods", 1, Decimal("1460.00"))], "EUR")
    quoted = engine.quote(basket)
    assert (quoted.tier_reached, quoted.tier_bonus) == ("gold", 250)
    receipt = buy(engine, "P1", "1460.00")  # silver's 50 takes the balance to 1510: gold
    assert (receipt.tier, receipt.tier_reached, receipt.tier_bonus, receipt.balance_after) == (
        "member",
        "gold",
        250,
        1710,
    )
    assert tiers_moved(engine) == [("P1", "tier Member -> Silver"), ("P1", "tier Silver -> Gold")]
    assert buy(engine, "P1", "1460.00") == receipt  # a replay: the same receipt, nothing written
    assert engine.balance("M1").total == 1710


def test_a_declined_redemption_moves_no_tier_and_writes_nothing_but_its_decline(any_store: Store) -> None:
    engine, _ = start(club(metric="balance", downgrade="immediate"), any_store)
    buy(engine, "P1", "600.00")
    before = snapshot(any_store, ["M1"], [])
    with pytest.raises(InsufficientPoints):
        engine.redeem("M1", 5000, id="R1", at=T0)
    assert snapshot(any_store, ["M1"], []) == before
    assert engine.tier("M1").tier.id == "silver"


def test_a_return_and_expiry_by_maintenance_move_a_balance_tier_down(any_store: Store) -> None:
    program = club(
        metric="balance",
        downgrade="immediate",
        program={"expiry": Expiry(ExpiryPolicy.LIFETIME, months=1)},
    )
    engine, clock = start(program, any_store)
    buy(engine, "P1", "400.00")
    buy(engine, "P2", "200.00")
    assert engine.tier("M1").tier.id == "silver"  # 600, and silver's 50 on top
    engine.record_return(Return("V2", "P2", clock.catch_up(T0 + timedelta(hours=1))))
    assert engine.tier("M1").tier.id == "member"  # 450
    clock.now = T0 + timedelta(days=20)
    buy(engine, "P3", "100.00", clock())
    assert engine.tier("M1").tier.id == "silver"  # 550
    clock.now = T0 + timedelta(days=35)  # P1's 400 and the bonus expired; 100 are left
    report = engine.run_due()
    assert (report.expired_points, report.tier_changes) == (450, 1)
    assert engine.tier("M1").tier.id == "member"
    assert tiers_moved(engine)[-1] == (
        f"tier-balance:M1:{clock.now.astimezone(UTC).isoformat()}",
        "tier Silver -> Member",
    )
    assert engine.run_due().tier_changes == 0


@pytest.mark.parametrize("command", ["redeem", "offline", "hold", "adjust", "buy_reward"])
def test_a_declined_command_that_writes_off_expired_points_moves_a_balance_tier_down(
    any_store: Store, command: str
) -> None:
    """The write-off of points past their date is kept when the command is declined, so the tier
    follows it there, as maintenance's write-off would have moved it (found by review)."""
    program = club(
        metric="balance",
        downgrade="immediate",
        program={"expiry": Expiry(ExpiryPolicy.LIFETIME, months=1), "rewards": [REWARD]},
    )
    engine, clock = start(program, any_store)
    buy(engine, "P1", "600.00")
    assert engine.tier("M1").tier.id == "silver"  # 600, and silver's 50 on top
    # Offline, beyond what the terminal may allow: declined as online.
    granted = clock.catch_up(T0 + timedelta(days=34))
    until = granted + timedelta(days=2)
    engine.grant_offline_allowance(
        "T1", id="G1", at=granted, per_member=10, total=10, until=until, actor="ops"
    )
    at = clock.catch_up(T0 + timedelta(days=35))  # all 650 past their date
    declined: dict[str, Callable[[], object]] = {
        "redeem": lambda: engine.redeem("M1", 100, id="X1", at=at),
        "offline": lambda: engine.redeem("M1", 100, id="X1", at=at, offline=True, terminal="T1"),
        "hold": lambda: engine.hold("M1", 100, id="X1", at=at, ttl=timedelta(hours=1)),
        "adjust": lambda: engine.adjust("M1", -100, id="X1", at=at, reason="fix", actor="staff"),
        "buy_reward": lambda: engine.redeem_reward("M1", REWARD.id, id="X1", at=at),
    }
    with pytest.raises(InsufficientPoints):
        declined[command]()
    assert (engine.balance("M1").total, engine.tier("M1").tier.id) == (0, "member")
    assert tiers_moved(engine)[-1] == ("X1", "tier Silver -> Member")
    assert engine.run_due().tier_changes == 0
    assert buy(engine, "P2", "10.00", at).points == 10  # at the member's rate, not silver's


def test_a_return_whose_refund_lifts_a_balance_tier_shows_the_entry_bonus_in_its_balance(
    any_store: Store,
) -> None:
    engine, clock = start(club(metric="balance", downgrade="immediate"), any_store)
    buy(engine, "P0", "400.00")
    buy(engine, "P1", "1.00")
    engine.redeem("M1", 300, id="R1", at=T0, purchase_id="P1")  # 101 left
    buy(engine, "P2", "300.00")  # 401
    receipt = engine.record_return(Return("V1", "P1", clock.catch_up(T0 + timedelta(hours=1))))
    # The 300 points paid come back, 1 is taken back: 700, silver, and silver's 50 with the return.
    assert (receipt.refunded, receipt.taken_back) == (300, 1)
    assert engine.tier("M1").tier.id == "silver"
    assert receipt.balance_after == engine.balance("M1").total == 750
    assert engine.record_return(Return("V1", "P1", T0 + timedelta(hours=1))) == receipt  # the replay


def test_under_reviews_a_balance_is_measured_at_the_review(any_store: Store) -> None:
    engine, clock = start(club(metric="balance", downgrade="review"), any_store)
    buy(engine, "P1", "1600.00")  # gold, and 250 in bonuses: 1850
    engine.redeem("M1", 1200, id="R1", at=clock.catch_up(T0 + timedelta(days=1)))
    status = engine.tier("M1")
    assert (status.tier.id, status.value, status.to_keep) == ("gold", Decimal(650), Decimal(850))
    clock.now = datetime(2025, 1, 10, 12, 0, tzinfo=AMS)  # the anniversary: a balance of 650
    report = engine.run_due()
    assert (report.tier_reviews, report.tier_changes) == (1, 1)
    assert engine.tier("M1").tier.id == "silver"
    engine.adjust("M1", 900, id="A1", at=clock(), reason="goodwill", actor="staff")
    assert engine.tier("M1").tier.id == "gold"  # up at once, as ever


def test_a_review_carried_out_by_a_later_redemption_measures_the_balance_before_it(
    any_store: Store,
) -> None:
    engine, clock = start(club(metric="balance", downgrade="review"), any_store)
    buy(engine, "P1", "1600.00")  # gold, 1850 with the bonuses
    clock.now = datetime(2025, 1, 11, 12, 0, tzinfo=AMS)  # the anniversary passed, no maintenance
    engine.redeem("M1", 1500, id="R1", at=clock())
    status = engine.tier("M1")  # the review of 10 January found 1850: gold is kept, until the next
    assert (status.tier.id, status.value, status.review_at) == (
        "gold",
        Decimal(350),
        datetime(2026, 1, 10, 12, 0, tzinfo=AMS).astimezone(UTC),
    )
    hold = engine.hold("M1", 300, id="H1", at=clock(), ttl=timedelta(hours=1))
    assert (hold.points, engine.tier("M1").tier.id) == (300, "gold")


def _reviewed(store: Store, *, maintenance_first: bool, hold: bool) -> tuple[str, int, str | None, int]:
    """A gold member whose review of 10 January 2025 is carried out on the 11th, first by
    maintenance or by a purchase, with its points past their date by then or (``hold``) 1,000 of
    them under a hold that ran out on the 9th: the tier the query shows before, the purchase's
    points and tier, and the balance once maintenance has run."""
    expiry = Expiry(ExpiryPolicy.LIFETIME, days=300) if not hold else Expiry(ExpiryPolicy.NONE)
    engine, clock = start(club(metric="balance", downgrade="review", program={"expiry": expiry}), store)
    buy(engine, "P1", "1600.00")  # gold: 1850 with the bonuses
    if hold:
        clock.now = datetime(2025, 1, 9, 12, 0, tzinfo=AMS)
        engine.hold("M1", 1000, id="H1", at=clock(), ttl=timedelta(hours=1))
    clock.now = datetime(2025, 1, 11, 12, 0, tzinfo=AMS)
    shown = engine.tier("M1").tier.id
    if maintenance_first:
        engine.run_due()
    receipt = buy(engine, "P2", "100.00", at=clock())
    engine.run_due()
    return shown, receipt.points, receipt.tier, engine.balance("M1").total


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("hold", [False, True], ids=["points past their date", "a hold that ran out"])
def test_a_review_comes_out_the_same_whether_maintenance_or_a_purchase_carries_it_out(
    adapter: str, hold: bool, tmp_path: Path
) -> None:
    results = []
    for maintenance_first in (True, False):
        folder = tmp_path / str(maintenance_first)
        folder.mkdir()
        with fresh_store(adapter, folder) as store:
            results.append(_reviewed(store, maintenance_first=maintenance_first, hold=hold))
    first, later = results
    if hold:  # the hold gave its 1,000 back before the review: gold kept, the purchase at gold's rate
        assert first == later == ("gold", 150, "gold", 2000)
    else:  # the review finds nothing left: member, and the purchase at member's rate
        assert first == later == ("member", 100, "member", 100)


@pytest.mark.parametrize("batch", [1, 2, 500])  # a unit of work writes off at most ``batch`` lots
def test_a_review_by_maintenance_measures_the_balance_with_every_point_past_its_date_gone(
    any_store: Store, batch: int
) -> None:
    program = club(
        metric="balance", downgrade="review", program={"expiry": Expiry(ExpiryPolicy.LIFETIME, days=5)}
    )
    engine, clock = start(program, any_store)
    for i in range(3):  # three lots of 600, past their date on the 15th
        engine.adjust("M1", 600, id=f"A{i}", at=T0, reason="welcome", actor="staff")
    assert engine.tier("M1").tier.id == "gold"
    clock.now = datetime(2025, 1, 11, 12, 0, tzinfo=AMS)  # the anniversary review, long after
    engine.run_due(batch=batch)
    # Whatever the batch: the review finds no points, not those its unit of work had yet to write off.
    assert (engine.tier("M1").tier.id, engine.balance("M1").total) == ("member", 0)
    assert [e.reason for e in engine.history("M1") if e.kind is EntryKind.TIER][-1] == (
        "tier Gold -> Member: review of 2025-01-10: a balance of 0, below Gold's 1500"
    )


@pytest.mark.parametrize("batch", [1, 500])
def test_points_a_hold_gives_back_to_lots_that_roll_on_count_as_kept(any_store: Store, batch: int) -> None:
    # Under inactivity expiry points given back roll on with the member's activity: the review
    # counts them, as maintenance keeps them, whether or not its unit of work has got to them.
    program = club(
        metric="balance", downgrade="review", program={"expiry": Expiry(ExpiryPolicy.INACTIVITY, days=340)}
    )
    engine, clock = start(program, any_store)
    buy(engine, "P1", "1000.00")
    buy(engine, "P2", "600.00", at=clock.catch_up(T0 + timedelta(days=1)))  # gold: 2000 with the bonuses
    clock.now = datetime(2024, 12, 1, 12, 0, tzinfo=AMS)  # two holds take every point, for 39 days
    engine.hold("M1", 1050, id="H1", at=clock(), ttl=timedelta(days=39))
    engine.hold("M1", 950, id="H2", at=clock(), ttl=timedelta(days=39))
    clock.now = datetime(2024, 12, 10, 12, 0, tzinfo=AMS)
    buy(engine, "P3", "10.00", at=clock())  # activity: the points roll on past the review
    clock.now = datetime(2025, 1, 11, 12, 0, tzinfo=AMS)  # the review of 10 January is due
    assert (engine.tier("M1").tier.id, engine.tier("M1").value) == ("gold", Decimal(2015))
    report = engine.run_due(batch=batch)
    assert (report.tier_changes, engine.tier("M1").tier.id, engine.balance("M1").total) == (0, "gold", 2015)
