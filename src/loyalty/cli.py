"""The ``loyalty`` command.

- ``loyalty demo`` builds a small grocery chain's program in a fresh SQLite
  file, replays a few weeks of seeded till traffic through the engine and
  shows what came of it: the best customers, one receipt's explanation and
  the throughput.
- ``loyalty validate PROGRAM`` checks a program file (``.toml`` or ``.json``,
  one program or a file of ``versions``) and prints a one-line summary of each
  version, or every problem as ``path: message``, one per line on stderr.
- ``loyalty quote PROGRAM BASKET.json`` (or ``--line SKU:QTY:PRICE[:CATEGORY]``
  instead of a basket file) prints what a basket would earn, rule by rule,
  with every rule that gives nothing and why, under the program version in
  force at the basket's time. It is a pure evaluation: nothing is written.

``validate`` and ``quote`` write nothing anywhere. The exit status:

- **0**: done (the program is valid; the quote is printed).
- **1**: the program file has problems; each is printed on stderr as
  ``path: message`` (``rules[2].factor: must not be negative, got -1``).
- **2**: a usage error or other refused input: bad arguments (``argparse``'s
  status), a missing file, a bad basket, and any other error the library
  raises on purpose (:class:`~loyalty.LoyaltyError`), printed as
  ``error: <message>`` on stderr.

>>> main(["demo", "--db", "/no/such/directory/demo.db"])  # stderr: error: --db: directory ... does not exist
2
>>> main(["validate", "/no/such/program.toml"])  # stderr: error: /no/such/program.toml: no such file
2

A basket given as JSON data becomes the purchase and member it describes;
a bad field raises the library's error for it, with the field's path:

>>> basket = basket_from_json({"member_id": "M1", "at": "2024-03-05T15:10:00+01:00", "currency": "EUR",
...                            "lines": [{"sku": "latte", "quantity": 2, "unit_price": "3.40"}]})
>>> basket.purchase.total, basket.visits
(Money(amount=Decimal('6.80'), currency='EUR'), 0)
>>> basket_from_json({"member_id": "M1", "at": "2024-03-05T15:10:00+01:00", "currency": "EUR",
...                   "lines": [{"sku": "latte", "quantity": 2, "unit_price": 3.4}]})
Traceback (most recent call last):
...
loyalty.errors.InvalidAmount: lines[0].unit_price: must be a string such as "3.40", not float
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import loyalty
from loyalty.checks import check_aware, check_id
from loyalty.config import load_programs
from loyalty.earning import evaluate, visits_key
from loyalty.engine import Engine
from loyalty.errors import (
    ConfigError,
    InvalidAmount,
    InvalidDatetime,
    InvalidInput,
    InvalidQuantity,
    LoyaltyError,
    StorageError,
)
from loyalty.ledger import EntryKind, balance_of
from loyalty.members import Member
from loyalty.money import check_currency
from loyalty.program import EventCombination, Program, RoundPer, TaxBasis
from loyalty.purchases import MAX_LINES, Line, Purchase
from loyalty.receipts import Receipt
from loyalty.rules import RULE_KINDS
from loyalty.simulation import Enrollment, Sale, Workload, generate
from loyalty.store import open_store
from loyalty.tallies import Tally

__all__ = ["Basket", "basket_from_json", "main"]

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

    validate = commands.add_parser(
        "validate",
        help="check a program file and summarise it",
        description=(
            "Check a program file (.toml or .json; one program, or several versions under 'versions'). "
            "A valid program prints one summary line per version; otherwise every problem is printed "
            "on stderr as 'path: message', one per line, and the exit status is 1. Nothing is written."
        ),
    )
    validate.add_argument("program", type=Path, metavar="PROGRAM", help="the program file (.toml or .json)")
    validate.set_defaults(run=_validate)

    quote = commands.add_parser(
        "quote",
        help="explain what a basket would earn, writing nothing",
        description=(
            "Print what a basket would earn under the program version in force at its time: every "
            "rule's points per line, the rounding, the total, and every rule that gives nothing with "
            "its reason. The basket is a JSON file (- for standard input), or --line options. A quote "
            "writes nothing and knows no history beyond the basket's member.visits."
        ),
    )
    quote.add_argument("program", type=Path, metavar="PROGRAM", help="the program file (.toml or .json)")
    quote.add_argument(
        "basket", nargs="?", metavar="BASKET.json", help="the basket as JSON (- for standard input)"
    )
    quote.add_argument(
        "--line",
        dest="lines",
        action="append",
        type=_line_argument,
        metavar="SKU:QTY:PRICE[:CATEGORY]",
        help="a basket line instead of a basket file (repeat for more lines), e.g. latte:2:3.40:coffee",
    )
    quote.add_argument(
        "--at",
        type=_at_argument,
        metavar="ISO",
        help="the till's time, ISO 8601 with an offset (default: now, in UTC)",
    )
    quote.add_argument(
        "--member-id", type=_id_argument, metavar="ID", help=f"the member (default: {_QUOTE_ID})"
    )
    quote.add_argument(
        "--currency",
        type=_currency_argument,
        metavar="CODE",
        help="ISO 4217 code (default: the program's currency)",
    )
    quote.add_argument(
        "--id", type=_id_argument, metavar="ID", help=f"the purchase id (default: {_QUOTE_ID})"
    )
    quote.add_argument("--store", type=_id_argument, metavar="ID", help="the store id")
    quote.add_argument("--terminal", type=_id_argument, metavar="ID", help="the terminal id")
    quote.add_argument(
        "--channel", type=_id_argument, metavar="NAME", help="the sales channel (web, app, ...)"
    )
    quote.set_defaults(run=_quote, usage=quote.error)

    report = commands.add_parser(
        "report",
        help="print a period's figures: members, retention, points and their liability",
        description=(
            "Print the program's figures for a period from a store: members enrolled and active, "
            "retention and defection against the period of the same length before, points issued, "
            "redeemed, expired and outstanding, breakage, the liability at --point-value, spend and "
            "an estimated lifetime value. The figures are added up in the store. Nothing is written."
        ),
    )
    report.add_argument("store", metavar="STORE_URL", help="the store, e.g. sqlite:///loyalty.db")
    report.add_argument("--from", dest="start", type=_at_argument, required=True, metavar="ISO")
    report.add_argument("--to", dest="end", type=_at_argument, required=True, metavar="ISO")
    report.add_argument(
        "--point-value", type=_argument(lambda text: _money("point-value", text)), metavar="AMOUNT"
    )
    report.add_argument(
        "--program",
        type=Path,
        metavar="PROGRAM",
        help="the program file (default: the latest version stored with the data)",
    )
    report.set_defaults(run=_report_command)
    return parser


def _report_command(args: argparse.Namespace) -> int:
    if args.store.startswith("sqlite:///") and not Path(args.store.removeprefix("sqlite:///")).is_file():
        # Opening would create (and migrate) a new file: a report writes nothing.
        raise InvalidInput("store", f"no SQLite file at {args.store.removeprefix('sqlite:///')}")
    store = open_store(args.store)
    try:
        if args.program is not None:
            versions = _program_versions(args.program)
        else:
            with store.unit_of_work(readonly=True) as uow:
                stored = uow.program_versions()
            if not stored:
                raise InvalidInput("program", "the store holds no program version: give --program")
            versions = tuple(Program.from_dict(version.body) for version in stored)
        engine = Engine(list(versions) if len(versions) > 1 else versions[0], store)
        found = engine.figures(args.start, args.end, point_value=args.point_value)
    finally:
        store.close()
    program = versions[-1]

    def points(units: int) -> str:
        return program.format_points(units)

    def rate(value: Decimal | None) -> str:
        return "-" if value is None else f"{value * 100:.1f}%"

    def money(value: object) -> str:
        return "-" if value is None else str(value)

    rows = [
        ("period", f"{found.start.isoformat()} to {found.end.isoformat()}"),
        ("members enrolled", f"{found.members:,}"),
        ("active members", f"{found.active:,} (before: {found.active_before:,}, both: {found.retained:,})"),
        ("retention rate", rate(found.retention_rate)),
        ("defection rate", rate(found.defection_rate)),
        ("points issued", points(found.issued)),
        ("points redeemed", points(found.redeemed)),
        ("points expired", points(found.expired)),
        ("points taken back", points(found.taken_back)),
        ("points adjusted", points(found.adjusted)),
        ("breakage rate", rate(found.breakage_rate)),
        ("points outstanding", points(found.outstanding)),
        ("liability", money(found.liability)),
        ("purchases", f"{found.purchases:,}"),
        ("spend", str(found.spend)),
        ("spend per active member", money(found.average_spend)),
        ("estimated lifetime value", money(found.lifetime_value)),
    ]
    width = max(len(label) for label, _ in rows)
    print(f"{program.name}: figures")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``loyalty`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except ConfigError as exc:
        # Only program files raise it: every problem, one per line, for the merchant to fix in one pass.
        for path, message in exc.problems:
            print(f"{path}: {message}" if path else message, file=sys.stderr)
        return 1
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


# -- validate -----------------------------------------------------------------------------------

_PROGRAM_SUFFIXES = (".toml", ".json")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InvalidInput(str(path), "no such file")
    if path.is_dir():
        raise InvalidInput(str(path), "is a directory, not a file")


def _program_versions(path: Path) -> tuple[Program, ...]:
    """Every version in the program file at ``path``; its problems raise :class:`ConfigError` (exit 1)."""
    _check_file(path)
    if path.suffix not in _PROGRAM_SUFFIXES:
        raise InvalidInput(str(path), "a program file is .toml or .json (the suffix says which)")
    try:
        return load_programs(path)
    except UnicodeDecodeError as exc:
        raise ConfigError([(str(path), f"is not UTF-8 text (byte {exc.start}: {exc.reason})")]) from None
    except OSError as exc:
        raise InvalidInput(str(path), f"cannot be read: {exc.strerror or exc}") from None


def _summary(program: Program) -> str:
    """One line saying what ``program`` is: ``ok: Corner Coffee (EUR), version 2024-03, ...``."""
    parts = [f"{program.name} ({program.currency})", f"version {program.version}"]
    if program.effective_from is not None:
        parts.append(f"from {program.effective_from.isoformat()}")
    parts.append(f"base rate {program.rate}" if program.rate is not None else "no base rate")
    count = len(program.rules)
    rules = f"{count} rule{'' if count == 1 else 's'}"
    if count:
        kinds = Counter(rule.kind for rule in program.rules)
        rules += " (" + ", ".join(f"{kinds[kind]} {kind}" for kind in RULE_KINDS if kinds[kind]) + ")"
    parts += [rules, f"scale {program.scale}"]
    parts.append(program.rounding.value + (" per line" if program.round_per is RoundPer.LINE else ""))
    # Settings left at their defaults are not mentioned.
    if program.carry:
        parts.append("fractions carried")
    if program.tax is TaxBasis.EXCLUSIVE:
        parts.append("tax excluded")
    if program.events is EventCombination.BEST:
        parts.append("best event rule only")
    if program.timezone != "UTC":
        parts.append(f"timezone {program.timezone}")
    return "ok: " + ", ".join(parts)


def _validate(args: argparse.Namespace) -> int:
    for program in _program_versions(args.program):
        print(_summary(program))
    return 0


# -- quote --------------------------------------------------------------------------------------

_QUOTE_ID = "quote"
_BASKET_KEYS = ("member_id", "at", "currency", "id", "store_id", "terminal_id", "channel", "lines", "member")
_LINE_KEYS = ("sku", "quantity", "unit_price", "category", "labels", "discount", "tax")
_MEMBER_KEYS = ("birthday", "attributes", "visits")
_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_WHOLE_TEXT = re.compile(r"[0-9]+")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AT_EXAMPLE = '"2024-03-05T15:10:00+01:00"'


class Basket(NamedTuple):
    """A basket to quote: the purchase, its member, and how many purchases the member made before."""

    purchase: Purchase
    member: Member
    visits: int = 0

    @property
    def tallies(self) -> dict[str, Tally]:
        """All a quote knows of the member's past: the visit count (for first-purchase rules)."""
        return {visits_key(self.member.id): Tally(self.visits)}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _within(path: str, error: InvalidInput) -> InvalidInput:
    """``error`` (raised by a domain constructor, named relative to it) named from the basket's root."""
    if not path:
        return error
    field = error.field or ""
    joined = path + field if field.startswith("[") else _join(path, field) if field else path
    return type(error)(joined, error.message)


