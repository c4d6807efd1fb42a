"""A golden table of refused inputs: each raises a typed error naming the field and writes nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty import (
    BeforeEnrollment,
    BeforeItsStart,
    CurrencyMismatch,
    EarnRate,
    Engine,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidAmount,
    InvalidDatetime,
    InvalidId,
    InvalidInput,
    InvalidPoints,
    InvalidQuantity,
    Line,
    LoyaltyError,
    MemberAlreadyEnrolled,
    MemberErased,
    PointsOverflow,
    Program,
    Purchase,
    TillTimeAhead,
    UnknownCurrency,
    UnknownMember,
    UnknownTerminal,
)
from loyalty.checks import MAX_POINTS
from loyalty.pseudonyms import pseudonym
from loyalty.rewards import Gives, Reward
from loyalty.rules import SpendRule
from loyalty.store import Store
from loyalty.testing.contract import T0
from loyalty.testing.snapshots import snapshot
from loyalty.tiers import Tier
from tests.adapters import ADAPTERS, ONE_CONNECTION, fresh_store

NAIVE = datetime(2024, 3, 1, 9, 30)
#: A UTC offset Python allows and no adapter keeps (they keep whole seconds).
SUB_SECOND = timezone(timedelta(hours=-3, microseconds=250_000))
PRICE = Decimal("2.50")
#: When the fixture's hold and voucher are made: after the enrollments, within the clock's lead.
LATER = T0 + timedelta(minutes=5)
COFFEE = Reward(id="coffee", name="A coffee", cost=20, gives=Gives.PRODUCT, sku="espresso", valid_for_days=7)


def sale(**changes: Any) -> Purchase:
    fields: dict[str, Any] = {
        "id": "P-new",
        "member_id": "M1",
        "at": T0,
        "lines": [Line("sku", 1, PRICE)],
        "currency": "EUR",
    }
    fields.update(changes)
    return Purchase(**fields)


def grant(e: Engine, **changes: Any) -> object:
    """An offline allowance for ``till-9`` with ``changes`` to its figures, dates and actor."""
    fields: dict[str, Any] = {
        "id": "G-new",
        "at": T0,
        "per_member": 5,
        "total": 10,
        "until": T0 + timedelta(days=1),
        "actor": "staff",
    }
    fields.update(changes)
    return e.grant_offline_allowance("till-9", **fields)


def line(**changes: Any) -> Line:
    fields: dict[str, Any] = {"sku": "sku", "quantity": 1, "unit_price": PRICE}
    fields.update(changes)
    return Line(**fields)


Case = Callable[[Engine], object]

CASES: list[tuple[str, Case, type[LoyaltyError], str]] = [
    ("float price", lambda e: line(unit_price=2.5), InvalidAmount, "unit_price"),
    ("bool price", lambda e: line(unit_price=True), InvalidAmount, "unit_price"),
    ("int price", lambda e: line(unit_price=2), InvalidAmount, "unit_price"),
    ("NaN price", lambda e: line(unit_price=Decimal("NaN")), InvalidAmount, "unit_price"),
    ("sNaN price", lambda e: line(unit_price=Decimal("sNaN")), InvalidAmount, "unit_price"),
    ("infinite price", lambda e: line(unit_price=Decimal("Infinity")), InvalidAmount, "unit_price"),
    (
        "price with 13 decimal places",
        lambda e: line(unit_price=Decimal("1.0000000000001")),
        InvalidAmount,
        "unit_price",
    ),
    (
        "quantity with 13 decimal places",
        lambda e: line(quantity=Decimal("1.0000000000001")),
        InvalidQuantity,
        "quantity",
    ),
    ("negative price", lambda e: line(unit_price=Decimal("-0.01")), InvalidAmount, "unit_price"),
    ("zero quantity", lambda e: line(quantity=0), InvalidQuantity, "quantity"),
    ("negative quantity", lambda e: line(quantity=-2), InvalidQuantity, "quantity"),
    ("float quantity", lambda e: line(quantity=1.5), InvalidQuantity, "quantity"),
    ("bool quantity", lambda e: line(quantity=True), InvalidQuantity, "quantity"),
    ("NaN quantity", lambda e: line(quantity=Decimal("NaN")), InvalidQuantity, "quantity"),
    ("empty sku", lambda e: line(sku=""), InvalidId, "sku"),
    ("naive purchase time", lambda e: e.record_purchase(sale(at=NAIVE)), InvalidDatetime, "at"),
    (
        "year 1 in +01:00 (year 0 in UTC)",
        lambda e: e.enroll("M2", at=datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))),
        InvalidDatetime,
        "at",
    ),
    (
        "purchase at the end of year 9999 in -05:00",
        lambda e: sale(at=datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))),
        InvalidDatetime,
        "at",
    ),
    (
        "redeem in 1899",
        lambda e: e.redeem("M1", 5, id="R-new", at=T0.replace(year=1899)),
        InvalidDatetime,
        "at",
    ),
    ("date as purchase time", lambda e: sale(at=T0.date()), InvalidDatetime, "at"),
    (
        "purchase at a UTC offset of a fraction of a second",
        lambda e: e.record_purchase(sale(id="P-new", at=T0.astimezone(SUB_SECOND))),
        InvalidDatetime,
        "at",
    ),
    (
        "enrollment at a UTC offset of a fraction of a second",
        lambda e: e.enroll("M9", at=T0.astimezone(SUB_SECOND)),
        InvalidDatetime,
        "at",
    ),
    ("unknown currency", lambda e: sale(currency="EUX"), UnknownCurrency, "currency"),
    ("lower-case currency", lambda e: sale(currency="eur"), UnknownCurrency, "currency"),
    ("mismatched currency", lambda e: e.record_purchase(sale(currency="USD")), CurrencyMismatch, "currency"),
    ("mismatched quote", lambda e: e.quote(sale(currency="USD")), CurrencyMismatch, "currency"),
    ("empty basket", lambda e: sale(lines=[]), InvalidInput, "lines"),
    ("basket of strings", lambda e: sale(lines="abc"), InvalidInput, "lines"),
    ("line of wrong type", lambda e: sale(lines=[("sku", 1, PRICE)]), InvalidInput, "lines[0]"),
    ("not a purchase", lambda e: e.record_purchase("P1"), InvalidInput, "purchase"),  # type: ignore[arg-type]
    (
        "unknown member purchase",
        lambda e: e.record_purchase(sale(member_id="M9")),
        UnknownMember,
        "member_id",
    ),
    ("unknown member quote", lambda e: e.quote(sale(member_id="M9")), UnknownMember, "member_id"),
    ("guest quote of a member", lambda e: e.quote(sale(), guest=True), InvalidInput, "member_id"),
    ("guest explanation of a member", lambda e: e.explain(sale(), guest=True), InvalidInput, "member_id"),
    ("guest quote with 1 for True", lambda e: e.quote(sale(member_id="M9"), guest=1), InvalidInput, "guest"),  # type: ignore[arg-type]
    ("guest quote of no purchase", lambda e: e.quote("P1", guest=True), InvalidInput, "purchase"),  # type: ignore[arg-type]
    (
        "mismatched guest quote",
        lambda e: e.quote(sale(member_id="M9", currency="USD"), guest=True),
        CurrencyMismatch,
        "currency",
    ),
    ("unknown member redeem", lambda e: e.redeem("M9", 5, id="R-new", at=T0), UnknownMember, "member_id"),
    (
        "unknown member adjust",
        lambda e: e.adjust("M9", 5, id="A-new", at=T0, reason="x", actor="s"),
        UnknownMember,
        "member_id",
    ),
    ("unknown member balance", lambda e: e.balance("M9"), UnknownMember, "member_id"),
    ("unknown member history", lambda e: e.history("M9"), UnknownMember, "member_id"),
    ("history after beyond 64 bits", lambda e: e.history("M1", after=2**63), InvalidInput, "after"),
    ("history limit beyond 64 bits", lambda e: e.history("M1", limit=2**63), InvalidInput, "limit"),
    ("history limit zero", lambda e: e.history("M1", limit=0), InvalidInput, "limit"),
    ("program rate as text", lambda e: Program("P", "EUR", rate="1 per 1.00"), InvalidInput, "rate"),  # type: ignore[arg-type]
    ("rate per with 13 places", lambda e: EarnRate(1, Decimal("1E-13")), InvalidAmount, "rate.per"),
    (
        "engine with no retries",
        lambda e: Engine(e.program, e.store, max_attempts=0),
        InvalidInput,
        "max_attempts",
    ),
    ("engine without a store", lambda e: Engine(e.program, None), InvalidInput, "store"),  # type: ignore[arg-type]
    ("engine without a program", lambda e: Engine(None, e.store), InvalidInput, "program"),  # type: ignore[arg-type]
    (
        "enrollment with True where 1 was",
        lambda e: e.enroll("M3", at=T0, attributes={"vip": True}),
        MemberAlreadyEnrolled,
        "attributes",
    ),
    (
        "duplicate enrollment",
        lambda e: e.enroll("M1", at=T0 - timedelta(hours=1)),
        MemberAlreadyEnrolled,
        "at",
    ),
    (
        "purchase 16 minutes ahead of the engine's clock",
        lambda e: e.record_purchase(sale(at=T0 + timedelta(minutes=16))),
        TillTimeAhead,
        "at",
    ),
    (
        "enrollment a day ahead of the engine's clock",
        lambda e: e.enroll("M9", at=T0 + timedelta(days=1)),
        TillTimeAhead,
        "at",
    ),
    (
        "redemption before the member's enrollment",
        lambda e: e.redeem("M1", 5, id="R-new", at=T0 - timedelta(days=1)),
        BeforeEnrollment,
        "at",
    ),
    (
        "event before the member's enrollment",
        lambda e: e.record_event("M1", "survey", id="E-new", at=T0 - timedelta(minutes=1)),
        BeforeEnrollment,
        "at",
    ),
    (
        "event 16 minutes ahead of the engine's clock",
        lambda e: e.record_event("M1", "survey", id="E-new", at=T0 + timedelta(minutes=16)),
        TillTimeAhead,
        "at",
    ),
    (
        "purchase before the member's enrollment",
        lambda e: e.record_purchase(sale(at=T0 - timedelta(seconds=1))),
        BeforeEnrollment,
        "at",
    ),
    (
        "enrollment with other attributes",
        lambda e: e.enroll("M1", at=T0, attributes={"segment": "vip"}),
        MemberAlreadyEnrolled,
        "attributes",
    ),
    ("naive enrollment", lambda e: e.enroll("M2", at=NAIVE), InvalidDatetime, "at"),
    (
        "float attribute",
        lambda e: e.enroll("M2", at=T0, attributes={"x": 1.5}),  # type: ignore[dict-item]
        InvalidInput,
        "attributes['x']",
    ),
    (
        "lone surrogate in an attribute",
        lambda e: e.enroll("M2", at=T0, attributes={"x": "a\ud800"}),
        InvalidInput,
        "attributes['x']",
    ),
    (
        "NUL in a reason",
        lambda e: e.adjust("M1", 5, id="A-new", at=T0, reason="a\x00b", actor="s"),
        InvalidInput,
        "reason",
    ),
    (
        "lone surrogate in a redemption reason",
        lambda e: e.redeem("M1", 5, id="R-new", at=T0, reason="a\ud800"),
        InvalidInput,
        "reason",
    ),
    (
        "over-long adjustment reason",
        lambda e: e.adjust("M1", 5, id="A-new", at=T0, reason="x" * 1025, actor="s"),
        InvalidInput,
        "reason",
    ),
    (
        "NUL in an updated attribute",
        lambda e: e.update_member("M1", id="U-new", at=T0, attributes={"x": "a\x00"}),
        InvalidInput,
        "attributes['x']",
    ),
    (
        "lone surrogate in a rule name",
        lambda e: SpendRule(id="r", name="a\ud800", points=1),
        InvalidInput,
        "name",
    ),
    ("NUL in a tier name", lambda e: Tier(id="gold", name="Gold\x00"), InvalidInput, "name"),
    (
        "over-long reward name",
        lambda e: Reward(id="r", name="x" * 201, cost=5, gives="voucher"),
        InvalidInput,
        "name",
    ),
    (
        "reason of wrong type",
        lambda e: e.redeem("M1", 5, id="R-new", at=T0, reason=5),  # type: ignore[arg-type]
        InvalidInput,
        "reason",
    ),
    ("datetime birthday", lambda e: e.enroll("M2", at=T0, birthday=T0), InvalidInput, "birthday"),
    ("redeem zero", lambda e: e.redeem("M1", 0, id="R-new", at=T0), InvalidPoints, "points"),
    ("redeem negative", lambda e: e.redeem("M1", -5, id="R-new", at=T0), InvalidPoints, "points"),
    ("redeem fractional", lambda e: e.redeem("M1", 1.5, id="R-new", at=T0), InvalidPoints, "points"),  # type: ignore[arg-type]
    (
        "redeem Decimal",
        lambda e: e.redeem("M1", Decimal(5), id="R-new", at=T0),  # type: ignore[arg-type]
        InvalidPoints,
        "points",
    ),
    ("redeem bool", lambda e: e.redeem("M1", True, id="R-new", at=T0), InvalidPoints, "points"),
    ("redeem beyond 64 bits", lambda e: e.redeem("M1", 2**63, id="R-new", at=T0), InvalidPoints, "points"),
    ("redeem too much", lambda e: e.redeem("M1", 101, id="R-new", at=T0), InsufficientPoints, "points"),
    ("redeem naive", lambda e: e.redeem("M1", 5, id="R-new", at=NAIVE), InvalidDatetime, "at"),
    (
        "adjust beyond 64 bits",
        lambda e: e.adjust("M1", -(2**63), id="A-new", at=T0, reason="x", actor="s"),
        InvalidPoints,
        "points",
    ),
    (
        "adjust overflowing the balance",
        lambda e: e.adjust("M1", MAX_POINTS, id="A-new", at=T0, reason="x", actor="s"),
        PointsOverflow,
        "points",
    ),
    (
        "adjust zero",
        lambda e: e.adjust("M1", 0, id="A-new", at=T0, reason="x", actor="s"),
        InvalidPoints,
        "points",
    ),
    (
        "adjust below zero",
        lambda e: e.adjust("M1", -101, id="A-new", at=T0, reason="x", actor="s"),
        InsufficientPoints,
        "points",
    ),
    (
        "adjust without reason",
        lambda e: e.adjust("M1", 5, id="A-new", at=T0, reason=" ", actor="s"),
        InvalidInput,
        "reason",
    ),
    (
        "adjust without actor",
        lambda e: e.adjust("M1", 5, id="A-new", at=T0, reason="x", actor=""),
        InvalidId,
        "actor",
    ),
    ("empty id", lambda e: sale(id=""), InvalidId, "id"),
    ("blank id", lambda e: sale(id="   "), InvalidId, "id"),
    ("over-long id", lambda e: sale(id="x" * 129), InvalidId, "id"),
    ("newline in id", lambda e: sale(id="P\n1"), InvalidId, "id"),
    ("NUL in id", lambda e: sale(id="P\x001"), InvalidId, "id"),
    ("bidi override in id", lambda e: sale(id="P\u202e1"), InvalidId, "id"),
    ("int id", lambda e: sale(id=1), InvalidId, "id"),
    ("redeem with empty id", lambda e: e.redeem("M1", 5, id="", at=T0), InvalidId, "id"),
    ("over-long member id", lambda e: e.enroll("M" * 129, at=T0), InvalidId, "member_id"),
    (
        "merge dated before its members enrolled",
        lambda e: e.merge_members("M1", "M3", id="J-new", at=T0 - timedelta(hours=1), reason="duplicate"),
        BeforeEnrollment,
        "at",
    ),
    # Before the hold or voucher by more than the 15 minutes two tills' clocks may differ by.
    (
        "capture dated before its hold was placed",
        lambda e: e.capture("H1", id="C-new", at=LATER - timedelta(minutes=15, seconds=1)),
        BeforeItsStart,
        "at",
    ),
    (
        "release dated before its hold was placed",
        lambda e: e.release("H1", at=LATER - timedelta(minutes=16)),
        BeforeItsStart,
        "at",
    ),
    (
        "voucher used before it was issued",
        lambda e: e.use_voucher(e.vouchers("M2")[0].code, id="V-new", at=LATER - timedelta(minutes=16)),
        BeforeItsStart,
        "at",
    ),
    (
        "voucher voided before it was issued",
        lambda e: e.void_voucher(e.vouchers("M2")[0].code, id="V-new", at=LATER - timedelta(minutes=16)),
        BeforeItsStart,
        "at",
    ),
    (
        "purchase id reused for other lines",
        lambda e: e.record_purchase(sale(id="P1")),
        IdempotencyConflict,
        "lines[0].quantity",
    ),
    (
        "purchase id reused for a redemption",
        lambda e: e.redeem("M1", 5, id="P1", at=T0),
        IdempotencyConflict,
        "kind",
    ),
    (
        "redemption id reused with other points",
        lambda e: e.redeem("M1", 6, id="R1", at=T0),
        IdempotencyConflict,
        "points",
    ),
    (
        "offline redemption without a terminal",
        lambda e: e.redeem("M1", 5, id="R-new", at=T0, offline=True),
        InvalidInput,
        "terminal",
    ),
    (
        "terminal of a redemption not offline",
        lambda e: e.redeem("M1", 5, id="R-new", at=T0, terminal="till-1"),
        InvalidInput,
        "terminal",
    ),
    (
        "offline as 1 for True",
        lambda e: e.redeem("M1", 5, id="R-new", at=T0, offline=1, terminal="till-1"),  # type: ignore[arg-type]
        InvalidInput,
        "offline",
    ),
    (
        "offline redemption from a terminal never granted an allowance",
        lambda e: e.redeem("M1", 5, id="R-new", at=T0, offline=True, terminal="till-9"),
        UnknownTerminal,
        "terminal",
    ),
    (
        "report of a terminal never granted one",
        lambda e: e.offline_report("till-9"),
        UnknownTerminal,
        "terminal_id",
    ),
    ("grant of negative points per member", lambda e: grant(e, per_member=-1), InvalidPoints, "per_member"),
    ("grant of a zero total", lambda e: grant(e, total=0), InvalidPoints, "total"),
    ("grant of fractional points", lambda e: grant(e, total=1.5), InvalidPoints, "total"),
    (
        "grant of more per member than in total",
        lambda e: grant(e, per_member=11),
        InvalidPoints,
        "per_member",
    ),
    ("grant ending as it opens", lambda e: grant(e, until=T0), InvalidDatetime, "until"),
    ("grant with a naive end", lambda e: grant(e, until=NAIVE), InvalidDatetime, "until"),
    ("grant opening naive", lambda e: grant(e, at=NAIVE), InvalidDatetime, "at"),
    (
        "grant leaving out a figure the program has none for",
        lambda e: grant(e, per_member=None),
        InvalidPoints,
        "per_member",
    ),
    (
        "grant leaving out its end the program has none for",
        lambda e: grant(e, until=None),
        InvalidDatetime,
        "until",
    ),
    ("grant without actor", lambda e: grant(e, actor=""), InvalidId, "actor"),
    (
        "grant 16 minutes ahead of the engine's clock",
        lambda e: grant(e, at=T0 + timedelta(minutes=16), until=T0 + timedelta(days=1)),
        TillTimeAhead,
        "at",
    ),
    (
        "purchase id reused for another member",
        lambda e: e.record_purchase(sale(id="P1", member_id="M2", lines=[line(quantity=40)])),
        IdempotencyConflict,
        "member_id",
    ),
]


#: Commands on an erased member (M4, erased by the fixture ``erased``): refused as every other
#: command on it is, writing nothing.
ERASED_CASES: list[tuple[str, Case, type[LoyaltyError], str]] = [
    (
        "purchase of an erased member",
        lambda e: e.record_purchase(sale(member_id="M4")),
        MemberErased,
        "member_id",
    ),
    (
        "redemption of an erased member",
        lambda e: e.redeem("M4", 5, id="R-new", at=T0),
        MemberErased,
        "member_id",
    ),
    (
        "correction of an erased member",
        lambda e: e.adjust("M4", 5, id="A-new", at=T0, reason="x", actor="s"),
        MemberErased,
        "member_id",
    ),
    (
        "update of an erased member",
        lambda e: e.update_member("M4", id="U-new", at=T0, attributes={"x": "y"}),
        MemberErased,
        "member_id",
    ),
    (
        "transfer to an erased member",
        lambda e: e.transfer("M1", "M4", 5, id="T-new", at=T0),
        MemberErased,
        "to_member",
    ),
    (
        "offline redemption of an erased member",
        lambda e: e.redeem("M4", 5, id="R-new", at=T0, offline=True, terminal="till-1"),
        MemberErased,
        "member_id",
    ),
    ("another enrollment of an erased member", lambda e: e.enroll("M4", at=T0), MemberErased, "member_id"),
    (
        "redemption of an erased member under its pseudonym",
        lambda e: e.redeem(hidden(e.store), 5, id="R-new", at=T0),
        MemberErased,
        "member_id",
    ),
]


def hidden(store: Store) -> str:
    """M4's pseudonym, once erased."""
    with store.unit_of_work(readonly=True) as uow:
        secret = uow.erasure_secret()
    assert secret is not None
    return pseudonym(secret, "M4")


