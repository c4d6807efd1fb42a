"""A PostgreSQL purchase against the minimal raw ledger's: client instructions (callgrind), and the
server's side (its backend's CPU time and the WAL bytes written per purchase).

The engine: the members of ``generate(members=100, purchases=600, seed=7)`` enrolled in a fresh
schema (a pool of one connection), its first 100 sales recorded, then the next 500. The minimal raw
ledger (``purchase_runs.py``: raw psycopg, ``BEGIN``, the entry, the balance upsert, ``COMMIT``) the
same 100 and 500 sales in a schema of its own. ``math.factorial(0)`` is called between the
segments: run under valgrind with ``--dump-before=math_factorial``, each segment's count lands in a
file of its own, which ``--read`` prints per purchase (docs/performance.md, "The PostgreSQL
purchase, client and server (issue 12)"):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-before=math_factorial \\
        --callgrind-out-file=cgp.out python benchmarks/cg_postgres.py
    python benchmarks/cg_postgres.py --read cgp.out

``--server`` runs the same loops without valgrind (``--purchases`` counted) and prints, per
purchase, the wall time, the client's CPU time, the server backend's CPU time (``/proc`` of the
backend, so the server must run on this host) and the WAL its transactions wrote (records, bytes
and full-page images, read back with ``pg_walinspect``, created in a schema ``cg_walinspect``, so
that other writers to the server are left out).

``--command redeem`` (or ``balance``) counts that command instead, with no raw ledger to compare:
the same members and sales recorded first (the set-up), then ``Engine.redeem`` of one point (or
``Engine.balance``) for each member in turn, ``WARM`` calls before the counted ones; ``--read``
needs the same ``--command``.
"""

from __future__ import annotations

import argparse
import gc
import glob
import math
import os
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from common import drop_schema
from loyalty import Engine, Program, open_store
from loyalty.simulation import Workload, generate
from loyalty.store import Store
from purchase_runs import _MINIMAL_BALANCE, _MINIMAL_ENTRY, _MINIMAL_SCHEMA, _points

PROGRAM = Program("Bench", "EUR")
DSN = os.environ.get("LOYALTY_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
WARM = 100  # purchases before counting: statements prepared, pages cached, the pool warm

#: Each segment's name and whether its count is per purchase, in the order the dumps come.
SEGMENTS = (
    ("set-up", False),
    ("Engine.record_purchase on PostgreSQL, per purchase", True),
    ("set-up (the raw ledger)", False),
    ("minimal raw ledger (psycopg), per purchase", True),
)

Loop = Callable[[int, int], None]


def segments(command: str) -> tuple[tuple[str, bool], ...]:
    """:data:`SEGMENTS`, or those of ``--command redeem`` or ``balance`` (no raw ledger)."""
    if command == "purchase":
        return SEGMENTS
    return (("set-up", False), (f"Engine.{command} on PostgreSQL, per call", True))


def _app(kind: str) -> str:
    return f"cg_postgres_{kind}_{os.getpid()}"


def _engine(schema: str, app: str) -> tuple[Engine, Store]:
    separator = "&" if "?" in DSN else "?"
    store = open_store(f"{DSN}{separator}schema={schema}&pool_min=1&pool_max=1&application_name={_app(app)}")
    return Engine(PROGRAM, store), store


def engine_loop(workload: Workload, schema: str) -> tuple[Loop, Callable[[], None]]:
    """Record sales ``[start:stop]`` with the engine; and what closes the store."""
    engine, store = _engine(schema, "e")
    for enrollment in workload.enrollments:
        engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)

    def loop(start: int, stop: int) -> None:
        for purchase in workload.sales[start:stop]:
            engine.record_purchase(purchase)

    return loop, store.close


