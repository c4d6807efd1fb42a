"""Does ``Engine.run_due`` cost what is due, whatever the number of members?

Run: ``python benchmarks/bench_due.py [--members 10000,100000] [--due 1000] [--repeat 3]``.

For each adapter and each member count, a fresh store is populated through the
storage port (``UnitOfWork.add_member`` and ``UnitOfWork.append``, ``--chunk``
members per unit of work, not through the engine): every member holds one lot
that never comes due, and ``--due`` of them, spread evenly over the members,
also hold one lot that expired before the engine's clock. Then
``Engine.run_due()`` is timed and its report checked (every due lot written
off, nothing else). The claim is that its cost grows with the lots due, not
with the members, so the per-lot cost at the largest member count should be
about that at the smallest (ratio near 1.0).

``run_due`` is destructive, so each of the ``--repeat`` runs gets a freshly
populated store; the best run counts, and the time the best-populated store
took to fill is printed too. For SQLite a raw ``sqlite3`` baseline is measured
on the same file just before the engine runs: select the due lots through the
``lots_due`` index and insert one row per lot into a scratch table, in one
transaction, so the ratio says what the engine costs on top of finding the
lots and writing one row for each.

PostgreSQL is measured when ``LOYALTY_TEST_POSTGRES_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/test``) can be opened; each store is a
new ``bench_due_*`` schema, dropped afterwards. Otherwise its row says why it
was skipped.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import (
    ADAPTERS,
    DueRun,
    Fresh,
    Skipped,
    add_adapters,
    add_members,
    add_repeat,
    checkpoint,
    chunks,
    fresh_stores,
    machine,
    parser_for,
    raw_baseline,
    spread,
    timed_run_due,
)
from loyalty import Engine, EntryKind, Member, Posting, Program
from loyalty.store import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
#: The engine's clock: every due lot expired months before it.
NOW = T0 + timedelta(days=365)
PROGRAM = Program("Bench", "EUR")
KEEP_POINTS, DUE_POINTS = 10, 5

# What the raw baseline does: the due lots through the index, one row written for each.
_RAW_DUE = (
    "SELECT lot, member_id, remaining FROM lots WHERE remaining <> 0"
    " AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, lot"
)
_RAW_SCRATCH = "CREATE TABLE bench_scratch (lot INTEGER NOT NULL, member_id TEXT NOT NULL, points INTEGER)"
_RAW_INSERT = "INSERT INTO bench_scratch (lot, member_id, points) VALUES (?, ?, ?)"


# -- populating -----------------------------------------------------------------------------------


def populate(store: Store, members: int, due: int, chunk: int, keep_expires: datetime | None) -> float:
    """Fill ``store`` through the storage port; the seconds it took."""
    with_due = set(spread(members, due))  # the members that get a due lot
    started = time.perf_counter()
    for numbers in chunks(members, chunk):
        with store.unit_of_work() as uow:
            for n in numbers:
                member_id = f"m{n:07d}"
                uow.add_member(Member(member_id, T0))
                uow.append(
                    Posting(
                        member_id,
                        EntryKind.ADJUST,
                        KEEP_POINTS,
                        T0,
                        T0,
                        f"{member_id}-keep",
                        "bench",
                        "bench",
                        expires_at=keep_expires,
                    )
                )
                if n in with_due:
                    # Expiry dates a minute apart, so the index order is not the lot order.
                    expires = T0 + timedelta(days=30, minutes=n % 1440)
                    uow.append(
                        Posting(
                            member_id,
                            EntryKind.ADJUST,
                            DUE_POINTS,
                            T0,
                            T0,
                            f"{member_id}-due",
                            "bench",
                            "bench",
                            expires_at=expires,
                        )
                    )
            uow.commit()
    return time.perf_counter() - started


# -- timing ---------------------------------------------------------------------------------------


def time_run_due(store: Store, due: int) -> float:
    engine = Engine(PROGRAM, store, clock=lambda: NOW)
    elapsed, report = timed_run_due(engine)
    assert report.expired_lots == due, report
    assert report.expired_points == due * DUE_POINTS, report
    assert report.members == due, report
    assert engine.run_due().expired_lots == 0  # nothing left due
    return elapsed


def _write_lots(conn: sqlite3.Connection, rows: list[tuple[int, str, int]]) -> None:
    for row in rows:
        conn.execute(_RAW_INSERT, row)


def sqlite_baseline(path: Path, due: int) -> float:
    """Raw ``sqlite3``: select the due lots through the index, one insert per lot, one transaction."""
    return raw_baseline(
        path, due, scratch=_RAW_SCRATCH, select=_RAW_DUE, index="lots_due", now=NOW, write=_write_lots
    )


def measure(
    name: str,
    fresh: Fresh,
    members: int,
    due: int,
    args: argparse.Namespace,
    keep_expires: datetime | None,
) -> DueRun:
    print(f"measuring {name}, {members:,} members ...", file=sys.stderr, flush=True)
    best: tuple[float, float] | None = None  # (engine, populate) of the fastest run
    baselines: list[float] = []
    for _ in range(args.repeat):
        with fresh() as (store, path):
            filled = populate(store, members, due, args.chunk, keep_expires)
            if path is not None:
                checkpoint(path)
                baselines.append(sqlite_baseline(path, due))
            elapsed = time_run_due(store, due)
        if best is None or elapsed < best[0]:
            best = (elapsed, filled)
    assert best is not None
    return DueRun(name, members, due, best[1], best[0], min(baselines) if baselines else None)


# -- reporting ------------------------------------------------------------------------------------


def table(results: list[DueRun | Skipped], args: argparse.Namespace, sizes: list[int]) -> str:
    keep = "never expire" if args.keep == "never" else "expire a year after the clock"
    rows = [
        f"`Engine.run_due()` writing off {args.due:,} due lots, best of {args.repeat} "
        f"(each on a freshly populated store); the members' other lots {keep}.  ",
        f"Machine: {machine()}.",
        "",
        "| Adapter | Members | Lots due | Populate s | run_due s | µs per expired lot "
        f"| Per-lot cost vs {sizes[0]:,} members | Raw baseline s | Engine / baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    reference: dict[str, float] = {}
    for r in results:
        if isinstance(r, Skipped):
            rows.append(r.row(9))
            continue
        first = reference.setdefault(r.adapter, r.per_item)
        baseline = "" if r.baseline is None else f"{r.baseline:.4f}"
        versus = "" if r.baseline is None else f"{r.engine / r.baseline:.1f}×"
        rows.append(
            f"| {r.adapter} | {r.members:,} | {r.due:,} | {r.populate:.1f} | {r.engine:.4f} "
            f"| {r.per_item * 1e6:.1f} | {r.per_item / first:.2f} | {baseline} | {versus} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    add_members(parser)
    parser.add_argument("--due", type=int, default=1_000, help="lots due (default: 1000)")
    add_repeat(parser, 3)
    parser.add_argument("--chunk", type=int, default=5_000, help="members per unit of work when populating")
    parser.add_argument(
        "--keep",
        choices=("never", "later"),
        default="never",
        help="the lot every member keeps: never expires (default), or expires after the clock, "
        "so the expiry index holds every member",
    )
    add_adapters(parser)
    args = parser.parse_args(argv)
    sizes: list[int] = args.members
    if args.repeat < 1 or args.chunk < 1 or args.due < 1:
        parser.error("--repeat, --chunk and --due must be at least 1")
    if args.due > min(sizes):
        parser.error(f"--due ({args.due}) cannot exceed the smallest member count ({min(sizes)})")
    keep_expires = None if args.keep == "never" else NOW + timedelta(days=365)
    only = set(args.only or ADAPTERS)
    started = time.perf_counter()
    results: list[DueRun | Skipped] = []
    with fresh_stores("due", only, args.dsn) as adapters:
        for name, fresh in adapters:
            if isinstance(fresh, str):
                print(f"skipping {name}: {fresh}", file=sys.stderr)
                results.append(Skipped(name, fresh))
                continue
            for members in sizes:
                results.append(measure(name, fresh, members, args.due, args, keep_expires))
    print(table(results, args, sizes))
    print(f"\nTotal wall time: {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
