"""Does a redemption cost the same whether the member has 10 open lots or 5,000?

Run: ``python benchmarks/bench_spend.py [--lots 5000] [--redemptions 100] [--repeat 5] [--only sqlite]``.

For each adapter one member gets 10 lots and another ``--lots``, through the storage port
(``common.fill_lots``): two of them still pending, every tenth of the rest never expiring, the
others expiring after the engine's clock at dates an hour apart, in another order than the
lots'. Each round times ``--redemptions`` calls of ``Engine.redeem`` of 10 points for each
member, the members taking turns; each figure is the median of ``--repeat`` rounds. The
10-lot member is the baseline: the ratio many / 10 should stay near 1, because a redemption
should read the few lots it draws from, not every open lot. Afterwards each member's lots
must replay from its history and its available points must have dropped by what was redeemed.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from common import (
    Skipped,
    add_adapters,
    add_repeat,
    alternating_medians,
    fill_lots,
    machine,
    on_each_adapter,
    publish,
)
from loyalty import Engine, Program
from loyalty.lots import lots_of
from loyalty.store import Store

NOW = datetime(2025, 1, 1, tzinfo=UTC)
PROGRAM = Program("Bench", "EUR")
POINTS_PER_LOT = 100_000
REDEEMED = 10


@dataclass(frozen=True)
class Result:
    adapter: str
    lots: int
    few: float
    many: float


def redemptions(engine: Engine, member_id: str, count: int) -> Callable[[], float]:
    """A round of ``count`` redemptions of 10 points: its seconds per redemption."""
    keys = itertools.count()

    def run() -> float:
        started = time.perf_counter()
        for _ in range(count):
            engine.redeem(member_id, REDEEMED, id=f"{member_id}-r{next(keys)}", at=NOW)
        return (time.perf_counter() - started) / count

    return run


def check(engine: Engine, store: Store, member_id: str, before: int, redeemed: int) -> None:
    assert engine.balance(member_id).available == before - redeemed
    with store.unit_of_work(readonly=True) as uow:
        assert uow.lots(member_id) == lots_of(uow.history(member_id))


def measure(args: argparse.Namespace, adapter: str, store: Store, _path: Path | None) -> Result:
    print(f"measuring {adapter} ...", file=sys.stderr, flush=True)
    members = (("few", 10), ("many", args.lots))
    for member_id, lots in members:
        fill_lots(store, member_id, lots, now=NOW, points=POINTS_PER_LOT)
    engine = Engine(PROGRAM, store, clock=lambda: NOW)
    before = {member_id: engine.balance(member_id).available for member_id, _ in members}
    few, many = alternating_medians(
        [redemptions(engine, member_id, args.redemptions) for member_id, _ in members], args.repeat
    )
    for member_id, _ in members:
        check(engine, store, member_id, before[member_id], REDEEMED * args.redemptions * args.repeat)
    return Result(adapter, args.lots, few, many)


def table(results: list[Result | Skipped], args: argparse.Namespace) -> str:
    rows = [
        f"`Engine.redeem` of {REDEEMED} points, median of {args.repeat} alternating rounds of "
        f"{args.redemptions} redemptions per member; one member with 10 open lots, one with "
        f"{args.lots:,} (two pending, a tenth never expiring).  ",
        f"Machine: {machine()}.",
        "",
        "| Adapter | µs per redemption, 10 lots | µs per redemption, many lots | Many / 10 | Target | Met |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        if isinstance(r, Skipped):
            rows.append(f"| {r.adapter} | skipped: {r.reason} | | | | |")
            continue
        ratio = r.many / r.few
        met = "yes" if ratio <= 2 else "no"
        rows.append(f"| {r.adapter} | {r.few * 1e6:.0f} | {r.many * 1e6:.0f} | {ratio:.2f} | ≤ 2 | {met} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lots", type=int, default=5_000, help="the second member's lots (default: 5000)")
    parser.add_argument("--redemptions", type=int, default=100, help="per member and round (default: 100)")
    add_repeat(parser, 5, counts="the median")
    add_adapters(parser)
    parser.add_argument("--output", type=Path, help="also write the table there, between its markers")
    args = parser.parse_args(argv)
    if args.lots < 10 or args.redemptions < 1 or args.repeat < 1:
        parser.error("--lots must be at least 10, --redemptions and --repeat at least 1")
    results = on_each_adapter("spend", args, partial(measure, args))
    publish(table(results, args), args.output, "bench_spend")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
