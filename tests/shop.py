"""A small shop's history through the engine, for the tests that upgrade a store holding one."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from loyalty import (
    Engine,
    FirstPurchase,
    IdempotencyConflict,
    InsufficientPoints,
    Line,
    Multiplier,
    Program,
    Purchase,
    PurchaseBonus,
    Receipt,
    Return,
    Returned,
    ReturnReceipt,
    balance_of,
)
from loyalty.figures import Figures, RuleFigures
from loyalty.lots import Balance, Lot
from loyalty.store import Operation, Store, open_store
from loyalty.store.owned_tallies import owner
from loyalty.tallies import Tally
from loyalty.testing.clock import ManualClock
from loyalty.transfers import PARTED_KINDS, RECEIVED

__all__ = [
    "AT",
    "BASKETS",
    "BONUS",
    "END",
    "IN_DEBT",
    "MEMBERS",
    "PROGRAM",
    "RULED",
    "START",
    "TABLE_TALLIES",
    "check_bonuses_reopened",
    "check_debts_reopened",
    "check_records_upgraded",
    "check_reopened",
    "check_replays",
    "check_tallies_moved",
    "check_upgraded",
    "half_written",
    "indebted",
    "keep_half_written",
    "keep_tallies",
    "kept_apart",
    "reading",
    "record",
    "record_baskets",
    "record_bonuses",
    "recorded",
    "recorded_and_returned",
    "row_tallies",
]

START = datetime(2024, 3, 10, tzinfo=UTC)
END = START + timedelta(days=10)
#: The engine's clock when the history ends.
AT = START + timedelta(days=5)
MEMBERS = ("a", "b", "c")
PROGRAM = Program("Shop", "EUR")


def record(store: Store) -> Engine:
    """Purchases before, in and after the period ``[START, END)``, a redemption and a hold."""
    clock = ManualClock(START - timedelta(days=30))
    engine = Engine(PROGRAM, store, clock=clock)
    for member in MEMBERS:
        engine.enroll(member, at=clock.now)
    plus2 = timezone(timedelta(hours=2))
    for n, (member, day) in enumerate((("a", -5), ("b", -3), ("a", 1), ("c", 2), ("a", 4), ("b", 12))):
        clock.now = (START + timedelta(days=day, hours=n)).astimezone(plus2)
        engine.record_purchase(
            Purchase(f"P{n}", member, clock.now, [Line("x", 1, Decimal(f"{n + 1}0.25"))], "EUR")
        )
    clock.now = AT
    engine.redeem("a", 7, id="R1", at=clock.now)
    engine.hold("b", 3, id="H1", at=clock.now, ttl=timedelta(days=1))
    return engine


def recorded(store: Store) -> tuple[dict[str, Receipt], tuple[Figures, list[Balance]]]:
    """:func:`record` and :func:`record_baskets` on ``store``, which is then closed: the baskets'
    receipts and what the store answered (:func:`reading`)."""
    engine = record(store)
    receipts = record_baskets(store)
    before = reading(engine)
    store.close()
    return receipts, before


#: :data:`PROGRAM` where a return takes back points already spent, leaving a debt.
IN_DEBT = Program("Shop", "EUR", clawback="negative")


def indebted(store: Store) -> Engine:
    """Under :data:`IN_DEBT`, a member ``d`` who spent a purchase's points and returned it after a
    second purchase, so that ``store`` holds a debt (a lot of negative points), and a member ``e``
    with a lot of points left; the engine, its clock at :data:`AT`."""
    engine = Engine(IN_DEBT, store, clock=lambda: AT)
    day = START + timedelta(days=1)
    for member in ("d", "e"):
        engine.enroll(member, at=START)
        engine.record_purchase(Purchase(f"{member}1", member, day, [Line("x", 1, Decimal("40.00"))], "EUR"))
    engine.redeem("d", 40, id="d-R1", at=day + timedelta(hours=1))
    engine.record_purchase(Purchase("d2", "d", day + timedelta(hours=2), [Line("x", 1, Decimal("5"))], "EUR"))
    engine.record_return(Return("d1-void", "d1", day + timedelta(hours=3)))
    return engine


def check_debts_reopened(store: Any, version: int, lots: dict[str, list[Lot]]) -> None:
    """A reopened SQL ``store`` that :func:`indebted` wrote, whose members' open ``lots`` were
    read before, is at schema ``version``, reads the same lots, and repays the debt from the next
    credit; it is closed afterwards."""
    try:
        assert store.schema_version() == version
        engine = Engine(IN_DEBT, store, clock=lambda: AT)
        assert {member: engine.lots(member) for member in lots} == lots
        engine.record_purchase(Purchase("d3", "d", AT, [Line("x", 1, Decimal("50"))], "EUR"))
        assert engine.balance("d").available == 15 == balance_of(engine.history("d"))
        assert [lot.remaining for lot in engine.lots("d")] == [15]
    finally:
        store.close()


def row_tallies(member_id: str, text: str | None) -> list[tuple[str, int, str]]:
    """The tallies a member's row keeps (``loyalty.store.member_tallies``'s JSON, taken apart by
    hand) as the rows of the tallies table schema 7 kept them in: key, count, points."""
    found = []
    for family, value in json.loads(text or "{}").items():
        if family == "spent":
            month, count, points = value
            found.append((f"spent|{month}|{member_id}", count, points))
        else:
            count, points = value
            found.append((f"{family}|{member_id}", count, points))
    return found


def reading(engine: Engine) -> tuple[Figures, list[Balance]]:
    """What the store answers: the period's figures and every member's balance."""
    return engine.figures(START, END), [engine.balance(member) for member in MEMBERS]


def check_reopened(
    store: Any,
    version: int,
    before: tuple[Figures, list[Balance]],
    receipts: dict[str, Receipt] | None = None,
    kept: list[tuple[str, str, str]] | None = None,
) -> None:
    """A reopened SQL ``store`` is at schema ``version`` and passes :func:`check_upgraded` (and,
    given ``receipts``, :func:`check_replays`); it is closed afterwards."""
    try:
        assert store.schema_version() == version
        check_upgraded(store, before)
        if receipts is not None:
            check_replays(store, receipts, kept or [])
    finally:
        store.close()


def check_upgraded(store: Store, before: tuple[Figures, list[Balance]]) -> None:
    """The upgraded ``store`` answers as it did ``before``, and spends from its lots."""
    engine = Engine(PROGRAM, store, clock=lambda: AT)
    assert reading(engine) == before
    engine.redeem("a", 5, id="R2", at=AT)
    assert engine.balance("a").available == before[1][0].available - 5


#: A program whose receipts have every kind of breakdown row (per line, doubled lines, a welcome),
#: in force from :data:`START` after :data:`PROGRAM`.
RULED = Program(
    "Shop",
    "EUR",
    rules=[
        Multiplier(id="organic", name="Organic x2", factor=Decimal(2), labels={"organic": ["yes"]}),
        FirstPurchase(id="welcome", points=25),
    ],
    version="club",
    effective_from=START,
)
_T = START + timedelta(days=1)
#: Baskets of every shape a line can take: labels, discounts, tax, fractional quantities, a store.
BASKETS = (
    Purchase(
        "B1",
        "k",
        _T.astimezone(timezone(timedelta(hours=2))),
        [
            Line("apple", 3, Decimal("0.45"), "fruit", {"organic": "yes"}, Decimal("0.10"), Decimal("0.05")),
            Line("cheese", Decimal("0.250"), Decimal("18.90"), "dairy"),
            Line("bag", 1, Decimal("0.10")),
        ],
        "EUR",
        "S1",
        "S1-T2",
        "till",
    ),
    Purchase("B2", "m", _T + timedelta(hours=1), [Line("bread", 2, Decimal("2.35"), "bakery")], "EUR"),
    Purchase(
        "B3",
        "k",
        _T + timedelta(hours=2),
        [Line("apple", 10, Decimal("0.45"), labels={"organic": "yes"})],
        "EUR",
    ),
)


def record_baskets(store: Store) -> dict[str, Receipt]:
    """:data:`BASKETS` recorded under :data:`RULED` by enrolled members; their receipts by id."""
    # The engine's clock follows the tills', as in a shop (a basket may be 15 minutes ahead of it).
    clock = ManualClock(_T)
    engine = Engine(RULED, store, clock=clock)
    for member in ("k", "m"):
        engine.enroll(member, at=START)
    return {basket.id: engine.record_purchase(_at(clock, basket)) for basket in BASKETS}


def _at(clock: ManualClock, basket: Purchase) -> Purchase:
    clock.catch_up(basket.at)
    return basket


def check_replays(store: Store, receipts: dict[str, Receipt], kept: list[tuple[str, str, str]]) -> None:
    """The ``kept`` operations (key, request and result as JSON text, as an older schema held
    them) come back as they were; every basket replays and explains as recorded, and its return
    takes back what it would have on a store that never changed (the same receipt as on a fresh
    store with the same history)."""
    with store.unit_of_work(readonly=True) as uow:
        for key, request, result in kept:
            operation = uow.operation(key)
            assert operation is not None
            assert (operation.request, operation.result) == (json.loads(request), json.loads(result))
    later = _T + timedelta(days=3)
    engine = Engine(RULED, store, clock=lambda: later)
    for basket in BASKETS:
        assert engine.record_purchase(basket) == receipts[basket.id]
        assert engine.explain(basket) == receipts[basket.id]
    returned = Return("X1", "B1", later, [Returned("apple", 2), Returned("cheese", Decimal("0.250"))])
    got = engine.record_return(returned)
    fresh = open_store("memory://")
    try:
        record_baskets(fresh)
        expected = Engine(RULED, fresh, clock=lambda: later).record_return(returned)
    finally:
        fresh.close()
    assert got == expected


def recorded_and_returned(
    store: Store,
) -> tuple[dict[str, Receipt], ReturnReceipt, tuple[Figures, list[Balance]]]:
    """:func:`recorded`, with a replay of a basket, its key reused for a redemption (refused) and
    its return before ``store`` is closed: the baskets' receipts, the return's, and :func:`reading`."""
    engine = record(store)
    receipts = record_baskets(store)
    baskets = Engine(RULED, store, clock=lambda: AT)
    assert baskets.record_purchase(BASKETS[1]) == receipts["B2"]
    with pytest.raises(IdempotencyConflict, match="purchase"):
        baskets.redeem("m", 1, id="B2", at=AT)
    voided = baskets.record_return(Return("X0", "B2", AT))
    before = reading(engine)
    store.close()
    return receipts, voided, before


def check_records_upgraded(
    reopen: Callable[[], Any],
    version: int,
    receipts: dict[str, Receipt],
    voided: ReturnReceipt,
    before: tuple[Figures, list[Balance]],
) -> None:
    """The SQL store that :func:`recorded_and_returned` wrote, opened with ``reopen`` (each store
    closed afterwards), answers as before (:func:`check_reopened`): its return replays, a new
    purchase's key is refused to another command, and every balance is its ledger's."""
    check_reopened(reopen(), version, before, receipts)
    with reopen() as again:
        later = Engine(RULED, again, clock=lambda: AT)
        assert later.record_return(Return("X0", "B2", AT)) == voided
        later.record_purchase(Purchase("N1", "m", AT, [Line("bread", 1, Decimal("9.80"))], "EUR"))
        with pytest.raises(IdempotencyConflict, match="purchase"):
            later.redeem("m", 1, id="N1", at=AT)
        for member in (*MEMBERS, "k", "m"):
            assert later.balance(member).total == balance_of(later.history(member))


def kept_apart(store: Store) -> None:
    """Under :data:`PROGRAM`, a purchase that earns (``P1``), one of no points (``P2``), a declined
    and a granted redemption (``R1``, ``R2``), each retried as a till would, and ``P1``'s key
    refused to a redemption; ``store`` is closed afterwards. Only ``P1`` wrote an entry: the SQL
    adapters keep its record in it, the others' as operations."""
    with store:
        engine = Engine(PROGRAM, store, clock=lambda: AT)
        engine.enroll("M1", at=START)
        for _ in range(2):
            engine.record_purchase(Purchase("P1", "M1", AT, [Line("x", 1, Decimal("2.50"))], "EUR"))
            engine.record_purchase(Purchase("P2", "M1", AT, [Line("x", 1, Decimal("0.50"))], "EUR"))
            with pytest.raises(InsufficientPoints):
                engine.redeem("M1", 5, id="R1", at=AT)
            engine.redeem("M1", 1, id="R2", at=AT)
        with pytest.raises(IdempotencyConflict, match="purchase"):
            engine.redeem("M1", 1, id="P1", at=AT)
        assert engine.balance("M1").available == 1 == balance_of(engine.history("M1"))


