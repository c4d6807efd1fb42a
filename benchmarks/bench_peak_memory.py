"""Peak memory of the what-if simulation and of the bulk import, by the length of the history.

For each ``--sizes`` count of purchases a history file of ``loyalty.simulation.generate``
traffic (seed 1, a tenth as many members as purchases, their enrollments and redemptions) is
written, then measured with ``tracemalloc`` (Python's allocations; SQLite's own pages are not
Python's):

- **simulate**: ``loyalty.whatif.simulate`` reading the file, the default program as current
  and proposed, over in-memory stores (the default: their operation records in a temporary
  SQLite file each, ``loyalty.store.memory.spilled``) and with ``on_disk=True`` (two
  temporary SQLite files);
- **import**: ``Engine.import_events`` reading the file into a fresh SQLite file, 500 events a
  unit of work; and the same with the members held at ``--import-members`` whatever the
  length, so that the files differ in length alone.

With ``--breakdown N`` it also replays the ``N``-purchase history through one ``Engine`` over
``memory://`` (what each side of a simulation runs) and prints where the memory still held at
the end was allocated, by source line, per record. Not a timed test: one run per figure.

    python benchmarks/bench_peak_memory.py
    python benchmarks/bench_peak_memory.py --sizes 10000,100000,300000 --output docs/performance.md
    python benchmarks/bench_peak_memory.py --sizes 300000 --columns disk,import
    python benchmarks/bench_peak_memory.py --sizes 2000 --breakdown 2000   # quick
"""

from __future__ import annotations

import gc
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from common import add_output, machine, parser_for, peak, publish, records_in, sizes_of, write_history
from loyalty import Engine, Program, open_store
from loyalty.whatif import simulate

PROGRAM = Program("Bench Grocer", "EUR")
BATCH = 500
COLUMNS = ("simulate", "disk", "import", "import-fixed")


def simulating(path: Path, *, on_disk: bool = False) -> Callable[[], object]:
    def run() -> object:
        with path.open(encoding="utf-8") as lines:
            return simulate(lines, PROGRAM, PROGRAM, on_disk=on_disk)

    return run


def importing(path: Path, folder: Path) -> Callable[[], object]:
    def run() -> object:
        database = folder / "import.db"
        store = open_store(f"sqlite:///{database}?synchronous=normal")
        try:
            with path.open(encoding="utf-8") as lines:
                return Engine(PROGRAM, store).import_events(lines, batch_size=BATCH)
        finally:
            store.close()
            for leftover in folder.glob("import.db*"):
                leftover.unlink()

    return run


def breakdown(path: Path, top: int = 12) -> list[str]:
    """Where one engine over ``memory://`` that replayed ``path`` holds its memory, by source line."""
    gc.collect()
    tracemalloc.start()
    try:
        engine = Engine(PROGRAM, open_store("memory://"))
        with path.open(encoding="utf-8") as lines:
            records = engine.import_events(lines, batch_size=BATCH).total_applied
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    del engine
    stats = snapshot.statistics("lineno")
    total = sum(stat.size for stat in stats)
    rows = [
        f"Held by one `memory://` engine after {records:,} records: {total / 2**20:,.1f} MiB, "
        f"{total / records:,.0f} bytes a record. Largest sources:",
        "",
        "| Allocated at | Bytes a record | Share |",
        "|---|---:|---:|",
    ]
    root = str(Path(__file__).resolve().parent.parent)
    for stat in stats[:top]:
        frame = stat.traceback[0]
        where = frame.filename.replace(root + "/", "")
        rows.append(f"| `{where}:{frame.lineno}` | {stat.size / records:,.0f} | {stat.size / total:.0%} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument(
        "--sizes", type=sizes_of, default=[10_000, 100_000], help="purchases (default: 10000,100000)"
    )
    parser.add_argument(
        "--import-members",
        type=int,
        default=1_000,
        help="members of the fixed-members import files (default: 1000)",
    )
    parser.add_argument(
        "--columns",
        type=lambda text: [part.strip() for part in text.split(",") if part.strip()],
        default=list(COLUMNS),
        help=f"what to measure (default: {','.join(COLUMNS)})",
    )
    parser.add_argument("--breakdown", type=int, help="also break down one replay of this many purchases")
    add_output(parser)
    args = parser.parse_args(argv)
    unknown = set(args.columns) - set(COLUMNS)
    if unknown:
        parser.error(f"--columns: unknown {', '.join(sorted(unknown))} (known: {', '.join(COLUMNS)})")
    titles = {
        "simulate": "Simulate, MiB",
        "disk": "Simulate on disk, MiB",
        "import": "Import, MiB",
        "import-fixed": f"Import, {args.import_members:,} members, MiB",
    }
    shown = [column for column in COLUMNS if column in args.columns]
    rows = [
        "Peak memory (`tracemalloc`), one run each; seed 1, a tenth as many members as purchases "
        f"unless said; import into SQLite, {BATCH} events a unit of work.  ",
        f"Machine: {machine()}.",
        "",
        "| Purchases | Records | Members | " + " | ".join(titles[column] for column in shown) + " |",
        "|---:|---:|---:|" + "---:|" * len(shown),
    ]
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-peak-") as name:
        folder = Path(name)
        for size in args.sizes:
            members = max(1, size // 10)
            print(f"{size:,} purchases ...", file=sys.stderr, flush=True)
            path = write_history(folder, size, members)
            works = {
                "simulate": simulating(path),
                "disk": simulating(path, on_disk=True),
                "import": importing(path, folder),
            }
            if "import-fixed" in shown:
                works["import-fixed"] = importing(write_history(folder, size, args.import_members), folder)
            cells = [f"{size:,}", f"{records_in(path):,}", f"{members:,}"]
            for column in shown:
                cells.append(f"{peak(works[column]) / 2**20:,.1f}")
                print(f"  {column}: {cells[-1]} MiB", file=sys.stderr, flush=True)
            rows.append("| " + " | ".join(cells) + " |")
            for leftover in folder.glob("history-*.jsonl"):
                leftover.unlink()
        if args.breakdown:
            print(f"breakdown at {args.breakdown:,} purchases ...", file=sys.stderr, flush=True)
            path = write_history(folder, args.breakdown, max(1, args.breakdown // 10))
            rows += ["", *breakdown(path)]
    publish("\n".join(rows), args.output, "bench_peak_memory")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
