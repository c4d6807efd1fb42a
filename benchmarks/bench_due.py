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
import gc
import itertools
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import loyalty
from loyalty import Engine, EntryKind, LoyaltyError, Member, Posting, Program, open_store
from loyalty.store import Store

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
T0 = datetime(2024, 1, 1, tzinfo=UTC)
#: The engine's clock: every due lot expired months before it.
NOW = T0 + timedelta(days=365)
PROGRAM = Program("Bench", "EUR")
KEEP_POINTS, DUE_POINTS = 10, 5

# A fresh, empty store, and for SQLite the path of its file (for the raw baseline).
Fresh = Callable[[], AbstractContextManager[tuple[Store, Path | None]]]

# What the raw baseline does: the due lots through the index, one row written for each.
_RAW_DUE = (
    "SELECT lot, member_id, remaining FROM lots WHERE remaining <> 0"
    " AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, lot"
)
_RAW_SCRATCH = "CREATE TABLE bench_scratch (lot INTEGER NOT NULL, member_id TEXT NOT NULL, points INTEGER)"
_RAW_INSERT = "INSERT INTO bench_scratch (lot, member_id, points) VALUES (?, ?, ?)"


@dataclass(frozen=True)
class Result:
    adapter: str
    members: int
    due: int
    populate: float
    engine: float
    baseline: float | None

    @property
    def per_lot(self) -> float:
        return self.engine / self.due


@dataclass(frozen=True)
class Skipped:
    adapter: str
    reason: str


# -- populating -----------------------------------------------------------------------------------


