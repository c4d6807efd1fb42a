"""Does reading a balance cost the same with 10 or 100,000 entries in the member's history?

Run: ``python benchmarks/bench_balance.py [--entries 100000] [--reads 5000]``.

For each adapter, one member gets 10 ledger entries and another gets
``--entries``, appended through the adapter's own ``UnitOfWork.append`` in one
transaction (so the maintained balance is the adapter's own, not patched in).
Then ``Engine.balance`` is timed for each member; the ratio long/short should
stay near 1.0 because the balance is read from the member's row, never summed.
The script checks each balance against the sum of the member's history.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from common import DEFAULT_DSN, drop_schema
from loyalty import Engine, EntryKind, LoyaltyError, Member, Posting, Program, balance_of, open_store
from loyalty.store import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
PROGRAM = Program("Bench", "EUR")


def fill(store: Store, member_id: str, entries: int) -> None:
    with store.unit_of_work() as uow:
        uow.add_member(Member(member_id, T0))
        uow.commit()
    # Chunks of 500: PostgreSQL slows down quadratically when one transaction
    # updates the same balance row tens of thousands of times.
    for start in range(0, entries, 500):
        with store.unit_of_work() as uow:
            for n in range(start, min(start + 500, entries)):
                uow.append(
                    Posting(member_id, EntryKind.ADJUST, 1, T0, T0, f"{member_id}-{n}", "bench", "bench")
                )
            uow.commit()


def per_read(engine: Engine, member_id: str, reads: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(reads):
            engine.balance(member_id)
        best = min(best, (time.perf_counter() - started) / reads)
    return best


def measure(name: str, open_: Callable[[], Store], entries: int, reads: int) -> str:
    store = open_()
    try:
        fill(store, "short", 10)
        fill(store, "long", entries)
        engine = Engine(PROGRAM, store)
        assert engine.balance("long").available == entries == balance_of(engine.history("long"))
        short, long = per_read(engine, "short", reads), per_read(engine, "long", reads)
    finally:
        store.close()
    return f"| {name} | {short * 1e6:.1f} | {long * 1e6:.1f} | {long / short:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=5_000)
    parser.add_argument("--dsn", default=os.environ.get("LOYALTY_TEST_POSTGRES_DSN", DEFAULT_DSN))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="loyalty-bench-balance-"))
    rows = [
        f"Balance reads, best of 3 x {args.reads:,}; 10 entries vs {args.entries:,} entries.",
        "",
        "| Adapter | µs per read, 10 entries | µs per read, long history | Ratio |",
        "|---|---:|---:|---:|",
        measure("memory", lambda: open_store("memory://"), args.entries, args.reads),
        measure("sqlite", lambda: open_store(f"sqlite:///{folder}/balance.db"), args.entries, args.reads),
    ]
    schema = f"bench_balance_{os.getpid()}"
    try:
        rows.append(
            measure("postgres", lambda: open_store(f"{args.dsn}?schema={schema}"), args.entries, args.reads)
        )
    except LoyaltyError as exc:  # no server or no driver: say so in the row
        rows.append(f"| postgres | skipped: {exc} | | |")
    else:
        drop_schema(args.dsn, schema)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