#: :data:`PROGRAM` with a bonus on every purchase: each purchase's entry earns by two rules.
BONUS = Program("Shop", "EUR", rules=[PurchaseBonus(id="bonus", name="Visit bonus", points=3)])


def _by_rule(engine: Engine) -> tuple[RuleFigures, ...]:
    return engine.figures(START, START + timedelta(days=1)).by_rule


def record_bonuses(store: Store) -> tuple[RuleFigures, ...]:
    """Two purchases under :data:`BONUS` on ``store``, which is then closed: the figures by rule
    of their day (each entry's points shared out between the two rules)."""
    with Engine(BONUS, store, clock=lambda: START) as engine:
        engine.enroll("m", at=START)
        for n, amount in enumerate(("4.50", "10.00")):
            engine.record_purchase(Purchase(f"B{n}", "m", START, [Line("x", 1, Decimal(amount))], "EUR"))
        return _by_rule(engine)


def check_bonuses_reopened(store: Any, version: int, before: tuple[RuleFigures, ...]) -> None:
    """A reopened SQL ``store`` that :func:`record_bonuses` wrote is at schema ``version`` and
    gives the same figures by rule (worked out from the purchases' records), and a purchase after
    the upgrade keeps its own shares; it is closed afterwards."""
    with Engine(BONUS, store, clock=lambda: START) as engine:
        assert store.schema_version() == version
        # 4.50 and 3 made 7 points (4 and 3), 10 and 3 made 13.
        assert before == (RuleFigures("base", "base", 14), RuleFigures("bonus", "Visit bonus", 6))
        assert _by_rule(engine) == before
        engine.record_purchase(Purchase("B2", "m", START, [Line("x", 1, Decimal("1.00"))], "EUR"))
        assert _by_rule(engine) == (RuleFigures("base", "base", 15), RuleFigures("bonus", "Visit bonus", 9))


