"""Bulk import throughput against raw ``executemany`` writing the same rows, and its peak memory.

Throughput: a history file of ``loyalty.simulation.generate`` traffic (``--purchases``
purchases by a tenth as many members, their enrollments and redemptions) is imported by
``Engine.import_events`` from the file, ``--batch`` events per unit of work, into a fresh
store: SQLite with ``synchronous=normal``, and PostgreSQL. The baseline, in the same run, is
what a hand-written loader would do at best: the same entries (one per purchase and
redemption, with its points worked out beforehand) and the members' balances written with raw
``executemany`` into a minimal ledger (entries, and balances upserted), one transaction per
``--batch`` events, with the rows made before the clock starts. The two take turns, each run
on a fresh store; each figure is the median of ``--repeat`` rounds. The issue's target: the
import at least 40% of the baseline's rate.

Memory: ``tracemalloc``'s peak while importing a file of each ``--memory`` size of purchases,
by the same 1,000 members, into a fresh SQLite store (the database's own pages are SQLite's,
not Python's): it must not grow with the length of the file.

    python benchmarks/bench_import.py
    python benchmarks/bench_import.py --output docs/performance.md
    python benchmarks/bench_import.py --purchases 2000 --memory 1000,10000 --repeat 1   # quick
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from common import (
    ADAPTERS,
    Skipped,
    add_adapters,
    add_output,
    add_repeat,
    alternating_medians,
    drop_schema,
    machine,
    parser_for,
    peak,
    postgres_fresh,
    publish,
    records_in,
    sizes_of,
    sqlite_fresh,
    write_history,
)
from loyalty import Engine, Program
from loyalty.history import Enrollment, Event, Redemption, Sale, read

PROGRAM = Program("Bench Grocer", "EUR")
TARGET = 0.4
#: The members of the files whose import's memory is measured: the same in each, so that the
#: files differ in length alone.
MEMORY_MEMBERS = 1_000

_SCHEMA = (
    "CREATE TABLE entries (seq {serial}, source_id TEXT NOT NULL UNIQUE, member_id TEXT NOT NULL,"
    " kind TEXT NOT NULL, points BIGINT NOT NULL, occurred_at TEXT NOT NULL)",
    "CREATE TABLE balances (member_id TEXT PRIMARY KEY, points BIGINT NOT NULL)",
)
_ENTRY = (
    "INSERT INTO entries (source_id, member_id, kind, points, occurred_at) VALUES ({p}, {p}, {p}, {p}, {p})"
)
_BALANCE = (
    "INSERT INTO balances AS b (member_id, points) VALUES ({p}, {p})"
    " ON CONFLICT (member_id) DO UPDATE SET points = b.points + excluded.points"
)

#: One batch's rows: its entries and its balance changes.
Rows = tuple[list[tuple[Any, ...]], list[tuple[str, int]]]


def batches(events: list[Event], batch: int) -> list[Rows]:
    """The rows a loader writes for ``events``, ``batch`` events a transaction: what the engine
    writes for them under ``PROGRAM`` (1 point per whole euro), bare."""
    out: list[Rows] = []
    for start in range(0, len(events), batch):
        entries: list[tuple[Any, ...]] = []
        balances: list[tuple[str, int]] = []
        for event in events[start : start + batch]:
            at = event.at.isoformat()
            if isinstance(event, Enrollment):
                balances.append((event.member_id, 0))
            elif isinstance(event, Sale):
                points = int(event.purchase.total.amount)
                entries.append((event.id, event.member_id, "earn", points, at))
                balances.append((event.member_id, points))
            else:
                assert isinstance(event, Redemption)
                entries.append((event.id, event.member_id, "redeem", -event.points, at))
                balances.append((event.member_id, -event.points))
        out.append((entries, balances))
    return out


def raw_sqlite(folder: Path, rows: list[Rows]) -> Callable[[], float]:
    counter = iter(range(1_000_000))

    def run() -> float:
        path = folder / f"raw-{next(counter)}.db"
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _SCHEMA:
                conn.execute(statement.format(serial="INTEGER PRIMARY KEY"))
            entry, balance = _ENTRY.format(p="?"), _BALANCE.format(p="?")
            started = time.perf_counter()
            for entries, balances in rows:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(entry, entries)
                conn.executemany(balance, balances)
                conn.execute("COMMIT")
            elapsed = time.perf_counter() - started
        for leftover in folder.glob(f"{path.name}*"):
            leftover.unlink()
        return elapsed

    return run


def raw_postgres(dsn: str, rows: list[Rows]) -> Callable[[], float]:
    import psycopg
    from psycopg import sql

    counter = iter(range(1_000_000))

    def run() -> float:
        schema = f"bench_import_raw_{next(counter)}"
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
                for statement in _SCHEMA:
                    conn.execute(statement.format(serial="BIGSERIAL PRIMARY KEY"))
                entry, balance = _ENTRY.format(p="%s"), _BALANCE.format(p="%s")
                started = time.perf_counter()
                for entries, balances in rows:
                    with conn.transaction(), conn.cursor() as cursor:
                        cursor.executemany(entry, entries)
                        cursor.executemany(balance, balances)
                return time.perf_counter() - started
        finally:
            drop_schema(dsn, schema)

    return run


def engine_run(fresh: Callable[[], Any], path: Path, records: int, batch: int) -> Callable[[], float]:
    def run() -> float:
        with fresh() as (store, _):
            engine = Engine(PROGRAM, store)
            started = time.perf_counter()
            with path.open(encoding="utf-8") as lines:
                summary = engine.import_events(lines, batch_size=batch)
            elapsed = time.perf_counter() - started
        assert summary.total_applied == records, summary
        return elapsed

    return run


def peak_import(folder: Path, path: Path, batch: int) -> int:
    """The most bytes an import of ``path`` into a fresh SQLite store held at once (``tracemalloc``)."""
    with sqlite_fresh(folder, "engine")() as (store, _):
        engine = Engine(PROGRAM, store)

        def work() -> None:
            with path.open(encoding="utf-8") as lines:
                engine.import_events(lines, batch_size=batch)

        return peak(work)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--purchases", type=int, default=5_000, help="for throughput (default: 5000)")
    parser.add_argument("--batch", type=int, default=500, help="events per transaction (default: 500)")
    parser.add_argument(
        "--memory",
        type=sizes_of,
        default=[5_000, 50_000],
        help="purchases for peak memory (default: 5000,50000)",
    )
    add_repeat(parser, 3, counts="the median")
    add_adapters(parser)
    add_output(parser)
    args = parser.parse_args(argv)
    only = set(args.only or ADAPTERS) - {"memory"}
    rows = [
        f"`Engine.import_events` of a history file (seed 1: {args.purchases:,} purchases by "
        f"{max(1, args.purchases // 10):,} members, their enrollments and redemptions), {args.batch} events "
        f"per transaction, against raw `executemany` writing the same entries and balances in the same "
        f"batches; median of {args.repeat} alternating rounds.  ",
        f"Machine: {machine()}.",
        "",
        "| Adapter | Records | Raw executemany records/s | Import records/s | Ratio | Target | Met |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-import-") as name:
        folder = Path(name)
        path = write_history(folder, args.purchases)
        with path.open(encoding="utf-8") as lines:
            events = list(read(lines))
        rows_of = batches(events, args.batch)
        runs: list[tuple[str, Callable[[], float], Callable[[], float]]] = []
        if "sqlite" in only:
            engine = engine_run(sqlite_fresh(folder, "engine"), path, len(events), args.batch)
            runs.append(("SQLite (synchronous=normal)", raw_sqlite(folder, rows_of), engine))
        if "postgres" in only:
            fresh = postgres_fresh(args.dsn, "import")
            if isinstance(fresh, str):
                rows.append(Skipped("PostgreSQL", fresh).row(7))
            else:
                engine = engine_run(fresh, path, len(events), args.batch)
                runs.append(("PostgreSQL", raw_postgres(args.dsn, rows_of), engine))
        for label, raw, engine in runs:
            print(f"measuring {label} ...", file=sys.stderr, flush=True)
            raw_time, engine_time = alternating_medians([raw, engine], args.repeat)
            raw_rate, engine_rate = len(events) / raw_time, len(events) / engine_time
            ratio = engine_rate / raw_rate
            rows.append(
                f"| {label} | {len(events):,} | {raw_rate:,.0f} | {engine_rate:,.0f} | {ratio:.1%} "
                f"| ≥ {TARGET:.0%} | {'yes' if ratio >= TARGET else 'no'} |"
            )
        rows += [
            "",
            f"Peak memory (`tracemalloc`) of an import into SQLite, {args.batch} events per transaction, "
            f"the same {MEMORY_MEMBERS:,} members in each file:",
            "",
            "| Purchases | Records | Peak, MiB |",
            "|---:|---:|---:|",
        ]
        for size in args.memory:
            print(f"memory at {size:,} purchases ...", file=sys.stderr, flush=True)
            history = write_history(folder, size, MEMORY_MEMBERS)
            peak_mib = peak_import(folder, history, args.batch) / 2**20
            rows.append(f"| {size:,} | {records_in(history):,} | {peak_mib:,.1f} |")
            history.unlink()
    publish("\n".join(rows), args.output, "bench_import")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
