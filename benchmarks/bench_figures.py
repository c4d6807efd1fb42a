"""Do a day's figures cost a day's worth of the store, or the whole store?

Run: ``python benchmarks/bench_figures.py [--purchases 100000] [--members 5000] [--repeat 5]``.

One seeded workload (``loyalty.simulation.generate``, seed 1) spreads ``--purchases`` purchases
by ``--members`` members, and some redemptions, over the 366 days of 2024; each adapter's store
is filled by replaying it through the engine (its clock at each event's time), so the ledger and
the idempotency records are the engine's own. Then ``Engine.figures`` is timed for one day in
the middle of the year (1 July 2024, UTC) and for the whole year, taking turns; each figure is
the median of ``--repeat`` rounds. A day should cost a small fraction of the year: the target is
at most a tenth. Every adapter must give the same figures.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from common import (
    Skipped,
    add_adapters,
    add_output,
    add_repeat,
    alternating_medians,
    machine,
    on_each_adapter,
    parser_for,
    publish,
)
from loyalty import Engine, InsufficientPoints, Program
from loyalty.figures import Figures
from loyalty.simulation import Enrollment, Redemption, Sale, Workload, generate
from loyalty.store import Store

PROGRAM = Program("Bench", "EUR")
YEAR = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
DAY = (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC))


@dataclass(frozen=True)
class Result:
    adapter: str
    populate: float
    day: float
    year: float


def replay(store: Store, workload: Workload) -> Engine:
    """The workload recorded through an engine whose clock follows the events."""
    clock = [YEAR[0]]
    engine = Engine(PROGRAM, store, clock=lambda: clock[0])
    for event in workload.events:
        if isinstance(event, Enrollment):
            clock[0] = event.at
            engine.enroll(event.member_id, at=event.at, birthday=event.birthday)
        elif isinstance(event, Sale):
            clock[0] = event.purchase.at
            engine.record_purchase(event.purchase)
        elif isinstance(event, Redemption):
            clock[0] = event.at
            with contextlib.suppress(InsufficientPoints):
                engine.redeem(event.member_id, event.points, id=event.id, at=event.at)
    return engine


def timed(engine: Engine, period: tuple[datetime, datetime]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        engine.figures(*period)
        return time.perf_counter() - started

    return run


def measure(
    adapter: str, store: Store, workload: Workload, repeat: int, seen: dict[str, tuple[Figures, Figures]]
) -> Result:
    print(f"filling {adapter} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    engine = replay(store, workload)
    populate = time.perf_counter() - started
    print(f"measuring {adapter} ...", file=sys.stderr, flush=True)
    day, year = alternating_medians([timed(engine, DAY), timed(engine, YEAR)], repeat)
    seen[adapter] = (engine.figures(*DAY), engine.figures(*YEAR))
    return Result(adapter, populate, day, year)


def table(results: list[Result | Skipped], workload: Workload, repeat: int) -> str:
    rows = [
        f"`Engine.figures`, median of {repeat} alternating rounds; workload seed {workload.seed}: "
        f"{len(workload.enrollments):,} members, {len(workload.sales):,} purchases and "
        f"{len(workload.redemptions):,} redemptions over 2024; one day is 1 July 2024 (UTC).  ",
        f"Machine: {machine()}.",
        "",
        "| Adapter | Fill s | One day, ms | Whole year, ms | Day / year | Target | Met |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        if isinstance(r, Skipped):
            rows.append(r.row(7))
            continue
        ratio = r.day / r.year
        met = "yes" if ratio <= 0.1 else "no"
        rows.append(
            f"| {r.adapter} | {r.populate:.0f} | {r.day * 1e3:.1f} | {r.year * 1e3:.1f} "
            f"| {ratio:.3f} | ≤ 0.1 | {met} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--purchases", type=int, default=100_000, help="(default: 100000)")
    parser.add_argument("--members", type=int, default=5_000, help="(default: 5000)")
    add_repeat(parser, 5, counts="the median")
    add_adapters(parser)
    add_output(parser)
    args = parser.parse_args(argv)
    if args.purchases < 1 or args.members < 1 or args.repeat < 1:
        parser.error("--purchases, --members and --repeat must be at least 1")
    workload = generate(
        members=args.members, purchases=args.purchases, seed=1, start=date(2024, 1, 1), days=366, tz="UTC"
    )
    assert all(YEAR[0] <= sale.at < YEAR[1] for sale in workload.sales)
    seen: dict[str, tuple[Figures, Figures]] = {}
    results = on_each_adapter(
        "figures", args, lambda adapter, store, _: measure(adapter, store, workload, args.repeat, seen)
    )
    assert len(set(seen.values())) <= 1, "the adapters disagree on the figures"
    publish(table(results, workload, args.repeat), args.output, "bench_figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
