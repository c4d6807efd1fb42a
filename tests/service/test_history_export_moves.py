"""A history export carries what moves points between members and turns them into rewards
(rewards bought, transfers, merges) and who referred whom: imported into an empty store of
another adapter it leaves the same balances, lots, tiers, tallies, vouchers, referral links and
figures, a second import writes nothing, and a malformed record of each kind is refused naming
its field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from loyalty import Engine, Line, Purchase, history, open_store
from loyalty.config import program_from_dict
from loyalty.errors import InvalidInput, LoyaltyError
from loyalty.returns import Return
from loyalty.service import history_export
from loyalty.service.history_export import HistoryExport
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from loyalty.whatif import simulate
from tests.service.helpers import SILVER_AT_60

#: A point a euro, a cake bonus, points expiring after a year, a reward catalogue, tiers by
#: balance, a referral bonus for both sides on the referee's first purchase.
PROGRAM = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "expiry": {"policy": "lifetime", "months": 12},
        "rules": [{"kind": "product_bonus", "id": "cake", "points": 5, "skus": ["cake"]}],
        "rewards": [
            {"id": "coffee", "name": "A coffee", "cost": 12, "gives": "product", "sku": "espresso"},
            {"id": "tote", "name": "A bag", "cost": 15, "gives": "voucher", "valid_for_days": 30},
        ],
        "tiers": SILVER_AT_60,
        "referrals": {"referrer_points": 10, "referee_points": 5},
    }
)
T0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
NOW = datetime(2024, 3, 20, tzinfo=UTC)
MEMBERS = ["M1", "M2", "M3", "M4"]


def _sale(id: str, member: str, days: int, cakes: int) -> Purchase:
    lines = [Line("cake", cakes, Decimal("10.00"), "bakery"), Line("bread", 1, Decimal("2.35"))]
    return Purchase(id, member, T0 + timedelta(days=days), lines, "EUR", "S1", "S1-T2")


def _at(days: int) -> datetime:
    return T0 + timedelta(days=days)


def _source(store: Store) -> Engine:
    """A store whose members bought rewards (one against a purchase later returned in full)."""
    # The engine's clock follows the tills', as in a shop: the import judges each record at its
    # own time, as this store judged it.
    clock = ManualClock(T0)
    engine = Engine(PROGRAM, store, clock=clock)

    def sale(id: str, member: str, days: int, cakes: int) -> Purchase:
        clock.catch_up(_at(days))
        return _sale(id, member, days, cakes)

    def at(days: int) -> datetime:
        return clock.catch_up(_at(days))

    # M4 referred M1 (the referee comes first by id): M1's first purchase pays them both.
    engine.enroll("M4", at=T0, identifiers=["card:4004"])
    engine.enroll("M1", at=T0, referred_by=engine.referral_code("M4"))
    for member in MEMBERS[1:3]:
        engine.enroll(member, at=T0)
    engine.record_purchase(sale("T1", "M1", 1, 3))
    engine.record_purchase(sale("T2", "M2", 1, 5))
    engine.record_purchase(sale("T3", "M3", 2, 1))
    engine.redeem_reward("M1", "coffee", id="RW1", at=at(2), purchase_id="T1")
    tote = engine.redeem_reward("M2", "tote", id="RW2", at=at(3))
    engine.use_voucher(tote.code, id="U1", at=at(4), purchase_id="T2")
    bought = engine.redeem_reward("M3", "tote", id="RW3", at=at(3), purchase_id="T3")
    engine.void_voucher(bought.code, id="VD1", at=at(4))
    # M2 falls below silver and M1 rises to it, with points dated as M2's were.
    engine.transfer("M2", "M1", 30, id="TR1", at=at(5), reason="gift")
    engine.transfer("M3", "M2", 2, id="TR2", at=at(6), reason="change")
    # M4 turns out to be M2: its points (with their dates), card, visits and referee go to M2, and
    # it closes.
    engine.record_purchase(sale("T4", "M4", 4, 2))
    engine.merge_members("M2", "M4", id="MG1", at=at(7), reason="same person")
    # A hold captured in part, one released (left out: its points went back), one still open.
    engine.hold("M2", 6, id="H1", at=at(8), ttl=timedelta(minutes=15))
    engine.capture("H1", id="CAP-1", at=at(8), points=4)
    engine.hold("M2", 5, id="H2", at=at(8), ttl=timedelta(minutes=15))
    engine.release("H2", at=at(8))
    engine.redeem("M2", 3, id="X1", at=at(9))
    clock.catch_up(NOW)
    engine.hold("M1", 2, id="H3", at=NOW, ttl=timedelta(minutes=15))
    return engine


def _state(engine: Engine) -> list[Any]:
    """Every member as a member export sees it (status, referral, tier, tallies, lots with their
    dates, vouchers, holds; the ids of lots are each store's own), and the figures."""
    members = [{k: v for k, v in history.record_of(r).items() if k != "id"} for r in engine.export_members()]
    vouchers = [
        (v.code, v.reward_id, v.points, v.status, v.expires_at, v.purchase_id)
        for m in MEMBERS
        for v in engine.vouchers(m)
    ]
    referrals = [engine.referrals(m) for m in MEMBERS]
    return [members, vouchers, referrals, engine.figures(T0, NOW + timedelta(days=1))]


def _round_trip(source: Engine, store: Store) -> tuple[Engine, list[str]]:
    lines = list(history.write(source.export_history()))
    target = Engine(PROGRAM, store, clock=lambda: NOW)
    summary = target.import_events(lines)
    assert not summary.rejected, summary.stopped
    assert _state(target) == _state(source)
    return target, lines


def test_rewards_bought_import_with_their_vouchers_codes_and_purchases(
    two_stores: tuple[Store, Store],
) -> None:
    source = _source(two_stores[0])
    counts = HistoryExport()
    list(source.export_history(counts=counts))
    assert counts.written["reward"] == 3
    assert counts.written["transfer"] == 2
    assert counts.written["merge"] == 1
    assert counts.written["referral"] == 1
    assert counts.written["held"] == 2
    assert counts.written["capture"] == 1
    assert counts.written["voucher_void"] == 1
    assert counts.skipped == {"hold": 1}

    target, _ = _round_trip(source, two_stores[1])

    # A voucher's purchase comes back in full in the new store: the voucher is revoked there too,
    # its points back on lots with their dates.
    void = Return("RT1", "T1", _at(4))
    assert target.record_return(void) == source.record_return(void)
    assert target.voucher(target.vouchers("M1")[0].code).status.value == "revoked"
    assert target.find_member("card:4004").id == "M2"
    assert target.member("M4").status.value == "closed"
    referred_by = target.referrals("M1").referred_by
    assert referred_by is not None
    assert referred_by.referrer == "M2"
    # The open hold is open in the new store: the till captures it there.
    assert target.capture("H3", id="CAP-3", at=NOW) == source.capture("H3", id="CAP-3", at=NOW)
    assert _state(target) == _state(source)


def test_an_exported_history_with_rewards_imported_again_writes_nothing(
    two_stores: tuple[Store, Store],
) -> None:
    source = _source(two_stores[0])
    target, lines = _round_trip(source, two_stores[1])
    before = target.entries(limit=1000)

    again = target.import_events(lines)

    assert not again.applied and not again.rejected
    assert again.already == {
        "enrollment": 4, "referral": 1, "purchase": 4, "reward": 3, "transfer": 2, "merge": 1,
        "held": 2, "capture": 1, "redemption": 1, "voucher_void": 1,
    }  # fmt: skip
    assert target.entries(limit=1000) == before


def test_an_exported_history_with_rewards_and_transfers_replays_in_the_what_if() -> None:
    source = _source(open_store("memory://"))
    lines = list(history.write(source.export_history()))

    found = simulate(lines, PROGRAM, PROGRAM, until=NOW)

    # What differs: the referral bonuses (15 points), which the what-if does not pay.
    assert found.current.declined == 0
    assert found.current.figures.redeemed == source.figures(T0, NOW + timedelta(days=1)).redeemed
    outstanding = sum(source.balance(m).total for m in MEMBERS)
    assert found.current.figures.outstanding == outstanding - 15


def test_a_merge_the_proposed_program_blocks_is_declined_in_the_what_if() -> None:
    source = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    for member in ("M1", "M2"):
        source.enroll(member, at=T0)
    source.record_purchase(_sale("T1", "M1", 1, 3))
    source.record_purchase(_sale("T2", "M2", 5, 3))
    source.merge_members("M1", "M2", id="MG1", at=_at(7), reason="same person")
    lines = list(history.write(source.export_history()))
    # M2's points, earned on day 5, are still pending on day 7 under the proposed program.
    pending = program_from_dict(
        {
            "name": "Club",
            "currency": "EUR",
            "pending_days": 14,
            "expiry": {"policy": "lifetime", "months": 12},
            "rules": [{"kind": "product_bonus", "id": "cake", "points": 5, "skus": ["cake"]}],
        }
    )

    found = simulate(lines, PROGRAM, pending, until=NOW)

    assert (found.current.declined, found.proposed.declined) == (0, 1)
    assert found.proposed.declined_points == 0
    assert found.proposed.figures.outstanding == found.current.figures.outstanding == 74


def test_a_hold_is_written_once_where_it_was_made_however_late_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only the last command's id is remembered: the hold's give-back comes two commands later.
    monkeypatch.setattr(history_export, "_SEEN", 1)
    source = _source(open_store("memory://"))
    source.hold("M2", 6, id="H9", at=_at(10), ttl=timedelta(minutes=15))
    source.redeem("M2", 1, id="X8", at=_at(10))
    source.redeem("M2", 1, id="X9", at=_at(10))
    source.capture("H9", id="CAP-9", at=_at(10), points=2)
    counts = HistoryExport()

    records = [r for r in source.export_history(page=1, counts=counts) if r.id in ("H9", "H9:capture")]

    held = records[0]
    assert isinstance(held, history.HeldPoints)
    assert records == [
        history.HeldPoints("H9", "M2", _at(10), 6, held.expires_at, 2, held.captured_at),
        history.HoldCaptured("H9:capture", "M2", NOW, "H9", 2),
    ]
    assert counts.written["held"] == 3


def _rejected_alone(line: str) -> tuple[LoyaltyError, Engine]:
    """``line`` (after M1's enrollment and purchase T1) refused by ``history.parse`` and by an
    import, which stops there having written nothing of it."""
    with pytest.raises(InvalidInput) as raised:
        history.parse(3, line)
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    head: list[history.Event] = [
        history.Enrollment("ENR-M1", "M1", T0),
        history.Sale(_sale("T1", "M1", 1, 3)),
    ]
    assert not target.import_events(head).rejected
    before = target.entries(limit=100)
    summary = target.import_events([*history.write(head), line])
    assert summary.stopped is not None and summary.stopped.line == 3
    assert target.entries(limit=100) == before
    return raised.value, target


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"reward_id": "coffee", "used_at": "yesterday"}, "used_at"),
        ({"reward_id": "coffee", "used_at": _at(3).isoformat(), "used_for": 5}, "used_for"),
        ({"reward_id": 7}, "reward_id"),
        ({"reward_id": "coffee", "code": ["X"]}, "code"),
        ({"reward_id": "coffee", "purchase_id": 1}, "purchase_id"),
    ],
)
def test_a_malformed_reward_record_is_refused_naming_its_field(fields: dict[str, Any], field: str) -> None:
    record = {"type": "reward", "id": "RW1", "member_id": "M1", "at": _at(2).isoformat()} | fields
    error, target = _rejected_alone(json.dumps(record))
    assert error.field == f"line 3: {field}"
    assert target.vouchers("M1") == []
    assert target.referrals("M1").referred_by is None
    assert target.holds("M1") == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"points": 5, "reason": "gift"}, "to_member"),
        ({"to_member": "M2", "points": 1.5, "reason": "gift"}, "points"),
        ({"to_member": "M2", "points": 5}, "reason"),
    ],
)
def test_a_malformed_transfer_record_is_refused_naming_its_field(fields: dict[str, Any], field: str) -> None:
    record = {"type": "transfer", "id": "TR1", "member_id": "M1", "at": _at(2).isoformat()} | fields
    error, _ = _rejected_alone(json.dumps(record))
    assert error.field == f"line 3: {field}"


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"reason": "same person"}, "absorbed"), ({"absorbed": "M2", "reason": None}, "reason")],
)
def test_a_malformed_merge_record_is_refused_naming_its_field(fields: dict[str, Any], field: str) -> None:
    record = {"type": "merge", "id": "MG1", "member_id": "M1", "at": _at(2).isoformat()} | fields
    error, _ = _rejected_alone(json.dumps(record))
    assert error.field == f"line 3: {field}"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"points": "6", "expires_at": _at(3).isoformat()}, "points"),
        ({"points": 6}, "expires_at"),
        ({"points": 6, "expires_at": _at(3).isoformat(), "captured": "4"}, "captured"),
    ],
)
def test_a_malformed_held_record_is_refused_naming_its_field(fields: dict[str, Any], field: str) -> None:
    record = {"type": "held", "id": "H1", "member_id": "M1", "at": _at(2).isoformat()} | fields
    error, target = _rejected_alone(json.dumps(record))
    assert error.field == f"line 3: {field}"
    assert target.holds("M1") == []