def command_loop(command: str, workload: Workload, schema: str) -> tuple[Loop, Callable[[], None]]:
    """Every sale recorded with the engine; then ``Engine.redeem`` of a point (or ``Engine.balance``)
    for call ``[start:stop]``, each member in turn."""
    engine, store = _engine(schema, "c")
    for enrollment in workload.enrollments:
        engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)
    for purchase in workload.sales:
        engine.record_purchase(purchase)
    # Those with the points for their share of the calls (one each); every member reads its balance.
    members = [enrollment.member_id for enrollment in workload.enrollments]
    share = -(-len(workload.sales) // len(members))
    if command == "redeem":
        members = [member for member in members if engine.balance(member).available >= share * 2]
        assert len(members) * share * 2 >= len(workload.sales), "too few points to redeem"
    after = max(purchase.at for purchase in workload.sales) + timedelta(days=1)

    def loop(start: int, stop: int) -> None:
        for call in range(start, stop):
            member = members[call % len(members)]
            if command == "redeem":
                engine.redeem(member, 1, id=f"R{call}", at=after + timedelta(seconds=call))
            else:
                engine.balance(member)

    return loop, store.close


def raw_loop(workload: Workload, schema: str) -> tuple[Loop, Callable[[], None]]:
    """Record sales ``[start:stop]`` in the minimal raw ledger (as ``purchase_runs.py`` does)."""
    import psycopg
    from psycopg import sql

    s = sql.Identifier(schema)
    ledger, balances = sql.SQL("{}.ledger").format(s), sql.SQL("{}.balances").format(s)
    entry = sql.SQL(_MINIMAL_ENTRY.format(ledger="{ledger}", p="%s")).format(ledger=ledger)
    credit = sql.SQL(_MINIMAL_BALANCE.format(balances="{balances}", p="%s")).format(balances=balances)
    conn: psycopg.Connection[Any] = psycopg.connect(DSN, autocommit=True, application_name=_app("r"))
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
    for statement in _MINIMAL_SCHEMA:
        conn.execute(sql.SQL(statement.replace("TABLE ", "TABLE {}.", 1)).format(s))

    def loop(start: int, stop: int) -> None:
        for purchase in workload.sales[start:stop]:
            points = _points(purchase)
            conn.execute(b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE")
            conn.execute(entry, (purchase.id, purchase.member_id, points, purchase.at.isoformat()))
            conn.execute(credit, (purchase.member_id, points))
            conn.execute(b"COMMIT")

    return loop, conn.close


def loops(
    command: str,
) -> tuple[tuple[Callable[[Workload, str], tuple[Loop, Callable[[], None]]], str, str], ...]:
    """What to run for ``command``: each loop's maker, its name and its backend's application name."""
    if command == "purchase":
        return ((engine_loop, "engine", "e"), (raw_loop, "raw ledger", "r"))
    return ((lambda workload, schema: command_loop(command, workload, schema), command, "c"),)


def instructions(counted: int, command: str) -> None:
    workload = generate(members=100, purchases=WARM + counted, seed=7)
    for make, _, app in loops(command):
        schema = f"cg_{app}_{os.getpid()}"
        loop, close = make(workload, schema)
        try:
            loop(0, WARM)
            gc.collect()
            gc.disable()
            math.factorial(0)
            loop(WARM, WARM + counted)
            math.factorial(0)
            gc.enable()
        finally:
            close()
            drop_schema(DSN, schema)


def _backend_ticks(app: str) -> int:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        row = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)).fetchone()
    assert row is not None, f"no backend named {app}"
    with open(f"/proc/{row[0]}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def _lsn() -> str:
    """Where the flushed WAL ends: pg_walinspect refuses a position past it ("future LSN"), which
    the insert position can be while another session's records are still being written."""
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


# The WAL records of the transactions that wrote to the schema's tables, indexes and sequences
# (others' transactions on the same server left out), their commit records included.
_OWN_WAL = """
WITH nodes AS (
  SELECT pg_relation_filenode(c.oid)::text AS node FROM pg_class AS c
  JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = %(schema)s
  AND pg_relation_filenode(c.oid) IS NOT NULL),
records AS MATERIALIZED (
  SELECT * FROM {inspect}.pg_get_wal_records_info(%(start)s::pg_lsn, %(end)s::pg_lsn) WHERE xid <> '0'::xid),
own AS (SELECT DISTINCT r.xid::text AS xid FROM records AS r
  CROSS JOIN LATERAL regexp_matches(r.block_ref, 'rel \\d+/\\d+/(\\d+)', 'g') AS m(node)
  WHERE m.node[1] IN (SELECT node FROM nodes))
SELECT r.resource_manager || ' ' || r.record_type, count(DISTINCT r.xid::text), count(*),
  sum(r.record_length), sum(r.fpi_length)
FROM records AS r WHERE r.xid::text IN (SELECT xid FROM own)
GROUP BY ROLLUP (1) ORDER BY 1 NULLS FIRST
"""


def _own_wal(schema: str, start: str, end: str) -> list[tuple[str | None, int, int, int, int]] | None:
    """The WAL ``schema``'s writers wrote between ``start`` and ``end``, if ``pg_walinspect`` can be
    had (in a schema of its own): in all (first, named None) and by kind of record, the
    transactions, records, bytes and full-page image bytes."""
    import psycopg
    from psycopg import sql

    inspect = "cg_walinspect"
    with psycopg.connect(DSN, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(inspect)))
            create = sql.SQL("CREATE EXTENSION IF NOT EXISTS pg_walinspect SCHEMA {}")
            conn.execute(create.format(sql.Identifier(inspect)))
        except psycopg.Error as exc:
            print(f"  (no pg_walinspect: {exc})")
            return None
        query = sql.SQL(_OWN_WAL).format(inspect=sql.Identifier(inspect))
        rows = conn.execute(query, {"schema": schema, "start": start, "end": end}).fetchall()
    return [(kind, int(xids), int(n), int(size), int(images)) for kind, xids, n, size, images in rows]


