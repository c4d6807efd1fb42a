"""The runs ``bench_purchases.py`` times: the engine's purchase loop on each adapter, and the
raw baselines beside it (a plain Python loop; a minimal ledger written by hand with raw
``sqlite3`` or psycopg; the engine's own row writes done raw, in the adapter's schema).

Each run takes the workload and returns the seconds its timed part took: only the purchase
loop, the store opened and the members enrolled beforehand (see ``bench_purchases.py``).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from common import drop_schema
from loyalty import Engine, Program, Purchase, open_store
from loyalty.earning_keys import visits_key
from loyalty.habits import month_key, seen_key, spent_key
from loyalty.simulation import Workload
from loyalty.store import Store

# A loop over the workload that returns the seconds its timed part took.
Run = Callable[[Workload], float]


#: The program every engine run uses: 1 point per 1.00 EUR, rounded down.
PROGRAM = Program("Bench Grocer", "EUR")
#: A realistic program (exclusions, multipliers with caps, a basket bonus, a campaign with a budget),
#: measured in memory against the same plain loop doing PROGRAM's arithmetic.
GROCER = Path(__file__).resolve().parent.parent / "examples" / "grocer.toml"


# -- the engine path ------------------------------------------------------------------------------


def enroll(engine: Engine, workload: Workload) -> None:
    for enrollment in workload.enrollments:
        engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)


def engine_run(
    open_fresh: Callable[[], Store], cleanup: Callable[[], None] = lambda: None, program: Program = PROGRAM
) -> Run:
    def run(workload: Workload) -> float:
        store = open_fresh()
        try:
            engine = Engine(program, store)
            enroll(engine, workload)
            purchases = workload.sales
            started = time.perf_counter()
            for purchase in purchases:
                engine.record_purchase(purchase)
            return time.perf_counter() - started
        finally:
            store.close()
            cleanup()

    return run


# -- raw baselines --------------------------------------------------------------------------------


_CENT = Decimal("0.01")


def _points(purchase: Purchase) -> int:
    """The engine's arithmetic, bare: line amounts, the total rounded to the cent, the rate
    applied and the result rounded down to whole points."""
    assert PROGRAM.rate is not None
    total = sum((line.quantity * line.unit_price for line in purchase.lines), Decimal(0))
    total = total.quantize(_CENT, rounding=ROUND_HALF_UP)
    return int((total * PROGRAM.rate.points / PROGRAM.rate.per).to_integral_value(rounding=ROUND_FLOOR))


# The minimal ledger a user would write by hand: the entry under the POS's id, and the balance.
_MINIMAL_SCHEMA = (
    "CREATE TABLE ledger (pos_id TEXT PRIMARY KEY, member_id TEXT NOT NULL, points INTEGER NOT NULL,"
    " at TEXT NOT NULL)",
    "CREATE TABLE balances (member_id TEXT PRIMARY KEY, points INTEGER NOT NULL)",
)
_MINIMAL_ENTRY = "INSERT INTO {ledger} (pos_id, member_id, points, at) VALUES ({p}, {p}, {p}, {p})"
_MINIMAL_BALANCE = (
    "INSERT INTO {balances} AS b (member_id, points) VALUES ({p}, {p})"
    " ON CONFLICT (member_id) DO UPDATE SET points = b.points + excluded.points"
)


def minimal_sqlite(conn: sqlite3.Connection, synchronous: str) -> None:
    """Make ``conn``'s new database the minimal raw ledger: WAL, ``synchronous``, its two tables."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    for statement in _MINIMAL_SCHEMA:
        conn.execute(statement)


def minimal_sales(conn: sqlite3.Connection, sales: list[Purchase]) -> None:
    """Record ``sales`` in the minimal raw ledger on ``conn``, a transaction each."""
    entry = _MINIMAL_ENTRY.format(ledger="ledger", p="?")
    credit = _MINIMAL_BALANCE.format(balances="balances", p="?")
    for purchase in sales:
        points = _points(purchase)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(entry, (purchase.id, purchase.member_id, points, purchase.at.isoformat()))
        conn.execute(credit, (purchase.member_id, points))
        conn.execute("COMMIT")


