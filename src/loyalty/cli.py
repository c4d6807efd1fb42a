"""The ``loyalty`` command.

``loyalty demo`` builds a small grocery chain's program in a fresh SQLite file,
replays a few weeks of seeded till traffic through the engine and shows what
came of it: the best customers, one receipt's explanation and the throughput.

Errors the library raises on purpose (:class:`~loyalty.LoyaltyError`) are
printed as ``error: <message>`` on stderr with exit status 2, the status
``argparse`` uses for bad arguments:

>>> main(["demo", "--db", "/no/such/directory/demo.db"])  # stderr: error: --db: directory ... does not exist
2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import loyalty
from loyalty.engine import Engine
from loyalty.errors import InvalidInput, LoyaltyError, StorageError
from loyalty.ledger import EntryKind, balance_of
from loyalty.program import Program
from loyalty.purchases import Purchase
from loyalty.receipts import Receipt
from loyalty.simulation import Enrollment, Sale, Workload, generate
from loyalty.store import open_store

__all__ = ["main"]

_VISITS_PER_WEEK = 2  # an average member's grocery runs; the busiest do several times that
_TOP = 10


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loyalty", description="An embeddable, explainable loyalty engine for point-of-sale software."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {loyalty.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="replay a few weeks of synthetic till traffic into an SQLite file and report on it",
        description=(
            "Enroll members of a 'Demo Grocer' program (1 point per whole euro), replay seeded purchases "
            f"(about {_VISITS_PER_WEEK} per member a week) and redemptions through the engine into an "
            "SQLite file, then print the top members, a receipt explanation and a summary."
        ),
    )
    demo.add_argument("--db", type=Path, help="SQLite file to create (default: a new temporary directory)")
    demo.add_argument("--force", action="store_true", help="replace --db if it already holds data")
    demo.add_argument("--members", type=_count, default=200, help="members to enroll (default: 200)")
    demo.add_argument("--weeks", type=_count, default=4, help="weeks of purchases to replay (default: 4)")
    demo.add_argument("--seed", type=int, default=1, help="seed of the synthetic traffic (default: 1)")
    demo.add_argument(
        "--synchronous",
        choices=("normal", "full"),
        default="normal",
        help="SQLite durability: 'full' fsyncs every commit and survives power loss; "
        "'normal' (default here) survives an application crash only, and is much faster",
    )
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``loyalty`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except LoyaltyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return status


# -- demo ---------------------------------------------------------------------------------------


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


def _demo(args: argparse.Namespace) -> int:
    path = _demo_path(args.db, args.force)
    purchases = args.members * args.weeks * _VISITS_PER_WEEK
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
        ("members", f"{len(workload.enrollments):,}"),
        ("purchases", f"{purchases:,}"),
        ("redemptions", f"{tally.redemptions:,}"),
        ("points issued", f"{tally.earned:,}"),
        ("points redeemed", f"{tally.redeemed:,}"),
        ("points outstanding", f"{tally.earned - tally.redeemed:,}"),
        ("elapsed", f"{elapsed:.2f} s for {len(workload.events):,} events"),
        ("purchases/s", f"{purchases / tally.purchase_seconds:,.0f}" if tally.purchase_seconds else "n/a"),
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
        balance = engine.balance(member)
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
            f"{tally.visits[member]:,}",
            f"{tally.spent.get(member, Decimal(0)):,.2f}",
            f"{earned:,}",
            f"{redeemed:,}",
            f"{balance:,}",
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
