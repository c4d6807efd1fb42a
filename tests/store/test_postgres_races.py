"""Races on PostgreSQL that the engine resolves by retrying, and a connection lost in the pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from loyalty import Merge, Receipt, Referrals, Return, Transfer, balance_of
from loyalty.earning_keys import visits_key
from loyalty.engine import Engine
from loyalty.erasure import Erased
from loyalty.errors import IdempotencyConflict, IdentifierTaken, MemberErased, MemberNotActive
from loyalty.identifiers import Identifier
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.store.postgres import PostgresStore, open_postgres
from loyalty.tallies import Tally
from tests.pg import postgres_dsn, schema_of

pytestmark = pytest.mark.postgres


T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
PG = Program("PG", "EUR")


@pytest.fixture
def store(postgres_store: PostgresStore) -> PostgresStore:
    return postgres_store


def _race(url: str, commands: list[Callable[[Engine], object]], program: Program = PG) -> list[object]:
    """Run each command on its own store at the same instant; return results or raised errors."""
    stores = [open_postgres(url) for _ in commands]
    start = threading.Barrier(len(commands))

    def run(n: int) -> object:
        engine = Engine(program, stores[n], clock=lambda: T0)
        start.wait()
        try:
            return commands[n](engine)
        except IdempotencyConflict as exc:
            return exc

    try:
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(run, range(len(commands))))
    finally:
        for store in stores:
            store.close()


def _buy(member_id: str) -> Callable[[Engine], object]:
    """The same purchase id "P1" for ``member_id``: a retry if the member is the same, a conflict if not."""
    purchase = Purchase("P1", member_id, T0, [Line("x", 2, Decimal("5.00"))], "EUR")
    return lambda engine: engine.record_purchase(purchase)


@pytest.mark.parametrize("attempt", range(5))
def test_racing_the_same_purchase_gives_one_receipt_and_one_entry(
    store: PostgresStore, store_url: str, attempt: int
) -> None:
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    outcomes = _race(store_url, [_buy("M1")] * 2)
    assert all(isinstance(o, Receipt) for o in outcomes)
    assert outcomes[0] == outcomes[1]
    assert len(engine.history("M1")) == 1
    assert engine.balance("M1").available == 10


@pytest.mark.parametrize("attempt", range(5))
def test_racing_one_key_on_two_members_lets_exactly_one_win(
    store: PostgresStore, store_url: str, attempt: int
) -> None:
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.enroll("M2", at=T0)
    outcomes = _race(store_url, [_buy("M1"), _buy("M2")])
    winners = [o for o in outcomes if isinstance(o, Receipt)]
    losers = [o for o in outcomes if isinstance(o, IdempotencyConflict)]
    assert (len(winners), len(losers)) == (1, 1)
    assert losers[0].field == "member_id"
    assert len(engine.history("M1")) + len(engine.history("M2")) == 1
    assert engine.balance("M1").available + engine.balance("M2").available == 10


def test_racing_the_same_enrollment_enrolls_once(store_url: str) -> None:
    outcomes = _race(store_url, [lambda engine: engine.enroll("M1", at=T0)] * 4)
    assert all(isinstance(o, Member) and o.id == "M1" for o in outcomes)


def test_a_connection_dropped_in_the_pool_is_retried_on_a_new_one(store_url: str) -> None:
    store = open_postgres(f"{store_url}&pool_min=1&pool_max=1")
    try:
        with store._pool.connection() as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        with psycopg.connect(postgres_dsn(), autocommit=True) as admin:
            # The timeout makes it wait until the backend is gone, so the next BEGIN meets a dead socket.
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (row[0],))
        engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
        assert engine.enroll("M1", at=T0).id == "M1"
        assert engine.balance("M1").available == 0
    finally:
        store.close()


def test_an_enrolment_waits_for_a_writer_of_the_members_keys_and_takes_them_in(store: PostgresStore) -> None:
    """Adding to a key a member's row will keep (``visits|N``) before N is enrolled puts it in
    the table; an enrolment that takes the member's keys out of the table must wait for that
    writer's commit, or the key would be left behind in the table, unread."""
    with store.unit_of_work() as writer:
        writer.add_tallies({visits_key("N"): Tally(1)})
        writer.balance("nobody")  # the queued add goes out
        enrolled = threading.Event()

        def enrol() -> None:
            with store.unit_of_work() as uow:
                uow.add_member(Member("N", T0))
                uow.commit()
            enrolled.set()

        thread = threading.Thread(target=enrol)
        thread.start()
        assert not enrolled.wait(1), "the enrolment did not wait for the writer of its keys"
        writer.commit()
    thread.join(timeout=30)
    assert enrolled.is_set()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tallies([visits_key("N")]) == {visits_key("N"): Tally(1)}