def _object(path: str, value: object, keys: Sequence[str], required: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        what = "" if path else "the basket "
        raise InvalidInput(path or None, f"{what}must be a JSON object, not {type(value).__name__}")
    for key in value:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "the keys are " + ", ".join(keys)
            raise InvalidInput(_join(path, str(key)), f"unknown key ({hint})")
    for key in required:
        if key not in value:
            raise InvalidInput(_join(path, key), "missing")
    return value


def _given(table: Mapping[str, Any], key: str) -> Any:
    """The value under ``key``; ``None`` when it is left out or null (the field's default)."""
    return table.get(key)


def _instant(field: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidDatetime(
            field, f"must be an ISO 8601 string such as {_AT_EXAMPLE}, not {type(value).__name__}"
        )
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidDatetime(
            field, f"must be an ISO 8601 date-time such as {_AT_EXAMPLE}, got {value!r}"
        ) from None
    if at.tzinfo is None:
        raise InvalidDatetime(
            field, f"must carry a UTC offset (+01:00, Z): {value!r} is ambiguous, e.g. {_AT_EXAMPLE}"
        )
    return check_aware(field, at)


def _money(field: str, value: object) -> Decimal:
    if isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value):
            return Decimal(value)
        raise InvalidAmount(field, f'must be an amount such as "3.40", got {value!r}')
    raise InvalidAmount(field, f'must be a string such as "3.40", not {type(value).__name__}')


def _quantity(field: str, value: object) -> int | Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value):
            return Decimal(value)
        raise InvalidQuantity(field, f'must be a whole number or a decimal such as "1.250", got {value!r}')
    raise InvalidQuantity(
        field, f'must be an int or a decimal string such as "1.250", not {type(value).__name__}'
    )