def test_a_malformed_voucher_void_record_is_refused_naming_its_field() -> None:
    record = {"type": "voucher_void", "id": "VD1", "member_id": "M1", "at": _at(2).isoformat(), "code": None}
    error, _ = _rejected_alone(json.dumps(record))
    assert error.field == "line 3: code"


def test_a_malformed_referral_record_is_refused_naming_its_field() -> None:
    record = {"type": "referral", "id": "REF-M1", "member_id": "M1", "at": T0.isoformat(), "referred_by": 5}
    error, target = _rejected_alone(json.dumps(record))
    assert error.field == "line 3: referred_by"
    assert target.referrals("M1").referred_by is None


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (history.Referred("REF-M1", "M1", T0, "NOSUCHCODE"), "referred_by"),
        (history.RewardBought("RW1", "M1", _at(2), "coffee", used_for="T1"), "used_for"),
        (history.VoucherVoided("VD1", "M1", _at(2), "NOSUCHCODE"), "code"),
        (history.HeldPoints("H1", "M1", _at(2), 6, _at(3), 7), "captured"),
        (history.HeldPoints("H1", "M1", _at(2), 6, _at(2)), "expires_at"),
        (history.HeldPoints("H1", "M1", _at(2), 600, _at(3)), "points"),
        (history.PointsSent("TR1", "M1", _at(2), "M9", 5, "gift"), "to_member"),
        (history.MembersMerged("MG1", "M1", _at(2), "M9", "same person"), "absorbed"),
        (history.RewardBought("RW1", "M1", _at(2), "coffee", "AAAAAAAAAA"), "code"),
    ],
)
def test_a_record_the_engine_refuses_stops_the_import_naming_its_field_and_writes_nothing(
    record: history.Event, field: str
) -> None:
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    head: list[history.Event] = [
        history.Enrollment("ENR-M1", "M1", T0),
        history.Sale(_sale("T1", "M1", 1, 3)),
    ]
    summary = target.import_events([*head, record])
    assert summary.stopped is not None
    assert (summary.stopped.field, summary.stopped.line) == (field, 3)
    assert [e.kind.value for e in target.history("M1")] == ["earn"]
    assert target.vouchers("M1") == []