def keep_half_written(store: Store) -> dict[str, list[str]]:
    """Records of commands written in parts (:data:`loyalty.transfers.PARTED_KINDS`), some with
    their second part's record and some without, beside records of other kinds: the keys
    :func:`half_written` finds, by kind."""
    sent = {"sent": {"points": -5}, "runs": [[5, None, False]]}
    with store.unit_of_work() as uow:
        for kind in PARTED_KINDS:
            for n in (3, 1, 2):
                uow.add_operation(Operation(f"{kind}-{n}", kind, {"member_id": "a"}, sent, AT))
            uow.add_operation(Operation(f"{kind}-2{RECEIVED}", f"{kind}_received", {}, {}, AT))
        uow.add_operation(Operation("other-1", "redemption", {}, {"runs": 1}, AT))
        uow.commit()
    return {kind: [f"{kind}-1", f"{kind}-3"] for kind in PARTED_KINDS}


def half_written(store: Store) -> dict[str, list[str]]:
    """The keys of the first parts kept without their second, by kind (what maintenance finds)."""
    with store.unit_of_work(readonly=True) as uow:
        found = {kind: [op.key for op in uow.unfinished_parts(kind, limit=10)] for kind in PARTED_KINDS}
        assert [op.key for op in uow.unreceived_transfers(limit=10)] == found["transfer"]
        return found


