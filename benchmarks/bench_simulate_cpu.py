"""What-if simulation against the in-memory engine in CPU time, with and without the records' file.

``bench_simulate.py`` times the two on the wall clock. This script runs the same runs
(``bench_simulate.engine_run`` and ``simulate_run``, the default program, the same seeded
history) and a third, the simulation with its operation records kept in memory
(``loyalty.whatif_process.SPILL_BATCH`` set to 0 for that run: ``MemoryStore()``, no file), and
counts only this process's CPU time: the simulations replay both programs in this process
(``parallel=False``), so this is what the replay costs beyond the engine, per program. The
runs take turns; each starts after a full collection, so that no run pays for collecting
what the one before left; each figure is the median of ``--repeat`` rounds
(docs/performance.md, "Spilled records, cheaper").

    python benchmarks/bench_simulate_cpu.py
    python benchmarks/bench_simulate_cpu.py --purchases 5000 --repeat 3   # quick
"""

from __future__ import annotations

import argparse
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_simulate import PROGRAM, engine_run, simulate_run
from common import write_history
from loyalty import whatif_process
from loyalty.history import read


def in_memory(run: Callable[[], float]) -> Callable[[], float]:
    """``run`` with the simulation's operation records kept in memory."""

    def kept() -> float:
        names = vars(whatif_process)  # SPILL_BATCH is the module's own, not among its exports
        spill = names["SPILL_BATCH"]
        names["SPILL_BATCH"] = 0
        try:
            return run()
        finally:
            names["SPILL_BATCH"] = spill

    return kept


def cpu(run: Callable[[], float]) -> float:
    gc.collect()
    started = time.process_time()
    run()
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--purchases", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-simulate-cpu-") as folder:
        path = write_history(Path(folder), args.purchases)
        with path.open(encoding="utf-8") as lines:
            events = list(read(lines))
        # In this process: a second process's CPU time is not this process's to count.
        simulation = simulate_run(PROGRAM, path, len(events), parallel=False)
        runs = {
            "engine": engine_run(PROGRAM, events),
            "simulation": simulation,
            "simulation, records in memory": in_memory(simulation),
        }
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, run in runs.items():
                seconds[name].append(cpu(run))
    median = {name: statistics.median(times) for name, times in seconds.items()}
    print(f"{len(events):,} records, median of {args.repeat}, CPU seconds:")
    for name, taken in median.items():
        # A simulation replays each record under two programs.
        ratio = "" if name == "engine" else f", {2 * median['engine'] / taken:.0%} of the engine"
        print(f"  {name}: {taken:.2f}{ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
