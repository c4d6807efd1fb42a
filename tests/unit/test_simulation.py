"""Generated workloads: one seed gives the same events, plausible ones, that round-trip through JSON lines."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from loyalty import InvalidInput
from loyalty.simulation import Enrollment, Redemption, Sale, Workload, from_jsonl, generate, to_jsonl


@pytest.fixture(scope="module")
def workload() -> Workload:
    # Few members and many purchases, so balances grow and redemptions happen often.
    return generate(members=60, purchases=3000, seed=11)


def test_the_same_seed_gives_the_same_events() -> None:
    first = generate(members=40, purchases=500, seed=3)
    second = generate(members=40, purchases=500, seed=3)
    assert first.events == second.events
    assert "".join(to_jsonl(first.events)) == "".join(to_jsonl(second.events))


def test_another_seed_gives_other_events() -> None:
    other = generate(members=40, purchases=500, seed=4)
    assert generate(members=40, purchases=500, seed=3).events != other.events


def test_counts(workload: Workload) -> None:
    assert len(workload.enrollments) == 60
    assert len(workload.sales) == 3000
    assert 0 < len(workload.redemptions) < 3000


def test_events_are_chronological_with_aware_local_times(workload: Workload) -> None:
    zone = ZoneInfo("Europe/Amsterdam")
    instants = [event.at.timestamp() for event in workload.events]
    assert instants == sorted(instants)
    for event in workload.events:
        assert event.at.utcoffset() == event.at.astimezone(zone).utcoffset()


def test_ids_are_unique(workload: Workload) -> None:
    ids = Counter(event.id for event in workload.events)
    assert ids.most_common(1)[0][1] == 1


def test_receipt_numbers_count_up_per_terminal(workload: Workload) -> None:
    last: dict[str, int] = {}
    for event in workload.events:
        if isinstance(event, Enrollment):
            assert event.id == f"ENR-{event.member_id}"
            continue
        terminal, _, number = event.id.rpartition("-")
        assert int(number) == last.get(terminal, 0) + 1
        last[terminal] = int(number)
        if isinstance(event, Sale):
            assert event.purchase.terminal_id == terminal
            assert terminal.startswith(f"{event.purchase.store_id}-T")


def test_only_enrolled_members_buy_or_redeem(workload: Workload) -> None:
    enrolled: set[str] = set()
    for event in workload.events:
        if isinstance(event, Enrollment):
            assert event.member_id not in enrolled
            enrolled.add(event.member_id)
        else:
            assert event.member_id in enrolled


def test_sales_are_in_store_hours_with_two_place_eur_prices(workload: Workload) -> None:
    for purchase in workload.sales:
        local = purchase.at.astimezone(ZoneInfo("Europe/Amsterdam"))
        opening, closing = (12, 18) if local.weekday() == 6 else (8, 21)
        assert opening <= local.hour < closing
        assert purchase.currency == "EUR"
        assert 1 <= len(purchase.lines) <= 6
        assert len({line.sku for line in purchase.lines}) == len(purchase.lines)
        for line in purchase.lines:
            assert line.unit_price.as_tuple().exponent == -2
            assert Decimal("0.49") <= line.unit_price <= Decimal("89.99")


def test_sales_fall_in_the_window() -> None:
    workload = generate(members=20, purchases=300, seed=5, start=date(2024, 10, 21), days=14)
    days = {purchase.at.date() for purchase in workload.sales}
    assert min(days) >= date(2024, 10, 21)
    assert max(days) <= date(2024, 11, 3)
    # The window crosses the autumn DST change: both offsets appear.
    assert {purchase.at.utcoffset() for purchase in workload.sales} == {
        datetime(2024, 10, 21, tzinfo=ZoneInfo("Europe/Amsterdam")).utcoffset(),
        datetime(2024, 11, 1, tzinfo=ZoneInfo("Europe/Amsterdam")).utcoffset(),
    }


def test_redemptions_are_affordable_under_one_point_per_whole_euro(workload: Workload) -> None:
    balance: Counter[str] = Counter()
    for event in workload.events:
        if isinstance(event, Sale):
            balance[event.member_id] += int(event.purchase.total.amount)
        elif isinstance(event, Redemption):
            assert 0 < event.points <= balance[event.member_id]
            balance[event.member_id] -= event.points


def test_jsonl_round_trip(workload: Workload) -> None:
    text = "".join(to_jsonl(workload.events))
    events = from_jsonl(io.StringIO(text))
    assert events == list(workload.events)
    assert "".join(to_jsonl(events)) == text


def test_jsonl_money_is_a_string_and_times_carry_offsets(workload: Workload) -> None:
    records = [json.loads(line) for line in to_jsonl(workload.events)]
    assert {record["type"] for record in records} == {"enrollment", "purchase", "redemption"}
    purchase = next(record for record in records if record["type"] == "purchase")
    assert isinstance(purchase["total"], str)
    assert all(isinstance(line["unit_price"], str) for line in purchase["lines"])
    assert datetime.fromisoformat(purchase["at"]).utcoffset() is not None
    assert purchase["at"][-6:] in ("+01:00", "+02:00")


def test_jsonl_reads_weighed_quantities_and_skips_blank_lines() -> None:
    line = json.dumps(
        {
            "type": "purchase",
            "id": "T1-1",
            "member_id": "M1",
            "at": "2024-03-01T09:30:00+01:00",
            "currency": "EUR",
            "lines": [{"sku": "apples", "quantity": "1.235", "unit_price": "2.49"}],
        }
    )
    (event,) = from_jsonl(["", line, "  \n"])
    assert isinstance(event, Sale)
    assert event.purchase.lines[0].quantity == Decimal("1.235")
    assert event.purchase.total.amount == Decimal("3.08")
    assert json.loads(next(to_jsonl([event])))["lines"][0]["quantity"] == "1.235"


_AT = "2024-03-01T09:30:00+01:00"
_SALE = {"type": "purchase", "id": "a", "member_id": "m", "at": _AT, "currency": "EUR"}
_REDEEM = {"type": "redemption", "id": "a", "member_id": "m", "at": _AT}
_LINE = {"sku": "x", "quantity": 1, "unit_price": "1.25"}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"type": "refund", "id": "a", "member_id": "m", "at": _AT}, "line 1: type"),
        ({**_REDEEM, "at": _AT[:-6], "points": 5}, "UTC offset"),
        (_REDEEM, "points: is missing"),
        ({**_REDEEM, "points": True}, "points: must be an integer, not bool"),
        ({**_SALE, "lines": [{**_LINE, "unit_price": 1.25}]}, "lines[0].unit_price: must be a string"),
        ({**_SALE, "lines": [{**_LINE, "quantity": 0}]}, "lines[0].quantity: must be positive"),
        ({**_SALE, "lines": [_LINE], "total": "9.99"}, "total: 9.99 does not match"),
        ({**_SALE, "lines": []}, "empty basket"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_jsonl_errors_name_the_line_and_key(record: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        from_jsonl([json.dumps(record)])


def test_jsonl_refuses_text_that_is_not_json() -> None:
    with pytest.raises(InvalidInput, match="line 2: not JSON"):
        from_jsonl(["", "{oops"])


@pytest.mark.parametrize(("members", "purchases", "days"), [(0, 1, 7), (1, -1, 7), (1, 1, 0)])
def test_bad_sizes_are_refused(members: int, purchases: int, days: int) -> None:
    with pytest.raises(InvalidInput):
        generate(members=members, purchases=purchases, days=days)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(InvalidInput, match="tz"):
        generate(members=1, purchases=1, tz="Mars/Olympus_Mons")
