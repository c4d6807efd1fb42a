"""Purchases per second through ``Engine.record_purchase``, each adapter against a raw baseline.

Every engine figure is compared with a baseline measured in the same run, on the
same seeded workload, so the ratio says what the engine costs on top of the
work it cannot avoid, whatever the machine:

- memory: a plain Python loop doing the same arithmetic (sum the line amounts as
  Decimal, whole euros to points, add to a dict balance, append a tuple);
- SQLite: a minimal ledger written by hand with raw ``sqlite3`` (its own two tables:
  the entry under the POS's id as primary key, and the member's balance; per
  purchase ``BEGIN IMMEDIATE``, insert the entry, upsert the balance, ``COMMIT``),
  with the same pragmas and commit policy, once with ``synchronous=normal`` and
  once with ``synchronous=full``;
- PostgreSQL: the same minimal ledger with raw psycopg, one transaction per purchase.

On SQLite and PostgreSQL a second baseline does the engine's own row writes with
raw ``sqlite3`` or psycopg (into tables created by the adapter's own migrations, in a
separate file or schema, so it pays for the same indexes, constraints and
triggers): its column says what the engine costs over its own schema.

Only the purchase loop is timed: the workload is generated and the members are
enrolled beforehand. The baselines and the engine take turns, each run on a fresh
store; each figure is the median of ``--repeat`` rounds.

    python benchmarks/bench_purchases.py                  # table on stdout
    python benchmarks/bench_purchases.py --output docs/performance.md
    python benchmarks/bench_purchases.py --profile sqlite # cProfile of the engine path

PostgreSQL is measured when ``LOYALTY_TEST_POSTGRES_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/test``) can be opened with
``loyalty.open_store``; otherwise its rows say why they were skipped.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common import ADAPTERS, Skipped, add_adapters, add_repeat, checkpoint, machine, write_output
from loyalty import Engine, open_store
from loyalty.config import load_programs
from loyalty.simulation import Workload, generate
from loyalty.store.sqlite import SQLiteStore
from purchase_runs import (
    GROCER,
    PROGRAM,
    Run,
    engine_run,
    enroll,
    minimal_sales,
    minimal_sqlite,
    postgres_runs,
    raw_memory,
    sqlite_runs,
)

# What other benchmarks import from here (bench_split.py, bench_memory_cpu.py, bench_rules.py),
# made in purchase_runs.py.
__all__ = ["GROCER", "PROGRAM", "engine_run", "minimal_sales", "minimal_sqlite", "raw_memory"]


@dataclass(frozen=True)
class Result:
    adapter: str
    policy: str
    baseline: str
    raw_rate: float  # the headline baseline: what a user would write by hand
    same_rate: float | None  # the baseline doing the engine's own row writes, where there is one
    engine_rate: float
    target: float

    @property
    def ratio(self) -> float:
        return self.engine_rate / self.raw_rate


@contextmanager
def _scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as name:
        yield Path(name)


# -- measuring and reporting ----------------------------------------------------------------------


def median_rates(workload: Workload, runs: tuple[Run, ...], repeat: int) -> list[float]:
    """Purchases per second of each run, the median of ``repeat`` rounds in which the runs take
    turns, so drift on the machine hits them all alike."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for run, seen in zip(runs, times, strict=True):
            seen.append(run(workload))
    n = len(workload.sales)
    return [n / statistics.median(seen) for seen in times]


def measure(workload: Workload, repeat: int, dsn: str, only: set[str]) -> list[Result | Skipped]:
    results: list[Result | Skipped] = []

    def add(adapter: str, policy: str, baseline: str, target: float, runs: tuple[Run, ...]) -> None:
        print(f"measuring {adapter} ({policy}) ...", file=sys.stderr, flush=True)
        rates = median_rates(workload, runs, repeat)
        same = rates[1] if len(rates) == 3 else None
        results.append(Result(adapter, policy, baseline, rates[0], same, rates[-1], target))

    if "memory" in only:
        memory = engine_run(lambda: open_store("memory://"))
        add("memory", "none (in process)", "plain Python loop", 0.10, (raw_memory, memory))
        (grocer,) = load_programs(GROCER)
        grocer_run = engine_run(lambda: open_store("memory://"), program=grocer)
        add(
            "memory",
            "none (in process), examples/grocer.toml",
            "plain Python loop",
            1 / 25,
            (raw_memory, grocer_run),
        )
    if "sqlite" in only:
        for synchronous, target in (("normal", 0.40), ("full", 0.80)):
            policy = f"WAL, synchronous={synchronous}, commit per purchase"
            add("sqlite", policy, "minimal raw ledger", target, sqlite_runs(synchronous))
    if "postgres" in only:
        runs = postgres_runs(dsn)
        if isinstance(runs, str):
            print(f"skipping postgres: {runs}", file=sys.stderr)
            results.append(Skipped("postgres", runs))
        else:
            add("postgres", "READ COMMITTED, commit per purchase", "minimal raw ledger", 0.70, runs)
    return results