def due_indexes(members: int, due: int) -> set[int]:
    """Which members (by number) get a due lot: ``due`` of them, spread evenly."""
    return {n * members // due for n in range(due)}


def populate(store: Store, members: int, due: int, chunk: int, keep_expires: datetime | None) -> float:
    """Fill ``store`` through the storage port; the seconds it took."""
    with_due = due_indexes(members, due)
    started = time.perf_counter()
    for start in range(0, members, chunk):
        with store.unit_of_work() as uow:
            for n in range(start, min(start + chunk, members)):
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
    gc.collect()
    started = time.perf_counter()
    report = engine.run_due()
    elapsed = time.perf_counter() - started
    assert report.expired_lots == due, report
    assert report.expired_points == due * DUE_POINTS, report
    assert report.members == due, report
    assert engine.run_due().expired_lots == 0  # nothing left due
    return elapsed


def checkpoint(path: Path) -> None:
    """Copy what populating left in the WAL into the file, so ``run_due`` is not charged for it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the WAL could not be checkpointed"
    finally:
        conn.close()


def sqlite_baseline(path: Path, due: int) -> float:
    """Raw ``sqlite3``: select the due lots through the index, one insert per lot, one transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")  # as the store's URL says; WAL is kept in the file
        conn.execute(_RAW_SCRATCH)
        until = NOW.astimezone(UTC).isoformat(timespec="microseconds")  # the adapter's date text
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {_RAW_DUE}", (until,)))
        assert "lots_due" in plan, plan
        gc.collect()
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(_RAW_DUE, (until,)).fetchall()
        for row in rows:
            conn.execute(_RAW_INSERT, row)
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        assert len(rows) == due, len(rows)
        conn.execute("DROP TABLE bench_scratch")  # leave the file as the adapter made it
        return elapsed
    finally:
        conn.close()


def measure(
    name: str,
    fresh: Fresh,
    members: int,
    due: int,
    args: argparse.Namespace,
    keep_expires: datetime | None,
) -> Result:
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
    return Result(name, members, due, best[1], best[0], min(baselines) if baselines else None)


# -- the adapters ---------------------------------------------------------------------------------


@contextmanager
def memory_store() -> Iterator[tuple[Store, Path | None]]:
    store = open_store("memory://")
    try:
        yield store, None
    finally:
        store.close()


def sqlite_fresh(folder: Path) -> Fresh:
    counter = itertools.count()

    @contextmanager
    def fresh() -> Iterator[tuple[Store, Path | None]]:
        path = folder / f"due-{next(counter)}.db"
        store = open_store(f"sqlite:///{path}?synchronous=normal")
        try:
            yield store, path
        finally:
            store.close()
            for leftover in folder.glob(f"{path.name}*"):
                leftover.unlink()

    return fresh


def postgres_fresh(dsn: str) -> Fresh | str:
    """Fresh stores on new schemas of the server at ``dsn``, or why there can be none."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    separator = "&" if "?" in dsn else "?"
    counter = itertools.count()

    def drop(schema: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    def schema_name() -> str:
        return f"bench_due_{os.getpid()}_{next(counter)}"

    probe = schema_name()
    try:
        open_store(f"{dsn}{separator}schema={probe}").close()
        drop(probe)
    except (LoyaltyError, psycopg.Error) as exc:  # no server, no rights: say so in the row
        return f"PostgreSQL at {dsn} is unreachable: {' '.join(str(exc).split())}"

    @contextmanager
    def fresh() -> Iterator[tuple[Store, Path | None]]:
        schema = schema_name()
        try:
            store = open_store(f"{dsn}{separator}schema={schema}")
            try:
                yield store, None
            finally:
                store.close()
        finally:
            drop(schema)

    return fresh


# -- reporting ------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"loyalty-engine {loyalty.__version__}"
    )


def table(results: list[Result | Skipped], args: argparse.Namespace, sizes: list[int]) -> str:
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
            rows.append(f"| {r.adapter} | skipped: {r.reason} | | | | | | | |")
            continue
        first = reference.setdefault(r.adapter, r.per_lot)
        baseline = "" if r.baseline is None else f"{r.baseline:.4f}"
        versus = "" if r.baseline is None else f"{r.engine / r.baseline:.1f}×"
        rows.append(
            f"| {r.adapter} | {r.members:,} | {r.due:,} | {r.populate:.1f} | {r.engine:.4f} "
            f"| {r.per_lot * 1e6:.1f} | {r.per_lot / first:.2f} | {baseline} | {versus} |"
        )
    return "\n".join(rows)


def sizes_of(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts separated by commas, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive counts, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--members", type=sizes_of, default=[10_000, 100_000], help="member counts (default: 10000,100000)"
    )
    parser.add_argument("--due", type=int, default=1_000, help="lots due (default: 1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts (default: 3)")
    parser.add_argument("--chunk", type=int, default=5_000, help="members per unit of work when populating")
    parser.add_argument(
        "--keep",
        choices=("never", "later"),
        default="never",
        help="the lot every member keeps: never expires (default), or expires after the clock, "
        "so the expiry index holds every member",
    )
    parser.add_argument(
        "--only", action="append", choices=("memory", "sqlite", "postgres"), help="measure only these"
    )
    parser.add_argument("--dsn", default=os.environ.get("LOYALTY_TEST_POSTGRES_DSN") or DEFAULT_DSN)
    args = parser.parse_args(argv)
    sizes: list[int] = args.members
    if args.repeat < 1 or args.chunk < 1 or args.due < 1:
        parser.error("--repeat, --chunk and --due must be at least 1")
    if args.due > min(sizes):
        parser.error(f"--due ({args.due}) cannot exceed the smallest member count ({min(sizes)})")
    keep_expires = None if args.keep == "never" else NOW + timedelta(days=365)
    only = set(args.only or ("memory", "sqlite", "postgres"))
    started = time.perf_counter()
    results: list[Result | Skipped] = []
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-due-") as folder:
        adapters: list[tuple[str, Fresh | str]] = [
            ("memory", memory_store),
            ("sqlite", sqlite_fresh(Path(folder))),
        ]
        if "postgres" in only:
            adapters.append(("postgres", postgres_fresh(args.dsn)))
        for name, fresh in adapters:
            if name not in only:
                continue
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
