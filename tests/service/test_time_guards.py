"""The program's time guards: a till's time at most ``max_lead_minutes`` (15 by default) ahead of
the engine's clock, and no activity before the member's enrollment under ``before_enrollment =
"refuse"`` (the default); on every adapter, each refusal naming ``at`` and writing nothing, and a
retry of a command already recorded answered with its original whatever the guards say now."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loyalty import (
    BeforeEnrollment,
    BeforeItsStart,
    ConfigError,
    Engine,
    IdempotencyConflict,
    InvalidDatetime,
    Line,
    LoyaltyError,
    MemberErased,
    Program,
    Purchase,
    Return,
    TillTimeAhead,
    TimeGuards,
    history,
)
from loyalty.store import Store, open_store
from loyalty.testing.contract import T0
from loyalty.testing.snapshots import snapshot
from loyalty.time_guards import MAX_LEAD_MINUTES, RECOMMENDED_LEAD_MINUTES, PreEnrollment
from loyalty.whatif import simulate
from tests.adapters import ADAPTERS, ONE_CONNECTION, fresh_store

LEAD = timedelta(minutes=15)
#: The members' enrollment: a day before the engine's clock (T0).
ENROLLED = T0 - timedelta(days=1)
BEFORE = ENROLLED - timedelta(days=30)


def _program(**guards: Any) -> Program:
    """The club, under the default guards but for ``guards``."""
    return Program.from_dict(
        {
            "name": "Club",
            "currency": "EUR",
            "rules": [{"kind": "event", "id": "survey", "event": "survey", "points": 5}],
            "rewards": [{"id": "coffee", "name": "Coffee", "cost": 5, "gives": "voucher"}],
            "tiers": {"levels": [{"id": "member"}, {"id": "gold", "threshold": 1000}]},
            "time_guards": guards,
        }
    )


def sale(pid: str, at: Any, member: str = "M1") -> Purchase:
    return Purchase(pid, member, at, [Line("sku", 1, Decimal("20.00"))], "EUR")


@pytest.fixture(scope="module", params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(adapter: str, tmp_path: Path) -> Iterator[Store]:
    with fresh_store(adapter, tmp_path, ONE_CONNECTION) as store:
        yield store


def _engine(store: Store, **guards: Any) -> Engine:
    engine = Engine(_program(**guards), store, clock=lambda: T0)
    engine.enroll("M1", at=ENROLLED)
    engine.enroll("M2", at=ENROLLED)
    engine.adjust("M1", 100, id="A1", at=ENROLLED, reason="welcome", actor="staff")
    engine.record_purchase(sale("P1", ENROLLED))
    engine.redeem_reward("M1", "coffee", id="V1", at=ENROLLED)
    engine.hold("M1", 5, id="H1", at=T0, ttl=timedelta(hours=1))
    engine.grant_offline_allowance(
        "till-1", id="L1", at=ENROLLED, per_member=50, total=100, until=T0 + timedelta(days=2), actor="ops"
    )
    return engine


Case = Callable[[Engine, Any], object]

#: Every command that takes a till's time, with that time as ``at``.
COMMANDS: dict[str, Case] = {
    "enroll": lambda e, at: e.enroll("M3", at=at),
    "record_purchase": lambda e, at: e.record_purchase(sale("P-new", at)),
    "record_event": lambda e, at: e.record_event("M1", "survey", id="E-new", at=at),
    "redeem": lambda e, at: e.redeem("M1", 5, id="R-new", at=at),
    "adjust": lambda e, at: e.adjust("M1", 5, id="A-new", at=at, reason="goodwill", actor="staff"),
    "transfer": lambda e, at: e.transfer("M1", "M2", 5, id="T-new", at=at),
    "hold": lambda e, at: e.hold("M1", 5, id="H-new", at=at, ttl=timedelta(hours=1)),
    "capture": lambda e, at: e.capture("H1", id="C-new", at=at),
    "release": lambda e, at: e.release("H1", at=at),
    "redeem_reward": lambda e, at: e.redeem_reward("M1", "coffee", id="V-new", at=at),
    "use_voucher": lambda e, at: e.use_voucher(e.vouchers("M1")[0].code, id="U-new", at=at),
    "void_voucher": lambda e, at: e.void_voucher(e.vouchers("M1")[0].code, id="W-new", at=at),
    "record_return": lambda e, at: e.record_return(Return("X-new", "P1", at)),
    "update_member": lambda e, at: e.update_member("M1", id="M-new", at=at, attributes={"a": "b"}),
    "change_status": lambda e, at: e.change_status(
        "M2", "suspended", id="S-new", at=at, reason="fraud check", actor="staff"
    ),
    "add_identifier": lambda e, at: e.add_identifier("M1", "card:1234", id="I-new", at=at),
    "assign_tier": lambda e, at: e.assign_tier(
        "M1", "gold", until=T0 + timedelta(days=30), id="G-new", at=at, reason="match", actor="staff"
    ),
    "merge_members": lambda e, at: e.merge_members("M1", "M2", id="J-new", at=at, reason="duplicate"),
    "add_opening_balance": lambda e, at: e.add_opening_balance("M1", 50, id="O-new", at=at, expires_at=None),
    "erase": lambda e, at: e.erase("M2", id="Z-new", at=at, reason="GDPR request", actor="dpo"),
    "offline_redeem": lambda e, at: e.redeem("M1", 5, id="F-new", at=at, offline=True, terminal="till-1"),
    "grant_offline_allowance": lambda e, at: e.grant_offline_allowance(
        "till-2", id="L-new", at=at, per_member=5, total=10, until=at + timedelta(hours=8), actor="ops"
    ),
}
KEYS = [
    *(f"{k}-new" for k in "PERATHCVUWXMSIGJOZFL"),
    "A1",
    "P1",
    "V1",
    "H1",
]
MEMBERS = ["M1", "M2", "M3"]

#: The commands that are a member's activity, refused before its enrollment.
ACTIVITY = [
    "record_purchase",
    "record_event",
    "redeem",
    "adjust",
    "transfer",
    "hold",
    "redeem_reward",
    "merge_members",
]


def _refused(engine: Engine, store: Store, case: Case, at: Any, error: type[LoyaltyError]) -> str:
    before = snapshot(store, MEMBERS, KEYS)
    with pytest.raises(error) as info:
        case(engine, at)
    assert info.value.field == "at"
    assert snapshot(store, MEMBERS, KEYS) == before
    return str(info.value)


def test_a_till_time_past_the_lead_is_refused_by_every_command(store: Store) -> None:
    # One engine for all (a fresh PostgreSQL schema costs half a second): each refusal writes nothing.
    engine = _engine(store)
    for case in COMMANDS.values():
        message = _refused(engine, store, case, T0 + LEAD + timedelta(seconds=1), TillTimeAhead)
        assert "time_guards.max_lead_minutes allows 15" in message


def test_a_till_time_up_to_the_lead_is_accepted(store: Store) -> None:
    engine = _engine(store)
    for command in ("enroll", "record_purchase", "record_event", "redeem", "hold", "update_member"):
        COMMANDS[command](engine, T0 + LEAD)


def test_the_lead_is_the_programs_choice(store: Store) -> None:
    engine = _engine(store, max_lead_minutes=0)
    _refused(engine, store, COMMANDS["record_purchase"], T0 + timedelta(seconds=1), TillTimeAhead)
    engine.record_purchase(sale("P-new", T0))
    late = Engine(_program(max_lead_minutes=MAX_LEAD_MINUTES), store, clock=lambda: T0)
    late.record_purchase(sale("P-week", T0 + timedelta(days=7)))


def test_a_till_behind_the_clock_is_not_bounded(store: Store) -> None:
    engine = _engine(store, before_enrollment="accept")
    assert engine.record_purchase(sale("P-old", T0 - timedelta(days=400))).points == 20


def test_activity_before_enrollment_is_refused_by_default(store: Store) -> None:
    engine = _engine(store)
    for command in ACTIVITY:
        message = _refused(engine, store, COMMANDS[command], BEFORE, BeforeEnrollment)
        assert 'before_enrollment = "accept"' in message, command


def test_a_transfer_to_a_member_not_yet_enrolled_then_is_refused(store: Store) -> None:
    engine = _engine(store)
    engine.enroll("M3", at=T0)
    transfer = lambda e, at: e.transfer("M1", "M3", 5, id="T-new", at=at)  # noqa: E731
    _refused(engine, store, transfer, T0 - timedelta(hours=1), BeforeEnrollment)


def test_a_merge_dated_before_either_member_enrolled_is_refused(store: Store) -> None:
    engine = _engine(store)
    engine.enroll("M3", at=T0)
    for survivor, absorbed in (("M1", "M3"), ("M3", "M1")):
        merge = lambda e, at: e.merge_members(survivor, absorbed, id="J-new", at=at, reason="duplicate")  # noqa: B023, E731
        _refused(engine, store, merge, T0 - timedelta(hours=1), BeforeEnrollment)


def test_a_fast_tills_hold_and_voucher_are_taken_by_a_right_one_within_the_lead(store: Store) -> None:
    # A till 10 minutes fast places a hold and issues a voucher; one whose clock is right takes
    # both a minute later, its time 9 minutes before theirs: two clocks less than the lead apart.
    engine = _engine(store)
    fast, right = T0 + timedelta(minutes=10), T0 + timedelta(minutes=1)
    engine.hold("M1", 5, id="H-fast", at=fast, ttl=timedelta(hours=1))
    engine.hold("M1", 5, id="H-fast-2", at=fast, ttl=timedelta(hours=1))
    used = engine.redeem_reward("M1", "coffee", id="V-fast", at=fast)
    voided = engine.redeem_reward("M1", "coffee", id="V-fast-2", at=fast)
    assert engine.capture("H-fast", id="C-right", at=right).status.value == "captured"
    assert engine.release("H-fast-2", at=right).status.value == "released"
    assert engine.use_voucher(used.code, id="U-right", at=right).status.value == "used"
    assert engine.void_voucher(voided.code, id="W-right", at=right).status.value == "voided"


def test_a_hold_or_voucher_taken_before_it_began_by_more_than_the_lead_is_refused(store: Store) -> None:
    engine = _engine(store)  # H1 placed at T0, V1 issued at ENROLLED
    began = {"capture": T0, "release": T0, "use_voucher": ENROLLED, "void_voucher": ENROLLED}
    for command, start in began.items():
        message = _refused(
            engine, store, COMMANDS[command], start - LEAD - timedelta(seconds=1), BeforeItsStart
        )
        assert "minutes before its" in message and "max_lead_minutes allows 15" in message, command
    # Exactly the lead before: accepted.
    assert engine.capture("H1", id="C-edge", at=T0 - LEAD).status.value == "captured"
    assert (
        engine.use_voucher(engine.vouchers("M1")[0].code, id="U-edge", at=ENROLLED - LEAD).status.value
        == "used"
    )


def test_activity_before_enrollment_is_accepted_when_the_program_says_so(store: Store) -> None:
    engine = _engine(store, before_enrollment="accept")
    for command in ACTIVITY:
        COMMANDS[command](engine, BEFORE)


def test_enrollment_time_itself_is_not_before_enrollment(store: Store) -> None:
    engine = _engine(store)
    assert engine.record_purchase(sale("P-new", ENROLLED)).points == 20


def test_a_retry_after_the_clock_moved_returns_the_original(store: Store) -> None:
    clock = [T0]
    engine = Engine(_program(), store, clock=lambda: clock[0])
    engine.enroll("M1", at=T0)
    first = engine.record_purchase(sale("P-new", T0 + LEAD))
    clock[0] = T0 + timedelta(days=1)
    assert engine.record_purchase(sale("P-new", T0 + LEAD)) == first


#: Commands a till retries, one each on the same engine (none undoes another's subject).
RETRIED = [
    "enroll",
    "record_purchase",
    "record_event",
    "redeem",
    "adjust",
    "transfer",
    "hold",
    "release",
    "redeem_reward",
    "use_voucher",
    "record_return",
    "update_member",
    "add_identifier",
    "assign_tier",
    "add_opening_balance",
    "offline_redeem",
    "grant_offline_allowance",
]


def test_a_retry_of_a_command_recorded_far_ahead_returns_the_original(store: Store) -> None:
    # Recorded by an engine without a lead (before an upgrade, or one whose clock was a day
    # later), retried through one with the default 15 minutes: the till gets its result back.
    loose = Engine(_program(max_lead_minutes=None), store, clock=lambda: T0)
    _engine(store)
    ahead = T0 + timedelta(days=1)
    first = {command: COMMANDS[command](loose, ahead) for command in RETRIED}
    strict = Engine(_program(), store, clock=lambda: T0)
    before = snapshot(store, MEMBERS, KEYS)
    for command in RETRIED:
        assert COMMANDS[command](strict, ahead) == first[command], command
    assert snapshot(store, MEMBERS, KEYS) == before
    # A new command dated so is refused, and a key reused for another request still conflicts.
    _refused(strict, store, lambda e, at: e.record_purchase(sale("P-other", at)), ahead, TillTimeAhead)
    with pytest.raises(IdempotencyConflict):
        strict.record_purchase(sale("P-new", ahead, member="M2"))
    assert snapshot(store, MEMBERS, KEYS) == before


def test_a_retry_of_activity_recorded_before_enrollment_returns_the_original(store: Store) -> None:
    loose = _engine(store, before_enrollment="accept")
    first = {command: COMMANDS[command](loose, BEFORE) for command in ACTIVITY}
    strict = Engine(_program(), store, clock=lambda: T0)
    before = snapshot(store, MEMBERS, KEYS)
    for command in ACTIVITY:
        assert COMMANDS[command](strict, BEFORE) == first[command], command
    assert snapshot(store, MEMBERS, KEYS) == before
    _refused(strict, store, lambda e, at: e.record_purchase(sale("P-other", at)), BEFORE, BeforeEnrollment)


def test_an_erased_member_is_refused_as_erased_unless_the_till_time_is_past_the_lead(store: Store) -> None:
    # The lead is checked with the input, before the member is read; erased is the member's
    # status, read with its lock before its enrollment is compared.
    engine = _engine(store)
    engine.erase("M2", id="Z1", at=T0, reason="GDPR request", actor="dpo")
    _refused(engine, store, COMMANDS["transfer"], T0 + LEAD + timedelta(seconds=1), TillTimeAhead)
    for at in (T0, BEFORE):
        before = snapshot(store, MEMBERS, KEYS)
        with pytest.raises(MemberErased):
            engine.record_purchase(sale("P-new", at, member="M2"))
        assert snapshot(store, MEMBERS, KEYS) == before


def test_a_retry_of_an_erasure_recorded_far_ahead_returns_the_original(store: Store) -> None:
    # Not among RETRIED: a retry of any other command about the member erased is refused as erased.
    loose = Engine(_program(max_lead_minutes=None), store, clock=lambda: T0)
    _engine(store)
    ahead = T0 + timedelta(days=1)
    first = COMMANDS["erase"](loose, ahead)
    strict = Engine(_program(), store, clock=lambda: T0)
    before = snapshot(store, MEMBERS, KEYS)
    assert COMMANDS["erase"](strict, ahead) == first
    assert snapshot(store, MEMBERS, KEYS) == before


# -- the options --------------------------------------------------------------------------------


def test_the_defaults_are_the_recommended_guards(store: Store) -> None:
    program = Program("Club", "EUR")
    assert program.time_guards == TimeGuards(
        max_lead_minutes=RECOMMENDED_LEAD_MINUTES, before_enrollment=PreEnrollment.REFUSE
    )
    assert "time_guards" not in program.to_dict()
    engine = Engine(program, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    before = snapshot(store, ["M1"], ["P-ahead", "P-before"])
    with pytest.raises(TillTimeAhead):
        engine.record_purchase(sale("P-ahead", T0 + LEAD + timedelta(seconds=1)))
    with pytest.raises(BeforeEnrollment):
        engine.record_purchase(sale("P-before", T0 - timedelta(seconds=1)))
    assert snapshot(store, ["M1"], ["P-ahead", "P-before"]) == before
    assert engine.record_purchase(sale("P-fast", T0 + LEAD)).points == 20  # a till a little fast


def test_no_bound_and_accept_are_said_explicitly(store: Store) -> None:
    open_guards = TimeGuards(max_lead_minutes=None, before_enrollment="accept")
    program = Program("Club", "EUR", time_guards=open_guards)
    assert Program.from_dict(program.to_dict()) == program
    engine = Engine(program, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.record_purchase(sale("P-ahead", T0 + timedelta(days=400)))
    engine.record_purchase(sale("P-before", T0 - timedelta(days=400)))
    assert len(engine.history("M1")) == 2


def test_the_options_round_trip_through_the_program_file() -> None:
    program = _program(max_lead_minutes=60, before_enrollment="accept")
    assert program.time_guards == TimeGuards(max_lead_minutes=60, before_enrollment=PreEnrollment.ACCEPT)
    assert Program.from_dict(program.to_dict()) == program


@pytest.mark.parametrize(
    ("guards", "path"),
    [
        ({"max_lead_minutes": -1}, "time_guards.max_lead_minutes"),
        ({"max_lead_minutes": MAX_LEAD_MINUTES + 1}, "time_guards.max_lead_minutes"),
        ({"max_lead_minutes": True}, "time_guards.max_lead_minutes"),
        ({"max_lead_minutes": "15"}, "time_guards.max_lead_minutes"),
        ({"before_enrollment": "allow"}, "time_guards.before_enrollment"),
        ({"lead": 15}, "time_guards.lead"),
    ],
)
def test_bad_options_are_refused_at_load_with_their_path(guards: dict[str, Any], path: str) -> None:
    with pytest.raises(ConfigError) as info:
        _program(**guards)
    assert [p for p, _ in info.value.problems] == [path]


def test_the_errors_are_invalid_datetimes() -> None:
    assert issubclass(TillTimeAhead, InvalidDatetime)
    assert issubclass(BeforeEnrollment, InvalidDatetime)
    assert issubclass(BeforeItsStart, InvalidDatetime)


def test_an_import_of_old_history_accepts_activity_before_enrollment(store: Store) -> None:
    # The old system enrolled the member (issued its card) after its first purchase.
    lines = [
        '{"type": "enrollment", "id": "E-M1", "member_id": "M1", "at": "2024-02-01T09:00:00+00:00"}',
        '{"type": "purchase", "id": "P-old", "member_id": "M1", "at": "2024-01-15T09:00:00+00:00",'
        ' "currency": "EUR", "lines": [{"sku": "sku", "quantity": 1, "unit_price": "20.00"}]}',
    ]
    engine = Engine(_program(), store, clock=lambda: T0)
    summary = engine.import_events(lines)
    assert summary.applied == {"enrollment": 1, "purchase": 1}
    assert engine.balance("M1").total == 20
    with pytest.raises(BeforeEnrollment):  # the tills' guard still holds outside the import
        engine.record_purchase(sale("P-till", datetime(2024, 1, 16, 9, tzinfo=UTC)))


def test_an_import_or_replay_of_old_history_takes_a_void_dated_before_its_voucher(store: Store) -> None:
    # A store under no lead (or one written before the check) let a void be dated an hour
    # before its voucher's issue; its exported history imports and replays as it was.
    source = Engine(_program(max_lead_minutes=None), open_store("memory://"), clock=lambda: T0)
    source.enroll("M1", at=ENROLLED)
    source.adjust("M1", 100, id="A1", at=ENROLLED, reason="welcome", actor="staff")
    voucher = source.redeem_reward("M1", "coffee", id="V1", at=T0)
    source.void_voucher(voucher.code, id="W1", at=T0 - timedelta(hours=1))
    lines = list(history.write(source.export_history()))
    engine = Engine(_program(), store, clock=lambda: T0)
    summary = engine.import_events(lines)
    assert summary.stopped is None and engine.balance("M1").total == 100
    assert [v.status.value for v in engine.vouchers("M1")] == ["voided"]
    report = simulate(lines, _program(), _program())
    assert report.records == len(lines) and report.current.declined == 0
    with pytest.raises(BeforeItsStart):  # the tills' check still holds outside the import
        engine.void_voucher(engine.redeem_reward("M1", "coffee", id="V2", at=T0).code, id="W2", at=ENROLLED)


def test_a_merge_on_the_night_clocks_go_back_is_judged_by_the_instant(store: Store) -> None:
    # 02:45 before the change (CEST, 00:45 UTC) and 02:30 after it (CET, 01:30 UTC): the merge
    # comes 45 minutes after the enrollments though its wall clock reads earlier.
    zone = ZoneInfo("Europe/Amsterdam")
    enrolled = datetime(2024, 10, 27, 2, 45, tzinfo=zone)
    merged = datetime(2024, 10, 27, 2, 30, fold=1, tzinfo=zone)
    engine = Engine(_program(), store, clock=lambda: merged.astimezone(UTC))
    for member in ("N1", "N2"):
        engine.enroll(member, at=enrolled)
    engine.adjust("N2", 10, id="A-N2", at=enrolled, reason="welcome", actor="staff")
    engine.merge_members("N1", "N2", id="J1", at=merged, reason="duplicate")
    assert engine.balance("N1").total == 10


class _Counted:
    """A store that counts the units of work that may write."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def unit_of_work(self, *, readonly: bool = False) -> Any:
        self.writes += not readonly
        return self.store.unit_of_work(readonly=readonly)


def test_an_import_of_old_history_applies_it_in_its_batch() -> None:
    # Not event by event once a batch met a refusal: the batch runs under the import's guards.
    def writes(enrolled: datetime) -> int:
        days = range(10, 20)
        sales = [history.Sale(sale(f"P-{day}", datetime(2024, 1, day, 9, tzinfo=UTC))) for day in days]
        records: list[history.Event] = [history.Enrollment("E-M1", "M1", enrolled), *sales]
        store = _Counted(open_store("memory://"))
        engine = Engine(_program(), store, clock=lambda: T0)
        assert engine.import_events(records).applied == {"enrollment": 1, "purchase": 10}
        return store.writes

    assert writes(datetime(2024, 2, 1, tzinfo=UTC)) == writes(datetime(2024, 1, 1, tzinfo=UTC))
