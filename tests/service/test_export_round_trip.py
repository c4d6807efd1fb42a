"""Members exported from one adapter and imported into an empty store of another keep their
balances, lots, tiers, details, keys, statuses and referrals, and are paid no sign-up bonus again."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty import Engine, Line, Purchase, history, open_store
from loyalty.config import program_from_dict
from loyalty.returns import Return
from loyalty.store import Store
from tests.service.helpers import lot_dates

#: Points pending for 14 days, expiring after a year, tiers by balance (which points carried
#: as opening balances reach again), a sign-up bonus (in the lots exported: not paid again), a
#: first-purchase bonus and a stamp card (whose visits and stamps the export carries).
PROGRAM = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "pending_days": 14,
        "expiry": {"policy": "lifetime", "months": 12},
        "rules": [
            {"kind": "event", "id": "signup", "event": "enrolled", "points": 5},
            {"kind": "first_purchase", "id": "welcome", "points": 7},
            {"kind": "stamp_card", "id": "cakes", "points": 11, "every": 4},
        ],
        "tiers": {
            "metric": "balance",
            "levels": [
                {"id": "member", "name": "Member"},
                {"id": "silver", "name": "Silver", "threshold": "40"},
            ],
        },
    }
)
T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
NOW = datetime(2024, 4, 20, tzinfo=UTC)


def _referral(engine: Engine, member: str) -> tuple[Any, ...]:
    report = engine.referrals(member)
    by = report.referred_by
    return report.code, None if by is None else (by.referrer, by.code, by.state, by.referred_at)


def _tier(engine: Engine, member: str) -> tuple[Any, ...]:
    status = engine.tier(member)
    floor = None if status.floor is None else status.floor.id
    return status.earned.id, status.since, floor, status.floor_until, status.review_at


def _members(engine: Engine, members: list[str]) -> list[Any]:
    return [
        (
            engine.member(m).birthday,
            dict(engine.member(m).attributes),
            engine.balance(m),
            lot_dates(engine, m),
            engine.tier(m).tier.id,
            _tier(engine, m),
            [i.key for i in engine.identifiers(m)],
            engine.member(m).status,
            _referral(engine, m),
        )
        for m in members
    ]


def test_exported_members_import_into_another_adapter_as_they_were(
    two_stores: tuple[Store, Store],
) -> None:
    from_store, other_store = two_stores
    source = Engine(PROGRAM, from_store, clock=lambda: NOW)
    source.enroll("M1", at=T0, birthday=datetime(1981, 2, 28).date(), attributes={"segment": "student"},
                  identifiers=["card:1001", "email:ann@example.com"])  # fmt: skip
    source.enroll("M2", at=T0)
    source.referral_code("M1", code="ANN-2024")
    source.enroll("M3", at=T0, referred_by="ann2024")
    source.enroll("M4", at=T0)
    source.enroll("M5", at=T0)
    for i, (member, days) in enumerate([("M1", 1), ("M1", 10), ("M2", 40), ("M1", 45)]):
        at = T0 + timedelta(days=days)
        source.record_purchase(Purchase(f"T{i}", member, at, [Line("cake", 3, Decimal("10.00"))], "EUR"))
    source.redeem("M1", 35, id="R1", at=NOW)  # spends the first lot and part of the second
    until = NOW + timedelta(days=90)
    source.assign_tier("M4", "silver", until=until, id="A1", at=NOW, reason="status match", actor="staff-1")
    source.change_status("M2", "suspended", id="S1", at=NOW, reason="fraud check", actor="staff-1")
    source.change_status("M4", "closed", id="S2", at=NOW, reason="asked to", actor="staff-1")
    source.erase("M5", id="E1", at=NOW, reason="asked to", actor="staff-1")
    members = ["M1", "M2", "M3", "M4"]
    records = list(source.export_members(page=1))
    assert "M5" not in {r.member_id for r in records}  # nothing personal left to carry
    lines = list(history.write(records))

    target = Engine(PROGRAM, other_store, clock=lambda: NOW)
    summary = target.import_events(lines)
    assert summary.applied == {"enrollment": 4, "opening_balance": 7}
    assert _members(target, members) == _members(source, members)
    assert _members(target, members)[0][4] == "silver"
    assert _members(target, members)[3][4:6] == ("silver", ("member", NOW, "silver", until, None))
    # Exported again, the target says the same (the lots' numbers aside).
    again = [history.record_of(r) for r in target.export_members()]
    assert [{k: v for k, v in r.items() if k != "id"} for r in again] == [
        {k: v for k, v in history.record_of(r).items() if k != "id"} for r in records
    ]
    # The next purchase earns the same in both: not a first purchase, the fourth stamp.
    for engine in (source, target):
        engine.record_purchase(Purchase("T9", "M1", NOW, [Line("cake", 1, Decimal("10.00"))], "EUR"))
    assert target.balance("M1") == source.balance("M1")
    assert [e.points for e in target.history("M1")][-1] == 10 + 11


def test_points_a_return_left_owing_are_still_owed_once_imported(two_stores: tuple[Store, Store]) -> None:
    # Under "future", what a return could not take back is collected from the next earnings.
    program = program_from_dict({"name": "Club", "currency": "EUR", "clawback": "future"})
    source, target = (Engine(program, store, clock=lambda: NOW) for store in two_stores)
    source.enroll("M1", at=T0)
    source.record_purchase(Purchase("T1", "M1", T0, [Line("cake", 3, Decimal("10.00"))], "EUR"))
    source.redeem("M1", 25, id="R1", at=T0 + timedelta(days=1))
    assert source.record_return(Return("RT1", "T1", T0 + timedelta(days=2))).owed == 25
    records = [history.record_of(r) for r in source.export_members()]
    assert records[0]["tallies"]["owed"] == {"count": 0, "points": "25"}

    assert target.import_events(json.dumps(record) for record in records).applied == {"enrollment": 1}
    sale = Purchase("T2", "M1", NOW, [Line("cake", 4, Decimal("10.00"))], "EUR")
    assert [engine.record_purchase(sale).points for engine in (source, target)] == [40, 40]
    assert target.balance("M1") == source.balance("M1")
    assert target.balance("M1").total == 40 - 25


#: A reward of the catalogue, bought with points: the voucher a member may still hold.
REWARDS = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "expiry": {"policy": "lifetime", "months": 12},
        "rewards": [{"id": "coffee", "name": "A coffee", "cost": 50, "gives": "product", "sku": "espresso"}],
    }
)


def _vouchers(engine: Engine) -> list[Any]:
    return [
        (v.code, v.reward_id, v.points, v.issued_at, v.expires_at, v.status) for v in engine.vouchers("M1")
    ]


def _lots(engine: Engine) -> list[Any]:
    """The member's points by the dates of their lots: a lot a voucher or hold took part of comes
    back in another store as two lots with the same dates (the rest, and what was taken)."""
    points: Counter[tuple[datetime, datetime | None]] = Counter()
    for lot in engine.lots("M1"):
        points[lot.earned_at, lot.expires_at] += lot.remaining
    return sorted((earned, remaining, expires) for (earned, expires), remaining in points.items())


def test_an_unused_voucher_imports_with_its_code_and_a_void_gives_its_points_back_with_their_dates(
    two_stores: tuple[Store, Store],
) -> None:
    source, target = (Engine(REWARDS, store, clock=lambda: NOW) for store in two_stores)
    source.enroll("M1", at=T0)
    for i, days in enumerate([1, 20, 25]):
        at = T0 + timedelta(days=days)
        source.record_purchase(Purchase(f"T{i}", "M1", at, [Line("cake", 4, Decimal("10.00"))], "EUR"))
    # 40 points of the first purchase's and 10 of the second's, then 30 and 20 of the third's.
    unused = source.redeem_reward("M1", "coffee", id="B1", at=T0 + timedelta(days=30))
    used = source.redeem_reward("M1", "coffee", id="B2", at=T0 + timedelta(days=31))
    source.use_voucher(used.code, id="U1", at=NOW)  # ended: not carried
    records = [history.record_of(r) for r in source.export_members()]
    types = [(r["type"], r.get("code")) for r in records]
    assert types == [("enrollment", None), ("opening_balance", None), ("voucher", unused.code)]

    imported = target.import_events(json.dumps(r) for r in records).applied
    assert imported == {"enrollment": 1, "opening_balance": 1, "voucher": 1}
    assert target.balance("M1") == source.balance("M1")
    assert _vouchers(target) == [v for v in _vouchers(source) if v[0] == unused.code]
    for engine in (source, target):
        engine.void_voucher(unused.code, id="V1", at=NOW)
    assert _lots(target) == _lots(source)
    assert [lot[1] for lot in _lots(target)] == [40, 10, 20]
    assert target.balance("M1") == source.balance("M1")


def test_a_voucher_whose_lots_do_not_add_up_or_whose_code_is_taken_is_rejected_writing_nothing() -> None:
    engine = Engine(REWARDS, open_store("memory://"), clock=lambda: NOW)
    engine.enroll("M1", at=T0)
    lot = {"points": 50, "at": T0.isoformat(), "expires_at": None}
    voucher = {"type": "voucher", "id": "VCH-1", "member_id": "M1", "at": T0.isoformat(),
               "code": "ABCDEFGHJK", "reward_id": "coffee", "points": 50, "expires_at": NOW.isoformat(),
               "lots": [lot]}  # fmt: skip
    short = {**voucher, "lots": [{**lot, "points": 40}]}
    again = {**voucher, "id": "VCH-2"}
    rejected: list[Any] = []
    lines = [json.dumps(record) for record in (short, voucher, again, voucher)]

    summary = engine.import_events(lines, on_error="skip", on_reject=rejected.append)

    assert [(r.line, r.field) for r in rejected] == [(1, "lots"), (3, "code")]
    assert (summary.applied, summary.already) == ({"voucher": 1}, {"voucher": 1})
    assert [v.code for v in engine.vouchers("M1")] == ["ABCDEFGHJK"]
    assert engine.balance("M1").total == 0


def test_a_voucher_or_hold_whose_dates_could_not_have_happened_is_rejected_naming_the_field() -> None:
    engine = Engine(REWARDS, open_store("memory://"), clock=lambda: NOW)
    engine.enroll("M1", at=T0)
    at = T0 + timedelta(days=10)
    lot = {"points": 50, "at": T0.isoformat(), "expires_at": None}
    voucher = {"type": "voucher", "id": "VCH-1", "member_id": "M1", "at": at.isoformat(),
               "code": "ABCDEFGHJK", "reward_id": "coffee", "points": 50, "expires_at": NOW.isoformat(),
               "lots": [lot]}  # fmt: skip
    hold = {"type": "hold", "id": "H1", "member_id": "M1", "at": at.isoformat(), "points": 50,
            "expires_at": NOW.isoformat(), "lots": [lot]}  # fmt: skip
    later = (at + timedelta(days=1)).isoformat()
    bad = [
        ({**voucher, "lots": [{**lot, "at": later}]}, "lots[0].at"),  # earned after it was spent
        ({**voucher, "lots": [{**lot, "expires_at": at.isoformat()}]}, "lots[0].expires_at"),  # dead by then
        ({**voucher, "expires_at": at.isoformat()}, "expires_at"),  # ended when bought
        ({**hold, "lots": [{**lot, "at": later}]}, "lots[0].at"),
        ({**hold, "expires_at": T0.isoformat()}, "expires_at"),
    ]
    rejected: list[Any] = []

    summary = engine.import_events(
        (json.dumps(record) for record, _ in bad), on_error="skip", on_reject=rejected.append
    )

    assert [(r.line, r.field) for r in rejected] == [(i, field) for i, (_, field) in enumerate(bad, 1)]
    assert summary.applied == {}
    assert (engine.vouchers("M1"), engine.holds("M1"), engine.history("M1")) == ([], [], [])


def test_an_open_hold_imports_under_its_id_and_the_till_captures_or_releases_it_there(
    two_stores: tuple[Store, Store],
) -> None:
    source, target = (Engine(REWARDS, store, clock=lambda: NOW) for store in two_stores)
    source.enroll("M1", at=T0)
    for i, days in enumerate([1, 20]):
        at = T0 + timedelta(days=days)
        source.record_purchase(Purchase(f"T{i}", "M1", at, [Line("cake", 4, Decimal("10.00"))], "EUR"))
    ttl = timedelta(minutes=15)
    held = [source.hold("M1", points, id=f"H{points}", at=NOW, ttl=ttl) for points in (50, 20)]
    source.capture("H20", id="C0", at=NOW)  # ended: not carried
    records = [history.record_of(r) for r in source.export_members()]
    assert [(r["type"], r["id"]) for r in records][-1:] == [("hold", "H50")]

    imported = target.import_events(json.dumps(r) for r in records).applied
    assert imported == {"enrollment": 1, "opening_balance": 1, "hold": 1}
    assert target.balance("M1") == source.balance("M1")
    assert target.balance("M1").available == 80 - 50 - 20
    for engine in (source, target):
        engine.capture("H50", id="C1", at=NOW, points=30)  # the rest goes back to its lot
    assert _lots(target) == _lots(source)
    assert target.balance("M1") == source.balance("M1")
    assert held[0].expires_at == NOW + ttl


def test_a_member_a_return_left_below_zero_visits_after_a_merge_imports_as_it_was(
    two_stores: tuple[Store, Store],
) -> None:
    from_store, other_store = two_stores
    source = Engine(PROGRAM, from_store, clock=lambda: NOW)
    source.enroll("A", at=T0)
    source.enroll("B", at=T0)
    source.record_purchase(Purchase("P1", "B", T0, [Line("cake", 1, Decimal("10.00"))], "EUR"))
    source.merge_members("A", "B", id="MG1", at=NOW, reason="one person")
    # The void gives back B's visit, which went to A with the merge: B's count is -1, reopened or not.
    source.record_return(Return("RT1", "P1", NOW, None))
    source.change_status("B", "active", id="C1", at=NOW, reason="asked to", actor="staff-1")
    lines = list(history.write(source.export_members()))
    assert [json.loads(line).get("tallies", {}).get("visits") for line in lines if '"ENR-B"' in line] == [
        {"count": -1, "points": "0"}
    ]
    target = Engine(PROGRAM, other_store, clock=lambda: NOW)
    summary = target.import_events(lines)
    assert summary.rejected == {} and summary.applied["enrollment"] == 2
    assert [history.record_of(r) for r in target.export_members() if r.member_id == "B"] == [
        history.record_of(r) for r in source.export_members() if r.member_id == "B"
    ]
