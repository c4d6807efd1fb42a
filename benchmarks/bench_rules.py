"""Does evaluating a purchase cost the same under 10, 100 or 1,000 rules, when most aim elsewhere?

Run: ``python benchmarks/bench_rules.py [--evaluations 20000] [--repeat 5] [--output docs/performance.md]``.

With ``--compiled`` it measures the compiled program instead (issue 12), each figure the median
ratio of alternating runs: 1,000 rules, most of them store-only or date-only campaigns for other
stores or dates, against 10 rules; and ``examples/grocer.toml`` recording the purchase workload
in memory against the plain loop doing the default program's arithmetic (``raw_memory`` of
``bench_purchases.py``)::

    python benchmarks/bench_rules.py --compiled [--repeat 7] [--output docs/performance.md]

Each program has the same six rules that can apply to the benchmark basket
(a base rate, a category spend rule, a multiplier, a unit bonus, a purchase
bonus with a minimum and a stamp card) plus filler up to 10, 100 or 1,000
rules: spend rules, multipliers and bonuses aimed at categories, SKUs and
labels the basket does not have, and event rules. The basket is three lines.

``earning.evaluate`` is timed on the same basket (best of ``--repeat``), and
every figure is divided by the 10-rule figure of the same run. For contrast
the same programs are timed with ``explain=True``, which looks at every rule
on purpose (to give each one's reason): that is what evaluation would cost
without the rule index. The script checks that all three programs give the
basket the same points.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from bench_purchases import engine_run as memory_run
from bench_purchases import raw_memory
from common import machine
from common import write_output as write_marked
from loyalty import open_store
from loyalty.earning import evaluate
from loyalty.program import EarnRate, Program
from loyalty.purchases import Line, Purchase
from loyalty.rules import (
    EventRule,
    FirstPurchase,
    Multiplier,
    PurchaseBonus,
    Rule,
    SpendRule,
    StampCard,
    UnitBonus,
)
from loyalty.simulation import generate

BEGIN_MARK = "<!-- bench_rules:begin -->"
END_MARK = "<!-- bench_rules:end -->"
SIZES = (10, 100, 1000)

BASKET = Purchase(
    "B1",
    "M1",
    datetime(2024, 3, 5, 15, 0, tzinfo=UTC),
    [
        Line("latte", 2, Decimal("3.40"), category="coffee"),
        Line("croissant", 1, Decimal("2.10"), category="bakery", labels={"color": "gold"}),
        Line("paper", 1, Decimal("2.50")),
    ],
    "EUR",
)

APPLICABLE: tuple[Rule, ...] = (
    SpendRule(id="coffee-extra", points=2, categories=["coffee"]),
    Multiplier(id="bakery-x2", factor=2, categories=["bakery"]),
    UnitBonus(id="latte-units", points=5, skus=["latte"]),
    PurchaseBonus(id="big-basket", points=20, min_amount=Decimal("5.00")),
    StampCard(id="coffee-card", points=30, every=10, categories=["coffee"]),
)


def filler(n: int) -> list[Rule]:
    """``n`` rules that cannot apply to the basket, of every indexable sort."""
    rules: list[Rule] = []
    for i in range(n):
        match i % 5:
            case 0:
                rules.append(SpendRule(id=f"f{i}", points=3, categories=[f"category-{i}"]))
            case 1:
                rules.append(Multiplier(id=f"f{i}", factor=3, skus=[f"sku-{i}"]))
            case 2:
                rules.append(UnitBonus(id=f"f{i}", points=10, labels={"brand": [f"brand-{i}"]}))
            case 3:
                rules.append(PurchaseBonus(id=f"f{i}", points=10, categories=[f"category-{i}"]))
            case _:
                rules.append(EventRule(id=f"f{i}", event=f"event-{i}", points=10))
    return rules


def program(size: int) -> Program:
    rules = [*APPLICABLE, *filler(size - len(APPLICABLE) - 1)]
    return Program("Bench", "EUR", rate=EarnRate(1, Decimal("1.00")), rules=rules)


def per_evaluation(prog: Program, evaluations: int, repeat: int, *, explain: bool) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(evaluations):
            evaluate(prog, BASKET, explain=explain)
        best = min(best, (time.perf_counter() - started) / evaluations)
    return best


def measure(evaluations: int, repeat: int) -> str:
    programs = {size: program(size) for size in SIZES}
    points = {size: evaluate(p, BASKET).receipt.points for size, p in programs.items()}
    if len(set(points.values())) != 1:
        raise SystemExit(f"the programs disagree on the basket's points: {points}")
    indexed = {size: per_evaluation(p, evaluations, repeat, explain=False) for size, p in programs.items()}
    # The full scan is far slower at 1,000 rules; fewer rounds keep the run short.
    scan_rounds = max(50, evaluations // 20)
    scanned = {size: per_evaluation(p, scan_rounds, repeat, explain=True) for size, p in programs.items()}
    candidates = {size: len(p.index.candidates(BASKET.lines)) for size, p in programs.items()}
    rows = [
        f"Basket: 3 lines, {points[10]} points; best of {repeat} x {evaluations:,} evaluations "
        f"({scan_rounds:,} for the full scan).  ",
        f"Machine: Python {platform.python_version()} on {platform.machine()}.",
        "",
        "| Rules in the program | Rules looked at | µs per purchase | vs 10 rules "
        "| Full scan (explain), µs | vs 10 rules |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for size in SIZES:
        fast, slow = indexed[size], scanned[size]
        rows.append(
            f"| {size:,} | {candidates[size]} | {fast * 1e6:.1f} | {fast / indexed[10]:.2f} "
            f"| {slow * 1e6:.1f} | {slow / scanned[10]:.2f} |"
        )
    return "\n".join(rows)


# -- the compiled program (issue 12) ------------------------------------------------------------

GROCER = Path(__file__).resolve().parent.parent / "examples" / "grocer.toml"
CAMPAIGN_BASKET = Purchase(
    "C1",
    "M1",
    datetime(2024, 3, 5, 15, 0, tzinfo=UTC),
    BASKET.lines,
    "EUR",
    store_id="S01",
    channel="pos",
    terminal_id="S01-T1",
)


def campaigns(n: int) -> list[Rule]:
    """``n`` campaigns the basket cannot meet: mostly for other stores or other dates."""
    rules: list[Rule] = []
    for i in range(n):
        match i % 10:
            case 0 | 1 | 2 | 3:
                rules.append(PurchaseBonus(id=f"c{i}", points=10, stores=[f"X{i}"]))
            case 4 | 5 | 6:
                week = date(2023, 1, 2 + i % 20)
                rules.append(SpendRule(id=f"c{i}", points=2, starts=week, ends=week))
            case 7:
                rules.append(FirstPurchase(id=f"c{i}", points=10, terminals=[f"X{i}-T1"]))
            case 8:
                rules.append(Multiplier(id=f"c{i}", factor=2, channels=[f"app{i}"]))
            case _:
                rules.append(SpendRule(id=f"c{i}", points=3, categories=[f"category-{i}"]))
    return rules


def campaign_program(size: int) -> Program:
    rules = [*APPLICABLE, *campaigns(size - len(APPLICABLE) - 1)]
    return Program("Bench", "EUR", rate=EarnRate(1, Decimal("1.00")), rules=rules)


def campaign_ratio(evaluations: int, repeat: int) -> tuple[float, float, float]:
    """Median of alternating runs: µs per evaluation at 10 and 1,000 rules, and their ratio."""
    small, large = campaign_program(10), campaign_program(1000)
    if evaluate(small, CAMPAIGN_BASKET).receipt != evaluate(large, CAMPAIGN_BASKET).receipt:
        raise SystemExit("the 10- and 1,000-rule programs disagree on the basket")
    if len(large.index.select(CAMPAIGN_BASKET).rules) != len(small.index.select(CAMPAIGN_BASKET).rules):
        raise SystemExit("the 1,000-rule program looks at more rules than the 10-rule one")
    times: dict[int, list[float]] = {10: [], 1000: []}
    ratios = []
    for _ in range(repeat):
        for size, prog in ((10, small), (1000, large)):
            times[size].append(per_evaluation(prog, evaluations, 1, explain=False))
        ratios.append(times[1000][-1] / times[10][-1])
    return statistics.median(times[10]), statistics.median(times[1000]), statistics.median(ratios)


def grocer_ratio(purchases: int, repeat: int) -> list[tuple[float, float]]:
    """Median of alternating runs: µs per purchase of the plain loop, then of the engine running
    grocer.toml and the default program in memory on the workload's baskets, each with its
    median ratio to the loop."""
    workload = generate(members=max(1, purchases // 10), purchases=purchases, seed=1)
    grocer, default = Program.from_toml(GROCER), Program("Bench Grocer", "EUR")

    def engine_run(program: Program) -> float:
        return memory_run(lambda: open_store("memory://"), program=program)(workload)

    times: list[list[float]] = [[], [], []]
    ratios: list[list[float]] = [[], [], []]
    for _ in range(repeat):
        times[0].append(raw_memory(workload))
        times[1].append(engine_run(grocer))
        times[2].append(engine_run(default))
        for run in range(3):
            ratios[run].append(times[run][-1] / times[0][-1])
    n = len(workload.sales)
    return [(statistics.median(t) / n, statistics.median(r)) for t, r in zip(times, ratios, strict=True)]


def measure_compiled(evaluations: int, purchases: int, repeat: int) -> str:
    small, large, ratio = campaign_ratio(evaluations, repeat)
    (raw, _), (grocer, grocer_times), (default, default_times) = grocer_ratio(purchases, repeat)
    met = "yes" if ratio <= 2 else "no"
    return "\n".join(
        [
            f"Median of {repeat} alternating runs ({evaluations:,} evaluations; {purchases:,} purchases).  ",
            f"Machine: {machine()}.",
            "",
            "| Measure | Baseline, µs | Measured, µs | Ratio | Target | Met |",
            "|---|---:|---:|---:|---:|:---:|",
            f"| 1,000 rules (campaigns for other stores, dates, terminals, channels) vs 10 rules "
            f"| {small * 1e6:.1f} | {large * 1e6:.1f} | {ratio:.2f} | ≤ 2 | {met} |",
            f"| examples/grocer.toml in memory vs the plain loop (default program's arithmetic) "
            f"| {raw * 1e6:.1f} | {grocer * 1e6:.1f} | {grocer_times:.1f}x | ≤ 25x "
            f"| {'yes' if grocer_times <= 25 else 'no'} |",
            f"| (for reference) the default program in memory vs the plain loop "
            f"| {raw * 1e6:.1f} | {default * 1e6:.1f} | {default_times:.1f}x | ≤ 10x "
            f"| {'yes' if default_times <= 10 else 'no'} |",
        ]
    )


def write_output(path: Path, text: str) -> None:
    """Replace the marked region of ``path`` with ``text``."""
    current = path.read_text(encoding="utf-8")
    if BEGIN_MARK not in current or END_MARK not in current:
        raise SystemExit(f"{path} has no {BEGIN_MARK} ... {END_MARK} region")
    head, _, rest = current.partition(BEGIN_MARK)
    _, _, tail = rest.partition(END_MARK)
    path.write_text(f"{head}{BEGIN_MARK}\n{text}\n{END_MARK}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--evaluations", type=int, default=20_000, help="evaluations per round (20000)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best counts (5)")
    parser.add_argument("--output", type=Path, help="replace the bench_rules region of this Markdown file")
    parser.add_argument("--compiled", action="store_true", help="measure the compiled program's targets")
    parser.add_argument("--purchases", type=int, default=5_000, help="workload purchases for --compiled")
    args = parser.parse_args(argv)
    if args.compiled:
        text = measure_compiled(args.evaluations, args.purchases, args.repeat)
        print(text)
        if args.output is not None:
            write_marked(args.output, text, "bench_rules_compiled")
        return 0
    text = measure(args.evaluations, args.repeat)
    print(text)
    if args.output is not None:
        write_output(args.output, text)
        print(f"written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
