"""The in-memory purchase path against the plain loop, in CPU time rather than wall time.

``bench_purchases.py --only memory`` times both loops on the wall clock, which a
machine shared with other work stretches by whatever else runs. This script runs
the same two loops (``bench_purchases.raw_memory`` and ``Engine.record_purchase``
on a fresh memory store, the default 1-point-per-euro program, the same seeded
workload) and counts only the CPU time of this process, so a loaded machine
moves the ratio far less. Baseline and engine alternate; each figure is the
median of ``--repeat`` runs, with the garbage collector on as a user would run it.

With ``--retained`` it says instead what the memory store keeps per purchase:
after a first half of the workload, the bytes ``tracemalloc`` sees still
allocated and the objects the garbage collector tracks (and so walks), per
purchase of the second half, each counted after a full collection.

    python benchmarks/bench_memory_cpu.py --repeat 5
    python benchmarks/bench_memory_cpu.py --retained
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc

from bench_purchases import PROGRAM, raw_memory
from loyalty import Engine, open_store
from loyalty.simulation import Workload, generate


def engine_cpu(workload: Workload) -> float:
    """CPU seconds of one pass of ``record_purchase`` over the workload, on a fresh store."""
    store = open_store("memory://")
    try:
        engine = Engine(PROGRAM, store)
        for enrollment in workload.enrollments:
            engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)
        started = time.process_time()
        for purchase in workload.sales:
            engine.record_purchase(purchase)
        return time.process_time() - started
    finally:
        store.close()


def raw_cpu(workload: Workload) -> float:
    """CPU seconds of the plain loop (its own wall-clock figure is thrown away)."""
    started = time.process_time()
    raw_memory(workload)
    return time.process_time() - started


def retained(workload: Workload) -> str:
    """What the store keeps of each purchase of the workload's second half."""
    store = open_store("memory://")
    engine = Engine(PROGRAM, store)
    for enrollment in workload.enrollments:
        engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)
    sales = workload.sales
    half = len(sales) // 2
    for purchase in sales[:half]:
        engine.record_purchase(purchase)
    gc.collect()
    tracked = len(gc.get_objects())
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for purchase in sales[half:]:
        engine.record_purchase(purchase)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    kept = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    n = len(sales) - half
    walked = (len(gc.get_objects()) - tracked) / n
    store.close()
    return f"{n:,} purchases kept: {kept / n:,.0f} bytes and {walked:.1f} tracked objects per purchase"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--purchases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--retained", action="store_true", help="what the store keeps per purchase instead")
    args = parser.parse_args(argv)
    workload = generate(members=max(1, args.purchases // 10), purchases=args.purchases, seed=args.seed)
    if args.retained:
        print(retained(workload))
        return 0
    raw, engine = [], []
    for _ in range(args.repeat):
        raw.append(raw_cpu(workload))
        engine.append(engine_cpu(workload))
    n = len(workload.sales)
    raw_us, engine_us = statistics.median(raw) / n * 1e6, statistics.median(engine) / n * 1e6
    # Each engine run over the baseline run just before it: drift on the machine hits both.
    ratio = statistics.median(e / r for e, r in zip(engine, raw, strict=True))
    print(
        f"{n:,} purchases, median of {args.repeat}: plain loop {raw_us:.2f} µs, "
        f"engine {engine_us:.1f} µs per purchase (CPU time): {ratio:.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
