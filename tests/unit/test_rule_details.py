"""What a rule's row and reason say: money as a slip shows it, blocks, birthday cool-off, event limits."""

from __future__ import annotations

import decimal
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from loyalty import Line, Program, Purchase, earning_gives
from loyalty.earning import Event, evaluate, evaluate_event
from loyalty.members import Member
from loyalty.rules import (
    BirthdayBonus,
    EventRule,
    FirstPurchase,
    Multiplier,
    ProductBonus,
    PurchaseBonus,
    Rule,
    SpendRule,
    StampCard,
    UnitBonus,
)
from loyalty.tallies import Tally

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def club(*rules: Rule, **options: object) -> Program:
    return Program("Club", "EUR", rate=None, rules=rules, **options)  # type: ignore[arg-type]


def sale(*amounts: D, at: datetime = T0) -> Purchase:
    return Purchase("P1", "M1", at, [Line(f"s{i}", 1, a) for i, a in enumerate(amounts)], "EUR")


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (D("3.0875"), "3.09"),  # finer than cents: rounded half-up
        (D("3.125"), "3.13"),
        (D("3.5"), "3.5"),  # as spelled
        (D("3.50"), "3.50"),
        (D("12"), "12"),
        (D("1E+1"), "1E+1"),
        (D("0.0000001"), "0.00"),  # spelled with an exponent, and finer than cents
    ],
)
def test_a_line_amount_is_shown_as_spelled_or_rounded_to_cents(amount: D, shown: str) -> None:
    receipt = evaluate(club(SpendRule(id="r", points=1)), sale(amount)).receipt
    assert receipt.breakdown[0].detail == f"1 point per 1 EUR on s0 {shown}"


@pytest.mark.parametrize(
    ("amounts", "blocks"), [(("6.00", "5.00"), "1 whole block"), (("6.00", "14.00"), "2 whole blocks")]
)
def test_whole_blocks_are_counted_in_the_detail(amounts: tuple[str, str], blocks: str) -> None:
    program = club(SpendRule(id="r", points=1, per=D("10.00"), whole_blocks=True))
    receipt = evaluate(program, sale(*map(D, amounts))).receipt
    total = f"{D(amounts[0]) + D(amounts[1])}"
    assert receipt.breakdown[1].detail == f"1 point per 10.00 EUR on s1 {amounts[1]}, {blocks} in {total}"


class TestBirthdayCoolOff:
    # Tokyo is 9 hours ahead of UTC: the member enrolled on 21 February there.
    program = club(BirthdayBonus(id="bday", points=50, days_after=5, cooloff_days=10), timezone="Asia/Tokyo")
    member = Member("M1", datetime(2024, 2, 20, 20, 0, tzinfo=UTC), birthday=date(1990, 3, 1))

    def reasons(self, at: datetime, member: Member | None = None) -> tuple[int, list[str]]:
        receipt = evaluate(
            self.program, sale(D("1.00"), at=at), member=member or self.member, explain=True
        ).receipt
        return receipt.points, [s.reason for s in receipt.skipped]

    def test_the_bonus_is_paid_on_the_day_the_cool_off_ends_in_the_programs_zone(self) -> None:
        points, _ = self.reasons(datetime(2024, 3, 1, 15, 0, tzinfo=UTC))  # 2 March, 00:00 in Tokyo
        assert points == 50

    def test_not_the_day_before(self) -> None:
        points, why = self.reasons(datetime(2024, 3, 1, 14, 59, tzinfo=UTC))
        assert (points, why) == (0, ["enrolled on 2024-02-21: no bonus before 2024-03-02"])

    def test_a_changed_birthday_counts_from_the_change(self) -> None:
        moved = Member(
            "M1",
            datetime(2020, 1, 1, tzinfo=UTC),
            birthday=date(1990, 3, 1),
            birthday_changed_at=datetime(2024, 2, 20, 20, 0, tzinfo=UTC),
        )
        points, why = self.reasons(datetime(2024, 3, 1, 14, 59, tzinfo=UTC), moved)
        assert (points, why) == (0, ["birthday changed on 2024-02-21: no bonus before 2024-03-02"])

    def test_the_row_names_the_birthday_of_the_year(self) -> None:
        receipt = evaluate(
            self.program, sale(D("1.00"), at=T0 + timedelta(days=2)), member=self.member
        ).receipt
        assert [(c.points, c.detail) for c in receipt.breakdown] == [(D(50), "birthday 2024-03-01")]


class TestEventLimits:
    def given(self, rule: EventRule, before: int) -> tuple[int, list[str]]:
        key = f"events|s|{rule.limit_period.key(T0) if rule.limit_period else ''}|M1"
        receipt = evaluate_event(
            club(rule), Event("E1", "M1", "survey", T0), tallies={key: Tally(before)}, explain=True
        ).receipt
        return receipt.points, [s.reason for s in receipt.skipped]

    def test_the_last_one_allowed_is_given(self) -> None:
        assert self.given(EventRule(id="s", event="survey", points=5, limit=2, limit_period="day"), 1) == (
            5,
            [],
        )

    @pytest.mark.parametrize(("period", "said"), [("day", "per day"), ("ever", "ever")])
    def test_the_limit_reached_says_its_period(self, period: str, said: str) -> None:
        rule = EventRule(id="s", event="survey", points=5, limit=2, limit_period=period)
        assert self.given(rule, 2) == (0, [f"limit of 2 {said} reached"])


