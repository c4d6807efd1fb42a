"""Does a redemption (or a transfer) cost the same whether the member has 10 open lots or 5,000?

Run: ``python benchmarks/bench_spend.py [--lots 5000] [--redemptions 100] [--repeat 5] [--only sqlite]
[--transfer] [--draw oldest_earned]``.

For each adapter one member gets 10 lots and another ``--lots``, through the storage port
(``common.fill_lots``): two of them still pending, every tenth of the rest never expiring, the
others expiring after the engine's clock at dates an hour apart, in another order than the
lots'. Each round times ``--redemptions`` calls of ``Engine.redeem`` of 10 points for each
member, the members taking turns; each figure is the median of ``--repeat`` rounds. The
10-lot member is the baseline: the ratio many / 10 should stay near 1, because a redemption
should read the few lots it draws from, not every open lot. Afterwards each member's lots
must replay from its history and its available points must have dropped by what was redeemed.
``--transfer`` times ``Engine.transfer`` of 10 points to a member with no lots instead, which
draws as a redemption does. ``--draw oldest_earned`` runs a program that spends the
oldest-earned points first, which reads every open lot of the member (no index has that order):
its ratio grows with the lots, by design.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from common import (
    Skipped,
    add_adapters,
    add_output,
    add_repeat,
    alternating_medians,
    fill_lots,
    machine,
    on_each_adapter,
    parser_for,
    per_call,
    publish,
)
from loyalty import Engine, Program
from loyalty.expiry import Expiry
from loyalty.lots import DrawOrder, lots_of
from loyalty.store import Store

NOW = datetime(2025, 1, 1, tzinfo=UTC)
POINTS_PER_LOT = 100_000
REDEEMED = 10
#: Who ``--transfer`` sends the points to.
RECEIVER = "receiver"


@dataclass(frozen=True)
class Result:
    adapter: str
    lots: int
    few: float
    many: float


def redemptions(engine: Engine, member_id: str, count: int, *, transfer: bool) -> Callable[[], float]:
    """A round of ``count`` redemptions (or transfers to ``RECEIVER``) of 10 points: its seconds
    per command."""
    keys = itertools.count()

    def one() -> object:
        key = f"{member_id}-r{next(keys)}"
        if transfer:
            return engine.transfer(member_id, RECEIVER, REDEEMED, id=key, at=NOW)
        return engine.redeem(member_id, REDEEMED, id=key, at=NOW)

    return per_call(one, count)


def check(engine: Engine, store: Store, member_id: str, before: int, redeemed: int) -> None:
    assert engine.balance(member_id).available == before - redeemed
    with store.unit_of_work(readonly=True) as uow:
        assert uow.lots(member_id) == lots_of(uow.history(member_id))


def measure(args: argparse.Namespace, adapter: str, store: Store, _path: Path | None) -> Result:
    print(f"measuring {adapter} ...", file=sys.stderr, flush=True)
    members = (("few", 10), ("many", args.lots))
    for member_id, lots in members:
        fill_lots(store, member_id, lots, now=NOW, points=POINTS_PER_LOT)
    program = Program("Bench", "EUR", expiry=Expiry(draw=args.draw))
    engine = Engine(program, store, clock=lambda: NOW)
    if args.transfer:
        engine.enroll(RECEIVER, at=NOW)
    before = {member_id: engine.balance(member_id).available for member_id, _ in members}
    few, many = alternating_medians(
        [
            redemptions(engine, member_id, args.redemptions, transfer=args.transfer)
            for member_id, _ in members
        ],
        args.repeat,
    )
    for member_id, _ in members:
        check(engine, store, member_id, before[member_id], REDEEMED * args.redemptions * args.repeat)
    if args.transfer:
        check(engine, store, RECEIVER, 0, -2 * REDEEMED * args.redemptions * args.repeat)
    return Result(adapter, args.lots, few, many)


def table(results: list[Result | Skipped], args: argparse.Namespace) -> str:
    what = "transfer" if args.transfer else "redemption"
    rows = [
        f"`Engine.{'transfer' if args.transfer else 'redeem'}` of {REDEEMED} points, median of "
        f"{args.repeat} alternating rounds of {args.redemptions} {what}s per member; one member with "
        f"10 open lots, one with {args.lots:,} (two pending, a tenth never expiring); "
        f"`[expiry] draw = {args.draw.value!r}`.  ",
        f"Machine: {machine()}.",
        "",
        f"| Adapter | µs per {what}, 10 lots | µs per {what}, many lots | Many / 10 | Target | Met |",
        "|---|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        if isinstance(r, Skipped):
            rows.append(r.row(6))
            continue
        ratio = r.many / r.few
        # Oldest-earned first has no index: it reads every open lot, so no flat target applies.
        target, met = (
            ("—", "—") if args.draw is DrawOrder.OLDEST_EARNED else ("≤ 2", "yes" if ratio <= 2 else "no")
        )
        rows.append(
            f"| {r.adapter} | {r.few * 1e6:.0f} | {r.many * 1e6:.0f} | {ratio:.2f} | {target} | {met} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--lots", type=int, default=5_000, help="the second member's lots (default: 5000)")
    parser.add_argument("--redemptions", type=int, default=100, help="per member and round (default: 100)")
    add_repeat(parser, 5, counts="the median")
    add_adapters(parser)
    parser.add_argument("--transfer", action="store_true", help="time transfers instead of redemptions")
    parser.add_argument(
        "--draw",
        type=DrawOrder,
        default=DrawOrder.SOONEST_EXPIRING,
        choices=list(DrawOrder),
        help="the program's draw order (default: soonest_expiring)",
    )
    add_output(parser)
    args = parser.parse_args(argv)
    if args.lots < 10 or args.redemptions < 1 or args.repeat < 1:
        parser.error("--lots must be at least 10, --redemptions and --repeat at least 1")
    results = on_each_adapter("spend", args, partial(measure, args))
    publish(table(results, args), args.output, "bench_spend")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