def _line(path: str, value: object) -> Line:
    line = _object(path, value, _LINE_KEYS, ("sku", "quantity", "unit_price"))
    sku = check_id(_join(path, "sku"), line["sku"])
    quantity = _quantity(_join(path, "quantity"), line["quantity"])
    unit_price = _money(_join(path, "unit_price"), line["unit_price"])
    extra: dict[str, Any] = {}
    for key in ("discount", "tax"):
        if _given(line, key) is not None:
            extra[key] = _money(_join(path, key), line[key])
    try:
        return Line(
            sku,
            quantity,
            unit_price,
            category=_given(line, "category"),
            labels=_given(line, "labels"),
            **extra,
        )
    except InvalidInput as exc:
        raise _within(path, exc) from None


def _birthday(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, str) and _DATE_TEXT.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput("member.birthday", f'must be a date such as "1990-03-04", got {value!r}')


def _visits(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            "member.visits", f"must be the number of purchases before this one (an int >= 0), got {value!r}"
        )
    return value


def basket_from_json(data: object) -> Basket:
    """The purchase and member a basket's JSON ``data`` describes (the format is in ``docs/cli.md``).

    Money is strings (``"3.40"``), quantities ints or decimal strings, ``at``
    an ISO 8601 date-time with an offset. Anything else raises the
    :class:`~loyalty.LoyaltyError` subclass the domain raises for it, its
    ``field`` the path in ``data`` (``lines[0].unit_price``, ``member.birthday``).
    """
    basket = _object("", data, _BASKET_KEYS, ("member_id", "at", "currency", "lines"))
    at = _instant("at", basket["at"])
    raw_lines = basket["lines"]
    if not isinstance(raw_lines, list):
        raise InvalidInput("lines", f"must be a list of line objects, not {type(raw_lines).__name__}")
    if len(raw_lines) > MAX_LINES:
        raise InvalidInput("lines", f"at most {MAX_LINES} lines, got {len(raw_lines)}")
    lines = [_line(f"lines[{i}]", item) for i, item in enumerate(raw_lines)]
    purchase = Purchase(
        _given(basket, "id") if _given(basket, "id") is not None else _QUOTE_ID,
        basket["member_id"],
        at,
        lines,
        basket["currency"],
        store_id=_given(basket, "store_id"),
        terminal_id=_given(basket, "terminal_id"),
        channel=_given(basket, "channel"),
    )
    raw_member = _given(basket, "member")
    about = {} if raw_member is None else _object("member", raw_member, _MEMBER_KEYS, ())
    birthday = _birthday(_given(about, "birthday"))
    visits = _visits(_given(about, "visits"))
    try:
        member = Member(purchase.member_id, at, birthday, _given(about, "attributes"))
    except InvalidInput as exc:
        raise _within("member", exc) from None
    return Basket(purchase, member, visits)