#: What a case could write to: its members (M4's pseudonym too, once erased), idempotency keys
#: and terminals, compared before and after it.
MEMBERS = ["M1", "M2", "M3", "M4", "M9", "M" * 129]
KEYS = [
    "P1",
    "R1",
    "A1",
    "G1",
    "E1",
    "P-new",
    "R-new",
    "A-new",
    "U-new",
    "E-new",
    "G-new",
    "T-new",
    "H1",
    "V1",
    "C-new",
    "V-new",
]
TERMINALS = ["till-1", "till-9"]


def _state(store: Store) -> Any:
    """What the cases compare: the members, records and terminals a case could write to."""
    with store.unit_of_work(readonly=True) as uow:
        erased = uow.erasure_secret() is not None
    members = [*MEMBERS, hidden(store)] if erased else MEMBERS
    return snapshot(store, members, KEYS, terminals=TERMINALS)


def _set_up(store: Store, *, erased: bool) -> Engine:
    # The default time guards: 15 minutes of lead, and no activity before enrollment.
    engine = Engine(Program("Bad input", "EUR", rewards=[COFFEE]), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.enroll("M2", at=T0)
    engine.enroll("M3", at=T0, attributes={"vip": 1})
    engine.record_purchase(sale(id="P1", lines=[line(quantity=40)]))  # 100 points
    engine.redeem("M1", 5, id="R1", at=T0)
    engine.adjust("M1", 5, id="A1", at=T0, reason="restore", actor="staff")
    engine.grant_offline_allowance(
        "till-1", id="G1", at=T0, per_member=50, total=100, until=T0 + timedelta(days=1), actor="staff"
    )
    # M2's hold and voucher, made at the till a few minutes after its enrollment.
    engine.adjust("M2", 50, id="A2", at=T0, reason="welcome", actor="staff")
    engine.hold("M2", 10, id="H1", at=LATER, ttl=timedelta(hours=1))
    engine.redeem_reward("M2", "coffee", id="V1", at=LATER)
    if erased:  # (apart: an erasure would slow the setup of every other case)
        engine.enroll("M4", at=T0, attributes={"name": "Ann"})
        engine.erase("M4", id="E1", at=T0, reason="request 7", actor="dpo")
    return engine


class _Kept:
    """The engines the cases run on, set up once per adapter (and once more with M4 erased) and
    kept while each case leaves its store as it found it: a refusal writes nothing, which every
    case checks; one that keeps something (a declined redemption keeps its decision) has the
    engine set up anew for the next. Setting one up costs more than most cases (a PostgreSQL
    schema, a dozen commands)."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._made = 0
        self._kept: dict[tuple[str, bool], tuple[Engine, Any, contextlib.ExitStack]] = {}

    @contextlib.contextmanager
    def engine(self, adapter: str, *, erased: bool) -> Iterator[Engine]:
        key = (adapter, erased)
        if key not in self._kept:
            self._made += 1
            stack = contextlib.ExitStack()
            folder = self._folder / str(self._made)
            folder.mkdir()
            store = stack.enter_context(fresh_store(adapter, folder, ONE_CONNECTION))
            engine = _set_up(store, erased=erased)
            self._kept[key] = (engine, _state(store), stack)
        engine, state, stack = self._kept[key]
        try:
            yield engine
        finally:
            if _state(engine.store) != state:
                del self._kept[key]
                stack.close()

    def close(self) -> None:
        for _, _, stack in self._kept.values():
            stack.close()


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Kept]:
    engines = _Kept(tmp_path_factory.mktemp("refused"))
    yield engines
    engines.close()


@pytest.fixture(params=ADAPTERS)
def engine(request: pytest.FixtureRequest, kept: _Kept) -> Iterator[Engine]:
    with kept.engine(request.param, erased=False) as engine:
        yield engine


@pytest.fixture(params=ADAPTERS)
def erased(request: pytest.FixtureRequest, kept: _Kept) -> Iterator[Engine]:
    """An engine whose member M4 was enrolled and erased."""
    with kept.engine(request.param, erased=True) as engine:
        yield engine


@pytest.mark.parametrize(("case", "expected", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_input_names_the_field_and_writes_nothing(
    engine: Engine, case: Case, expected: type[LoyaltyError], field: str
) -> None:
    _refused_writing_nothing(engine, case, expected, field)


@pytest.mark.parametrize(
    ("case", "expected", "field"), [c[1:] for c in ERASED_CASES], ids=[c[0] for c in ERASED_CASES]
)
def test_a_command_on_an_erased_member_names_the_field_and_writes_nothing(
    erased: Engine, case: Case, expected: type[LoyaltyError], field: str
) -> None:
    _refused_writing_nothing(erased, case, expected, field)


def _refused_writing_nothing(engine: Engine, case: Case, expected: type[LoyaltyError], field: str) -> None:
    store = engine.store
    before = _state(store)
    voucher = engine.vouchers("M2")
    with pytest.raises(expected) as info:
        case(engine)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    after = _state(store)
    assert after["members"] == before["members"]
    if expected is InsufficientPoints:
        # The ledger is untouched; only the decision is kept, so a retry is declined alike.
        declined = {k: op for k, op in after["operations"].items() if op != before["operations"][k]}
        assert [op.result for op in declined.values()] == [
            {"declined": {"available": 100, "requested": getattr(info.value, "requested", None)}}
        ]
    else:
        assert after == before
    assert engine.balance("M1").available == 100
    assert engine.vouchers("M2") == voucher


def test_the_snapshot_sees_an_offline_allowance_granted() -> None:
    # The grant cases above compare the terminals' allowances: a grant written would show.
    with fresh_store("memory", Path()) as store:
        engine = Engine(Program("Bad input", "EUR"), store, clock=lambda: T0)
        before = snapshot(store, [], terminals=["till-9"])
        grant(engine)
        assert snapshot(store, [], terminals=["till-9"]) != before


def test_case_names_are_unique() -> None:
    names = [name for name, *_ in CASES + ERASED_CASES]
    assert len(set(names)) == len(names)