def server(counted: int, command: str) -> None:
    workload = generate(members=counted // 10, purchases=WARM + counted, seed=7)
    tick = os.sysconf("SC_CLK_TCK")
    print(f"{counted:,} {command}s, {counted // 10:,} members; per {command}:")
    for make, kind, app in loops(command):
        schema = f"cg_{app}_{os.getpid()}"
        loop, close = make(workload, schema)
        try:
            loop(0, WARM)
            ticks, start = _backend_ticks(_app(app)), _lsn()
            wall, cpu = time.perf_counter(), time.process_time()
            loop(WARM, WARM + counted)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            end = _lsn()
            ticks = _backend_ticks(_app(app)) - ticks
            wal = None if command == "balance" else _own_wal(schema, start, end)  # reads write none
        finally:
            close()
            drop_schema(DSN, schema)
        line = (
            f"  {kind:>10}: wall {wall / counted * 1e6:7.0f} µs, client CPU {cpu / counted * 1e6:6.0f} µs,"
            f" server backend CPU {ticks / tick / counted * 1e6:6.0f} µs"
        )
        print(line)
        for name, transactions, records, size, images in wal or []:
            print(
                f"    WAL {name or 'in all':<28} {records / counted:5.2f} records {size / counted:6.0f} bytes"
                f" ({images / counted:4.0f} of them full-page images; {transactions:,} transactions)"
            )


def read(prefix: str, counted: int, command: str = "purchase") -> None:
    """Print each segment's count per purchase, from the dumps valgrind wrote at ``prefix``."""
    parts = sorted(glob.glob(f"{prefix}.*"), key=lambda name: int(name.rsplit(".", 1)[1]))
    counts: list[float] = []
    for (name, per_purchase), path in zip(segments(command), parts, strict=False):
        with open(path) as dump:
            total = next(int(line.split()[1]) for line in dump if line.startswith(("summary:", "totals:")))
        counts.append(total / (counted if per_purchase else 1))
        print(f"{counts[-1]:>14,.0f}  {name}")
    if len(counts) == 4:
        print(f"{counts[1] / counts[3]:>14.2f}  engine / raw ledger")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--purchases", type=int, default=500, help="purchases counted (default: 500)")
    parser.add_argument("--server", action="store_true", help="time the loops and read the server's side")
    parser.add_argument("--read", metavar="OUT", help="print the counts valgrind wrote to OUT.N")
    parser.add_argument(
        "--command", choices=("purchase", "redeem", "balance"), default="purchase", help="what to count"
    )
    args = parser.parse_args(argv)
    if args.read:
        read(args.read, args.purchases, args.command)
    elif args.server:
        server(args.purchases, args.command)
    else:
        instructions(args.purchases, args.command)
        print("done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
