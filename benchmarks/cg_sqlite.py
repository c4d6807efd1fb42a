"""An SQLite balance read, a raw key read and an SQLite purchase, for counting instructions with callgrind.

A balance read: one member with ``--lots`` lots (two pending, two past their date, an open hold:
``common.fill_lots``) in an SQLite file (``synchronous=normal``), ``Engine.balance`` of it
``--reads`` times, then as many raw key reads of its row (raw ``sqlite3`` on the same file: a
read transaction, the row by its key), the collector off. A purchase: the members of
``generate(members=100, purchases=600, seed=7)`` enrolled in another file, its first 100 sales
recorded, then the next 500. ``math.factorial(0)`` is called between the segments: run under
valgrind with ``--dump-before=math_factorial``, each segment's count lands in a file of its own,
which ``--read`` prints per call (docs/performance.md, "The balance read in one place"):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-before=math_factorial \\
        --callgrind-out-file=cgs.out python benchmarks/cg_sqlite.py
    python benchmarks/cg_sqlite.py --read cgs.out
"""

from __future__ import annotations

import argparse
import gc
import glob
import math
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from common import fill_lots
from loyalty import Engine, Program, open_store
from loyalty.simulation import generate

NOW = datetime(2025, 1, 1, tzinfo=UTC)
PROGRAM = Program("Bench", "EUR")
WARM = 50  # reads before counting: the statements prepared, the pages cached
PURCHASES = (100, 500)  # recorded before counting, counted

#: Each segment's name and what its count is divided by, in the order the dumps come.
SEGMENTS = (
    ("set-up", 0),
    ("Engine.balance, per read", 1),
    ("raw key read, per read", 1),
    ("set-up (purchases)", 0),
    ("Engine.record_purchase on SQLite, per purchase", 2),
)


def balance_reads(folder: Path, lots: int, reads: int) -> None:
    path = folder / "balance.db"
    store = open_store(f"sqlite:///{path}?synchronous=normal")
    fill_lots(store, "m", lots, now=NOW, points=100, overdue=2, held=5)
    engine = Engine(PROGRAM, store, clock=lambda: NOW)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def raw() -> object:
        conn.execute("BEGIN")
        row = conn.execute("SELECT balance FROM members WHERE member_id = ?", ("m",)).fetchone()
        conn.execute("COMMIT")
        return row

    for _ in range(WARM):
        engine.balance("m")
        raw()
    gc.collect()
    gc.disable()
    math.factorial(0)
    for _ in range(reads):
        engine.balance("m")
    math.factorial(0)
    for _ in range(reads):
        raw()
    math.factorial(0)
    gc.enable()
    conn.close()
    store.close()


def purchases(folder: Path) -> None:
    before, counted = PURCHASES
    workload = generate(members=100, purchases=before + counted, seed=7)
    store = open_store(f"sqlite:///{folder / 'purchases.db'}?synchronous=normal")
    engine = Engine(PROGRAM, store)
    for enrollment in workload.enrollments:
        engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)
    gc.collect()
    gc.disable()
    for purchase in workload.sales[:before]:
        engine.record_purchase(purchase)
    math.factorial(0)
    for purchase in workload.sales[before:]:
        engine.record_purchase(purchase)
    math.factorial(0)
    store.close()


def read(prefix: str, reads: int) -> None:
    """Print each segment's count per call, from the dumps valgrind wrote at ``prefix``."""
    parts = sorted(glob.glob(f"{prefix}.*"), key=lambda name: int(name.rsplit(".", 1)[1]))
    per = {0: 1, 1: reads, 2: PURCHASES[1]}
    counts: dict[str, float] = {}
    for (name, divisor), path in zip(SEGMENTS, parts, strict=False):
        with open(path) as dump:
            total = next(int(line.split()[1]) for line in dump if line.startswith(("summary:", "totals:")))
        counts[name] = total / per[divisor]
        print(f"{counts[name]:>14,.0f}  {name}")
    balance, key = counts.get(SEGMENTS[1][0]), counts.get(SEGMENTS[2][0])
    if balance and key:
        print(f"{balance / key:>14.2f}  balance read / raw key read")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--lots", type=int, default=200, help="the member's lots (default: 200)")
    parser.add_argument(
        "--reads", type=int, default=1_000, help="reads of each kind (default: 1000); give --read the same"
    )
    parser.add_argument("--no-purchases", action="store_true", help="count the reads alone")
    parser.add_argument("--read", metavar="OUT", help="print the counts valgrind wrote to OUT.N")
    args = parser.parse_args(argv)
    if args.read:
        read(args.read, args.reads)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        balance_reads(Path(folder), args.lots, args.reads)
        if not args.no_purchases:
            purchases(Path(folder))
    print("done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
