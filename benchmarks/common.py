"""What the benchmark scripts share: fresh stores on each adapter, the machine line, the markers.

Not a benchmark itself. The scripts are run as ``python benchmarks/bench_x.py``, which puts
this folder first on ``sys.path``, so they import it as ``common``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import loyalty
from loyalty import Engine, EntryKind, Hold, LoyaltyError, Maintenance, Member, Posting, open_store
from loyalty.history import read
from loyalty.simulation import generate, to_jsonl
from loyalty.store import Store

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ADAPTERS = ("memory", "sqlite", "postgres")

# A fresh, empty store, and for SQLite the path of its file (for the raw baseline).
Fresh = Callable[[], AbstractContextManager[tuple[Store, Path | None]]]


@dataclass(frozen=True)
class Skipped:
    adapter: str
    reason: str

    def row(self, columns: int) -> str:
        """The adapter's row of a Markdown table of ``columns`` columns: why it was skipped."""
        return f"| {self.adapter} | skipped: {self.reason} |" + " |" * (columns - 2)


@dataclass(frozen=True)
class DueRun:
    """``Engine.run_due`` on one adapter at one member count: the best run's figures, in seconds."""

    adapter: str
    members: int
    due: int  # what each run carries out: lots written off, or tier reviews
    populate: float
    engine: float
    baseline: float | None

    @property
    def per_item(self) -> float:
        return self.engine / self.due


# -- arguments ------------------------------------------------------------------------------------


def _counts(text: str, *, distinct: bool) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected counts separated by commas, got {text!r}") from None
    if not sizes or min(sizes) < 1 or (distinct and len(set(sizes)) != len(sizes)):
        what = "distinct positive" if distinct else "positive"
        raise argparse.ArgumentTypeError(f"expected {what} counts, got {text!r}")
    return sizes


def sizes_of(text: str) -> list[int]:
    """``--members``: positive counts separated by commas (``10000,100_000``)."""
    return _counts(text, distinct=False)


def distinct_sizes_of(text: str) -> list[int]:
    """``--members`` where each count names a store of its own: no count twice."""
    return _counts(text, distinct=True)


def add_members(parser: argparse.ArgumentParser, *, distinct: bool = False) -> None:
    """``--members``: the member counts to measure at; ``distinct``, no count twice."""
    parser.add_argument(
        "--members",
        type=distinct_sizes_of if distinct else sizes_of,
        default=[10_000, 100_000],
        help="member counts (default: 10000,100000)",
    )


def add_repeat(parser: argparse.ArgumentParser, default: int, *, counts: str = "the best") -> None:
    """``--repeat``: runs per figure, of which ``counts`` counts."""
    parser.add_argument(
        "--repeat", type=int, default=default, help=f"runs per figure; {counts} counts (default: {default})"
    )


def parser_for(doc: str | None) -> argparse.ArgumentParser:
    """A script's argument parser, described by the first line of its docstring ``doc``."""
    return argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)


def add_output(parser: argparse.ArgumentParser) -> None:
    """``--output``: a Markdown file to write the table to, between the script's markers (:func:`publish`)."""
    parser.add_argument("--output", type=Path, help="also write the table there, between its markers")


def add_adapters(parser: argparse.ArgumentParser) -> None:
    """``--only`` (the adapters to measure) and ``--dsn`` (the PostgreSQL server)."""
    parser.add_argument("--only", action="append", choices=ADAPTERS, help="measure only these")
    parser.add_argument("--dsn", default=os.environ.get("LOYALTY_TEST_POSTGRES_DSN") or DEFAULT_DSN)


# -- fresh stores ---------------------------------------------------------------------------------


@contextmanager
def memory_store() -> Iterator[tuple[Store, Path | None]]:
    store = open_store("memory://")
    try:
        yield store, None
    finally:
        store.close()


def sqlite_fresh(folder: Path, name: str) -> Fresh:
    """Fresh stores in new files ``<name>-<n>.db`` of ``folder``, removed with their WAL afterwards."""
    counter = itertools.count()

    @contextmanager
    def fresh() -> Iterator[tuple[Store, Path | None]]:
        path = folder / f"{name}-{next(counter)}.db"
        store = open_store(f"sqlite:///{path}?synchronous=normal")
        try:
            yield store, path
        finally:
            store.close()
            for leftover in folder.glob(f"{path.name}*"):
                leftover.unlink()

    return fresh


