"""The compiled rule index: a purchase's candidates by lines, place and dates, found once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from loyalty.earning import evaluate, tally_keys
from loyalty.members import Member
from loyalty.program import EarnRate, Program
from loyalty.purchases import Line, Purchase
from loyalty.rules import BirthdayBonus, Multiplier, PurchaseBonus, Rule, SpendRule

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
T0 = datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
COFFEE = Line("coffee", 1, Decimal("10.00"), category="drinks")


def program(*rules: Rule, **options: Any) -> Program:
    return Program("Test", "EUR", rate=EarnRate(), rules=rules, **options)


def sale(at: datetime = T0, lines: tuple[Line, ...] = (COFFEE,), **fields: Any) -> Purchase:
    return Purchase("P1", "M1", at, lines, "EUR", **fields)


def selected(prog: Program, purchase: Purchase) -> list[str]:
    return [rule.id for rule in prog.index.select(purchase).rules]


def reason(prog: Program, purchase: Purchase, rule_id: str) -> str:
    receipt = evaluate(prog, purchase, explain=True).receipt
    return next(s.reason for s in receipt.skipped if s.rule == rule_id)


@pytest.mark.parametrize(
    ("rule", "fields", "why"),
    [
        (PurchaseBonus(id="r", points=5, stores=["S2", "S3"]), {"store_id": "S1"}, "store S1 is not S2/S3"),
        (PurchaseBonus(id="r", points=5, stores=["S2"]), {}, "no store given; only for store S2"),
        (PurchaseBonus(id="r", points=5, channels=["web"]), {"channel": "pos"}, "channel pos is not web"),
        (PurchaseBonus(id="r", points=5, terminals=["T9"]), {"terminal_id": "T1"}, "terminal T1 is not T9"),
        (PurchaseBonus(id="r", points=5, starts=date(2024, 4, 1)), {}, "not started: runs from 2024-04-01"),
        (PurchaseBonus(id="r", points=5, ends=date(2024, 3, 4)), {}, "ended on 2024-03-04"),
        (
            PurchaseBonus(id="r", points=5, starts=date(2024, 1, 1), ends=date(2024, 1, 31)),
            {},
            "ended on 2024-01-31",
        ),
    ],
)
def test_a_rule_the_purchase_cannot_meet_is_not_a_candidate_and_explains_as_before(
    rule: Rule, fields: dict[str, Any], why: str
) -> None:
    prog = program(rule)
    purchase = sale(**fields)
    assert selected(prog, purchase) == ["base"]
    assert reason(prog, purchase, "r") == why
    assert evaluate(prog, purchase).receipt.points == 10


@pytest.mark.parametrize(
    "fields",
    [
        {"store_id": "S2"},
        {"channel": "web"},
        {"terminal_id": "T9"},
    ],
)
def test_a_rule_the_purchase_meets_is_a_candidate(fields: dict[str, Any]) -> None:
    prog = program(
        PurchaseBonus(id="store", points=5, stores=["S2"]),
        PurchaseBonus(id="channel", points=5, channels=["web"]),
        PurchaseBonus(id="terminal", points=5, terminals=["T9"]),
        PurchaseBonus(id="march", points=5, starts=date(2024, 3, 1), ends=date(2024, 3, 31)),
    )
    (kind,) = fields
    wanted = {"store_id": "store", "channel": "channel", "terminal_id": "terminal"}[kind]
    assert selected(prog, sale(**fields)) == ["base", wanted, "march"]
    assert evaluate(prog, sale(**fields)).receipt.points == 20


def test_a_rule_with_several_restrictions_is_a_candidate_only_when_all_are_met() -> None:
    rule = PurchaseBonus(
        id="r",
        points=5,
        categories=["drinks"],
        stores=["S2"],
        channels=["pos"],
        starts=date(2024, 3, 1),
        ends=date(2024, 3, 31),
    )
    prog = program(rule)
    assert selected(prog, sale(store_id="S2", channel="pos")) == ["base", "r"]
    assert evaluate(prog, sale(store_id="S2", channel="pos")).receipt.points == 15
    bread = (Line("bread", 1, Decimal("10.00"), category="bakery"),)
    for purchase, why in (
        (sale(store_id="S1", channel="pos"), "store S1 is not S2"),
        (sale(store_id="S2", channel="web"), "channel web is not pos"),
        (sale(at=datetime(2024, 4, 1, 9, tzinfo=UTC), store_id="S2", channel="pos"), "ended on 2024-03-31"),
        (sale(lines=bread, store_id="S2", channel="pos"), "no line with category drinks"),
    ):
        assert selected(prog, purchase) == ["base"]
        assert reason(prog, purchase, "r") == why


def test_a_date_window_ends_at_midnight_in_the_programs_zone() -> None:
    prog = program(PurchaseBonus(id="march", points=5, ends=date(2024, 3, 31)), timezone="Europe/Amsterdam")
    # 22:00 UTC on 31 March is already 1 April in Amsterdam (summer time started that morning).
    last = sale(at=datetime(2024, 3, 31, 21, 59, 59, 999999, tzinfo=UTC))
    after = sale(at=datetime(2024, 3, 31, 22, 0, tzinfo=UTC))
    assert selected(prog, last) == ["base", "march"]
    assert selected(prog, after) == ["base"]
    assert reason(prog, after, "march") == "ended on 2024-03-31"
    # The same instant in the Amsterdam zone itself (no conversion) agrees.
    assert selected(prog, sale(at=after.at.astimezone(AMSTERDAM))) == ["base"]


def test_a_rule_with_its_own_timezone_is_dated_in_it() -> None:
    rule = PurchaseBonus(id="april", points=5, starts=date(2024, 4, 1), timezone="America/New_York")
    prog = program(rule, timezone="Europe/Amsterdam")
    # 1 April 02:00 in Amsterdam is still 31 March in New York.
    early = sale(at=datetime(2024, 4, 1, 0, 0, tzinfo=UTC))
    assert selected(prog, early) == ["base"]
    assert reason(prog, early, "april") == "not started: runs from 2024-04-01"
    assert selected(prog, sale(at=datetime(2024, 4, 1, 4, 0, tzinfo=UTC))) == ["base", "april"]


def test_grouped_rules_are_found_by_their_lines_only() -> None:
    # A group is decided where its last candidate comes up: that must not move with the till.
    first = Multiplier(id="x2", factor=2, group="g")
    last = PurchaseBonus(id="north", points=50, group="g", stores=["S9"])
    prog = program(first, last)
    assert selected(prog, sale(store_id="S1")) == ["base", "x2", "north"]
    assert evaluate(prog, sale(store_id="S1")).receipt.points == 20


def test_exclusions_do_not_index_a_rule() -> None:
    prog = program(PurchaseBonus(id="r", points=5, exclude_stores=["S9"]))
    assert selected(prog, sale(store_id="S1")) == ["base", "r"]
    assert reason(prog, sale(store_id="S9"), "r") == "store S9 is excluded"


def test_a_thousand_campaigns_for_other_stores_and_dates_leave_the_candidates_alone() -> None:
    campaigns: list[Rule] = []
    for i in range(1000):
        if i % 2:
            campaigns.append(PurchaseBonus(id=f"store{i}", points=5, stores=[f"X{i}"]))
        else:
            campaigns.append(
                SpendRule(id=f"week{i}", points=2, starts=date(2023, 1, 1), ends=date(2023, 1, 7))
            )
    prog = program(*campaigns)
    assert selected(prog, sale(store_id="S1")) == ["base"]
    assert selected(prog, sale(store_id="X1")) == ["base", "store1"]


def test_the_tallies_and_the_evaluation_share_one_selection() -> None:
    rule = BirthdayBonus(id="bday", points=50, days_before=3, days_after=3)
    prog = program(rule, timezone="Europe/Amsterdam")
    purchase = sale()
    member = Member("M1", enrolled_at=T0, birthday=date(1990, 3, 6))
    own, _ = tally_keys(prog, purchase, member)
    selection = prog.index.select(purchase)
    assert "birthday|bday|2024|M1" in own
    assert selection.birthdays == {("bday", date(1990, 3, 6)): 2024}
    assert evaluate(prog, purchase, member=member).receipt.points == 60
    assert prog.index.select(purchase) is selection
    assert prog.index.select(sale()) is not selection


def test_a_new_program_version_is_compiled_anew() -> None:
    spring = program(PurchaseBonus(id="north", points=5, stores=["S1"]), version="1")
    summer = attrs.evolve(spring, version="2", rules=[PurchaseBonus(id="south", points=7, stores=["S1"])])
    assert summer.index is not spring.index
    assert spring.index is spring.index
    assert selected(spring, sale(store_id="S1")) == ["base", "north"]
    assert selected(summer, sale(store_id="S1")) == ["base", "south"]
    assert evaluate(summer, sale(store_id="S1")).receipt.points == 17
