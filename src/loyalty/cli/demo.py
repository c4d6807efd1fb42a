"""``loyalty demo``: a few weeks of seeded till traffic replayed into a fresh SQLite file."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

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


def _replay(engine: Engine, clock: _ReplayClock, workload: Workload) -> _Tally:
    tally = _Tally()
    for event in workload.events:
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
        tally = _replay(engine, clock, workload)
        elapsed = time.perf_counter() - started
        report = _report(engine, tally, workload)
    finally:
        store.close()

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
    print(report)
    print()
    print("Summary")
    summary = [
        ("members", f"{len(workload.enrollments)}"),
        ("purchases", f"{purchases}"),
        ("redemptions", f"{tally.redemptions}"),
        ("points issued", f"{tally.earned}"),
        ("points redeemed", f"{tally.redeemed}"),
        ("points outstanding", f"{tally.earned - tally.redeemed}"),
        ("elapsed", f"{elapsed:.2f} s for {len(workload.events)} events"),
        ("purchases/s", f"{purchases / tally.purchase_seconds:.0f}" if tally.purchase_seconds else "n/a"),
    ]
    for label, value in summary:
        print(f"  {label:<20}{value}")
    return 0


def _report(engine: Engine, tally: _Tally, workload: Workload) -> str:
    """The top members and one receipt, after checking every balance against its ledger."""
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
        (
            member,
            f"{tally.visits[member]}",
            f"{tally.spent.get(member, Decimal(0)):.2f}",
            f"{earned}",
            f"{redeemed}",
            f"{balance}",
        )
        for balance, member, earned, redeemed in rows[:_TOP]
    ]
    headers = ("member", "visits", "spent (EUR)", "earned", "redeemed", "balance")
    text = [f"Top {len(top)} members by balance (each balance checked against its ledger entries)"]
    text.append(_table(headers, top))
    best = rows[0][1]
    if best in tally.last_purchase:
        # Recording the same purchase again is an idempotent replay: the stored receipt comes back.
        receipt: Receipt = engine.record_purchase(tally.last_purchase[best])
        text += ["", f"Latest receipt of {best}, as stored:", receipt.render()]
    return "\n".join(text)