def drop_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` and all in it from the server at ``dsn`` (psycopg must be installed)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def postgres_fresh(dsn: str, name: str, options: str = "") -> Fresh | str:
    """Fresh stores on new schemas ``bench_<name>_*`` of the server at ``dsn``, or why there can be none.

    ``options``: more of the store's URL, after its schema (``&pool_max=2``).
    """
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg is not installed ({exc})"
    separator = "&" if "?" in dsn else "?"
    counter = itertools.count()

    def schema_name() -> str:
        return f"bench_{name}_{os.getpid()}_{next(counter)}"

    def url(schema: str) -> str:
        return f"{dsn}{separator}schema={schema}{options}"

    probe = schema_name()
    try:
        open_store(url(probe)).close()
        drop_schema(dsn, probe)
    except (LoyaltyError, psycopg.Error) as exc:  # no server, no rights: say so in the row
        return f"PostgreSQL at {dsn} is unreachable: {' '.join(str(exc).split())}"

    @contextmanager
    def fresh() -> Iterator[tuple[Store, Path | None]]:
        schema = schema_name()
        try:
            store = open_store(url(schema))
            try:
                yield store, None
            finally:
                store.close()
        finally:
            drop_schema(dsn, schema)

    return fresh


@contextmanager
def fresh_stores(
    name: str, only: set[str], dsn: str, postgres_options: str = ""
) -> Iterator[list[tuple[str, Fresh | str]]]:
    """The adapters in ``only``, each with its fresh stores or why it has none, in a fixed order.

    SQLite's files go in a temporary folder ``loyalty-bench-<name>-*``, removed on the way out.
    """
    with tempfile.TemporaryDirectory(prefix=f"loyalty-bench-{name}-") as folder:
        adapters: list[tuple[str, Fresh | str]] = [
            ("memory", memory_store),
            ("sqlite", sqlite_fresh(Path(folder), name)),
        ]
        if "postgres" in only:
            adapters.append(("postgres", postgres_fresh(dsn, name, postgres_options)))
        yield [(adapter, fresh) for adapter, fresh in adapters if adapter in only]


R = TypeVar("R")


def on_each_adapter(
    name: str, args: argparse.Namespace, measure: Callable[[str, Store, Path | None], R]
) -> list[R | Skipped]:
    """``measure(adapter, store, sqlite_path)`` on one fresh store of each adapter ``--only`` names,
    or why an adapter has none."""
    results: list[R | Skipped] = []
    with fresh_stores(name, set(args.only or ADAPTERS), args.dsn) as adapters:
        for adapter, fresh in adapters:
            if isinstance(fresh, str):
                results.append(Skipped(adapter, fresh))
                continue
            with fresh() as (store, path):
                results.append(measure(adapter, store, path))
    return results


def publish(text: str, output: Path | None, name: str) -> None:
    """Print the table, and write it to ``output`` between ``name``'s markers if one is given."""
    print(text)
    if output:
        write_output(output, text, name)


# -- raw SQLite baselines -------------------------------------------------------------------------


def checkpoint(path: Path) -> None:
    """Copy what populating left in the WAL into the file, so ``run_due`` is not charged for it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the WAL could not be checkpointed"
    finally:
        conn.close()


def timed_run_due(engine: Engine) -> tuple[float, Maintenance]:
    """The seconds one ``engine.run_due()`` took, and its report."""
    gc.collect()
    started = time.perf_counter()
    report = engine.run_due()
    return time.perf_counter() - started, report


def raw_baseline(
    path: Path,
    due: int,
    *,
    scratch: str,
    select: str,
    index: str,
    now: datetime,
    write: Callable[[sqlite3.Connection, list[Any]], None],
) -> float:
    """Raw ``sqlite3`` on the store's file: the rows ``select`` finds due at ``now`` (``due`` of
    them, through ``index``), and what ``write`` does with them, in one transaction; its seconds.

    ``scratch`` creates the table ``bench_scratch`` for ``write``; it is dropped afterwards.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = NORMAL")  # as the store's URL says; WAL is kept in the file
        conn.execute(scratch)
        until = now.astimezone(UTC).isoformat(timespec="microseconds")  # the adapter's date text
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {select}", (until,)))
        assert index in plan, plan
        gc.collect()
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute(select, (until,)).fetchall()
        write(conn, rows)  # one call for all the rows: nothing per row on top of the loop's own
        conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        assert len(rows) == due, len(rows)
        conn.execute("DROP TABLE bench_scratch")  # leave the file as the adapter made it
        return elapsed
    finally:
        conn.close()


# -- reporting ------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"loyalty-engine {loyalty.__version__}"
    )


def write_output(path: Path, text: str, name: str) -> None:
    """Replace the region of ``path`` marked ``<!-- name:begin -->`` ... ``<!-- name:end -->`` with
    ``text``, or write ``text`` alone, marked, to a new file."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text}\n{end}"
    if path.exists():
        current = path.read_text(encoding="utf-8")
        if begin in current and end in current:
            head, _, rest = current.partition(begin)
            _, _, tail = rest.partition(end)
            path.write_text(head + block + tail, encoding="utf-8")
            return
        raise SystemExit(f"{path} exists without the {begin} markers; refusing to overwrite it")
    path.write_text(block + "\n", encoding="utf-8")


# -- populating -----------------------------------------------------------------------------------


def chunks(total: int, chunk: int) -> Iterator[range]:
    """``range(total)`` in consecutive ranges of ``chunk`` numbers (the last one shorter): what one
    unit of work writes when populating."""
    for start in range(0, total, chunk):
        yield range(start, min(start + chunk, total))


def spread(total: int, count: int) -> list[int]:
    """``count`` of the numbers below ``total``, spread evenly, in order (which members get a due item)."""
    return [n * total // count for n in range(count)]


def write_history(folder: Path, purchases: int, members: int | None = None) -> Path:
    """A history file of seed 1 in ``folder``: ``purchases`` by ``members`` (default: a tenth as many)."""
    members = max(1, purchases // 10) if members is None else members
    path = folder / f"history-{purchases}-{members}.jsonl"
    workload = generate(members=members, purchases=purchases, seed=1)
    with path.open("w", encoding="utf-8") as out:
        out.writelines(to_jsonl(workload.events))
    return path


def records_in(path: Path) -> int:
    """The records of the history file at ``path``."""
    with path.open(encoding="utf-8") as lines:
        return sum(1 for _ in read(lines))


# -- members with many lots -----------------------------------------------------------------------


def fill_lots(
    store: Store,
    member_id: str,
    lots: int,
    *,
    now: datetime,
    points: int,
    pending: int = 2,
    overdue: int = 0,
    held: int = 0,
    chunk: int = 1_000,
) -> None:
    """Enroll ``member_id`` and give it ``lots`` lots of ``points`` through the storage port.

    ``pending`` of them vest after ``now`` and ``overdue`` expired before it; of the rest every
    tenth never expires and the others expire after ``now``, an hour apart, so the spending
    order is not the lot order. ``held`` points of the first lot go to an open hold.
    """
    with store.unit_of_work() as uow:
        uow.add_member(Member(member_id, now - timedelta(days=400)))
        uow.commit()
    first: int | None = None
    for numbers in chunks(lots, chunk):
        with store.unit_of_work() as uow:
            for n in numbers:
                vests, expires = _lot_dates(n, lots, now, pending, overdue)
                earned = now - timedelta(days=200)
                posting = Posting(
                    member_id,
                    EntryKind.ADJUST,
                    points,
                    earned,
                    earned,
                    f"{member_id}-{n}",
                    "bench",
                    "bench",
                    vests_at=vests,
                    expires_at=expires,
                )
                seq = uow.append(posting).seq
                first = seq if first is None else first
            uow.commit()
    if held and first is not None:
        draws = ((first, -held),)
        with store.unit_of_work() as uow:
            uow.append(
                Posting(member_id, EntryKind.HOLD, -held, now, now, f"{member_id}-h", "hold", draws=draws)
            )
            uow.add_hold(Hold(f"{member_id}-h", member_id, held, draws, now, now + timedelta(days=1)))
            uow.commit()


def _lot_dates(
    n: int, lots: int, now: datetime, pending: int, overdue: int
) -> tuple[datetime | None, datetime | None]:
    """The vesting and expiry dates of lot number ``n`` of ``lots`` (see :func:`fill_lots`)."""
    # 7919 is prime: n * 7919 % lots numbers the lots in another order, unless lots is its multiple.
    later = now + timedelta(days=30, hours=(n * 7919) % lots)
    if n >= lots - pending:
        return now + timedelta(days=14), later
    if n >= lots - pending - overdue:
        return None, now - timedelta(days=1, hours=n % 24)
    return None, None if n % 10 == 0 else later


# -- timing and memory ----------------------------------------------------------------------------


def per_call(call: Callable[[], object], calls: int) -> Callable[[], float]:
    """A round of ``calls`` calls of ``call``: its seconds per call."""

    def run() -> float:
        started = time.perf_counter()
        for _ in range(calls):
            call()
        return (time.perf_counter() - started) / calls

    return run


def peak(work: Callable[[], object]) -> int:
    """The most bytes ``work`` held at once, by ``tracemalloc``."""
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def alternating_medians(runs: list[Callable[[], float]], repeat: int) -> list[float]:
    """Each run's median over ``repeat`` rounds (what each call returns, in seconds), the runs taking
    turns in every round so that drift on the machine hits them all alike."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for run, seen in zip(runs, times, strict=True):
            gc.collect()
            seen.append(run())
    return [statistics.median(seen) for seen in times]
