"""When a rule's conditions hold, and the reason a receipt shows when they do not."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from loyalty import Line, Program, Purchase
from loyalty.conditions import lines_reason, member_reason, when_reason
from loyalty.earning import evaluate
from loyalty.members import Member
from loyalty.rules import PurchaseBonus

# 2024-03-05 is a Tuesday.
TUESDAY = datetime(2024, 3, 5, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def test_an_hours_window_includes_its_start_and_excludes_its_end() -> None:
    rule = PurchaseBonus(id="happy", points=5, hours=("14:00-17:00",))
    assert [when_reason(rule, at(5, 14)), when_reason(rule, at(5, 16, 59))] == [None, None]
    assert when_reason(rule, at(5, 13, 59)) == "outside window 14:00-17:00"
    assert when_reason(rule, at(5, 17)) == "outside window 14:00-17:00"


def test_the_reason_names_every_day_and_window_of_the_rule_and_its_zone() -> None:
    rule = PurchaseBonus(
        id="weekend",
        points=5,
        days=("sat", "sun"),
        hours=("09:00-12:00", "14:00-17:00"),
        timezone="Europe/Amsterdam",
    )
    assert when_reason(rule, at(4, 10)) == (
        "outside window Sat/Sun 09:00-12:00, 14:00-17:00 Europe/Amsterdam"
    )


def test_a_rule_for_some_days_holds_all_day_on_them_and_on_no_other() -> None:
    rule = PurchaseBonus(id="tuesday", points=5, days=("tue",))
    assert [when_reason(rule, at(5, 0)), when_reason(rule, at(5, 23, 59))] == [None, None]
    assert when_reason(rule, at(6, 12)) == "outside window Tue"


def test_a_recurrence_still_applies_within_an_open_window() -> None:
    rule = PurchaseBonus(id="first", points=5, hours=("14:00-17:00",), recurrence="FREQ=MONTHLY;BYDAY=+1TU")
    assert when_reason(rule, at(5, 15)) is None
    assert when_reason(rule, at(12, 15)) == "not a day of FREQ=MONTHLY;BYDAY=+1TU"


def night(**when: Any) -> PurchaseBonus:
    return PurchaseBonus(id="night", points=5, hours=("22:00-02:00",), **when)


def test_the_early_hours_of_an_overnight_window_belong_to_the_day_it_began() -> None:
    # Saturday 01:00 is Friday night, for its days, its recurrence and its dates alike.
    saturday_1am = at(2, 1)
    for rule in (
        night(days=("fri",)),
        night(recurrence="FREQ=WEEKLY;BYDAY=FR"),
        night(starts=date(2024, 3, 1), ends=date(2024, 3, 1)),
    ):
        assert when_reason(rule, saturday_1am) is None, rule
    assert when_reason(night(starts=date(2024, 3, 2)), saturday_1am) == "not started: runs from 2024-03-02"
    # Out of every window, a rule not yet started still says so first.
    assert when_reason(night(starts=date(2024, 3, 9)), at(2, 12)) == "not started: runs from 2024-03-09"


def test_a_recurrence_counts_from_the_day_the_rule_starts() -> None:
    rule = PurchaseBonus(
        id="fortnight", points=5, starts=date(2024, 3, 5), recurrence="FREQ=WEEKLY;INTERVAL=2"
    )
    assert [when_reason(rule, at(5, 12)), when_reason(rule, at(19, 12))] == [None, None]
    assert when_reason(rule, at(12, 12)) == "not a day of FREQ=WEEKLY;INTERVAL=2"


def test_a_recurrence_counts_from_its_own_dtstart() -> None:
    # 2024-01-01 is a Monday: weekly from it is Mondays (from 1 January 2000, Saturdays).
    weekly = PurchaseBonus(id="monday", points=5, recurrence="DTSTART:20240101T000000\nRRULE:FREQ=WEEKLY")
    assert (when_reason(weekly, at(4, 12)), when_reason(weekly, at(9, 12)) is not None) == (None, True)
    # Its COUNT counts from it too: the four Tuesdays from 1 March, 5 to 26 March (a zone is ignored).
    four = PurchaseBonus(
        id="four", points=5, recurrence="DTSTART:20240301T000000Z\nRRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4"
    )
    assert [when_reason(four, at(day, 12)) for day in (5, 26)] == [None, None]
    assert when_reason(four, datetime(2024, 4, 2, 12, tzinfo=UTC)) is not None


def test_a_recurrence_with_a_zoned_dtstart_counts_from_its_wall_clock() -> None:
    text = "DTSTART;TZID=Europe/Amsterdam:20240301T000000\nRRULE:FREQ=WEEKLY;BYDAY=TU;COUNT=4"
    rule = PurchaseBonus(id="four", points=5, recurrence=text)
    assert [when_reason(rule, at(day, 12)) for day in (5, 26)] == [None, None]  # (it raised TypeError)
    assert when_reason(rule, datetime(2024, 4, 2, 12, tzinfo=UTC)) == f"not a day of {text}"


def test_a_zoned_dtstart_goes_with_an_until_in_utc() -> None:
    # RFC 5545 wants UNTIL in UTC beside a zoned start: both are read as wall clocks.
    text = "DTSTART;TZID=Europe/Amsterdam:20240301T000000\nRRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL=20240320T000000Z"
    rule = PurchaseBonus(id="until", points=5, recurrence=text)
    assert [when_reason(rule, at(day, 12)) is None for day in (5, 12, 19, 26)] == [True, True, True, False]


def test_a_rules_starts_comes_before_the_dtstart_of_its_recurrence() -> None:
    # As stored by releases that read no DTSTART: such a version still loads, and means what it did.
    text = "DTSTART:20240101T000000\nRRULE:FREQ=WEEKLY;INTERVAL=2"
    rule = PurchaseBonus(id="fortnight", points=5, starts=date(2024, 3, 5), recurrence=text)
    assert [when_reason(rule, at(5, 12)), when_reason(rule, at(19, 12))] == [None, None]
    assert when_reason(rule, at(12, 12)) == f"not a day of {text}"


def test_a_recurrence_without_a_start_counts_from_the_first_of_january_2000() -> None:
    rule = PurchaseBonus(id="first", points=5, recurrence="FREQ=MONTHLY;BYDAY=+1TU")
    assert when_reason(rule, datetime(2000, 1, 4, 12, tzinfo=UTC)) is None
    assert when_reason(rule, datetime(1999, 3, 2, 12, tzinfo=UTC)) == "not a day of FREQ=MONTHLY;BYDAY=+1TU"
    early = PurchaseBonus(id="early", points=5, starts=date(1990, 1, 1), recurrence="FREQ=MONTHLY;BYDAY=+1TU")
    assert when_reason(early, datetime(1999, 3, 2, 12, tzinfo=UTC)) is None  # given an earlier start


def test_a_rule_for_some_lines_says_every_kind_of_line_it_wanted() -> None:
    rule = PurchaseBonus(id="kit", points=5, skus=("A1", "B2"), categories=("shoes",))
    assert lines_reason(rule) == "no line with SKU A1/B2 and category shoes"


def test_a_rule_that_only_excludes_a_segment_refuses_its_members_alone() -> None:
    rule = PurchaseBonus(id="public", points=5, exclude_members={"segment": ("staff",)})
    staff = Member("M1", TUESDAY, attributes={"segment": "staff"})
    guest = Member("M2", TUESDAY, attributes={"segment": "guest"})
    assert member_reason(rule, staff) == "member segment=staff is excluded"
    assert (member_reason(rule, guest), member_reason(rule, None)) == (None, None)


def test_an_overnight_rule_on_its_last_day_earns_into_the_next_morning() -> None:
    # Recorded, not explained: the rules a purchase's date selects keep it past its end's midnight.
    program = Program("Club", "EUR", rules=[night(ends=date(2024, 3, 1))])
    purchase = Purchase("P1", "M1", at(2, 1), [Line("x", 1, Decimal("1.00"))], "EUR")
    assert evaluate(program, purchase).receipt.points == 6
    late = Purchase("P2", "M1", at(2, 3), [Line("x", 1, Decimal("1.00"))], "EUR")
    assert evaluate(program, late).receipt.points == 1
