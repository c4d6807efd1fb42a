"""What a purchase costs under inactivity expiry as a member's unspent lots pile up.

Under an inactivity policy every purchase moves the dates of all the member's open lots (their
points expire a time after the member's last activity): it reads them and writes a ``redate``
entry that lists each lot with its new date. A member who earns and never spends opens a lot a
purchase, so the n-th purchase lists about n lots: the time a purchase takes and the ledger's
size grow with the lots, the ledger quadratically in the member's purchases.

One member, ``--purchases`` purchases of 10.00 EUR an hour apart, nothing spent; the same
purchases under a lifetime policy of the same length (a lot's date set when it is earned, never
moved) are the baseline, in the same run, on the same adapter. For each window of purchases
(the first and last ``--window`` before each count of ``--marks``) the table gives the
milliseconds a purchase took under each policy, the lots a purchase's redate listed, and on
SQLite the bytes the file (and WAL, checkpointed) grew by a purchase. Not a timed test: one run.

    python benchmarks/bench_inactivity.py
    python benchmarks/bench_inactivity.py --purchases 1000 --marks 100,500,1000 --output docs/performance.md
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from common import add_output, checkpoint, machine, parser_for, publish, sizes_of
from loyalty import Engine, Line, Program, Purchase, open_store
from loyalty.expiry import Expiry, ExpiryPolicy

START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
POLICIES = {
    "inactivity": Expiry(ExpiryPolicy.INACTIVITY, months=12),
    "lifetime": Expiry(ExpiryPolicy.LIFETIME, months=12),
}


def run(
    url: str, policy: str, purchases: int, marks: list[int], window: int, db: Path | None
) -> dict[int, tuple[float, float, float | None]]:
    """Each mark's window: milliseconds a purchase, lots its redate listed, bytes it added on SQLite."""
    now = [START]
    store = open_store(url)
    try:
        engine = Engine(Program("Club", "EUR", expiry=POLICIES[policy]), store, clock=lambda: now[0])
        engine.enroll("M1", at=START)
        found: dict[int, tuple[float, float, float | None]] = {}
        started = size = 0.0
        for i in range(1, purchases + 1):
            if any(i == mark - window + 1 for mark in marks):
                if db is not None:
                    checkpoint(db)
                    size = db.stat().st_size
                started = time.perf_counter()
            now[0] = START + timedelta(hours=i)
            engine.record_purchase(
                Purchase(f"P{i}", "M1", now[0], [Line("goods", 1, Decimal("10.00"))], "EUR")
            )
            if i in marks:
                took = (time.perf_counter() - started) / window * 1_000
                moved = sum(len(entry.redates) for entry in engine.history("M1")[-2 * window :]) / window
                grew = None
                if db is not None:
                    checkpoint(db)
                    grew = (db.stat().st_size - size) / window
                found[i] = (took, moved, grew)
        return found
    finally:
        store.close()


def main() -> None:
    parser = parser_for(__doc__)
    parser.add_argument(
        "--purchases", type=int, default=1_000, help="purchases of the member (default: 1000)"
    )
    parser.add_argument(
        "--marks", type=sizes_of, default=[100, 500, 1_000], help="where to measure (default: 100,500,1000)"
    )
    parser.add_argument("--window", type=int, default=50, help="purchases a figure averages (default: 50)")
    add_output(parser)
    args = parser.parse_args()
    marks = [mark for mark in args.marks if args.window <= mark <= args.purchases]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-inactivity-") as folder:
        for adapter in ("memory", "sqlite"):
            results = {}
            for policy in POLICIES:
                db = Path(folder) / f"{policy}.db" if adapter == "sqlite" else None
                url = "memory://" if db is None else f"sqlite:///{db}?synchronous=normal"
                results[policy] = run(url, policy, args.purchases, marks, args.window, db)
            for mark in marks:
                (rolling, moved, grew), (fixed, _, base) = (
                    results["inactivity"][mark],
                    results["lifetime"][mark],
                )
                size = "- | -" if grew is None or base is None else f"{grew:,.0f} | {base:,.0f}"
                ratio = rolling / fixed
                times = f"{rolling:.2f} | {fixed:.2f} | {ratio:.1f}x"
                rows.append(f"| {adapter} | {mark:,} | {times} | {moved:,.0f} | {size} |")
    text = "\n".join(
        [
            f"One member, {args.purchases:,} purchases an hour apart, nothing spent; each figure the average "
            f"of the {args.window} purchases up to the mark; one run.  ",
            f"Machine: {machine()}.",
            "",
            "| Adapter | Purchases so far (open lots) | Inactivity, ms a purchase | Lifetime, ms a purchase"
            " | Ratio | Lots a redate lists | Inactivity, bytes a purchase | Lifetime, bytes a purchase |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    publish(text, args.output, "bench_inactivity")


if __name__ == "__main__":
    main()