def raw_memory(workload: Workload) -> float:
    balances = {enrollment.member_id: 0 for enrollment in workload.enrollments}
    visits = dict.fromkeys(balances, 0)
    ledger: list[tuple[str, str, int, int]] = []
    purchases = workload.sales
    started = time.perf_counter()
    for purchase in purchases:
        points = _points(purchase)
        balance = balances[purchase.member_id] + points
        balances[purchase.member_id] = balance
        visits[purchase.member_id] += 1
        ledger.append((purchase.id, purchase.member_id, points, balance))
    return time.perf_counter() - started


def _request(purchase: Purchase) -> list[Any]:
    """Roughly what the engine keeps as an operation's request: the purchase's values by position."""
    lines = [[line.sku, str(line.quantity), str(line.unit_price)] for line in purchase.lines]
    return [purchase.member_id, purchase.at.astimezone(UTC).isoformat(), lines]


def _raw_rows(purchase: Purchase, balance: int, *, iso: bool) -> tuple[int, tuple[Any, ...], tuple[Any, ...]]:
    """The points, the entry row and the operation row one purchase writes.

    ``iso``: as SQLite keeps them (an entry's instants as microseconds since 1970 and its kind as
    its number, schema 22; an operation's instants too) rather than PostgreSQL's datetimes and names.
    """
    total = sum((line.quantity * line.unit_price for line in purchase.lines), Decimal(0))
    points = int(total)  # 1 point per whole euro, rounded down
    offset = purchase.at.utcoffset()
    seconds = 0 if offset is None else int(offset.total_seconds())
    now = datetime.now(UTC)
    occurred: Any = _micros(purchase.at) if iso else purchase.at
    recorded: Any = _micros(now) if iso else now
    entry = (purchase.member_id, 0 if iso else "earn", points, balance + points, occurred, seconds,
             recorded, 0, purchase.id, "purchase", None, "base")  # fmt: skip
    result = {"points": points, "balance_after": balance + points, "amount": str(total)}
    # Request and result in one compact document, as the adapters keep them (schema 7).
    body = json.dumps([_request(purchase), result], separators=(",", ":"))
    purchased: Any = _micros(purchase.at) if iso else purchase.at
    operation = (purchase.id, "purchase", body, _micros(now) if iso else now, 0, purchased)
    return points, entry, operation


# A purchase that earns keeps its idempotency record (schema 11) and the lot it opens (schema 18,
# its points left in ``remaining``; the lot is numbered by its entry) in its entry.
_SQLITE_ENTRY = (
    "INSERT INTO entries (member_id, kind, points, balance_after, occurred_at, occurred_offset,"
    " recorded_at, recorded_offset, source_id, reason, actor, rule, record, remaining)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SQLITE_LOOKUP = (
    "SELECT 1 FROM entries WHERE source_id = :k AND record IS NOT NULL"
    " UNION ALL SELECT 1 FROM operations WHERE key = :k"
)
_SQLITE_BALANCE = "UPDATE members SET balance = ? WHERE member_id = ?"


# The member's visit count: a rule such as "first purchase" needs it, so the engine keeps it.
def _habit_keys(purchase: Purchase) -> tuple[str, str, str]:
    """The tallies a purchase adds to: the visit count, the first and last visit, the month's spend.

    (The workload runs in UTC, the engine's program zone here.)"""
    member, at = purchase.member_id, purchase.at.astimezone(UTC)
    return visits_key(member), seen_key(member), spent_key(member, month_key(at))


