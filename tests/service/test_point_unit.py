"""One unit of points: whatever the program's scale, every figure the API takes or returns, and every
figure a program states, is an integer in the same unit; ``scale`` only says how a till shows it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from loyalty import Engine, Program
from loyalty.store import Store
from tests.service.helpers import T0, sale


def club(scale: int) -> Program:
    """1 point per euro, doubled with a cap per purchase and a campaign budget, a gold tier with an
    entry bonus: every figure stated in the program's unit (hundredths at scale 2)."""
    u = 10**scale
    return Program.from_toml(f"""
name = "Club"
currency = "EUR"
scale = {scale}
rate = {{points = {u}, per = "1.00"}}

[[rules]]
kind = "multiplier"
id = "double"
factor = "2"
cap_per_purchase = {15 * u}
budget = {25 * u}

[tiers]
metric = "points"
upgrade = "this_purchase"

[[tiers.levels]]
id = "member"

[[tiers.levels]]
id = "gold"
threshold = {40 * u}
bonus = {5 * u}
""")


@pytest.mark.parametrize("scale", [0, 2])
def test_every_figure_in_and_out_of_the_api_is_in_the_programs_unit(any_store: Store, scale: int) -> None:
    u = 10**scale
    engine = Engine(club(scale), any_store, clock=lambda: T0)
    engine.enroll("M1", at=T0)

    first = engine.record_purchase(sale("P1", "10.00"))
    assert (first.points, first.points_of("base"), first.points_of("double")) == (20 * u, 10 * u, 10 * u)
    assert first.balance_after == 20 * u

    # The cap per purchase (15) and the budget's remainder (15 of 25) are in the same unit.
    second = engine.record_purchase(sale("P2", "20.00"))
    assert (second.points_of("base"), second.points_of("double")) == (20 * u, 15 * u)
    # 55 points earned pass the gold threshold of 40 on this purchase; its bonus is 5.
    assert (second.tier_reached, second.tier_bonus) == ("gold", 5 * u)
    assert second.points == 35 * u
    assert second.balance_after == 60 * u
    assert engine.tier("M1").value == Decimal(55 * u)

    spent = engine.explain(sale("P3", "10.00"))
    assert spent.points == 10 * u
    assert {s.rule: s.reason for s in spent.skipped}["double"] == f"campaign budget of {25 * u} used up"

    odd = 3 * u + 7  # 3.07 shown at scale 2, 10 at scale 0: a figure with every digit used
    assert engine.redeem("M1", odd, id="R1", at=T0).points == -odd
    assert engine.adjust("M1", 5, id="A1", at=T0, reason="goodwill", actor="staff").points == 5
    hold = engine.hold("M1", 20, id="H1", at=T0, ttl=timedelta(minutes=5))
    assert hold.points == 20
    assert engine.balance("M1").held == 20
    assert engine.capture("H1", id="C1", at=T0, points=15).captured == 15

    left = 60 * u - odd + 5 - 15
    balance = engine.balance("M1")
    assert (balance.available, balance.total, balance.held) == (left, left, 0)
    history = engine.history("M1")
    assert sum(entry.points for entry in history) == left == history[-1].balance_after
    assert sum(lot.remaining for lot in engine.lots("M1")) == left
    figures = engine.figures(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert (figures.issued, figures.redeemed, figures.adjusted) == (60 * u, odd + 15, 5)


def test_scale_only_changes_how_points_are_shown() -> None:
    shown = [club(2).format_points(p) for p in (0, 5, 675, 100, -307)]
    assert shown == ["0.00", "0.05", "6.75", "1.00", "-3.07"]
    assert [club(0).format_points(p) for p in (0, 675)] == ["0", "675"]


@pytest.mark.parametrize("scale", [0, 2])
def test_a_receipt_shows_its_points_with_the_programs_decimals(store: Store, scale: int) -> None:
    engine = Engine(club(scale), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    slip = engine.record_purchase(sale("P1", "10.00")).render(width=60).splitlines()
    # A rule's exact points show two places at least; the integers, the program's decimals.
    rate = "1.00 point" if scale else "1 point"
    assert slip[1:] == [
        f"  base ({rate} per 1.00 EUR on sku 10.00)".ljust(54) + "+10.00",
        "  double (x2 on sku)".ljust(54) + "+10.00",
        "  points earned".ljust(60 - len(shown := "20.00" if scale else "20")) + shown,
        "  balance".ljust(60 - len(shown)) + shown,
    ]