def table(results: list[Result | Skipped], workload: Workload, repeat: int) -> str:
    sales = workload.sales
    lines_per_sale = sum(len(p.lines) for p in sales) / max(1, len(sales))
    rows = [
        f"Workload: seed {workload.seed}, {len(workload.enrollments):,} members, {len(sales):,} purchases "
        f"({lines_per_sale:.1f} lines each); median of {repeat} alternating runs.  ",
        f"Machine: {machine()}.",
        "",
        "| Adapter | Commit policy | Baseline | Baseline purchases/s | Engine purchases/s "
        "| Engine / baseline | Target | Met | Same-row-writes purchases/s | Engine / same row writes |",
        "|---|---|---|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    for r in results:
        if isinstance(r, Skipped):
            rows.append(f"| {r.adapter} | | | | | skipped: {r.reason} | | | | |")
            continue
        met = "yes" if r.ratio >= r.target else "no"
        same = " | " if r.same_rate is None else f"{r.same_rate:,.0f} | {r.engine_rate / r.same_rate:.0%}"
        rows.append(
            f"| {r.adapter} | {r.policy} | {r.baseline} | {r.raw_rate:,.0f} | {r.engine_rate:,.0f} "
            f"| {r.ratio:.0%} | ≥ {r.target:.0%} | {met} | {same} |"
        )
    return "\n".join(rows)


def sqlite_statements(workload: Workload, count: int = 1_000) -> float:
    """Statements the SQLite adapter sends per purchase (``BEGIN`` and ``COMMIT`` included), counted
    with ``sqlite3``'s trace callback over the first ``count`` purchases of the workload."""
    with _scratch_dir() as scratch:
        store = open_store(f"sqlite:///{scratch / 'statements.db'}?synchronous=normal")
        assert isinstance(store, SQLiteStore)
        try:
            engine = Engine(PROGRAM, store)
            enroll(engine, workload)
            sent: list[str] = []
            with store._connection() as conn:  # the idle connection the next unit of work reuses
                conn.set_trace_callback(sent.append)
            purchases = workload.sales[:count]
            try:
                for purchase in purchases:
                    engine.record_purchase(purchase)
            finally:
                conn.set_trace_callback(None)
            return len(sent) / len(purchases)
        finally:
            store.close()


def sqlite_bytes(purchases: int, seed: int) -> float:
    """Bytes per purchase of the SQLite file and its WAL after ``purchases`` purchases of the
    workload (``synchronous=normal``), once the WAL is checkpointed."""
    workload = generate(members=max(1, purchases // 10), purchases=purchases, seed=seed)
    with _scratch_dir() as scratch:
        path = scratch / "size.db"
        store = open_store(f"sqlite:///{path}?synchronous=normal")
        try:
            engine = Engine(PROGRAM, store)
            enroll(engine, workload)
            for purchase in workload.sales:
                engine.record_purchase(purchase)
        finally:
            store.close()
        checkpoint(path)
        size = sum(f.stat().st_size for f in scratch.iterdir() if f.name.startswith(path.name))
        return size / len(workload.sales)


def profile(workload: Workload, adapter: str, limit: int) -> str:
    """cProfile of the engine's purchase loop on one adapter, sorted by own time."""
    with _scratch_dir() as scratch:
        url = "memory://" if adapter == "memory" else f"sqlite:///{scratch / 'profile.db'}?synchronous=normal"
        store = open_store(url)
        try:
            engine = Engine(PROGRAM, store)
            enroll(engine, workload)
            profiler = cProfile.Profile()
            profiler.enable()
            for purchase in workload.sales:
                engine.record_purchase(purchase)
            profiler.disable()
        finally:
            store.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(r"loyalty", limit)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--purchases", type=int, default=10_000, help="purchases to replay (default: 10000)")
    parser.add_argument("--members", type=int, help="members (default: purchases / 10)")
    parser.add_argument("--seed", type=int, default=1)
    add_repeat(parser, 3)
    add_adapters(parser)
    parser.add_argument("--output", type=Path, help="also write the table there (between its markers if any)")
    parser.add_argument("--profile", choices=("memory", "sqlite"), help="profile the engine path instead")
    parser.add_argument(
        "--size", type=int, help="also measure the SQLite file's bytes per purchase after this many"
    )
    args = parser.parse_args(argv)
    if args.purchases < 1 or args.repeat < 1 or (args.size is not None and args.size < 1):
        parser.error("--purchases, --repeat and --size must be at least 1")
    members = args.members or max(1, args.purchases // 10)
    workload = generate(members=members, purchases=args.purchases, seed=args.seed)
    if args.profile:
        print(profile(workload, args.profile, 30))
        return 0
    only = set(args.only or ADAPTERS)
    results = measure(workload, args.repeat, args.dsn, only)
    text = table(results, workload, args.repeat)
    if "sqlite" in only:
        text += (
            f"\n\nSQLite statements per purchase (trace callback, BEGIN and COMMIT included): "
            f"{sqlite_statements(workload):.1f} (the minimal raw ledger: 4)."
        )
    if args.size:
        print(f"measuring the SQLite file after {args.size:,} purchases ...", file=sys.stderr, flush=True)
        per = sqlite_bytes(args.size, args.seed)
        met = "yes" if per <= 400 else "no"
        text += (
            f"\n\nSQLite file and WAL after {args.size:,} purchases, checkpointed: "
            f"{per:,.0f} bytes per purchase (target ≤ 400: {met})."
        )
    print(text)
    if args.output:
        write_output(args.output, text, "bench_purchases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
