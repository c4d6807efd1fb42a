"""loyalty.traffic.year: a seeded year whose members keep, lose or drop their habit as their persona says."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

import pytest

from loyalty import InvalidInput
from loyalty.traffic import Join, Night, Persona, Redeem, Sale, Traffic, year

DAYS = 364


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return year(members=120, seed=4)


def _visits(traffic: Traffic) -> dict[str, list[tuple[datetime, Decimal]]]:
    visits: dict[str, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for event in traffic.events:
        if isinstance(event, Sale):
            visits[event.member_id].append((event.at, event.purchase.total.amount))
    return visits


def test_the_same_seed_gives_the_same_year_and_another_seed_another() -> None:
    assert year(members=20, seed=8, days=60) == year(members=20, seed=8, days=60)
    assert year(members=20, seed=8, days=60).events != year(members=20, seed=9, days=60).events


def test_events_are_in_order_and_nobody_shops_before_joining(traffic: Traffic) -> None:
    times = [event.at for event in traffic.events]
    assert times == sorted(times)
    joined: dict[str, datetime] = {}
    for event in traffic.events:
        if isinstance(event, Join):
            joined[event.member_id] = event.at
        elif not isinstance(event, Night):
            assert event.member_id in joined and event.at > joined[event.member_id]
    assert len(joined) == 120 == len(traffic.personas)
    assert traffic.start == datetime(2024, 1, 1, tzinfo=traffic.start.tzinfo)
    assert all(traffic.start <= e.at < traffic.end for e in traffic.events if not isinstance(e, Join))


def test_a_night_for_maintenance_at_three_every_night_of_the_year(traffic: Traffic) -> None:
    nights = [event.at for event in traffic.events if isinstance(event, Night)]
    assert len(nights) == DAYS - 1
    assert {(at.hour, at.minute) for at in nights} == {(3, 0)}


def test_regulars_keep_their_rhythm_all_year(traffic: Traffic) -> None:
    visits = _visits(traffic)
    for member, persona in traffic.personas.items():
        if persona is Persona.REGULAR and visits[member][0][0].month == 1:
            assert visits[member][-1][0] >= datetime(2024, 12, 1, tzinfo=traffic.start.tzinfo)


def test_drifters_come_less_often_and_spend_less_towards_the_end(traffic: Traffic) -> None:
    visits = _visits(traffic)
    drifters = [m for m, p in traffic.personas.items() if p is Persona.DRIFTER]
    assert drifters
    for member in drifters:
        early = [amount for at, amount in visits[member] if at.month <= 5]
        late = [amount for at, amount in visits[member] if at.month >= 11]
        assert len(late) * 3 < len(early)
        assert sum(late) / max(1, len(late)) < sum(early) / len(early)


def test_stoppers_stop_for_good(traffic: Traffic) -> None:
    visits = _visits(traffic)
    stoppers = [m for m, p in traffic.personas.items() if p is Persona.STOPPER]
    assert stoppers
    for member in stoppers:
        last = visits[member][-1][0]
        assert (traffic.end - last).days > 70  # stopped by 80% of the year at the latest


def test_friends_are_brought_by_members_who_joined_before(traffic: Traffic) -> None:
    joins = [event for event in traffic.events if isinstance(event, Join)]
    order = {join.member_id: n for n, join in enumerate(joins)}
    referred = [join for join in joins if join.referred_by is not None]
    assert referred
    for join in referred:
        assert order[join.referred_by] < order[join.member_id]  # type: ignore[index]
        assert join.at >= traffic.start


def test_a_reward_is_asked_for_at_the_instant_of_a_sale(traffic: Traffic) -> None:
    events = traffic.events
    asked = [n for n, event in enumerate(events) if isinstance(event, Redeem)]
    assert asked
    for n in asked:
        reward, sale = events[n], events[n + 1]
        assert isinstance(reward, Redeem) and isinstance(sale, Sale)
        assert sale.member_id == reward.member_id and sale.at == reward.at


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"members": 0}, "members"),
        ({"members": True}, "members"),
        ({"days": 0}, "days"),
        ({"start": datetime(2024, 1, 1)}, "start"),
        ({"tz": "Mars/Olympus"}, "tz"),
    ],
)
def test_bad_arguments_name_the_field(changes: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"members": 3, "start": date(2024, 1, 1), **changes}
    with pytest.raises(InvalidInput) as raised:
        year(**arguments)  # type: ignore[arg-type]
    assert raised.value.field == field
