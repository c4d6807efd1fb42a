"""What tiers cost: reviews in ``Engine.run_due``, and purchases under a tiered program.

Run: ``python benchmarks/bench_tiers.py [--members 10000,100000] [--due 1000] [--purchases 1500]
[--part reviews|purchases] [--only memory|sqlite|postgres] [--repeat 5] [--fresh]``.

Two measurements, each on the memory, SQLite and PostgreSQL adapters, each
figure the best of ``--repeat`` runs.

**Reviews** (``--part reviews``). The program has two tiers, Member and Gold
(``threshold`` 100 points over the calendar year, reviewed every 1 January).
For each member count a fresh store is populated through the storage port
(``UnitOfWork.add_member``, ``put_tier_state`` and ``add_tallies``, ``--chunk``
members per unit of work, not through the engine): ``--due`` members, spread
evenly over all of them, are Gold with the review of 1 January 2025 due, and
half of those earned too little in 2024 to keep it; with ``--others gold``
(the default) every other member is Gold too, having reached it in 2025, so
its next review (2026) sits in the same index, not yet due; with ``--others
member`` the others never left the lowest tier and have no tier row. Then
``Engine.run_due()`` is timed and its report checked (every due review
carried out, the short half moved down, nothing else). The claim is that its
cost grows with the reviews due, not with the members, so the per-review cost
at the largest member count should be about that at the smallest (ratio near
1.0).

``run_due`` is destructive: each member count's store is populated once, and
after each run the due members' tier states are put back through the port
(``put_tier_state``, in one unit of work), so the next run carries out the
same reviews. The runs go round the member counts ``--repeat`` times, so that
drift on the machine (other work on its two cores) hits every count alike; the
best run of each counts, and the time its store took to fill is printed too.
``--fresh`` populates a fresh store for every run instead, as ``bench_due.py``
does, which takes about four minutes more with PostgreSQL (its 100,000-member
store takes some 40 s to fill through the port). For SQLite a raw ``sqlite3``
baseline is measured on the same file just before each engine run, as
``bench_due.py`` does for lots: select the due tier states through the
``tier_states_due`` index, read each one's member row and metric tally by
their keys and insert one row per review into a scratch table, in one
transaction, so the ratio says what the engine costs on top of finding the
reviews, reading what they need and writing one row for each.

**Purchases** (``--part purchases``). One seeded workload
(``loyalty.simulation.generate``, ``--purchases`` purchases by a tenth as many
members), replayed through ``Engine.record_purchase`` under the same program
twice: without tiers, and with Member and Gold (300 points over the calendar
year, a 1.5 multiplier). Half of the members, every other one, are Gold from
the start (their tier states written through the storage port after
enrollment); the rest start as Members and some reach Gold during the run.
Only the purchase loop is timed; the runs alternate, each on a fresh store.
The ratio is tiered purchases/s over untiered purchases/s: what the tier
reads, the multiplier and the upgrades cost on each adapter. SQLite runs with
``synchronous=normal``, where the engine's own work shows most.

PostgreSQL is measured when ``LOYALTY_TEST_POSTGRES_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/test``) can be opened; each store is a
new ``bench_tiers_*`` schema, dropped afterwards. Otherwise its rows say why
they were skipped.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from common import (
    ADAPTERS,
    DueRun,
    Fresh,
    Skipped,
    add_adapters,
    add_members,
    add_repeat,
    checkpoint,
    chunks,
    fresh_stores,
    machine,
    parser_for,
    raw_baseline,
    spread,
    timed_run_due,
    write_output,
)
from loyalty import Engine, Member, Program, Tier, Tiers
from loyalty.simulation import Workload, generate
from loyalty.store import Store
from loyalty.tallies import Tally
from loyalty.tiers import Metric, TierState, metric_key

LEVELS = ("member", "gold")

# -- the reviews' program and dates -----------------------------------------------------------------

REVIEW_TIERS = Tiers(
    levels=[Tier(id="member"), Tier(id="gold", threshold=100)],
    window="calendar_year",
    downgrade="review",
    review="fixed",
    review_on="01-01",
)
REVIEW_PROGRAM = Program("Bench", "EUR", tiers=REVIEW_TIERS)
T0 = datetime(2024, 1, 1, tzinfo=UTC)  # every member enrolled then
REVIEW_DUE = datetime(2025, 1, 1, tzinfo=UTC)  # the review the due members have
REVIEW_NEXT = datetime(2026, 1, 1, tzinfo=UTC)  # everyone else's, and the kept members' next
#: The engine's clock: the review of 1 January 2025 is two months past, the next ten months away.
NOW = datetime(2025, 3, 1, tzinfo=UTC)
KEEP_POINTS, SHORT_POINTS = 150, 50  # 2024 points of the due members who keep Gold, and who lose it

# -- the purchases' programs ----------------------------------------------------------------------

GOLD_THRESHOLD, GOLD_MULTIPLIER = 300, Decimal("1.5")
PURCHASE_TIERS = Tiers(
    levels=[Tier(id="member"), Tier(id="gold", threshold=GOLD_THRESHOLD, multiplier=GOLD_MULTIPLIER)],
    window="calendar_year",
    downgrade="review",
    review="fixed",
    review_on="01-01",
)
PLAIN = Program("Bench Grocer", "EUR")
TIERED = Program("Bench Grocer", "EUR", tiers=PURCHASE_TIERS)
#: The purchase runs' clock: just after the workload's four weeks (March and April 2024), so
#: no review falls due during them.
PURCHASES_NOW = datetime(2024, 4, 8, tzinfo=UTC)

# What the raw baseline does: the due states through the index, then for each its member's row and
# the tally its review measures, and one row written.
_RAW_DUE = (
    "SELECT member_id, earned FROM tier_states WHERE due_at IS NOT NULL AND due_at <= ?"
    " ORDER BY due_at, member_id"
)
_RAW_MEMBER = "SELECT balance, enrolled_at FROM members WHERE member_id = ?"
_RAW_TALLY = "SELECT count, points FROM tallies WHERE key = ?"
_RAW_SCRATCH = "CREATE TABLE bench_scratch (member_id TEXT NOT NULL, tier TEXT NOT NULL, points TEXT)"
_RAW_INSERT = "INSERT INTO bench_scratch (member_id, tier, points) VALUES (?, ?, ?)"


@dataclass(frozen=True)
class Purchased:
    adapter: str
    policy: str
    plain_rate: float
    tiered_rate: float
    upgrades: int

    @property
    def ratio(self) -> float:
        return self.tiered_rate / self.plain_rate


# -- populating (reviews) -------------------------------------------------------------------------


def gold(member_id: str, since: datetime, review_at: datetime) -> TierState:
    return TierState(member_id, "gold", "gold", since, review_at, review_at, reached=LEVELS)


def due_state(n: int) -> TierState:
    """Member ``n`` with its review due: Gold since early 2024 (its date minutes apart from the
    others', so the index order is not the id order), reviewed on 1 January 2025."""
    return gold(f"m{n:07d}", T0 + timedelta(days=30, minutes=n % 1440), REVIEW_DUE)


def populate(store: Store, members: int, due: int, chunk: int, others: str) -> float:
    """Fill ``store`` through the storage port; the seconds it took."""
    # The k-th due member keeps Gold when k is even, loses it when k is odd.
    with_due = {n: k % 2 == 0 for k, n in enumerate(spread(members, due))}
    started = time.perf_counter()
    for numbers in chunks(members, chunk):
        with store.unit_of_work() as uow:
            tallies: dict[str, Tally] = {}
            for n in numbers:
                member_id = f"m{n:07d}"
                uow.add_member(Member(member_id, T0))
                keeps = with_due.get(n)
                if keeps is not None:
                    uow.put_tier_state(due_state(n))
                    points = KEEP_POINTS if keeps else SHORT_POINTS
                    tallies[metric_key(Metric.POINTS, member_id, "2024")] = Tally(0, Decimal(points))
                elif others == "gold":
                    # Reached Gold in 2025: reviewed on 1 January 2026, not yet due.
                    since = REVIEW_DUE + timedelta(days=14, minutes=n % 1440)
                    uow.put_tier_state(gold(member_id, since, REVIEW_NEXT))
                    tallies[metric_key(Metric.POINTS, member_id, "2025")] = Tally(0, Decimal(KEEP_POINTS))
                else:
                    # Never left Member: no tier row, some points in 2024.
                    tallies[metric_key(Metric.POINTS, member_id, "2024")] = Tally(0, Decimal(SHORT_POINTS))
            uow.add_tallies(tallies)
            uow.commit()
    return time.perf_counter() - started


def restore(store: Store, members: int, due: int) -> None:
    """Put the due members' tier states back as populating left them, through the storage port.

    What the reviews wrote besides (a zero-point ``tier`` entry for each member moved down)
    stays in the ledger; nothing the next ``run_due`` reads depends on it.
    """
    with store.unit_of_work() as uow:
        for n in spread(members, due):
            uow.put_tier_state(due_state(n))
        uow.commit()


# -- timing (reviews) -----------------------------------------------------------------------------


def time_run_due(store: Store, due: int) -> float:
    engine = Engine(REVIEW_PROGRAM, store, clock=lambda: NOW)
    elapsed, report = timed_run_due(engine)
    assert report.tier_reviews == due, report
    assert report.tier_changes == due // 2, report  # the odd ones fell short
    assert report.expired_lots == 0 and report.expired_holds == 0, report
    assert engine.run_due().tier_reviews == 0  # nothing left due
    return elapsed


def _write_reviews(conn: sqlite3.Connection, rows: list[tuple[str, str]]) -> None:
    for member_id, earned in rows:
        # Its balance (the engine locks it) and its enrollment (the window needs it).
        member = conn.execute(_RAW_MEMBER, (member_id,)).fetchone()
        # The window the review measures: 2024, the year before it.
        key = metric_key(Metric.POINTS, member_id, "2024")
        tally = conn.execute(_RAW_TALLY, (key,)).fetchone()
        assert member is not None and tally is not None
        conn.execute(_RAW_INSERT, (member_id, earned, tally[1]))


def sqlite_baseline(path: Path, due: int) -> float:
    """Raw ``sqlite3``: the due states through the index; the member, its tally and an insert each."""
    return raw_baseline(
        path,
        due,
        scratch=_RAW_SCRATCH,
        select=_RAW_DUE,
        index="tier_states_due",
        now=NOW,
        write=_write_reviews,
    )


def measure_reviews(name: str, fresh: Fresh, sizes: list[int], args: argparse.Namespace) -> list[DueRun]:
    """The best run for each member count in ``sizes``.

    By default every size's store is populated once, then the runs go round the sizes
    ``--repeat`` times, the due states put back before each run after the first, so that
    drift on the machine hits every size alike. ``--fresh``: each run on a store of its own.
    """
    runs: dict[int, list[float]] = {members: [] for members in sizes}
    filled: dict[int, list[float]] = {members: [] for members in sizes}
    baselines: dict[int, list[float]] = {members: [] for members in sizes}

    def fill(store: Store, members: int) -> None:
        print(f"populating {name}, {members:,} members ...", file=sys.stderr, flush=True)
        filled[members].append(populate(store, members, args.due, args.chunk, args.others))

    def run(store: Store, path: Path | None, members: int) -> None:
        print(f"measuring {name} reviews, {members:,} members ...", file=sys.stderr, flush=True)
        if path is not None:
            checkpoint(path)
            baselines[members].append(sqlite_baseline(path, args.due))
        runs[members].append(time_run_due(store, args.due))

    if args.fresh:
        for members in sizes:
            for _ in range(args.repeat):
                with fresh() as (store, path):
                    fill(store, members)
                    run(store, path, members)
    else:
        with ExitStack() as stack:
            stores = {members: stack.enter_context(fresh()) for members in sizes}
            for members, (store, _) in stores.items():
                fill(store, members)
            for attempt in range(args.repeat):
                for members, (store, path) in stores.items():
                    if attempt:
                        restore(store, members, args.due)
                    run(store, path, members)
    return [
        DueRun(
            name,
            members,
            args.due,
            # The time to fill the store of the best run (the only one, unless --fresh).
            filled[members][runs[members].index(min(runs[members]))] if args.fresh else filled[members][0],
            min(runs[members]),
            min(baselines[members]) if baselines[members] else None,
        )
        for members in sizes
    ]


# -- purchases ------------------------------------------------------------------------------------


def purchase_run(program: Program, fresh: Fresh, workload: Workload) -> tuple[float, int, int]:
    """Replay the workload's purchases under ``program`` on a fresh store: (seconds, points, upgrades)."""
    with fresh() as (store, _):
        engine = Engine(program, store, clock=lambda: PURCHASES_NOW)
        for enrollment in workload.enrollments:
            engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)
        if program.tiers is not None:
            # Every other member is Gold from the start, reviewed on 1 January 2025.
            with store.unit_of_work() as uow:
                for enrollment in workload.enrollments[::2]:
                    since = enrollment.at.astimezone(UTC)
                    uow.put_tier_state(gold(enrollment.member_id, since, REVIEW_DUE))
                uow.commit()
        purchases = workload.sales
        gc.collect()
        started = time.perf_counter()
        receipts = [engine.record_purchase(purchase) for purchase in purchases]
        elapsed = time.perf_counter() - started
    points = sum(receipt.points for receipt in receipts)
    upgrades = sum(receipt.tier_reached is not None for receipt in receipts)
    return elapsed, points, upgrades


