"""Where an SQLite purchase's time goes: in each statement the adapter runs, and in Python.

``bench_purchases.py`` gives the ratio to the minimal raw ledger; this script says
what the rest of that ratio is made of, so the next change aims at the largest
part. Every ``execute`` on the store's connections (and on the raw ledger's) is
timed and grouped by statement (its text up to the first parenthesis or
``WHERE``); whatever the purchase loop spends outside them is the Python path
(the engine, the adapter's binding and row building, the driver's call). Both
loops run the same seeded workload with the default 1-point-per-euro program,
``synchronous=normal`` (or ``--synchronous full``) and a commit per purchase,
taking turns; each figure is the median of ``--repeat`` rounds, in microseconds
per purchase.

    python benchmarks/bench_split.py --purchases 5000 --repeat 3
    python benchmarks/bench_split.py --grocer   # the engine under examples/grocer.toml

``--grocer`` runs the engine under examples/grocer.toml instead (multipliers, a basket bonus, a
campaign with a budget: most purchases earn by several rules, whose shares their entries keep
for the figures by rule); the raw ledger is the same.

``--wal N`` also counts the pages a commit writes: the WAL frames that ``N`` purchases add with
automatic checkpoints off (after the enrollments are checkpointed), per purchase, for each loop.
"""

from __future__ import annotations

import argparse
import re
import sqlite3
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from bench_purchases import GROCER, PROGRAM, minimal_sales, minimal_sqlite
from common import add_repeat, machine
from loyalty import Engine, Program
from loyalty.config import load_programs
from loyalty.simulation import Workload, generate
from loyalty.store.sqlite import SQLiteStore

GROCER_NOTE = ", the engine under examples/grocer.toml"

# Seconds spent in each statement kind during the timed loop, and how many ran.
Spent = dict[str, list[float]]

_SHAPE = re.compile(r"\s+")


def _kind(sql: str) -> str:
    """A statement's kind: its text up to its values, its first parenthesis or its WHERE."""
    text = _SHAPE.sub(" ", sql).strip()
    for stop in (" VALUES", " WHERE", "(", " SET"):
        cut = text.find(stop)
        if cut > 0:
            text = text[:cut]
    return text[:60]


class _Timed(sqlite3.Connection):
    """A connection whose ``execute`` adds its time to ``spent`` while ``spent`` is set."""

    spent: Spent | None = None

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        spent = _Timed.spent
        if spent is None:
            return super().execute(sql, parameters)
        started = time.perf_counter()
        try:
            return super().execute(sql, parameters)
        finally:
            entry = spent[_kind(sql)]
            entry[0] += time.perf_counter() - started
            entry[1] += 1


@contextmanager
def _timing(spent: Spent) -> Iterator[None]:
    _Timed.spent = spent
    try:
        yield
    finally:
        _Timed.spent = None