def _micros(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


_SQLITE_TALLY = (
    "INSERT INTO tallies (key, count, points) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET count = excluded.count, points = excluded.points"
)
_SQLITE_OPERATION = (
    "INSERT INTO operations (key, kind, body, recorded_micros, recorded_offset, purchased_micros)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def sqlite_runs(synchronous: str) -> tuple[Run, Run, Run]:
    def fresh_path() -> Path:
        return Path(tempfile.mkdtemp(prefix="loyalty-bench-")) / "bench.db"

    def remove(path: Path) -> None:
        for leftover in path.parent.iterdir():
            leftover.unlink()
        path.parent.rmdir()

    def raw(workload: Workload) -> float:
        path = fresh_path()
        try:
            # The adapter's migrations create the tables (untimed); from here on it is plain sqlite3.
            open_store(f"sqlite:///{path}").close()
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.executemany(
                "INSERT INTO members (member_id, enrolled_at, enrolled_offset, birthday, attributes)"
                " VALUES (?, ?, 0, NULL, '{}')",
                [(e.member_id, e.at.astimezone(UTC).isoformat()) for e in workload.enrollments],
            )
            purchases = workload.sales
            started = time.perf_counter()
            for purchase in purchases:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(_SQLITE_LOOKUP, {"k": purchase.id}).fetchone()
                (balance,) = conn.execute(
                    "SELECT balance FROM members WHERE member_id = ?", (purchase.member_id,)
                ).fetchone()
                # The tallies the engine keeps per purchase: visits, and the member's habits
                # (first and last visit in one row, the month's spend), read together.
                visits_key, seen, spent = _habit_keys(purchase)
                rows = {
                    key: (count, value)
                    for key, count, value in conn.execute(
                        "SELECT key, count, points FROM tallies WHERE key IN (?, ?, ?)",
                        (visits_key, seen, spent),
                    )
                }
                points, entry, operation = _raw_rows(purchase, balance, iso=True)
                if points:
                    conn.execute(_SQLITE_BALANCE, (balance + points, purchase.member_id))
                    conn.execute(_SQLITE_ENTRY, (*entry, operation[2], points))
                conn.execute(_SQLITE_TALLY, (visits_key, 1 + rows.get(visits_key, (0, "0"))[0], "0"))
                when = _micros(purchase.at)
                first = rows.get(seen, (0, "0"))[0] or when
                conn.execute(_SQLITE_TALLY, (seen, min(first, when), str(when)))
                month = rows.get(spent, (0, "0"))
                conn.execute(
                    _SQLITE_TALLY, (spent, month[0] + 1, str(Decimal(month[1]) + purchase.total.amount))
                )
                if not points:
                    conn.execute(_SQLITE_OPERATION, operation)
                conn.execute("COMMIT")
            elapsed = time.perf_counter() - started
            conn.close()
            return elapsed
        finally:
            remove(path)

    def minimal(workload: Workload) -> float:
        path = fresh_path()
        try:
            with closing(sqlite3.connect(path, isolation_level=None)) as conn:
                minimal_sqlite(conn, synchronous)
                started = time.perf_counter()
                minimal_sales(conn, workload.sales)
                return time.perf_counter() - started
        finally:
            remove(path)

    def engine(workload: Workload) -> float:
        path = fresh_path()
        url = f"sqlite:///{path}?synchronous={synchronous}"
        return engine_run(lambda: open_store(url), lambda: remove(path))(workload)

    return minimal, raw, engine


def postgres_runs(dsn: str) -> tuple[Run, Run, Run] | str:
    """The three PostgreSQL runs (minimal ledger, same row writes, engine), or why they cannot run here."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    probe_schema = f"bench_probe_{os.getpid()}"
    separator = "&" if "?" in dsn else "?"
    try:
        open_store(f"{dsn}{separator}schema={probe_schema}").close()
    except Exception as exc:
        # Whatever the failure (no adapter yet, no server, no rights), it is reported, not fatal.
        return f"open_store({dsn!r}) failed: {type(exc).__name__}: {exc}"
    counter = iter(range(1_000_000))

    drop_schema(dsn, probe_schema)

    def fresh_schema(kind: str) -> str:
        return f"bench_{kind}_{os.getpid()}_{next(counter)}"

    def raw(workload: Workload) -> float:
        schema = fresh_schema("raw")
        try:
            open_store(f"{dsn}{separator}schema={schema}").close()
            s = sql.Identifier(schema)
            select_operation = sql.SQL("SELECT 1 FROM {}.operations WHERE key = %s").format(s)
            # FOR UPDATE as the adapter does: under READ COMMITTED a bare read-modify-write loses updates.
            select_balance = sql.SQL("SELECT balance FROM {}.members WHERE member_id = %s FOR UPDATE").format(
                s
            )
            update_balance = sql.SQL("UPDATE {}.members SET balance = %s WHERE member_id = %s").format(s)
            insert_entry = sql.SQL(
                "INSERT INTO {}.entries (member_id, kind, points, balance_after, occurred_at,"
                " occurred_offset, recorded_at, recorded_offset, source_id, reason, actor, rule)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq"
            ).format(s)
            # Every credit opens a lot (numbered by its entry), kept for spending and expiry.
            insert_lot = sql.SQL(
                "INSERT INTO {}.lots (lot, member_id, points, remaining, earned_at, earned_offset)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(s)
            insert_operation = sql.SQL(
                "INSERT INTO {}.operations (key, kind, body, recorded_at, recorded_offset, purchased_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(s)
            select_visits = sql.SQL("SELECT key, count, points FROM {}.tallies WHERE key = ANY(%s)").format(s)
            add_habits = sql.SQL(
                "INSERT INTO {}.tallies AS t (key, count, points) VALUES (%s, %s, %s), (%s, 1, %s)"
                " ON CONFLICT (key) DO UPDATE SET count = excluded.count, points = excluded.points"
            ).format(s)
            add_visit = sql.SQL(
                "INSERT INTO {}.tallies AS t (key, count, points) VALUES (%s, 1, 0)"
                " ON CONFLICT (key) DO UPDATE SET count = t.count + 1"
            ).format(s)
            with psycopg.connect(dsn, autocommit=True) as conn:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        sql.SQL(
                            "INSERT INTO {}.members (member_id, enrolled_at, enrolled_offset, attributes)"
                            " VALUES (%s, %s, 0, '{{}}')"
                        ).format(s),
                        [(e.member_id, e.at) for e in workload.enrollments],
                    )
                purchases = workload.sales
                started = time.perf_counter()
                for purchase in purchases:
                    conn.execute(b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE")
                    conn.execute(select_operation, (purchase.id,)).fetchone()
                    row = conn.execute(select_balance, (purchase.member_id,)).fetchone()
                    assert row is not None
                    balance = int(row[0])
                    visits_key, seen, spent = _habit_keys(purchase)
                    conn.execute(select_visits, ([visits_key, seen, spent],)).fetchall()
                    points, entry, operation = _raw_rows(purchase, balance, iso=False)
                    if points:
                        conn.execute(update_balance, (balance + points, purchase.member_id))
                        entered = conn.execute(insert_entry, entry).fetchone()
                        assert entered is not None
                        lot = (entered[0], purchase.member_id, points, points, entry[4], entry[5])
                        conn.execute(insert_lot, lot)
                    conn.execute(add_visit, (visits_key,))
                    when = _micros(purchase.at)
                    conn.execute(add_habits, (seen, when, when, spent, purchase.total.amount))
                    conn.execute(insert_operation, operation)
                    conn.execute(b"COMMIT")
                return time.perf_counter() - started
        finally:
            drop_schema(dsn, schema)

    def engine(workload: Workload) -> float:
        schema = fresh_schema("engine")
        url = f"{dsn}{separator}schema={schema}"
        return engine_run(lambda: open_store(url), lambda: drop_schema(dsn, schema))(workload)

    def minimal(workload: Workload) -> float:
        schema = fresh_schema("minimal")
        try:
            s = sql.Identifier(schema)
            ledger, balances = sql.SQL("{}.ledger").format(s), sql.SQL("{}.balances").format(s)
            entry = sql.SQL(_MINIMAL_ENTRY.format(ledger="{ledger}", p="%s")).format(ledger=ledger)
            credit = sql.SQL(_MINIMAL_BALANCE.format(balances="{balances}", p="%s")).format(balances=balances)
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
                for statement in _MINIMAL_SCHEMA:
                    conn.execute(sql.SQL(statement.replace("TABLE ", "TABLE {}.", 1)).format(s))
                purchases = workload.sales
                started = time.perf_counter()
                for purchase in purchases:
                    points = _points(purchase)
                    conn.execute(b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE")
                    conn.execute(entry, (purchase.id, purchase.member_id, points, purchase.at.isoformat()))
                    conn.execute(credit, (purchase.member_id, points))
                    conn.execute(b"COMMIT")
                return time.perf_counter() - started
        finally:
            drop_schema(dsn, schema)

    return minimal, raw, engine
