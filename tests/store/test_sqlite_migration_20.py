"""SQLite schema 20: a member's open holds' points and whether ``lots`` keeps a lot of its, in
its row, kept by the database itself; files of schema 19 upgraded to it with the same balances."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty import Engine, Line, Program, Purchase, balance_of
from loyalty.expiry import Expiry, ExpiryPolicy
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import EntryKind, Posting
from loyalty.lots import Balance, summarize
from loyalty.members import Member
from loyalty.store import UnitOfWork
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.migrations import SCHEMA_VERSION
from tests.sqlite_files import has_shape_of_schema
from tests.tampering import as_sqlite_schema_19

START = datetime(2024, 1, 31, 12, tzinfo=UTC)
DAY = timedelta(days=1)
PROGRAM = Program("Club", "EUR", expiry=Expiry(ExpiryPolicy.INACTIVITY, months=6))
# What the database keeps in the members' rows, and what it must equal: the open holds' points
# and whether any row of lots names the member.
KEPT = "SELECT member_id, held, lots_kept FROM members ORDER BY member_id"
WORKED_OUT = """SELECT member_id,
    (SELECT COALESCE(SUM(points), 0) FROM holds
     WHERE holds.member_id = members.member_id AND status = 'open'),
    EXISTS (SELECT 1 FROM lots WHERE lots.member_id = members.member_id)
FROM members ORDER BY member_id"""


def _agree(conn: sqlite3.Connection) -> bool:
    """Whether every member's row keeps its open holds' points, and the mark wherever lots has a
    row of the member (a mark without one only makes a balance look in lots for nothing)."""
    kept, worked_out = conn.execute(KEPT).fetchall(), conn.execute(WORKED_OUT).fetchall()
    return all(
        (m, held) == (n, points) and mark >= has
        for (m, held, mark), (n, points, has) in zip(kept, worked_out, strict=True)
    )


def _expected(uow: UnitOfWork, member_id: str, now: datetime) -> Balance:
    found = summarize(uow.lots(member_id), now)
    held = sum(hold.points for hold in uow.open_holds(member_id))
    return Balance(found.available, found.pending, found.overdue, held)


def _sale(pid: str, member_id: str, at: datetime, euros: str) -> Purchase:
    return Purchase(pid, member_id, at, [Line("x", 1, Decimal(euros))], "EUR")


def _club(path: Path) -> datetime:
    """Three members: M1 with a lot redated into ``lots`` and holds of every ending, M2 with an
    open hold, M3 with neither; the engine's time at the end."""
    now = [START]
    with Engine(PROGRAM, SQLiteStore(path), clock=lambda: now[0]) as engine:
        for member_id in ("M1", "M2", "M3"):
            engine.enroll(member_id, at=START - DAY)
            engine.record_purchase(_sale(f"{member_id}-1", member_id, START, "100"))
        now[0] = START + 100 * DAY
        engine.record_purchase(_sale("M1-2", "M1", now[0], "50"))  # redates M1-1's lot into lots
        for hold_id, member_id, points in (
            ("H1", "M1", 30),
            ("H2", "M1", 20),
            ("H3", "M1", 10),
            ("H4", "M2", 7),
        ):
            engine.hold(member_id, points, id=hold_id, at=now[0], ttl=timedelta(minutes=15))
        engine.capture("H1", id="C1", at=now[0], points=25)
        engine.release("H2", at=now[0])
        assert engine.verify().ok
    return now[0]