def test_a_held_record_whose_capture_id_is_taken_writes_no_hold() -> None:
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    head: list[history.Event] = [
        history.Enrollment("ENR-M1", "M1", T0),
        history.Sale(_sale("T1", "M1", 1, 3)),
        history.Redemption("H1:capture", "M1", 1, _at(2)),
    ]
    assert not target.import_events(head).rejected
    before = target.entries(limit=100)
    held = history.HeldPoints("H1", "M1", _at(2), 6, _at(3), 4)

    for _ in range(2):
        summary = target.import_events([held])

        assert summary.stopped is not None
        assert summary.stopped.field == "kind"
        assert target.holds("M1") == []
        assert target.entries(limit=100) == before


@pytest.mark.parametrize(
    ("used", "field"),
    [({"used_at": _at(1)}, "used_at"), ({"used_at": _at(3), "used_for": "T2"}, "used_for")],
)
def test_a_reward_used_before_it_was_bought_or_on_another_members_purchase_is_refused(
    used: dict[str, Any], field: str
) -> None:
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    head: list[history.Event] = [
        history.Enrollment("ENR-M1", "M1", T0),
        history.Sale(_sale("T1", "M1", 1, 3)),
        history.Enrollment("ENR-M2", "M2", T0),
        history.Sale(_sale("T2", "M2", 1, 3)),
    ]
    assert not target.import_events(head).rejected
    before = target.entries(limit=100)

    summary = target.import_events([history.RewardBought("RW1", "M1", _at(2), "tote", **used)])

    assert summary.stopped is not None
    assert (summary.stopped.line, summary.stopped.field) == (1, field)
    assert target.entries(limit=100) == before
    assert target.vouchers("M1") == []


