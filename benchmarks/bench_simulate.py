"""What-if simulation throughput against the in-memory engine's own, and its peak memory.

Throughput: a history file of ``loyalty.simulation.generate`` traffic (``--purchases``
purchases by a tenth as many members, and their redemptions) is replayed by
``loyalty.whatif.simulate`` under the same program as current and proposed, reading the
file as it goes; the baseline is a plain loop of the same records, read beforehand, through
one ``Engine`` over ``memory://`` (``enroll``, ``record_purchase``, ``redeem``, the clock
moved to each record). A simulation replays every record under two programs, so its rate is
counted per program replayed: ``2 x records / seconds``. The simulation runs as a caller's
would, by default: on a machine with two cores the proposed program replays in a second
process; a third run, ``parallel=False``, replays both in this one. The three take turns,
each run on fresh stores; each figure is the median of ``--repeat`` rounds. The target: at
least 80% of the engine's rate.

Memory: ``tracemalloc``'s peak while reading a history file of each ``--memory`` size of
purchases with ``loyalty.history.read``, and while simulating it in one process
(``parallel=False``: tracemalloc sees one process; the two in-memory stores keep every
entry, so that peak grows with the history; the reading side's must not).

    python benchmarks/bench_simulate.py
    python benchmarks/bench_simulate.py --output docs/performance.md
    python benchmarks/bench_simulate.py --purchases 2000 --memory 1000,10000 --repeat 1   # quick
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common import (
    add_output,
    add_repeat,
    alternating_medians,
    machine,
    parser_for,
    peak,
    publish,
    records_in,
    sizes_of,
    write_history,
)
from loyalty import Engine, Program, open_store
from loyalty.config import load_programs
from loyalty.history import Enrollment, Event, Redemption, Sale, read
from loyalty.whatif import simulate

PROGRAM = Program("Bench Grocer", "EUR")
GROCER = Path(__file__).resolve().parent.parent / "examples" / "grocer.toml"
TARGET = 0.8


def engine_run(program: Program, events: list[Event]) -> Callable[[], float]:
    def run() -> float:
        now = [datetime(2000, 1, 1, tzinfo=UTC)]
        engine = Engine(program, open_store("memory://"), clock=lambda: now[0])
        started = time.perf_counter()
        for event in events:
            now[0] = event.at
            if isinstance(event, Sale):
                engine.record_purchase(event.purchase)
            elif isinstance(event, Enrollment):
                engine.enroll(event.member_id, at=event.at, birthday=event.birthday)
            else:
                assert isinstance(event, Redemption)
                engine.redeem(event.member_id, event.points, id=event.id, at=event.at)
        return time.perf_counter() - started

    return run


def simulate_run(
    program: Program, path: Path, records: int, *, parallel: bool | None = None
) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        with path.open(encoding="utf-8") as lines:
            found = simulate(lines, program, program, parallel=parallel)
        elapsed = time.perf_counter() - started
        assert found.records == records and found.current == found.proposed
        return elapsed

    return run


def simulate_file(path: Path) -> None:
    with path.open(encoding="utf-8") as lines:
        # In one process: tracemalloc sees this process only, and so the two programs' stores.
        simulate(lines, PROGRAM, PROGRAM, parallel=False)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--purchases", type=int, default=20_000, help="for throughput (default: 20000)")
    parser.add_argument(
        "--memory",
        type=sizes_of,
        default=[10_000, 100_000],
        help="purchases for peak memory (default: 10000,100000)",
    )
    add_repeat(parser, 5, counts="the median")
    add_output(parser)
    args = parser.parse_args(argv)
    if args.purchases < 1 or args.repeat < 1:
        parser.error("--purchases and --repeat must be at least 1")
    (grocer,) = load_programs(GROCER)
    rows = [
        f"`loyalty.whatif.simulate` of a history file (seed 1: {args.purchases:,} purchases by "
        f"{max(1, args.purchases // 10):,} members, and their redemptions) under the same program twice, "
        f"against one engine over `memory://` replaying the same records read beforehand; median of "
        f"{args.repeat} alternating rounds. The simulation's rate counts each record once per program.  ",
        f"Machine: {machine()}.",
        "",
        "| Program | Records | Engine records/s | Simulation records/s, per program | Ratio | Target | Met "
        "| In one process (`parallel=False`), records/s | Ratio |",
        "|---|---:|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-simulate-") as folder:
        path = write_history(Path(folder), args.purchases)
        with path.open(encoding="utf-8") as lines:
            events = list(read(lines))
        for name, program in (("default (1 point per EUR)", PROGRAM), ("examples/grocer.toml", grocer)):
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            runs = [
                engine_run(program, events),
                simulate_run(program, path, len(events)),
                simulate_run(program, path, len(events), parallel=False),
            ]
            engine, simulated, alone = alternating_medians(runs, args.repeat)
            engine_rate, simulation_rate = len(events) / engine, 2 * len(events) / simulated
            alone_rate = 2 * len(events) / alone
            ratio = simulation_rate / engine_rate
            rows.append(
                f"| {name} | {len(events):,} | {engine_rate:,.0f} | {simulation_rate:,.0f} | {ratio:.0%} "
                f"| ≥ {TARGET:.0%} | {'yes' if ratio >= TARGET else 'no'} | {alone_rate:,.0f} "
                f"| {alone_rate / engine_rate:.0%} |"
            )
        rows += [
            "",
            "Peak memory (`tracemalloc`), the default program:",
            "",
            "| Purchases | Records | Reading the file, KiB | Simulating it, MiB |",
            "|---:|---:|---:|---:|",
        ]
        for size in args.memory:
            print(f"memory at {size:,} purchases ...", file=sys.stderr, flush=True)
            history = write_history(Path(folder), size)
            records = records_in(history)
            reading = peak(lambda history=history: records_in(history))  # type: ignore[misc]
            simulating = peak(lambda history=history: simulate_file(history))  # type: ignore[misc]
            rows.append(f"| {size:,} | {records:,} | {reading / 1024:,.0f} | {simulating / 2**20:,.1f} |")
            history.unlink()
    publish("\n".join(rows), args.output, "bench_simulate")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