def test_the_members_rows_say_what_the_holds_and_lots_say_after_the_engines_writes(tmp_path: Path) -> None:
    path = tmp_path / "club.db"
    now = _club(path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute(KEPT).fetchall() == conn.execute(WORKED_OUT).fetchall()
        assert conn.execute(KEPT).fetchall() == [("M1", 10, 1), ("M2", 7, 0), ("M3", 0, 0)]
    with SQLiteStore(path) as store, store.unit_of_work(readonly=True) as uow:
        for member_id in ("M1", "M2", "M3"):
            for at in (START, now, now + 200 * DAY):
                assert uow.balance_by_state(member_id, at) == _expected(uow, member_id, at)


def test_the_database_keeps_the_rows_for_writes_no_adapter_makes(tmp_path: Path) -> None:
    path = tmp_path / "club.db"
    _club(path)
    with closing(sqlite3.connect(path)) as conn:
        # Holds written, moved between members, resized, ended, reopened and deleted by hand; a
        # lot inserted for M3 and one moved to M2.
        for statement in (
            "INSERT INTO holds (hold_id, member_id, points, draws, held_at, held_offset, expires_at, status)"
            " VALUES ('X1', 'M3', 4, '[]', 't', 0, 't', 'open'),"
            " ('X2', 'M3', 9, '[]', 't', 0, 't', 'released')",
            "UPDATE holds SET points = points + 1 WHERE hold_id IN ('H3', 'X2')",
            "UPDATE holds SET member_id = 'M3' WHERE hold_id = 'H4'",
            "UPDATE holds SET status = 'open' WHERE hold_id = 'X2'",
            "UPDATE holds SET status = 'expired' WHERE hold_id = 'H3'",
            "DELETE FROM holds WHERE hold_id = 'X1'",
            "INSERT INTO lots (lot, member_id, points, remaining, earned_at, earned_offset)"
            " VALUES (9001, 'M3', 5, 5, 't', 0)",
            "UPDATE lots SET member_id = 'M2' WHERE lot = 9001",
        ):
            conn.execute(statement)
            assert _agree(conn), statement
        # A lot that leaves a member's rows in lots leaves the mark: it only ever says "look".
        assert conn.execute(KEPT).fetchall() == [("M1", 0, 1), ("M2", 0, 1), ("M3", 17, 1)]


def test_a_version_19_file_gains_the_rows_and_reads_the_same_balances(tmp_path: Path) -> None:
    path = tmp_path / "v19.db"
    now = _club(path)
    instants = (START, now - DAY, now, now + DAY, now + 200 * DAY)
    with SQLiteStore(path) as store, store.unit_of_work(readonly=True) as uow:
        before = {(m, at): uow.balance_by_state(m, at) for m in ("M1", "M2", "M3") for at in instants}
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_19(conn)
        assert has_shape_of_schema(conn, 19, tmp_path)
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION == 25
        with store.unit_of_work(readonly=True) as uow:
            after = {(m, at): uow.balance_by_state(m, at) for m in ("M1", "M2", "M3") for at in instants}
            assert after == before
            assert all(found == _expected(uow, m, at) for (m, at), found in after.items())
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute(KEPT).fetchall() == [("M1", 10, 1), ("M2", 7, 0), ("M3", 0, 0)]
    with Engine(PROGRAM, SQLiteStore(path), clock=lambda: now) as engine:
        assert engine.verify().ok
        engine.release("H3", at=now)
        assert engine.balance("M1").held == 0
        assert [engine.balance(m).total for m in ("M1", "M2", "M3")] == [
            balance_of(engine.history(m)) for m in ("M1", "M2", "M3")
        ]


# A lot: its points, days from the base instant to its vesting and expiry (None: never), days a
# redate moves its expiry by (0: not redated; SQLite then keeps it in lots), the points drawn from it.
Made = tuple[int, int | None, int | None, int, int]
LOTS = st.lists(
    st.tuples(
        st.integers(13, 50),
        st.none() | st.integers(-3, 3),
        st.none() | st.integers(-3, 3),
        st.integers(-3, 3),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=8,
)
# Holds: points drawn from the first lot (at least 13 points, at most 3 of them drawn), and how
# each ends (None: still open).
HOLDS = st.lists(st.tuples(st.integers(1, 2), st.sampled_from([None, *HoldStatus])), max_size=4)


def _lot(uow: UnitOfWork, n: int, made: Made, base: datetime) -> int:
    points, vests, expires, _, _ = made
    posting = Posting("M1", EntryKind.ADJUST, points, START, START, f"a{n}", "lot", "tester")
    dated = attrs.evolve(
        posting,
        vests_at=None if vests is None else base + vests * DAY,
        expires_at=None if expires is None else base + expires * DAY,
    )
    return uow.append(dated).seq


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lots=LOTS, holds=HOLDS, reads=st.lists(st.integers(-4, 4), min_size=1, max_size=4))
def test_a_balance_is_what_the_lots_and_holds_say_wherever_the_lots_are_kept(
    tmp_path: Path, lots: list[Made], holds: list[tuple[int, HoldStatus | None]], reads: list[int]
) -> None:
    base = START + 10 * DAY
    path = tmp_path / "b.db"
    path.unlink(missing_ok=True)
    with SQLiteStore(path) as store:
        with store.unit_of_work() as uow:
            for member_id in ("M1", "M2"):
                uow.add_member(Member(member_id, START - DAY))
            uow.append(Posting("M2", EntryKind.ADJUST, 9, START, START, "b", "lot", "tester"))
            ids = [_lot(uow, n, made, base) for n, made in enumerate(lots)]
            moves = tuple((lot, base + made[3] * DAY) for lot, made in zip(ids, lots, strict=True) if made[3])
            if moves:  # these move to lots, and M1's row says so
                uow.append(Posting("M1", EntryKind.REDATE, 0, START, START, "r", "redate", redates=moves))
            for n, (lot, made) in enumerate(zip(ids, lots, strict=True)):
                if made[4]:
                    draws = ((lot, -made[4]),)
                    uow.append(
                        Posting("M1", EntryKind.REDEEM, -made[4], START, START, f"s{n}", "x", draws=draws)
                    )
            for n, (points, ends) in enumerate(holds):
                draws = ((ids[0], -points),)
                uow.append(Posting("M1", EntryKind.HOLD, -points, START, START, f"h{n}", "hold", draws=draws))
                uow.add_hold(Hold(f"h{n}", "M1", points, draws, START, START + DAY))
                if ends not in (None, HoldStatus.OPEN):
                    uow.end_hold(f"h{n}", ends, points if ends is HoldStatus.CAPTURED else 0, START)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            for days in reads:
                for member_id in ("M1", "M2"):
                    at = base + days * DAY
                    assert uow.balance_by_state(member_id, at) == _expected(uow, member_id, at), (
                        member_id,
                        at,
                    )