#: Tallies of every shape kept in a table: a member's own (``a``'s cap, a day's and an older
#: month's spend; members not enrolled, one with the separator in its id), and the rest (a budget,
#: a referrer's count, a key of a purchase never recorded (which no migration finds a member for),
#: keys with no member after their family's parts, made up).
TABLE_TALLIES: dict[str, Tally] = {
    "cap|coffee|2024-03|a": Tally(2, Decimal("1.5")),
    "spent|2024-03-01|a": Tally(1, Decimal(7)),
    "spent|2024-01|a": Tally(3, Decimal("30.75")),
    "tier|points|2024|a": Tally(0, Decimal(40)),
    "birthday|bday|2024|b": Tally(1),
    "spent|2024-01|X|Y": Tally(1, Decimal(1)),
    "visits|Z9": Tally(4),
    "merged|Z8": Tally(-1),
    "budget|coffee": Tally(9, Decimal(90)),
    "referrals|2024-03|a": Tally(1),
    "taken|P404": Tally(1, Decimal(3)),
    "stamps|card|": Tally(1),
    "cap|coffee": Tally(1),
    "k": Tally(1, Decimal("0.25")),
}


def keep_tallies(store: Store) -> dict[str, Tally]:
    """:data:`TABLE_TALLIES` added to ``store``'s: what every key of them reads after."""
    with store.unit_of_work() as uow:
        uow.add_tallies(TABLE_TALLIES)
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        return uow.tallies(list(TABLE_TALLIES))