def test_reading_another_members_tallies_takes_no_lock(store: PostgresStore) -> None:
    """Two writers that each hold their member's lock may read each other's tallies: a plain
    read locks nothing (it would deadlock here if it locked the row)."""
    with store.unit_of_work() as uow:
        uow.add_member(Member("A", T0))
        uow.add_member(Member("B", T0))
        uow.commit()
    both = threading.Barrier(2, timeout=30)

    def read(me: str, other: str) -> dict[str, Tally]:
        with store.unit_of_work() as uow:
            uow.balance(me, for_update=True)
            both.wait()
            seen = uow.tallies([visits_key(other)])
            uow.commit()
        return seen

    with ThreadPoolExecutor(2) as pool:
        reads = [pool.submit(read, "A", "B"), pool.submit(read, "B", "A")]
        seen = [r.result(timeout=30) for r in reads]
    assert seen == [{visits_key("B"): Tally()}, {visits_key("A"): Tally()}]


def test_opposite_transfers_at_once_never_deadlock(store: PostgresStore, store_url: str) -> None:
    """Both members' locks are taken in member-id order, so A -> B and B -> A at the same instant
    queue: with no retry allowed, a deadlock (which PostgreSQL breaks by failing one) would raise."""
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    for member in ("A", "B"):
        engine.enroll(member, at=T0)
        engine.adjust(member, 1000, id=f"start-{member}", at=T0, reason="start", actor="test")
    stores = [open_postgres(store_url) for _ in range(2)]
    start = threading.Barrier(2, timeout=30)

    def send(n: int) -> list[Transfer]:
        one = Engine(Program("PG", "EUR"), stores[n], clock=lambda: T0, max_attempts=1)
        frm, to = ("A", "B") if n == 0 else ("B", "A")
        made = []
        try:
            for i in range(20):
                start.wait()
                made.append(one.transfer(frm, to, 7 + n, id=f"X{n}-{i}", at=T0))
        except BaseException:
            start.abort()  # the other thread stops waiting at once
            raise
        return made

    try:
        with ThreadPoolExecutor(2) as pool:
            done = [pool.submit(send, n) for n in range(2)]
            made = [d.result(timeout=120) for d in done]
    finally:
        for each in stores:
            each.close()
    assert [len(m) for m in made] == [20, 20]
    assert (engine.balance("A").total, engine.balance("B").total) == (1020, 980)
    for member in ("A", "B"):
        assert engine.balance(member).total == balance_of(engine.history(member))


def _give(member_id: str, key: str) -> Callable[[Engine], object]:
    """Give ``key`` to ``member_id`` (the command's id names the member): the key or the refusal."""

    def give(engine: Engine) -> object:
        try:
            return engine.add_identifier(member_id, key, id=f"give-{member_id}", at=T0)
        except IdentifierTaken as exc:
            return exc

    return give


@pytest.mark.parametrize("removed", [False, True])
def test_racing_members_for_one_key_gives_it_to_exactly_one(
    store: PostgresStore, store_url: str, removed: bool
) -> None:
    # A key never given is settled by the unique key; a removed one, given again, by its former
    # owner's lock (an update would not be refused by a unique key).
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    racers = ["M2", "M3", "M4", "M5"]
    for member_id in ["M1", *racers]:
        engine.enroll(member_id, at=T0)
    if removed:
        engine.add_identifier("M1", "card:42", id="K1", at=T0)
        engine.remove_identifier("M1", "card:42", id="K2", at=T0)
    outcomes = _race(store_url, [_give(member_id, "card:42") for member_id in racers])
    winners = [o for o in outcomes if isinstance(o, Identifier)]
    assert len(winners) == 1 and all(isinstance(o, IdentifierTaken) for o in outcomes if o not in winners)
    assert engine.find_member("card:42").id == winners[0].member_id
    assert [e.member_id for e in engine.events() if e.source_id.startswith("give-")] == [winners[0].member_id]


def _a_b_and_c_referred_by_b(store: PostgresStore) -> tuple[Program, Engine]:
    """A and B with 100 points each, and C, whom B referred (20 points to B, 10 to C)."""
    program = Program("PG", "EUR", referrals=Referrals(referrer_points=20, referee_points=10))
    engine = Engine(program, store, clock=lambda: T0)
    for member in ("A", "B"):
        engine.enroll(member, at=T0)
        engine.adjust(member, 100, id=f"start-{member}", at=T0, reason="start", actor="test")
    engine.enroll("C", at=T0, referred_by=engine.referral_code("B"))
    return program, engine