@contextmanager
def _timed_connections() -> Iterator[None]:
    """Every ``sqlite3.connect`` in the block makes a :class:`_Timed` connection."""
    connect = sqlite3.connect

    def timed(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return connect(*args, **kwargs, factory=_Timed)

    sqlite3.connect = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        sqlite3.connect = connect


def engine_round(workload: Workload, synchronous: str, program: Program = PROGRAM) -> tuple[float, Spent]:
    spent: Spent = defaultdict(lambda: [0.0, 0])
    with tempfile.TemporaryDirectory() as scratch, _timed_connections():
        store = SQLiteStore(Path(scratch) / "engine.db", synchronous=synchronous)
        with closing(store):
            engine = Engine(program, store)
            for enrollment in workload.enrollments:
                engine.enroll(enrollment.member_id, at=enrollment.at)
            with _timing(spent):
                started = time.perf_counter()
                for purchase in workload.sales:
                    engine.record_purchase(purchase)
                total = time.perf_counter() - started
    return total, spent


def raw_round(workload: Workload, synchronous: str) -> tuple[float, Spent]:
    spent: Spent = defaultdict(lambda: [0.0, 0])
    with tempfile.TemporaryDirectory() as scratch:
        conn = sqlite3.connect(Path(scratch) / "raw.db", isolation_level=None, factory=_Timed)
        with closing(conn):
            minimal_sqlite(conn, synchronous)
            with _timing(spent):
                started = time.perf_counter()
                minimal_sales(conn, workload.sales)
                total = time.perf_counter() - started
    return total, spent


def _frames(conn: sqlite3.Connection, wal: Path) -> float:
    """The frames in the WAL of ``conn``'s database (each a page and its 24-byte header)."""
    (page,) = conn.execute("PRAGMA page_size").fetchone()
    return (wal.stat().st_size - 32) / (page + 24) if wal.exists() else 0.0


def wal_frames(workload: Workload, synchronous: str) -> tuple[float, float]:
    """WAL frames per purchase (one commit each) of the minimal raw ledger and of the engine."""
    count = len(workload.sales)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "raw.db"
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            minimal_sqlite(conn, synchronous)
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            minimal_sales(conn, workload.sales)
            raw = _frames(conn, Path(f"{path}-wal")) / count
        path = Path(scratch) / "engine.db"
        store = SQLiteStore(path, synchronous=synchronous)
        with closing(store):
            engine = Engine(PROGRAM, store)
            for enrollment in workload.enrollments:
                engine.enroll(enrollment.member_id, at=enrollment.at)
            with store._connection() as conn:  # the idle connection every unit of work reuses here
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA wal_autocheckpoint = 0")
            for purchase in workload.sales:
                engine.record_purchase(purchase)
            with store._connection() as conn:
                mine = _frames(conn, Path(f"{path}-wal")) / count
    return raw, mine


def split(rounds: list[tuple[float, Spent]], purchases: int) -> tuple[float, dict[str, tuple[float, float]]]:
    """The median total, and by statement kind the median microseconds and count per purchase."""
    total = statistics.median(t for t, _ in rounds) / purchases * 1e6
    kinds = {kind for _, spent in rounds for kind in spent}
    by_kind = {
        kind: (
            statistics.median(spent[kind][0] for _, spent in rounds) / purchases * 1e6,
            statistics.median(spent[kind][1] for _, spent in rounds) / purchases,
        )
        for kind in kinds
    }
    return total, by_kind


def table(name: str, total: float, by_kind: dict[str, tuple[float, float]]) -> list[str]:
    rows = [f"### {name}: {total:,.1f} µs per purchase", ""]
    rows += ["| Part | µs per purchase | Share | Runs per purchase |", "|---|---:|---:|---:|"]
    in_sql = sum(us for us, _ in by_kind.values())
    for kind, (us, count) in sorted(by_kind.items(), key=lambda item: -item[1][0]):
        rows.append(f"| `{kind}` | {us:,.1f} | {us / total:.0%} | {count:.2f} |")
    rows.append(f"| all statements | {in_sql:,.1f} | {in_sql / total:.0%} | |")
    rest = total - in_sql
    rows.append(f"| Python (outside the statements) | {rest:,.1f} | {rest / total:.0%} | |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--purchases", type=int, default=5000)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--synchronous", choices=("normal", "full"), default="normal")
    parser.add_argument("--grocer", action="store_true", help="the engine runs examples/grocer.toml")
    add_repeat(parser, 3, counts="the median")
    parser.add_argument(
        "--wal", type=int, metavar="N", help="also count WAL frames per commit over N purchases"
    )
    args = parser.parse_args(argv)
    workload = generate(members=args.members, purchases=args.purchases, seed=args.seed)
    if args.wal:
        raw, mine = wal_frames(
            generate(members=max(1, args.wal // 10), purchases=args.wal, seed=args.seed), args.synchronous
        )
        print(f"WAL frames per commit over {args.wal:,} purchases: raw ledger {raw:.2f}, engine {mine:.2f}.")
    runs: dict[str, list[tuple[float, Spent]]] = {"engine": [], "raw": []}
    program = load_programs(GROCER)[0] if args.grocer else PROGRAM
    rounds: list[tuple[str, Callable[[Workload, str], tuple[float, Spent]]]] = [
        ("raw", raw_round),
        ("engine", lambda workload, synchronous: engine_round(workload, synchronous, program)),
    ]
    for _ in range(args.repeat):
        for name, run in rounds:
            runs[name].append(run(workload, args.synchronous))
    count = len(workload.sales)
    print(
        f"Workload: seed {args.seed}, {args.members:,} members, {count:,} purchases; "
        f"synchronous={args.synchronous}, commit per purchase{GROCER_NOTE if args.grocer else ''}; "
        f"median of {args.repeat} alternating rounds.  "
    )
    print(f"Machine: {machine()}.")
    print()
    for name, title in (("raw", "Minimal raw ledger"), ("engine", "Engine")):
        total, by_kind = split(runs[name], count)
        print("\n".join(table(title, total, by_kind)))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