def measure_purchases(name: str, policy: str, fresh: Fresh, workload: Workload, repeat: int) -> Purchased:
    """Purchases per second of the fastest of ``repeat`` runs each, alternating so drift hits both."""
    print(f"measuring {name} purchases ...", file=sys.stderr, flush=True)
    plain_times, tiered_times = [], []
    upgrades = 0
    for _ in range(repeat):
        elapsed, plain_points, none = purchase_run(PLAIN, fresh, workload)
        assert none == 0
        plain_times.append(elapsed)
        elapsed, tiered_points, upgrades = purchase_run(TIERED, fresh, workload)
        tiered_times.append(elapsed)
        assert upgrades > 0 and tiered_points > plain_points, (upgrades, tiered_points, plain_points)
    n = len(workload.sales)
    return Purchased(name, policy, n / min(plain_times), n / min(tiered_times), upgrades)


# -- reporting ------------------------------------------------------------------------------------


def reviews_table(results: list[DueRun | Skipped], args: argparse.Namespace, sizes: list[int]) -> str:
    others = (
        "every other member is Gold with its review not yet due"
        if args.others == "gold"
        else "every other member is at the lowest tier (no tier row)"
    )
    runs = (
        "each on a freshly populated store"
        if args.fresh
        else "one populated store per member count, the due states put back between runs, "
        "the counts taking turns"
    )
    rows = [
        f"`Engine.run_due()` carrying out {args.due:,} due tier reviews ({args.due // 2:,} of them "
        f"moving the member down), best of {args.repeat} ({runs}); {others}.  ",
        f"Machine: {machine()}.",
        "",
        "| Adapter | Members | Reviews due | Populate s | run_due s | µs per review "
        f"| Per-review cost vs {sizes[0]:,} members | Raw baseline s "
        f"| Baseline vs {sizes[0]:,} members | Engine / baseline |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    reference: dict[str, tuple[float, float | None]] = {}
    for r in results:
        if isinstance(r, Skipped):
            rows.append(r.row(10))
            continue
        first, first_baseline = reference.setdefault(r.adapter, (r.per_item, r.baseline))
        baseline = versus = growth = ""
        if r.baseline is not None:
            baseline, versus = f"{r.baseline:.4f}", f"{r.engine / r.baseline:.1f}×"
            if first_baseline is not None:
                growth = f"{r.baseline / first_baseline:.2f}"
        rows.append(
            f"| {r.adapter} | {r.members:,} | {r.due:,} | {r.populate:.1f} | {r.engine:.4f} "
            f"| {r.per_item * 1e6:.1f} | {r.per_item / first:.2f} | {baseline} | {growth} | {versus} |"
        )
    return "\n".join(rows)


def purchases_table(results: list[Purchased | Skipped], workload: Workload, repeat: int) -> str:
    members = len(workload.enrollments)
    upgrades = next((r.upgrades for r in results if isinstance(r, Purchased)), 0)
    rows = [
        f"Workload: seed {workload.seed}, {members:,} members, {len(workload.sales):,} purchases; "
        f"Gold at {GOLD_THRESHOLD} points a calendar year, ×{GOLD_MULTIPLIER}; {(members + 1) // 2:,} "
        f"members Gold from the start, {upgrades:,} more reaching it during the run; best of {repeat}.  ",
        f"Machine: {machine()}.",
        "",
        "| Adapter | Commit policy | Untiered purchases/s | Tiered purchases/s | Tiered / untiered |",
        "|---|---|---:|---:|---:|",
    ]
    for r in results:
        if isinstance(r, Skipped):
            rows.append(r.row(5))
            continue
        rows.append(
            f"| {r.adapter} | {r.policy} | {r.plain_rate:,.0f} | {r.tiered_rate:,.0f} | {r.ratio:.0%} |"
        )
    return "\n".join(rows)


POLICIES = {
    "memory": "none (in process)",
    "sqlite": "WAL, synchronous=normal, commit per purchase",
    "postgres": "READ COMMITTED, commit per purchase",
}


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    add_members(parser, distinct=True)
    parser.add_argument("--due", type=int, default=1_000, help="tier reviews due (default: 1000)")
    parser.add_argument(
        "--others",
        choices=("gold", "member"),
        default="gold",
        help="the members with no review due: Gold with a later review, in the same index (default), "
        "or at the lowest tier, with no tier row",
    )
    parser.add_argument("--chunk", type=int, default=5_000, help="members per unit of work when populating")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="populate a fresh store for every review run, as bench_due.py does, instead of putting "
        "the due states back between runs (slower: about 4 minutes more with PostgreSQL)",
    )
    parser.add_argument(
        "--purchases",
        type=int,
        default=1_500,
        help="purchases to replay, by a tenth as many members (default: 1500)",
    )
    parser.add_argument("--seed", type=int, default=1)
    add_repeat(parser, 5)
    parser.add_argument(
        "--part", action="append", choices=("reviews", "purchases"), help="measure only these (default: both)"
    )
    add_adapters(parser)
    parser.add_argument(
        "--output", type=Path, help="also write the tables there (between its markers if any)"
    )
    args = parser.parse_args(argv)
    sizes: list[int] = args.members
    if args.repeat < 1 or args.chunk < 1 or args.due < 1 or args.purchases < 10:
        parser.error("--repeat, --chunk and --due must be at least 1, --purchases at least 10")
    if args.due > min(sizes):
        parser.error(f"--due ({args.due}) cannot exceed the smallest member count ({min(sizes)})")
    parts = set(args.part or ("reviews", "purchases"))
    only = set(args.only or ADAPTERS)
    workload = generate(members=args.purchases // 10, purchases=args.purchases, seed=args.seed)
    started = time.perf_counter()
    reviewed: list[DueRun | Skipped] = []
    purchased: list[Purchased | Skipped] = []
    # One command at a time: the pool never needs a second connection.
    with fresh_stores("tiers", only, args.dsn, postgres_options="&pool_max=2") as adapters:
        for name, fresh in adapters:
            if isinstance(fresh, str):
                print(f"skipping {name}: {fresh}", file=sys.stderr)
                reviewed.append(Skipped(name, fresh))
                purchased.append(Skipped(name, fresh))
                continue
            if "reviews" in parts:
                reviewed += measure_reviews(name, fresh, sizes, args)
            if "purchases" in parts:
                purchased.append(measure_purchases(name, POLICIES[name], fresh, workload, args.repeat))
    sections = []
    if "reviews" in parts:
        sections.append(reviews_table(reviewed, args, sizes))
    if "purchases" in parts:
        sections.append(purchases_table(purchased, workload, args.repeat))
    text = "\n\n".join(sections)
    print(text)
    if args.output:
        write_output(args.output, text, "bench_tiers")
    print(f"\nTotal wall time: {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
