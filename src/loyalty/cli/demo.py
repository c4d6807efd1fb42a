"""``loyalty demo``: a few weeks of seeded till traffic replayed into a fresh SQLite file."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from loyalty.cli.progress import Advance, progress
from loyalty.engine import Engine
from loyalty.errors import InvalidInput, StorageError
from loyalty.ledger import EntryKind, balance_of
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.simulation import Enrollment, Sale, Workload, generate
from loyalty.store import open_store

VISITS_PER_WEEK = 2  # an average member's grocery runs; the busiest do several times that
_TOP = 10
_SHOWN_EVERY = 100  # events between progress updates: the bar costs nothing next to the replay


class _ReplayClock:
    """The engine's clock during a replay: the time of the event being replayed.

    This keeps ``recorded_at`` monotonic and the whole database identical from
    run to run, as if every event reached the engine the moment it happened.
    """

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _demo_path(requested: Path | None, force: bool) -> Path:
    if requested is None:
        # Left in place on purpose: the point of the demo is a file to look into afterwards.
        return Path(tempfile.mkdtemp(prefix="loyalty-demo-")) / "demo.db"
    path = requested.expanduser().resolve()
    # The path becomes part of an sqlite:/// URL, where these would start a query or fragment.
    if any(ch in str(path) for ch in "?#"):
        raise InvalidInput("--db", f"the path must not contain ? or #: {path}")
    if path.is_dir():
        raise InvalidInput("--db", f"{path} is a directory; name a file inside it")
    if not path.parent.is_dir():
        raise InvalidInput("--db", f"directory {path.parent} does not exist")
    if path.exists() and path.stat().st_size > 0:
        if not force:
            raise InvalidInput("--db", f"{path} already exists and is not empty; pass --force to replace it")
        # The WAL and shared-memory files belong to the old database and would corrupt the new one.
        for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
    return path


class _Tally:
    """What the replay saw, to compare against what the engine stored."""

    def __init__(self) -> None:
        self.visits: Counter[str] = Counter()
        self.spent: dict[str, Decimal] = {}
        self.earned = 0
        self.redeemed = 0
        self.redemptions = 0
        self.purchase_seconds = 0.0
        self.last_purchase: dict[str, Purchase] = {}


def _replay(engine: Engine, clock: _ReplayClock, workload: Workload, advance: Advance) -> _Tally:
    tally = _Tally()
    for done, event in enumerate(workload.events, 1):
        if not done % _SHOWN_EVERY:
            advance(_SHOWN_EVERY)
        clock.now = event.at
        if isinstance(event, Enrollment):
            engine.enroll(event.member_id, at=event.at, birthday=event.birthday)
        elif isinstance(event, Sale):
            purchase = event.purchase
            started = time.perf_counter()
            receipt = engine.record_purchase(purchase)
            tally.purchase_seconds += time.perf_counter() - started
            member = purchase.member_id
            tally.visits[member] += 1
            tally.spent[member] = tally.spent.get(member, Decimal(0)) + purchase.total.amount
            tally.earned += receipt.points
            tally.last_purchase[member] = purchase
        else:
            engine.redeem(event.member_id, event.points, id=event.id, at=event.at, reason="reward")
            tally.redeemed += event.points
            tally.redemptions += 1
    advance(len(workload.events) % _SHOWN_EVERY)
    return tally


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    # The first column is a name and reads best left-aligned; the rest are figures.
    lines = []
    for row in [headers, *rows]:
        figures = [cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([row[0].ljust(widths[0]), *figures]))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class _Top(NamedTuple):
    """One of the top members: each figure read back from the store and checked against its ledger."""

    member: str
    visits: int
    spent: Decimal
    earned: int
    redeemed: int
    balance: int


def demo(args: argparse.Namespace) -> int:
    path = _demo_path(args.db, args.force)
    purchases = args.members * args.weeks * VISITS_PER_WEEK
    workload = generate(members=args.members, purchases=purchases, seed=args.seed, days=7 * args.weeks)
    program = Program("Demo Grocer", "EUR")
    clock = _ReplayClock(workload.events[0].at)
    store = open_store(f"sqlite:///{path}?synchronous={args.synchronous}")
    try:
        engine = Engine(program, store, clock=clock)
        started = time.perf_counter()
        with progress("demo: replaying till traffic", len(workload.events)) as advance:
            tally = _replay(engine, clock, workload, advance)
        elapsed = time.perf_counter() - started
        top, receipt = _read_back(engine, tally, workload)
    finally:
        store.close()
    rate = purchases / tally.purchase_seconds if tally.purchase_seconds else None
    summary = {
        "members": len(workload.enrollments),
        "purchases": purchases,
        "redemptions": tally.redemptions,
        "points_issued": tally.earned,
        "points_redeemed": tally.redeemed,
        "points_outstanding": tally.earned - tally.redeemed,
        "events": len(workload.events),
        "elapsed_seconds": round(elapsed, 3),
        "purchases_per_second": None if rate is None else round(rate),
    }
    if args.json:
        document = {
            "store": f"sqlite:///{path}",
            "synchronous": args.synchronous,
            "program": program.to_dict(),
            "top": [{**row._asdict(), "spent": f"{row.spent:.2f}"} for row in top],
            "receipt": None if receipt is None else {"member_id": top[0].member, **receipt.to_dict()},
            **summary,
        }
        print(json.dumps(document, ensure_ascii=False))
        return 0

    durability = (
        "every commit fsynced: survives a power loss"
        if args.synchronous == "full"
        else "commits survive an application crash, not a power loss; --synchronous full for that"
    )
    print(f"Demo store: {path}")
    print(f"  SQLite, synchronous={args.synchronous} ({durability})")
    print(f"  program {program.name!r}: {program.rate} {program.currency}, rounded {program.rounding.value}")
    print(f'  open it again with loyalty.open_store("sqlite:///{path}")')
    print()
    print(f"Top {len(top)} members by balance (each balance checked against its ledger entries)")
    headers = ("member", "visits", "spent (EUR)", "earned", "redeemed", "balance")
    print(_table(headers, [(m, f"{v}", f"{s:.2f}", f"{e}", f"{r}", f"{b}") for m, v, s, e, r, b in top]))
    if receipt is not None:
        print()
        print(f"Latest receipt of {top[0].member}, as stored:")
        print(receipt.render())
    print()
    print("Summary")
    rows = [
        ("members", f"{summary['members']}"),
        ("purchases", f"{purchases}"),
        ("redemptions", f"{tally.redemptions}"),
        ("points issued", f"{tally.earned}"),
        ("points redeemed", f"{tally.redeemed}"),
        ("points outstanding", f"{summary['points_outstanding']}"),
        ("elapsed", f"{elapsed:.2f} s for {len(workload.events)} events"),
        ("purchases/s", "n/a" if rate is None else f"{rate:.0f}"),
    ]
    for label, value in rows:
        print(f"  {label:<20}{value}")
    return 0


def _read_back(engine: Engine, tally: _Tally, workload: Workload) -> tuple[list[_Top], Receipt | None]:
    """The top members and the best one's latest receipt, after checking every balance against its
    ledger and the ledger's totals against what the engine answered during the replay."""
    rows = []
    for enrollment in workload.enrollments:
        member = enrollment.member_id
        entries = engine.history(member)
        balance = engine.balance(member).total
        total = balance_of(entries)
        if balance != total:
            message = f"member {member}: balance {balance} but its ledger entries add up to {total}"
            raise StorageError(None, message)
        earned = sum(e.points for e in entries if e.kind is EntryKind.EARN)
        redeemed = -sum(e.points for e in entries if e.kind is EntryKind.REDEEM)
        rows.append((balance, member, earned, redeemed))
    issued, spent_points = sum(row[2] for row in rows), sum(row[3] for row in rows)
    if (issued, spent_points) != (tally.earned, tally.redeemed):
        raise StorageError(
            None,
            f"the ledger holds {issued} points earned and {spent_points} redeemed, "
            f"but the engine answered {tally.earned} and {tally.redeemed}",
        )
    rows.sort(key=lambda row: (-row[0], row[1]))
    top = [
        _Top(member, tally.visits[member], tally.spent.get(member, Decimal(0)), earned, redeemed, balance)
        for balance, member, earned, redeemed in rows[:_TOP]
    ]
    best = top[0].member
    # Recording the same purchase again is an idempotent replay: the stored receipt comes back.
    receipt = engine.record_purchase(tally.last_purchase[best]) if best in tally.last_purchase else None
    return top, receipt
