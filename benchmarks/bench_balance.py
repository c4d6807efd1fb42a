"""What does a balance by state cost: how many statements, and how much more than a key read?

Run: ``python benchmarks/bench_balance.py [--lots 100000] [--reads 2000] [--repeat 5] [--only sqlite]``.

For each adapter one member gets 10 lots and another ``--lots``, through the storage port
(``common.fill_lots``): two of them pending, two past their date, 5 points of one held by an
open hold, the rest expiring later or never. ``Engine.balance`` is checked against
``loyalty.lots.summarize`` over the member's open lots and its holds, then timed for both
members and for a key read of the maintained total: raw ``sqlite3`` on the store's file for
SQLite (a read transaction, the member's row by its key), the adapter's own
``UnitOfWork.balance`` in a read-only unit of work for memory and PostgreSQL. The three take
turns; each figure is the median of ``--repeat`` rounds of ``--reads`` reads. On SQLite the
statements one ``Engine.balance`` sends are counted with ``sqlite3``'s trace callback.
"""

from __future__ import annotations

import argparse
import sqlite3
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
from loyalty.lots import Balance, summarize
from loyalty.store import Store
from loyalty.store.sqlite import SQLiteStore

NOW = datetime(2025, 1, 1, tzinfo=UTC)
PROGRAM = Program("Bench", "EUR")
HELD = 5


@dataclass(frozen=True)
class Result:
    adapter: str
    lots: int
    statements: int | None
    short: float
    long: float
    key_read: float


def expected(store: Store, member_id: str) -> Balance:
    """The balance by state from every open lot and hold: what the engine must answer."""
    with store.unit_of_work(readonly=True) as uow:
        found = summarize(uow.lots(member_id), NOW)
        held = sum(hold.points for hold in uow.open_holds(member_id))
    return Balance(found.available, found.pending, found.overdue, held)


def statements_per_balance(store: Store, engine: Engine, member_id: str) -> int | None:
    """The statements one ``Engine.balance`` sends to SQLite (``None`` on other adapters)."""
    if not isinstance(store, SQLiteStore):
        return None
    sent: list[str] = []
    with store._connection() as conn:  # the idle connection the next unit of work reuses
        conn.set_trace_callback(sent.append)
    try:
        engine.balance(member_id)
    finally:
        conn.set_trace_callback(None)
    return sum(1 for statement in sent if statement.lstrip().upper().startswith("SELECT"))


def key_read(store: Store, path: Path | None, member_id: str) -> Callable[[], object]:
    """A read of the member's maintained total by its key: raw ``sqlite3`` on SQLite, else the port's."""
    if path is not None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

        def raw() -> object:
            conn.execute("BEGIN")
            row = conn.execute("SELECT balance FROM members WHERE member_id = ?", (member_id,)).fetchone()
            conn.execute("COMMIT")
            return row

        return raw

    def port() -> object:
        with store.unit_of_work(readonly=True) as uow:
            return uow.balance(member_id)

    return port


def measure(args: argparse.Namespace, adapter: str, store: Store, path: Path | None) -> Result:
    print(f"measuring {adapter} ...", file=sys.stderr, flush=True)
    for member_id, lots in (("short", 10), ("long", args.lots)):
        fill_lots(store, member_id, lots, now=NOW, points=100, overdue=2, held=HELD)
    engine = Engine(PROGRAM, store, clock=lambda: NOW)
    for member_id in ("short", "long"):
        found = engine.balance(member_id)
        assert found == expected(store, member_id), (found, expected(store, member_id))
        assert found.held == HELD and found.pending and found.overdue, found
    statements = statements_per_balance(store, engine, "long")
    short, long, key = alternating_medians(
        [
            per_call(lambda: engine.balance("short"), args.reads),
            per_call(lambda: engine.balance("long"), args.reads),
            per_call(key_read(store, path, "long"), args.reads),
        ],
        args.repeat,
    )
    return Result(adapter, args.lots, statements, short, long, key)


def table(results: list[Result | Skipped], args: argparse.Namespace) -> str:
    rows = [
        f"`Engine.balance`, median of {args.repeat} alternating rounds of {args.reads:,} reads; "
        f"a member with 10 open lots and one with {args.lots:,} (two pending, two past their date, "
        "one open hold each).  ",
        f"Machine: {machine()}.",
        "",
        "| Adapter | SELECTs per balance | µs, 10 lots | µs, many lots | Many / 10 "
        "| Key read µs | Balance (many) / key read |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if isinstance(r, Skipped):
            rows.append(r.row(7))
            continue
        statements = "" if r.statements is None else str(r.statements)
        rows.append(
            f"| {r.adapter} | {statements} | {r.short * 1e6:.1f} | {r.long * 1e6:.1f} "
            f"| {r.long / r.short:.2f} | {r.key_read * 1e6:.1f} | {r.long / r.key_read:.1f}× |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(__doc__)
    parser.add_argument("--lots", type=int, default=100_000, help="the long member's lots (default: 100000)")
    parser.add_argument("--reads", type=int, default=2_000, help="reads per round (default: 2000)")
    add_repeat(parser, 5, counts="the median")
    add_adapters(parser)
    add_output(parser)
    args = parser.parse_args(argv)
    if args.lots < 10 or args.reads < 1 or args.repeat < 1:
        parser.error("--lots must be at least 10, --reads and --repeat at least 1")
    results = on_each_adapter("balance", args, partial(measure, args))
    publish(table(results, args), args.output, "bench_balance")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