def _read_basket(source: str) -> object:
    """The JSON value in the basket file ``source`` (``-``: standard input)."""
    if source == "-":
        label, text = "<stdin>", sys.stdin.read()
    else:
        path = Path(source)
        _check_file(path)
        label = source
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(source, f"is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        except OSError as exc:
            raise InvalidInput(source, f"cannot be read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{label} line {exc.lineno}", f"{exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InvalidInput(label, "is nested too deeply to be a basket") from None


def _argument(check: Any) -> Any:
    """An argparse ``type`` running ``check(value)``, its LoyaltyError shown as argparse's own."""

    def convert(text: str) -> Any:
        try:
            return check(text)
        except InvalidInput as exc:
            raise argparse.ArgumentTypeError(exc.message if not exc.field else str(exc)) from None

    return convert


def _parse_line(text: str) -> Line:
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise InvalidInput(
            None, f"expected SKU:QTY:PRICE[:CATEGORY] such as latte:2:3.40:coffee, got {text!r}"
        )
    sku, quantity, price = parts[:3]
    data: dict[str, Any] = {
        "sku": sku,
        "quantity": int(quantity) if _WHOLE_TEXT.fullmatch(quantity) else quantity,
        "unit_price": price,
    }
    if len(parts) == 4:
        data["category"] = parts[3]
    try:
        return _line("", data)
    except InvalidInput as exc:
        raise InvalidInput(None, f"{text}: {exc}") from None


_line_argument = _argument(_parse_line)
_at_argument = _argument(lambda text: _instant("", text))
_id_argument = _argument(lambda text: check_id("", text))
_currency_argument = _argument(lambda text: check_currency("", text))


def _in_force(versions: Sequence[Program], at: datetime) -> Program:
    """The version in force at ``at``: the last whose ``effective_from`` is not after it."""
    chosen = None
    for version in versions:
        if version.effective_from is None or version.effective_from <= at:
            chosen = version
    if chosen is None:
        first = versions[0]
        assert first.effective_from is not None  # an undated version is always in force
        raise InvalidInput(
            "at",
            f"{at.isoformat()} is before the program's first version "
            f"({first.version}, in force from {first.effective_from.isoformat()})",
        )
    return chosen


def _quote(args: argparse.Namespace) -> int:
    options = {
        "--at": args.at,
        "--member-id": args.member_id,
        "--currency": args.currency,
        "--id": args.id,
        "--store": args.store,
        "--terminal": args.terminal,
        "--channel": args.channel,
    }
    if args.basket is not None:
        if args.lines:
            args.usage("give a basket file or --line options, not both")
        given = [name for name, value in options.items() if value is not None]
        if given:
            args.usage(f"{', '.join(given)}: only with --line (the basket file says this itself)")
    elif not args.lines:
        args.usage("give a basket file (- for standard input) or at least one --line")
    versions = _program_versions(args.program)
    if args.basket is not None:
        basket = basket_from_json(_read_basket(args.basket))
    else:
        at = args.at if args.at is not None else datetime.now(UTC)
        member_id = args.member_id or _QUOTE_ID
        purchase = Purchase(
            args.id or _QUOTE_ID,
            member_id,
            at,
            args.lines,
            args.currency or versions[0].currency,  # every version has the same currency
            store_id=args.store,
            terminal_id=args.terminal,
            channel=args.channel,
        )
        basket = Basket(purchase, Member(member_id, at))
    program = _in_force(versions, basket.purchase.at)
    evaluation = evaluate(
        program, basket.purchase, member=basket.member, tallies=basket.tallies, explain=True
    )
    heading = f"{program.name} ({program.currency}), version {program.version}"
    if program.effective_from is not None:
        heading += f", in force from {program.effective_from.isoformat()}"
    print(heading)
    print(evaluation.receipt.render())
    return 0