class TestRows:
    def details(
        self, rule: Rule, *lines: Line, tallies: dict[str, Tally] | None = None
    ) -> list[tuple[D, str]]:
        purchase = Purchase("P1", "M1", T0, lines, "EUR")
        receipt = evaluate(club(SpendRule(id="base", points=1), rule), purchase, tallies=tallies).receipt
        return [(c.points, c.detail) for c in receipt.breakdown if c.rule == rule.id]

    def test_a_label_multiplier_reaches_every_labelled_line_after_one_without(self) -> None:
        rule = Multiplier(id="m", label="color", factors={"red": D(3)})
        lines = (Line("a", 1, D("2.00")), Line("b", 1, D("4.00"), labels={"color": "red"}))
        assert self.details(rule, *lines) == [(D("8.00"), "x3 on b")]

    def test_a_multiplier_reaches_every_line_with_points_after_one_without(self) -> None:
        lines = (Line("a", 1, D("0.00")), Line("b", 1, D("4.00")))
        assert self.details(Multiplier(id="m", factor=2), *lines) == [(D("4.00"), "x2 on b")]

    def test_unit_bonus_counts_whole_units(self) -> None:
        lines = (Line("a", D("2.5"), D("1.00")), Line("b", 1, D("1.00")))
        assert self.details(UnitBonus(id="u", points=3), *lines) == [(D(6), "3 x 2 a"), (D(3), "3 x 1 b")]

    def test_fixed_bonuses_say_what_they_are_for(self) -> None:
        line = Line("a", 1, D("1.00"))
        assert self.details(PurchaseBonus(id="p", points=3), line) == [(D(3), "purchase")]
        assert self.details(ProductBonus(id="p", points=3, skus=["a"]), line) == [(D(3), "bought a")]
        assert self.details(FirstPurchase(id="p", points=3), line) == [(D(3), "first purchase")]

    def test_a_stamp_card_counts_the_stamps_before_the_bonus(self) -> None:
        rule = StampCard(id="s", points=9, every=3)
        line = Line("a", 1, D("1.00"))
        assert self.details(rule, line, tallies={"stamps|s|M1": Tally(4)}) == [(D(0), "stamp 2 of 3")]
        assert self.details(rule, line, tallies={"stamps|s|M1": Tally(5)}) == [(D(9), "visit 6: every 3rd")]

    @pytest.mark.parametrize(
        ("every", "said"), [(2, "2nd"), (4, "4th"), (11, "11th"), (12, "12th"), (21, "21st"), (22, "22nd")]
    )
    def test_a_stamp_cards_visit_is_an_english_ordinal(self, every: int, said: str) -> None:
        rule = StampCard(id="s", points=9, every=every)
        stamps = {"stamps|s|M1": Tally(every - 1)}
        assert self.details(rule, Line("a", 1, D("1.00")), tallies=stamps) == [
            (D(9), f"visit {every}: every {said}")
        ]

    def test_no_whole_unit(self) -> None:
        half = Purchase("P1", "M1", T0, [Line("a", D("0.5"), D("1.00"))], "EUR")
        receipt = evaluate(club(UnitBonus(id="u", points=3)), half, explain=True).receipt
        assert [s.reason for s in receipt.skipped] == ["no whole unit on the matching lines"]


class TestSpendDetail:
    # The prefix is cached per rate: each case starts cold, so what is made is what is checked.
    @pytest.fixture(autouse=True)
    def cold(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(earning_gives, "_PREFIXES", {})

    @pytest.mark.parametrize(
        ("points", "per", "scale", "detail"),
        [
            (1, "2.00", 0, "1 point per 2.00 EUR on s0 3.00"),
            (2, "1", 0, "2 points per 1 EUR on s0 3.00"),
            (100, "1.00", 2, "1.00 point per 1.00 EUR on s0 3.00"),
            (250, "1.00", 2, "2.50 points per 1.00 EUR on s0 3.00"),
        ],
    )
    def test_the_rate_is_spelled_as_the_program_shows_points(
        self, points: int, per: str, scale: int, detail: str
    ) -> None:
        program = club(SpendRule(id="r", points=points, per=D(per)), scale=scale)
        for _ in range(2):  # made, then cached
            assert evaluate(program, sale(D("3.00"))).receipt.breakdown[0].detail == detail

    def test_two_rates_alike_but_for_their_points_are_told_apart(self) -> None:
        one = evaluate(club(SpendRule(id="r", points=1)), sale(D("3.00"))).receipt
        two = evaluate(club(SpendRule(id="r", points=2)), sale(D("3.00"))).receipt
        assert [one.breakdown[0].detail, two.breakdown[0].detail] == [
            "1 point per 1 EUR on s0 3.00",
            "2 points per 1 EUR on s0 3.00",
        ]

    def test_a_fractional_rate_keeps_the_spelling_of_the_money_under_a_narrow_caller_context(self) -> None:
        program = club(SpendRule(id="r", points=1, per=D("2")))
        with decimal.localcontext() as ctx:
            ctx.prec = 2
            ctx.traps[decimal.Inexact] = True
            ctx.traps[decimal.Rounded] = True
            receipt = evaluate(program, sale(D("2.00"))).receipt
        assert str(receipt.breakdown[0].points) == "1.00"
