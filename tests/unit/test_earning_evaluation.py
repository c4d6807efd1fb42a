"""What the evaluation hands its rules: the member, the tallies, the balance; windows at their exact edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, localcontext

import pytest

from loyalty import CurrencyMismatch, EarnRate, Line, PointsOverflow, Program, Purchase, earn
from loyalty.earning import Event, evaluate, evaluate_event
from loyalty.earning_keys import epoch_micros, redeemed_key, visits_key
from loyalty.habits import seen_key
from loyalty.members import Member
from loyalty.receipts import Skipped
from loyalty.rules import EventRule, FirstPurchase, Multiplier, PurchaseBonus, StampCard
from loyalty.tallies import Tally

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
VIP = Member("M1", T0 - timedelta(days=400), attributes={"vip": True})


def sale(amount: str = "10.00") -> Purchase:
    return Purchase("P1", "M1", T0, [Line("tea", 1, Decimal(amount))], "EUR")


def club(*rules: PurchaseBonus | FirstPurchase | StampCard | EventRule) -> Program:
    return Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")), rules=rules)


class TestEarnPassesItsArguments:
    def test_the_member_reaches_rules_for_a_segment(self) -> None:
        program = club(PurchaseBonus(id="vip", points=5, members={"vip": [True]}))
        assert earn(program, sale(), member=VIP).points == 15
        assert earn(program, sale()).points == 10

    def test_the_tallies_reach_rules_that_count(self) -> None:
        program = club(FirstPurchase(id="first", points=50))
        assert earn(program, sale()).points == 60
        assert earn(program, sale(), tallies={visits_key("M1"): Tally(1, Decimal(0))}).points == 10

    def test_the_balance_before_gives_the_balance_after(self) -> None:
        assert earn(club(), sale(), balance_before=7).balance_after == 17
        assert earn(club(), sale()).balance_after is None

    def test_reasons_only_when_asked(self) -> None:
        program = club(FirstPurchase(id="first", points=50))
        seen = {visits_key("M1"): Tally(2, Decimal(0))}
        assert earn(program, sale(), tallies=seen).skipped == ()
        assert earn(program, sale(), tallies=seen, explain=True).skipped == (
            Skipped("first", "first", "not the member's first purchase (2 before)"),
        )


class TestEvents:
    survey = Event("E1", "M1", "survey", T0)

    def test_the_receipt_names_the_event_and_its_id(self) -> None:
        receipt = evaluate_event(club(EventRule(id="s", event="survey", points=20)), self.survey).receipt
        assert (receipt.source_id, receipt.event, receipt.points, receipt.amount) == (
            "E1",
            "survey",
            20,
            None,
        )

    def test_the_balance_before_gives_the_balance_after(self) -> None:
        program = club(EventRule(id="s", event="survey", points=20))
        assert evaluate_event(program, self.survey, balance_before=5).receipt.balance_after == 25
        assert evaluate_event(program, self.survey).receipt.balance_after is None

    def test_the_member_and_the_tallies_reach_event_rules(self) -> None:
        program = club(EventRule(id="s", event="survey", points=20, members={"vip": [True]}))
        assert evaluate_event(program, self.survey, member=VIP).receipt.points == 20
        assert evaluate_event(program, self.survey).receipt.points == 0
        limited = club(EventRule(id="s", event="survey", points=20, limit=1, limit_period="ever"))
        once = evaluate_event(limited, self.survey).tallies
        assert evaluate_event(limited, self.survey, tallies=once).receipt.points == 0

    def test_reasons_only_when_asked_and_purchase_rules_are_named(self) -> None:
        program = club(EventRule(id="s", event="signup", points=20))
        assert evaluate_event(program, self.survey).receipt.skipped == ()
        skipped = evaluate_event(program, self.survey, explain=True).receipt.skipped
        assert [(s.rule, s.reason) for s in skipped] == [
            ("s", "only for event signup"),
            ("base", "only for purchases"),
        ]


class TestRedeemedWithin:
    program = club(PurchaseBonus(id="back", points=5, redeemed_within_days=30))

    def points(self, last: datetime | None) -> tuple[int, tuple[str, ...]]:
        tallies = {} if last is None else {redeemed_key("M1"): Tally(1, Decimal(epoch_micros(last)))}
        receipt = earn(self.program, sale(), tallies=tallies, explain=True)
        return receipt.points, tuple(s.reason for s in receipt.skipped)

    def test_exactly_the_days_before_counts(self) -> None:
        assert self.points(T0 - timedelta(days=30)) == (15, ())
        assert self.points(T0) == (15, ())

    def test_a_moment_more_does_not(self) -> None:
        reason = "only for members who redeemed in the last 30 days; last on 2024-01-31"
        assert self.points(T0 - timedelta(days=30, microseconds=1)) == (10, (reason,))

    def test_never_redeemed(self) -> None:
        assert self.points(None) == (
            10,
            ("only for members who redeemed in the last 30 days; never redeemed",),
        )

    def test_a_redemption_after_the_purchase_says_nothing_of_before(self) -> None:
        reason = "only for members who redeemed in the last 30 days; the last was after this purchase"
        assert self.points(T0 + timedelta(microseconds=1)) == (10, (reason,))


class TestBackAfterAbsence:
    program = club(PurchaseBonus(id="welcome-back", points=5, absent_days=60))

    def points(self, last: datetime | None) -> tuple[int, tuple[str, ...]]:
        tallies = {} if last is None else {seen_key("M1"): Tally(1, Decimal(epoch_micros(last)))}
        receipt = earn(self.program, sale(), tallies=tallies, explain=True)
        return receipt.points, tuple(s.reason for s in receipt.skipped)

    def test_exactly_the_days_away_counts(self) -> None:
        assert self.points(T0 - timedelta(days=60)) == (15, ())

    def test_a_moment_less_does_not(self) -> None:
        reason = "only for members back after 60 days away; last visit 59 days before"
        assert self.points(T0 - timedelta(days=60) + timedelta(microseconds=1)) == (10, (reason,))

    def test_no_earlier_visit(self) -> None:
        assert self.points(None) == (10, ("only for members back after 60 days away; no earlier visit",))

    def test_a_visit_after_the_purchase_says_nothing_of_before(self) -> None:
        reason = "only for members back after 60 days away; the last visit was after this purchase"
        assert self.points(T0 + timedelta(days=19)) == (10, (reason,))  # not "-19 days before"


class TestExclusiveGroups:
    def test_on_a_tie_the_first_listed_is_kept_and_the_other_says_so(self) -> None:
        program = club(
            PurchaseBonus(id="a", points=5, group="g"),
            PurchaseBonus(id="b", points=5, group="g"),
            PurchaseBonus(id="c", points=4, group="g"),
        )
        receipt = evaluate(program, sale(), explain=True).receipt
        assert receipt.points_of("a") == 5
        assert receipt.points_of("b") == 0
        assert [(s.rule, s.reason) for s in receipt.skipped] == [
            ("b", "group g: a gives as much and comes first (5)"),
            ("c", "group g: a gives more (5)"),
        ]


class TestStop:
    def test_a_stop_rule_giving_one_point_stops_every_later_rule(self) -> None:
        program = club(
            PurchaseBonus(id="one", points=1, stop=True, priority=2),
            PurchaseBonus(id="later", points=5, priority=1),
            PurchaseBonus(id="last", points=7),
        )
        receipt = evaluate(program, sale(), explain=True).receipt
        assert receipt.points == 10 + 1  # spend rules come first: the base rate is not stopped
        assert [(s.rule, s.reason) for s in receipt.skipped] == [
            ("later", "stopped by one"),
            ("last", "stopped by one"),
        ]

    def test_a_group_waiting_for_a_member_after_the_stop_is_decided_among_those_before(self) -> None:
        program = club(
            PurchaseBonus(id="a", points=3, group="g", priority=3),
            PurchaseBonus(id="b", points=4, group="g", priority=2),
            PurchaseBonus(id="halt", points=1, stop=True, priority=1),
            PurchaseBonus(id="c", points=9, group="g"),
        )
        receipt = evaluate(program, sale(), explain=True).receipt
        assert receipt.points == 10 + 4 + 1
        assert [(s.rule, s.reason) for s in receipt.skipped] == [
            ("a", "group g: b gives more (4)"),
            ("c", "stopped by halt"),
        ]

    def test_members_of_a_group_before_its_last_are_all_weighed(self) -> None:
        program = club(
            PurchaseBonus(id="a", points=3, group="g", priority=2),
            PurchaseBonus(id="x", points=1, priority=1),
            PurchaseBonus(id="b", points=4, group="g"),
        )
        assert evaluate(program, sale()).receipt.points == 10 + 1 + 4


def test_a_currency_mismatch_names_both_currencies() -> None:
    with pytest.raises(CurrencyMismatch) as info:
        earn(club(), Purchase("P1", "M1", T0, [Line("tea", 1, Decimal("1.00"))], "SEK"))
    assert info.value.field == "currency"
    assert "SEK" in str(info.value) and "EUR" in str(info.value) and "'Club'" in str(info.value)


class TestRoundingGroups:
    def test_rounding_per_line_adds_every_rule_on_a_line_before_rounding(self) -> None:
        program = Program(
            "Club",
            "EUR",
            rate=EarnRate(1, Decimal("1.00")),
            round_per="line",
            rules=[Multiplier(id="x2", factor=2)],
        )
        receipt = earn(program, sale("0.60"))
        assert receipt.points == 1  # 0.60 + 0.60 on the one line, floored once

    def test_a_program_that_does_not_carry_ignores_a_carried_fraction(self) -> None:
        # A version that stopped carrying: a fraction carried under the one before stays unused.
        done = evaluate(club(), sale("0.50"), tallies={"carry|M1": Tally(0, Decimal("0.5"))})
        assert (done.receipt.points, done.receipt.carried_in) == (0, Decimal(0))
        assert "carry|M1" not in done.tallies

    def test_rounding_per_line_shows_what_every_line_lost(self) -> None:
        program = Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")), round_per="line")
        both = Purchase("P1", "M1", T0, [Line("a", 1, Decimal("0.60")), Line("b", 1, Decimal("0.70"))], "EUR")
        receipt = earn(program, both)
        assert (receipt.points, receipt.rounding_adjustment) == (0, Decimal("-1.30"))

    def test_a_carried_fraction_left_as_it_was_writes_no_tally(self) -> None:
        program = Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")), carry=True)
        done = evaluate(program, sale("2.00"), tallies={"carry|M1": Tally(0, Decimal("0.5"))})
        assert (done.receipt.points, done.receipt.carried_out) == (2, Decimal("0.5"))
        assert "carry|M1" not in done.tallies


class TestTheLargestEarning:
    def test_exactly_the_64_bit_limit_is_earned(self) -> None:
        program = club(PurchaseBonus(id="jackpot", points=2**63 - 1 - 10))
        assert earn(program, sale()).points == 2**63 - 1

    def test_one_point_more_is_refused_naming_the_lines(self) -> None:
        program = club(PurchaseBonus(id="jackpot", points=2**63 - 10))
        with pytest.raises(PointsOverflow) as info:
            earn(program, sale())
        assert info.value.field == "lines"
        assert f"would earn {2**63} units" in str(info.value)


class TestExplainingEveryRule:
    def test_a_rule_for_other_lines_gives_its_own_reason_first(self) -> None:
        # Not in force yet: that, not the missing coffee, is why it gives nothing.
        tomorrow = (T0 + timedelta(days=1)).date()
        program = club(PurchaseBonus(id="later", points=5, skus=["coffee"], starts=tomorrow))
        receipt = earn(program, sale(), explain=True)
        assert [(s.rule, s.reason) for s in receipt.skipped] == [
            ("later", "not started: runs from 2024-03-02"),
        ]

    def test_the_reasons_come_in_the_rules_order(self) -> None:
        # "big" matches the tea but is short of its minimum; the two around it are for coffee.
        program = club(
            PurchaseBonus(id="early", points=5, skus=["coffee"]),
            PurchaseBonus(id="big", points=5, skus=["tea"], min_amount=Decimal(50)),
            PurchaseBonus(id="late", points=5, skus=["coffee"]),
        )
        receipt = earn(program, sale(), explain=True)
        assert [s.rule for s in receipt.skipped] == ["early", "big", "late"]
        assert receipt.skipped[1].reason == "minimum order 50 not met: 10.00"


class TestRoundingAtItsEdges:
    def test_a_carried_fraction_counts_in_what_one_line_lost(self) -> None:
        # One line and the carried fraction are two groups: both are in the exact total.
        program = Program("Club", "EUR", rate=EarnRate(1, Decimal("1.00")), round_per="line", carry=True)
        done = evaluate(program, sale("1.30"), tallies={"carry|M1": Tally(0, Decimal("0.5"))})
        receipt = done.receipt
        assert (receipt.points, receipt.rounding_adjustment, receipt.carried_out) == (
            1,
            Decimal("-0.80"),
            Decimal("0.80"),
        )

    def test_a_carried_deficit_is_rounded_down_whatever_the_mode(self) -> None:
        # Half up rounds 1.00 - 0.4 per group: the line to 1, the deficit down to -1, not to 0.
        program = Program(
            "Club", "EUR", rate=EarnRate(1, Decimal("1.00")), round_per="line", rounding="half_up", carry=True
        )
        done = evaluate(program, sale("1.00"), tallies={"carry|M1": Tally(0, Decimal("-0.4"))})
        receipt = done.receipt
        assert (receipt.points, receipt.rounding_adjustment, receipt.carried_out) == (
            0,
            Decimal("-0.60"),
            Decimal("0.60"),
        )

    def test_thirds_make_a_whole_point_under_a_callers_flooring_context(self) -> None:
        program = Program("Club", "EUR", rate=EarnRate(1, Decimal("3.00")))
        thirds = Purchase("P1", "M1", T0, [Line(sku, 1, Decimal("1.00")) for sku in "abc"], "EUR")
        with localcontext(rounding=ROUND_FLOOR):
            receipt = earn(program, thirds)
        assert (receipt.points, receipt.rounding_adjustment) == (1, Decimal(0))

    def test_exactly_the_tolerance_below_a_whole_point_is_that_point(self) -> None:
        # 0.999999 + 0.000000999999999999: 10**-18 short of 1, the most that still counts as 1.
        program = Program(
            "Club",
            "EUR",
            rate=EarnRate(1, Decimal("10000")),
            rules=[Multiplier(id="m", factor=Decimal("1.000001000001"))],
        )
        receipt = earn(program, sale("9999.99"))
        assert (receipt.points, receipt.rounding_adjustment) == (1, Decimal(0))


class TestGroupsOutOfTheRunning:
    def test_a_group_that_gives_nothing_leaves_the_rules_after_it(self) -> None:
        program = club(
            PurchaseBonus(id="short", points=5, group="g", min_amount=Decimal(50)),
            PurchaseBonus(id="after", points=3),
        )
        assert earn(program, sale()).points == 10 + 3

    def test_a_stamp_card_beaten_in_its_group_still_counts_the_visit(self) -> None:
        program = club(
            StampCard(id="card", points=30, every=3, group="g"),
            PurchaseBonus(id="big", points=40, group="g"),
        )
        done = evaluate(program, sale())
        assert done.receipt.points == 10 + 40
        assert done.tallies["stamps|card|M1"] == Tally(1, Decimal(0))