@pytest.mark.parametrize("days", [302, 400])
def test_a_history_imported_long_after_is_judged_at_each_records_time(days: int) -> None:
    # M1's and M2's lots expire on day 366, after the transfer, merge and redemption they paid for.
    clock = ManualClock(T0)
    source = Engine(PROGRAM, open_store("memory://"), clock=clock)
    for member in ("M1", "M2", "M3"):
        source.enroll(member, at=T0)
    clock.catch_up(_at(1))
    source.record_purchase(_sale("T1", "M1", 1, 3))
    source.record_purchase(_sale("T2", "M2", 1, 3))
    source.transfer("M1", "M3", 20, id="TR1", at=clock.catch_up(_at(300)), reason="gift")
    source.merge_members("M3", "M2", id="MG1", at=clock.catch_up(_at(301)), reason="same person")
    source.redeem("M3", 50, id="X1", at=clock.catch_up(_at(302)))
    lines = list(history.write(source.export_history()))
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: _at(days))

    summary = target.import_events(lines)

    assert not summary.rejected, summary.stopped
    for member in ("M1", "M2", "M3"):
        assert target.lots(member) == source.lots(member)
        assert target.history(member)[-1].points == source.history(member)[-1].points


def test_a_transfer_imported_later_draws_the_lots_that_were_spendable_at_its_time() -> None:
    pending = attrs.evolve(PROGRAM, pending_days=14)
    clock = ManualClock(T0)
    source = Engine(pending, open_store("memory://"), clock=clock)
    for member in ("A", "B"):
        source.enroll(member, at=T0)
    late = datetime(2026, 1, 1, tzinfo=UTC)
    source.add_opening_balance("A", 15, id="OB1", at=clock.catch_up(_at(1)), expires_at=late)
    clock.catch_up(_at(40))
    source.record_purchase(_sale("P2", "A", 40, 1))  # pending until day 54
    source.transfer("A", "B", 10, id="TR1", at=clock.catch_up(_at(45)), reason="gift")
    lines = list(history.write(source.export_history()))
    target = Engine(pending, open_store("memory://"), clock=lambda: _at(60))

    assert not target.import_events(lines).rejected

    for member in ("A", "B"):
        dates = [(lot.remaining, lot.expires_at) for lot in target.lots(member)]
        assert dates == [(lot.remaining, lot.expires_at) for lot in source.lots(member)]


