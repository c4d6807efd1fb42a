"""Does ``Engine.at_risk`` cost the same per member with 10,000 members or 100,000?

Run: ``python benchmarks/bench_at_risk.py [--members 10000,100000] [--repeat 3] [--only sqlite]``.

For each adapter and member count a store is filled through the storage port (``add_member``
and ``add_tallies``, ``--chunk`` members per unit of work): every member has the habits a
purchase keeps (visits, first and last visit, the spend of six months); one in three drifted
away, one in ten has too few visits to judge. ``Engine.at_risk`` reads them all, a page of
members at a time; each round times it once on every store, the member counts taking turns,
and each figure is the median of ``--repeat`` rounds. Its report is checked (every member read,
the drifting ones found). The cost per member should not grow with the members: the target is
at most 1.3 times the smallest count's.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from common import (
    ADAPTERS,
    Fresh,
    Skipped,
    add_adapters,
    add_members,
    add_output,
    add_repeat,
    alternating_medians,
    chunks,
    fresh_stores,
    machine,
    parser_for,
    write_output,
)
from loyalty import Engine, Member, Program
from loyalty.earning_keys import visits_key
from loyalty.habits import micros, seen_key, spent_key
from loyalty.store import Store, Tally

NOW = datetime(2025, 1, 15, tzinfo=UTC)
PROGRAM = Program("Bench", "EUR")
MONTHS = ("2024-07", "2024-08", "2024-09", "2024-10", "2024-11", "2024-12")


@dataclass(frozen=True)
class Result:
    adapter: str
    members: int
    populate: float
    run: float

    @property
    def per_member(self) -> float:
        return self.run / self.members


def habits(n: int) -> dict[str, Tally]:
    """Member ``n``'s tallies: weekly visits until a week ago, or (every third) until two months ago."""
    member_id = f"m{n:07d}"
    visits = 2 if n % 10 == 0 else 26
    last = NOW - (timedelta(days=60) if n % 3 == 0 else timedelta(days=7))
    first = last - timedelta(weeks=visits - 1)
    found = {
        visits_key(member_id): Tally(visits),
        seen_key(member_id): Tally(micros(first), Decimal(micros(last))),
    }
    for month in MONTHS:
        found[spent_key(member_id, month)] = Tally(4, Decimal("80.00"))
    return found


def populate(store: Store, members: int, chunk: int) -> float:
    started = time.perf_counter()
    for numbers in chunks(members, chunk):
        with store.unit_of_work() as uow:
            for n in numbers:
                uow.add_member(Member(f"m{n:07d}", NOW - timedelta(days=400)))
                uow.add_tallies(habits(n))
            uow.commit()
    return time.perf_counter() - started


def timed(engine: Engine, members: int) -> Callable[[], float]:
    drifting = sum(1 for n in range(members) if n % 3 == 0 and n % 10)

    def run() -> float:
        started = time.perf_counter()
        report = engine.at_risk(NOW)
        elapsed = time.perf_counter() - started
        assert report.checked == members, report.checked
        assert len(report.at_risk) == drifting, len(report.at_risk)
        return elapsed

    return run


def measure(adapter: str, fresh: Fresh, sizes: list[int], args: argparse.Namespace) -> Iterator[Result]:
    with ExitStack() as stack:
        runs: list[Callable[[], float]] = []
        filled: list[float] = []
        for members in sizes:
            print(f"filling {adapter}, {members:,} members ...", file=sys.stderr, flush=True)
            store, _ = stack.enter_context(fresh())
            filled.append(populate(store, members, args.chunk))
            runs.append(timed(Engine(PROGRAM, store, clock=lambda: NOW), members))
        print(f"measuring {adapter} ...", file=sys.stderr, flush=True)
        medians = alternating_medians(runs, args.repeat)
    for members, seconds, run in zip(sizes, filled, medians, strict=True):
        yield Result(adapter, members, seconds, run)


def table(results: list[Result | Skipped], sizes: list[int], repeat: int) -> str:
    rows = [
        f"`Engine.at_risk`, median of {repeat} alternating rounds; every member with six months of "
        "habits, one in three drifting away.  ",
        f"Machine: {machine()}.",
        "",
        f"| Adapter | Members | Fill s | at_risk s | µs per member | Per member vs {sizes[0]:,} "
        "| Target | Met |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    first: dict[str, float] = {}
    for r in results:
        if isinstance(r, Skipped):
            rows.append(r.row(8))
            continue
        ratio = r.per_member / first.setdefault(r.adapter, r.per_member)
        met = "yes" if ratio <= 1.3 else "no"
        rows.append(
            f"| {r.adapter} | {r.members:,} | {r.populate:.1f} | {r.run:.3f} | {r.per_member * 1e6:.1f} "
            f"| {ratio:.2f} | ≤ 1.3 | {met} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    add_members(parser, distinct=True)
    add_repeat(parser, 3, counts="the median")
    parser.add_argument("--chunk", type=int, default=2_000, help="members per unit of work when filling")
    add_adapters(parser)
    add_output(parser)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.chunk < 1:
        parser.error("--repeat and --chunk must be at least 1")
    sizes: list[int] = args.members
    results: list[Result | Skipped] = []
    with fresh_stores("at_risk", set(args.only or ADAPTERS), args.dsn) as adapters:
        for adapter, fresh in adapters:
            if isinstance(fresh, str):
                results.append(Skipped(adapter, fresh))
                continue
            results.extend(measure(adapter, fresh, sizes, args))
    text = table(results, sizes, args.repeat)
    print(text)
    if args.output:
        write_output(args.output, text, "bench_at_risk")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
