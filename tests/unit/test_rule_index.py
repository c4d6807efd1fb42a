"""The compiled rule index: a purchase's candidates by lines, place and dates, found once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from loyalty.earning import Event, evaluate, tally_keys
from loyalty.members import Member
from loyalty.program import EarnRate, Program
from loyalty.purchases import Line, Purchase
from loyalty.rules import BirthdayBonus, EventRule, Multiplier, PurchaseBonus, Rule, SpendRule
from loyalty.tiers import Tier, Tiers

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


def test_rules_are_evaluated_spend_then_multipliers_then_bonuses_higher_priority_first_then_as_listed() -> (
    None
):
    prog = program(
        PurchaseBonus(id="late", points=5),
        Multiplier(id="double", factor=2),
        PurchaseBonus(id="urgent", points=5, priority=5),
        SpendRule(id="spend", points=1),
        Multiplier(id="triple", factor=3, priority=1),
        PurchaseBonus(id="later", points=5),
        EventRule(id="survey", event="survey", points=9),
    )
    order = ["base", "spend", "triple", "double", "urgent", "late", "later"]
    assert [rule.id for rule in prog.index.ordered] == order
    assert dict(prog.index.position) == {rule_id: i for i, rule_id in enumerate(order)}
    assert selected(prog, sale()) == order


def test_an_event_selects_the_rules_for_its_name_higher_priority_first_then_as_listed() -> None:
    prog = program(
        EventRule(id="thanks", event="survey", points=5),
        EventRule(id="welcome", event="signup", points=7),
        EventRule(id="gold", event="survey", points=9, priority=2),
        EventRule(id="again", event="survey", points=1),
        EventRule(id="first", event="signup", points=3, priority=1),
    )
    survey = Event("E1", "M1", "survey", T0)
    assert [rule.id for rule in prog.index.select(survey).rules] == ["gold", "thanks", "again"]
    assert [rule.id for rule in prog.index.select(Event("E2", "M1", "signup", T0)).rules] == [
        "first",
        "welcome",
    ]
    assert prog.index.select(Event("E3", "M1", "review", T0)).rules == ()
    assert [rule.id for rule in prog.index.ordered_events] == ["gold", "first", "thanks", "welcome", "again"]
    assert "thanks" not in prog.index.position


@pytest.mark.parametrize(
    ("rule", "needs"),
    [
        (PurchaseBonus(id="r", points=5, stores=["S1"]), False),
        (PurchaseBonus(id="r", points=5, members={"segment": ("staff",)}), True),
        (PurchaseBonus(id="r", points=5, exclude_members={"segment": ("staff",)}), True),
        (BirthdayBonus(id="r", points=5), True),
        (EventRule(id="r", event="survey", points=5, members={"segment": ("staff",)}), True),
    ],
)
def test_the_member_is_read_only_when_a_rule_looks_at_them(rule: Rule, needs: bool) -> None:
    assert program(rule).index.needs_member is needs


def test_a_tiered_program_reads_the_member_even_when_no_tier_multiplies() -> None:
    tiers = Tiers(levels=[Tier(id="member"), Tier(id="silver", threshold=500)])
    assert program(tiers=tiers).index.needs_member is True


@pytest.mark.parametrize(
    ("rule", "meets", "misses"),
    [
        (
            PurchaseBonus(id="r", points=5, skus=["tea", "coffee"]),
            Line("coffee", 1, Decimal("10.00")),
            Line("cocoa", 1, Decimal("10.00"), category="drinks"),
        ),
        (
            PurchaseBonus(id="r", points=5, categories=["bakery", "drinks"]),
            Line("cocoa", 1, Decimal("10.00"), category="drinks"),
            Line("coffee", 1, Decimal("10.00"), category="beans"),
        ),
        (
            PurchaseBonus(id="r", points=5, labels={"brand": ["acme", "own"]}),
            Line("cocoa", 1, Decimal("10.00"), labels={"brand": "own"}),
            Line("cocoa", 1, Decimal("10.00"), category="drinks", labels={"brand": "other", "acme": "own"}),
        ),
    ],
)
def test_a_rule_for_some_lines_is_a_candidate_only_for_a_basket_holding_one(
    rule: Rule, meets: Line, misses: Line
) -> None:
    prog = program(rule)
    plain = Line("bread", 1, Decimal("10.00"))
    assert selected(prog, sale(lines=(plain, meets))) == ["base", "r"]
    assert evaluate(prog, sale(lines=(plain, meets))).receipt.points == 25
    assert selected(prog, sale(lines=(plain, misses))) == ["base"]
    assert [r.id for r in prog.index.candidates([plain, meets])] == ["base", "r"]
    assert [r.id for r in prog.index.candidates([plain, misses])] == ["base"]


def test_the_candidates_for_a_basket_leave_the_till_and_the_date_aside() -> None:
    prog = program(
        PurchaseBonus(id="coffee", points=5, skus=["coffee"], stores=["S9"], ends=date(2020, 1, 1)),
        PurchaseBonus(id="tea", points=5, skus=["tea"]),
        PurchaseBonus(id="north", points=5, stores=["S9"]),
        PurchaseBonus(id="web", points=5, channels=["web"], starts=date(2030, 1, 1)),
    )
    assert [rule.id for rule in prog.index.candidates([COFFEE])] == ["base", "coffee", "north", "web"]
    assert selected(prog, sale(store_id="S1")) == ["base"]


def test_a_date_window_holds_its_first_and_last_day_whole_in_the_rules_zone() -> None:
    rule = PurchaseBonus(id="week", points=5, starts=date(2024, 3, 4), ends=date(2024, 3, 10))
    prog = program(rule, timezone="Europe/Amsterdam")
    # One index asked in turn, so a day is never answered from a neighbouring day's memory.
    for at, ids in (
        (datetime(2024, 3, 3, 22, 59, 59, 999999, tzinfo=UTC), ["base"]),  # 3 March 23:59 local
        (datetime(2024, 3, 3, 23, 0, tzinfo=UTC), ["base", "week"]),  # 4 March 00:00 local
        (datetime(2024, 3, 10, 22, 59, 59, 999999, tzinfo=UTC), ["base", "week"]),
        (datetime(2024, 3, 10, 23, 0, tzinfo=UTC), ["base"]),
        (datetime(2024, 3, 3, 12, 0, tzinfo=UTC), ["base"]),
        (datetime(2024, 3, 7, 12, 0, tzinfo=UTC), ["base", "week"]),
        (datetime(2024, 3, 4, 12, 0, tzinfo=UTC), ["base", "week"]),
        (datetime(2024, 3, 11, 12, 0, tzinfo=UTC), ["base"]),
        (datetime(2024, 3, 10, 12, 0, tzinfo=UTC), ["base", "week"]),
    ):
        assert selected(prog, sale(at=at)) == ids, at


def test_a_window_that_runs_to_the_last_representable_day_never_ends() -> None:
    prog = program(PurchaseBonus(id="always", points=5, starts=date(2024, 1, 1), ends=date.max))
    assert selected(prog, sale()) == ["base", "always"]
    assert selected(prog, sale(at=datetime(2023, 12, 31, 23, 59, tzinfo=UTC))) == ["base"]


def test_rules_in_two_zones_and_the_programs_read_each_its_own_local_day() -> None:
    prog = program(
        PurchaseBonus(id="home", points=1, starts=date(2024, 4, 1)),
        PurchaseBonus(id="tokyo", points=2, starts=date(2024, 4, 1), timezone="Asia/Tokyo"),
        PurchaseBonus(id="york", points=4, starts=date(2024, 4, 1), timezone="America/New_York"),
        timezone="Europe/Amsterdam",
    )
    # 1 April 01:00 in Amsterdam, 08:00 in Tokyo, still 31 March 19:00 in New York.
    purchase = sale(at=datetime(2024, 3, 31, 23, 0, tzinfo=UTC))
    assert selected(prog, purchase) == ["base", "home", "tokyo"]
    assert evaluate(prog, purchase).receipt.points == 13
    selection = prog.index.select(purchase)
    assert selection.in_zone(ZoneInfo("Asia/Tokyo")) == purchase.at
    assert selection.in_zone(ZoneInfo("Asia/Tokyo")).hour == 8
    assert selection.local(prog.rules[0]).tzinfo == AMSTERDAM
    assert selection.local(prog.rules[0]).hour == 1
    assert selection.local(prog.rules[2]).day == 31


def test_a_rule_restricted_on_every_count_is_a_candidate_when_each_is_met_by_another_field() -> None:
    prog = program(
        PurchaseBonus(id="all", points=5, skus=["coffee"], stores=["S2"], channels=["pos"], terminals=["T1"]),
        PurchaseBonus(id="store", points=5, stores=["S2"]),
        PurchaseBonus(id="till", points=5, terminals=["T1"], ends=date(2024, 3, 5)),
    )
    assert selected(prog, sale(store_id="S2", channel="pos", terminal_id="T1")) == [
        "base",
        "all",
        "store",
        "till",
    ]
    assert selected(prog, sale(store_id="S2", channel="pos", terminal_id="T2")) == ["base", "store"]
    assert selected(prog, sale(store_id="S2", terminal_id="T1")) == ["base", "store", "till"]
    assert selected(prog, sale(store_id="S1", channel="pos", terminal_id="T1")) == ["base", "till"]


@pytest.mark.parametrize(
    ("birthday", "day", "year"),
    [
        (date(1990, 1, 2), date(2023, 12, 30), 2024),  # the first day of next year's window
        (date(1990, 1, 2), date(2024, 1, 5), 2024),  # the last day of this year's
        (date(1990, 12, 30), date(2025, 1, 2), 2024),  # the last day of last year's
        (date(1990, 12, 30), date(2024, 12, 27), 2024),  # the first day of this year's
        (date(1990, 1, 2), date(2023, 12, 29), None),
        (date(1990, 1, 2), date(2024, 1, 6), None),
    ],
)
def test_a_birthday_window_runs_from_days_before_to_days_after_across_the_new_year(
    birthday: date, day: date, year: int | None
) -> None:
    prog = program(
        BirthdayBonus(id="bday", points=50, days_before=3, days_after=3), timezone="Europe/Amsterdam"
    )
    # 23:30 UTC the evening before is already the day in Amsterdam.
    purchase = sale(at=datetime.combine(day, datetime.min.time(), UTC) - timedelta(minutes=30))
    member = Member("M1", enrolled_at=datetime(2020, 1, 1, tzinfo=UTC), birthday=birthday)
    assert evaluate(prog, purchase, member=member).receipt.points == (60 if year else 10)
    assert prog.index.select(purchase).birthdays == {("bday", birthday): year}