def check_tallies_moved(
    store: Store, expected: dict[str, Tally], held: set[str], tables: tuple[set[tuple[str, str]], set[str]]
) -> None:
    """After the migration that split the tallies: the keys ``held`` in ``tallies`` before it are
    in the tables (``member_tallies``' member and key, ``tallies``' key) where
    :func:`loyalty.store.owned_tallies.owner` says (the migration's rule in SQL is its rule), and
    ``store`` (closed afterwards) reads :data:`TABLE_TALLIES` as ``expected``."""
    owned, shared = tables
    assert set(TABLE_TALLIES) <= held
    assert owned == {(member, key) for key in held if (member := owner(key)) is not None}
    assert shared == {key for key in held if owner(key) is None}
    assert {member for member, _ in owned} == {"a", "b", "X|Y", "Z9", "Z8"}
    assert {"budget|coffee", "referrals|2024-03|a", "taken|P404", "stamps|card|", "cap|coffee", "k"} <= shared
    try:
        with store.unit_of_work(readonly=True) as uow:
            assert uow.tallies(list(TABLE_TALLIES)) == expected
    finally:
        store.close()


def listed_without_entry(store: Store, page: int) -> list[str]:
    """The keys of every purchase ``store`` lists as written without an entry, ``page`` at a time
    (:meth:`loyalty.store.OperationsRole.purchases_without_entry`)."""
    found: list[str] = []
    after: Operation | None = None
    while True:
        with store.unit_of_work(readonly=True) as uow:
            listed = uow.purchases_without_entry(after=after, limit=page)
        found += [operation.key for operation in listed]
        if len(listed) < page:
            return found
        after = listed[-1]


def gum_at_standstill(store: Store) -> list[str]:
    """12 purchases of gum (earning nothing) recorded in ``store``, 4 at each of 3 instants (a
    clock that stood still), between purchases that earned: their keys in the order their
    listing without an entry has (by recording, then till time: the later ones bought earlier).
    The store is closed after."""
    t0 = datetime(2024, 3, 1, 9, tzinfo=UTC)
    clock = ManualClock(t0)
    with Engine(Program("Shop", "EUR"), store, clock=clock) as engine:
        engine.enroll("M1", at=t0)
        for n in range(12):
            if n % 4 == 0:
                clock.now = t0 + timedelta(minutes=n)
            at = t0 + timedelta(seconds=11 - n % 4)
            for sku, price in (("gum", "0.50"), ("cake", "9")):
                key = f"{'G' if sku == 'gum' else 'C'}{n:02d}"
                engine.record_purchase(Purchase(key, "M1", at, [Line(sku, 1, Decimal(price))], "EUR"))
    return [f"G{n:02d}" for group in range(3) for n in reversed(range(group * 4, group * 4 + 4))]