def test_status_changes_travel_at_their_place_so_an_import_withholds_what_the_source_withheld(
    two_stores: tuple[Store, Store],
) -> None:
    clock = ManualClock(T0)
    source = Engine(PROGRAM, two_stores[0], clock=clock)
    source.enroll("R", at=T0)
    source.enroll("M1", at=T0, referred_by=source.referral_code("R"))
    source.enroll("M2", at=T0)
    source.change_status("R", "suspended", id="ST1", at=T0, reason="fraud check", actor="ops")
    clock.catch_up(_at(1))
    source.record_purchase(_sale("T1", "M1", 1, 3))  # qualifies M1: R is suspended, paid nothing
    source.change_status("R", "active", id="ST2", at=clock.catch_up(_at(2)), reason="cleared", actor="ops")
    source.change_status("M2", "closed", id="ST3", at=clock.catch_up(_at(3)), reason="left", actor="ops")
    counts = HistoryExport()
    lines = list(history.write(source.export_history(counts=counts)))
    target = Engine(PROGRAM, two_stores[1], clock=lambda: NOW)

    summary = target.import_events(lines)

    assert counts.written["status"] == 3
    assert not summary.rejected, summary.stopped
    for member in ("R", "M1", "M2"):
        assert target.balance(member) == source.balance(member)
        assert target.member(member).status == source.member(member).status
    assert target.referrals("M1").referred_by == source.referrals("M1").referred_by
    again = target.import_events(lines)
    assert again.already["status"] == 3 and not again.applied


def test_a_hold_captured_after_a_redemption_comes_back_with_its_lots(two_stores: tuple[Store, Store]) -> None:
    clock = ManualClock(T0)
    source = Engine(PROGRAM, two_stores[0], clock=clock)
    source.enroll("A", at=T0)
    clock.catch_up(_at(30))
    source.record_purchase(_sale("P1", "A", 1, 1))  # 17 points, expiring first
    source.record_purchase(_sale("P2", "A", 30, 1))  # 17 points
    source.hold("A", 10, id="H1", at=clock.catch_up(_at(40)), ttl=timedelta(minutes=15))  # P1's
    source.redeem("A", 9, id="X1", at=_at(40))  # P1's 7 left, and 2 of P2's
    clock.advance(minutes=2)
    source.capture("H1", id="C1", at=clock(), points=4)  # 6 back to P1's lot, after the redemption
    lines = list(history.write(source.export_history()))
    target = Engine(PROGRAM, two_stores[1], clock=lambda: NOW + timedelta(days=60))

    assert not target.import_events(lines).rejected

    assert [(lot.remaining, lot.expires_at) for lot in target.lots("A")] == [
        (lot.remaining, lot.expires_at) for lot in source.lots("A")
    ]
    assert target.balance("A") == source.balance("A")
    # Run again (or resumed), the file writes nothing and refuses nothing: the hold's capture
    # was made at its own record's time, and the held record checks it there.
    again = target.import_events(lines)
    assert (again.applied, again.rejected, again.stopped) == ({}, {}, None)
    assert again.already == {"enrollment": 1, "purchase": 2, "held": 1, "redemption": 1, "capture": 1}