@pytest.mark.parametrize("attempt", range(4))
def test_a_merge_racing_a_referees_first_purchase_rewards_the_survivor_once(
    store: PostgresStore, store_url: str, attempt: int
) -> None:
    """C, whom B referred, buys for the first time while B is merged into A. Whichever goes first,
    the referrer's bonus is paid once and ends with A: the purchase reads its referral again under
    the locks, and runs again if the merge gave it to A meanwhile."""
    program, engine = _a_b_and_c_referred_by_b(store)
    purchase = Purchase("P1", "C", T0, [Line("x", 1, Decimal("30.00"))], "EUR")
    merged, bought = _race(
        store_url,
        [
            lambda one: one.merge_members("A", "B", id="G1", at=T0, reason="duplicate"),
            lambda one: one.record_purchase(purchase),
        ],
        program,
    )
    assert isinstance(merged, Merge) and isinstance(bought, Receipt)
    assert (engine.balance("A").total, engine.balance("B").total, engine.balance("C").total) == (220, 0, 40)
    for member in ("A", "B", "C"):
        assert engine.balance(member).total == balance_of(engine.history(member))
    referral = engine.referrals("C").referred_by
    assert referral is not None and referral.referrer == "A"


def test_a_merge_closing_the_referrer_just_before_the_purchase_holds_it_rewards_the_survivor(
    store: PostgresStore, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window the race above hits now and then, made certain: C's first purchase reads B
    open, then B's merge into A commits its absorbed part before the purchase holds B. The
    status read under the hold says closed; the bonus goes to the survivor, not nowhere."""
    from loyalty.store.postgres.unit_of_work import PostgresUnitOfWork

    program, engine = _a_b_and_c_referred_by_b(store)
    other = open_postgres(store_url)
    merger = Engine(program, other, clock=lambda: T0)
    hold = PostgresUnitOfWork.keep_named
    buyer = threading.get_ident()
    merging: list[object] = []
    closed = threading.Event()

    def merge() -> object:
        try:
            return merger.merge_members("A", "B", id="G1", at=T0, reason="duplicate")
        finally:
            closed.set()

    def closing_first(uow: PostgresUnitOfWork, member_id: str) -> bool:
        if member_id == "B" and threading.get_ident() == buyer and not merging:
            pool = ThreadPoolExecutor(1)
            merging.append(pool.submit(merge))
            # The absorbed part commits (B closed) before this hold; moving C's referral waits
            # for C's lock, which the purchase holds until it commits.
            while engine.member("B").status.value != "closed" and not closed.is_set():
                time.sleep(0.01)
            merging.append(pool)
        return hold(uow, member_id)

    monkeypatch.setattr(PostgresUnitOfWork, "keep_named", closing_first)
    try:
        bought = engine.record_purchase(Purchase("P1", "C", T0, [Line("x", 1, Decimal("30.00"))], "EUR"))
        merged = merging[0].result(timeout=60)  # type: ignore[attr-defined]
        merging[1].shutdown()  # type: ignore[attr-defined]
    finally:
        other.close()
    assert isinstance(merged, Merge) and isinstance(bought, Receipt)
    assert (engine.balance("A").total, engine.balance("B").total, engine.balance("C").total) == (220, 0, 40)
    for member in ("A", "B", "C"):
        assert engine.balance(member).total == balance_of(engine.history(member))


def test_a_feed_page_waits_for_an_entry_drawn_earlier_that_commits_later(store: PostgresStore) -> None:
    from loyalty.ledger import EntryKind, Posting
    from loyalty.store import UnitOfWork

    def adjust(uow: UnitOfWork, member_id: str) -> int:
        return uow.append(Posting(member_id, EntryKind.ADJUST, 1, T0, T0, f"{member_id}-1", "race")).seq

    with store.unit_of_work() as uow:
        uow.add_member(Member("M1", T0))
        uow.add_member(Member("M2", T0))
        uow.commit()
    with store.unit_of_work() as slow, ThreadPoolExecutor(1) as pool:
        first = adjust(slow, "M1")
        with store.unit_of_work() as fast:
            second = adjust(fast, "M2")
            fast.commit()

        def page() -> list[int]:
            with store.unit_of_work(readonly=True) as uow:
                return [entry.seq for entry in uow.entries()]

        reader = pool.submit(page)
        # Entry `second` has committed, but `first`, drawn before it, has not: the page waits.
        with pytest.raises(TimeoutError):
            reader.result(timeout=0.3)
        slow.commit()
        assert reader.result(timeout=10) == [first, second]


def test_a_referees_purchases_and_returns_hold_up_its_referrer_only_when_they_may_move_its_points(
    store: PostgresStore, store_url: str
) -> None:
    """The referrer's row, locked by someone else, holds up the referee's first purchase (which
    may reward both) and the return of that purchase (which may take the reward back), and
    nothing else the referee does: a decided referral moves no points by any other purchase or
    return."""
    program = Program("PG", "EUR", referrals=Referrals(referrer_points=20, referee_points=10))
    engine = Engine(program, store, clock=lambda: T0)
    engine.enroll("A", at=T0)
    engine.enroll("C", at=T0, referred_by=engine.referral_code("A"))

    def bought(key: str) -> Callable[[], object]:
        purchase = Purchase(key, "C", T0, [Line("x", 1, Decimal("30.00"))], "EUR")
        return lambda: engine.record_purchase(purchase)

    def voided(key: str) -> Callable[[], object]:
        return lambda: engine.record_return(Return(f"{key}-void", key, T0))

    s = sql.Identifier(schema_of(store_url))
    locked = sql.SQL("SELECT 1 FROM {}.members WHERE member_id = 'A' FOR UPDATE").format(s)
    for command, waits in (
        (bought("P1"), True),
        (bought("P2"), False),
        (voided("P2"), False),
        (voided("P1"), True),
    ):
        with psycopg.connect(postgres_dsn()) as holder:
            holder.execute(locked)
            thread = threading.Thread(target=command)
            thread.start()
            thread.join(timeout=1.0 if waits else 30.0)
            assert thread.is_alive() is waits
        thread.join()
    assert (engine.balance("A").total, engine.balance("C").total) == (0, 0)


@pytest.mark.parametrize("attempt", range(5))
def test_the_same_erasure_sent_twice_at_once_returns_the_first_ones_result_to_both(
    store: PostgresStore, store_url: str, attempt: int
) -> None:
    """A client's retry racing its original: the one that waited for the lock finds the
    member gone and reads the first one's record, as a retry after it would (not MemberErased)."""
    engine = Engine(PG, store, clock=lambda: T0)
    # An erasure before draws the store's secret, which the two would otherwise queue on.
    engine.enroll("M0", at=T0)
    engine.erase("M0", id="E0", at=T0, reason="asked", actor="dpo")
    engine.enroll("+31612345678", at=T0)
    engine.adjust("+31612345678", 5, id="a1", at=T0, reason="r", actor="o")

    def erase(engine: Engine) -> object:
        try:
            return engine.erase("+31612345678", id="E1", at=T0, reason="asked", actor="dpo")
        except MemberErased as exc:
            return exc

    outcomes = _race(store_url, [erase] * 2)
    assert all(isinstance(o, Erased) for o in outcomes), outcomes
    assert outcomes[0] == outcomes[1]


def _refused(command: Callable[[Engine], object]) -> Callable[[Engine], object]:
    """``command``, returning the refusal of a member that is not active rather than raising it."""

    def run(engine: Engine) -> object:
        try:
            return command(engine)
        except MemberNotActive as refused:
            return refused

    return run


def _members_with_points(engine: Engine, *members: str) -> None:
    for member in members:
        engine.enroll(member, at=T0)
        engine.adjust(member, 100, id=f"start-{member}", at=T0, reason="start", actor="test")


@pytest.mark.parametrize("attempt", range(3))
def test_two_merges_of_two_members_each_way_round_at_once_let_one_through(
    store: PostgresStore, store_url: str, attempt: int
) -> None:
    engine = Engine(PG, store, clock=lambda: T0)
    _members_with_points(engine, "A", "B")
    done = _race(
        store_url,
        [
            _refused(lambda e: e.merge_members("A", "B", id="G1", at=T0, reason="one person")),
            _refused(lambda e: e.merge_members("B", "A", id="G2", at=T0, reason="one person")),
        ],
    )
    # Each took the other's lock as well as its own: one went first, and the other found its
    # survivor closed (both went through, and each closed member kept the other's points).
    merged = [each for each in done if isinstance(each, Merge)]
    refused = [each for each in done if isinstance(each, MemberNotActive)]
    assert (len(merged), len(refused), refused[0].field) == (1, 1, "survivor")
    assert engine.balance(merged[0].survivor).total == 200
    assert engine.balance(merged[0].absorbed).total == 0


@pytest.mark.parametrize("attempt", range(3))
def test_a_transfer_racing_its_receivers_merge_leaves_no_points_on_the_closed_member(
    store: PostgresStore, store_url: str, attempt: int
) -> None:
    engine = Engine(PG, store, clock=lambda: T0)
    _members_with_points(engine, "A", "B", "X")
    _race(
        store_url,
        [
            _refused(lambda e: e.merge_members("A", "B", id="G1", at=T0, reason="one person")),
            _refused(lambda e: e.transfer("X", "B", 40, id="T1", at=T0)),
        ],
    )
    # The transfer went first and the merge carried its points, or it found B closed.
    assert engine.balance("B").total == 0
    assert engine.balance("A").total + engine.balance("X").total == 300
