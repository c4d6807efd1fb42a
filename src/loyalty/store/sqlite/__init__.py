"""The SQLite adapter (stdlib ``sqlite3``): the embedded default.

``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``, with options as
query parameters:

- ``synchronous=full`` (default) or ``normal``: with ``full`` an acknowledged
  write survives a power loss; ``normal`` survives an application crash only,
  and commits several times faster because WAL commits then do not fsync.
- ``busy_timeout`` in milliseconds (default 10000): how long a writer waits
  for another connection's write transaction before the engine retries.

Opening a file creates it, or brings an older one up to the current schema;
with ``migrate=False`` a missing file, one that holds no loyalty store or one
at an older schema is refused instead, and nothing is written to it.

Every write runs in ``BEGIN IMMEDIATE``: the write lock is taken before the
first read, so a read-then-write transaction cannot fail half way with
SQLITE_BUSY and no two writers decide on the same balance. Each thread gets
its own connection; several processes may share one file.

Opening a file migrates its schema forward, logged at INFO (from which version
to which, and how long it took); waiting for another process to switch a new
file to WAL is logged at INFO once (see ``docs/logging.md``).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from loyalty.chains import GENESIS, link, link_of
from loyalty.errors import InvalidInput, StorageError
from loyalty.records import unpack_operation
from loyalty.store import Closing
from loyalty.store.owned_tallies import marked, unmarked
from loyalty.store.periods import kept_shares
from loyalty.store.rows import ENTRY_COLUMNS, entry_from_row
from loyalty.store.sqlite.erasure import ErasingConnection
from loyalty.store.sqlite.migrations import CHAIN, MARK, MIGRATIONS
from loyalty.store.sqlite.migrations import SCHEMA_VERSION as SCHEMA_VERSION
from loyalty.store.sqlite.statements import (
    SELECT_OPERATION,
    SYNCHRONOUS,
    instant_micros,
    pack,
    sql_function,
    translate,
)
from loyalty.store.sqlite.transaction import Connection
from loyalty.store.sqlite.unit_of_work import SQLiteUnitOfWork as SQLiteUnitOfWork

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "open_sqlite"]

logger = logging.getLogger(__name__)


class SQLiteStore(Closing):
    """A store in one SQLite file, safe to share between threads and processes."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "full",
        busy_timeout_ms: int = 10_000,
        max_idle: int = 8,
        migrate: bool = True,
    ) -> None:
        if synchronous.lower() not in SYNCHRONOUS:
            raise InvalidInput("synchronous", f"must be one of {', '.join(SYNCHRONOUS)}, got {synchronous!r}")
        if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
            raise InvalidInput(
                "busy_timeout", f"must be a non-negative int of milliseconds, got {busy_timeout_ms!r}"
            )
        self.path = Path(path)
        self.synchronous = SYNCHRONOUS[synchronous.lower()]
        self.busy_timeout_ms = busy_timeout_ms
        self.max_idle = max_idle
        self._idle: list[Connection] = []
        self._guard = threading.Lock()
        self._closed = False
        # A file opened without migrate is never created, even if it goes away meanwhile.
        self._target: str | Path = self.path if migrate else self.path.absolute().as_uri() + "?mode=rw"
        if not migrate:
            self._check_current()
        try:
            with self._connection() as conn:
                self._migrate(conn)
        except BaseException:
            self.close()  # a store that could not be opened keeps no connection open
            raise

    def _open(self) -> Connection:
        if self._closed:
            raise StorageError(None, "the store is closed")
        try:
            # isolation_level=None: we issue BEGIN ourselves (see the module docstring).
            conn = sqlite3.connect(
                self._target,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.busy_timeout_ms / 1000,
                uri=isinstance(self._target, str),
                factory=ErasingConnection,
            )
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        try:
            conn.own = conn.cursor()
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            # Exact instants for the period figures (julianday() rounds to the millisecond).
            conn.create_function("loyalty_instant", 1, sql_function(instant_micros), deterministic=True)
            # Records kept before schema 7, made compact (migration 7).
            conn.create_function("loyalty_pack", 4, sql_function(pack), deterministic=True)
            # The rule shares of entries kept before schema 14 (migration 14).
            conn.create_function("loyalty_shares", 4, sql_function(kept_shares), deterministic=True)
            # Every entry's link hash, in the statement that moves the balance (loyalty.chains).
            conn.create_function("loyalty_link", 4, sql_function(link), deterministic=True)
            # Whether an erasure in this connection renames a member (the entries' guard, schema 19).
            assert isinstance(conn, ErasingConnection)  # the factory's
            conn.create_function("loyalty_erasing", 2, sql_function(conn.renaming.erasing))
            self._enable_wal(conn)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise translate(exc) from exc
            raise
        return conn

    def _check_current(self) -> None:
        """Refuse, before anything is written, a file that is not a loyalty store at this
        schema version (switching a new file to WAL would already write to it)."""
        if not self.path.is_file():
            raise StorageError("url", f"no SQLite file at {self.path}")
        try:
            with closing(sqlite3.connect(self._target, uri=True)) as conn:
                row = conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.Error:
            row = None  # no such table, or not a database at all
        if row is None:
            raise StorageError("url", f"{self.path} holds no loyalty store (opened without migrate)")
        version = int(row[0])
        if version < SCHEMA_VERSION:
            raise StorageError(
                "url",
                f"{self.path} has schema version {version}; this loyalty-engine uses {SCHEMA_VERSION}, "
                "and opening without migrate upgrades nothing (open it once with migrate, "
                "as `loyalty migrate` does)",
            )

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL needs an exclusive lock and does not wait
        # for busy_timeout, so processes creating one file at once retry here.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        waited = False
        while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise
                if not waited:
                    # Once, not every 10 ms.
                    logger.info(
                        "SQLite store %s: switching to WAL failed (%s), retrying for up to %d ms",
                        self.path,
                        type(exc).__name__,
                        self.busy_timeout_ms,
                    )
                    waited = True
                time.sleep(0.01)

    def _borrow(self) -> Connection:
        """An idle connection if there is one, else a new one.

        Connections are pooled rather than kept per thread, so a server that
        runs each request on a new thread does not leak one per thread.
        """
        with self._guard:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _give_back(self, conn: Connection) -> None:
        with self._guard:
            keep = not self._closed and len(self._idle) < self.max_idle
            if keep:
                self._idle.append(conn)
        if not keep:
            conn.close()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """Borrow a connection for the block (see :meth:`_borrow`)."""
        conn = self._borrow()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._current(conn):
            # Nothing to migrate: no write lock, which would wait for every writer of the file
            # (and, past busy_timeout, refuse to open a store that needs nothing done).
            return
        started = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT version FROM schema_version").fetchone()
                version = 0 if row is None else int(row[0])
                if version > SCHEMA_VERSION:
                    raise StorageError(
                        None,
                        f"{self.path} has schema version {version}; this loyalty-engine knows up to "
                        f"{SCHEMA_VERSION}: upgrade loyalty-engine",
                    )
                for step in MIGRATIONS[version:]:
                    for statement in step:
                        if statement == CHAIN:
                            _chain_kept(conn)
                        elif statement == MARK:
                            _mark_members(conn)
                        else:
                            conn.execute(statement)
                if row is None:
                    conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
                else:
                    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        if version < SCHEMA_VERSION:
            logger.info(
                "SQLite store %s: schema migrated from version %d to %d in %.3f s",
                self.path,
                version,
                SCHEMA_VERSION,
                time.perf_counter() - started,
            )

    def _current(self, conn: sqlite3.Connection) -> bool:
        """Whether the file's schema is this release's, read without a lock (a new file has no
        version yet; one that is newer is refused under the lock, where it is read again)."""
        try:
            row = conn.execute("SELECT version FROM schema_version").fetchone()
        except sqlite3.Error:
            return False  # no such table: a new file
        return row is not None and int(row[0]) == SCHEMA_VERSION

    def schema_version(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])

    def unit_of_work(self, *, readonly: bool = False) -> SQLiteUnitOfWork:
        # Its own context manager (loyalty.store.sqlite.transaction.Transactional).
        return SQLiteUnitOfWork(self, readonly)

    def close(self) -> None:
        """Close idle connections now; connections in use close when their unit of work ends."""
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _mark_members(conn: sqlite3.Connection) -> None:
    """Migration 22: the tallies of a purchase or lot kept without their member moved to
    ``member_tallies`` under it (:func:`loyalty.store.owned_tallies.marked`)."""
    keys = [
        key
        for (key,) in conn.execute(
            "SELECT key FROM tallies WHERE key GLOB 'returned|*' OR key GLOB 'taken|*'"
            " OR key GLOB 'paid|*' OR key GLOB 'refunded|*' OR key GLOB 'reminded|*'"
        )
    ]
    found = [of for of in map(unmarked, keys) if of is not None]
    purchases: dict[str, str] = {}
    for pid in {str(of[1]) for of in found if of[0] == "purchase"}:
        # Step 22 runs before step 23 writes a record of layout 3: every record here names its
        # member (layout 2 or older), so the entry's facts are not needed to read it.
        for kind, body, *_ in conn.execute(SELECT_OPERATION, {"k": pid}):
            if kind == "purchase":
                purchases[pid] = unpack_operation(pid, body)[0]["member_id"]
    lots: dict[int, str] = {}
    for lot in {int(of[1]) for of in found if of[0] == "lot"}:
        for (member,) in conn.execute("SELECT member_id FROM entries WHERE seq = ?", (lot,)):
            lots[lot] = member
    for key, member, under in marked(keys, purchases, lots):
        conn.execute(
            "INSERT INTO member_tallies (member_id, key, count, points)"
            " SELECT ?, ?, count, points FROM tallies WHERE key = ?",
            (member, under, key),
        )
        conn.execute("DELETE FROM tallies WHERE key = ?", (key,))


def _chain_kept(conn: sqlite3.Connection) -> None:
    """Migration 15: the entries kept before chained per member from the first, a page at a time
    (one link per member held meanwhile), their links into kept_links and the heads into the rows."""
    heads: dict[str, tuple[int, bytes]] = {}
    last = 0
    query = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE seq > ? ORDER BY seq LIMIT 1000"  # noqa: S608
    while rows := conn.execute(query, (last,)).fetchall():
        kept: list[tuple[int, bytes]] = []
        for row in rows:
            entry = entry_from_row(row)
            chained = link_of(heads.get(entry.member_id, (0, GENESIS))[1], entry)
            heads[entry.member_id] = (entry.seq, chained)
            kept.append((entry.seq, chained))
        last = kept[-1][0]
        conn.executemany("INSERT INTO kept_links (seq, link) VALUES (?, ?)", kept)
    conn.executemany(
        "UPDATE members SET chain_seq = ?, chain_link = ? WHERE member_id = ?",
        [(seq, chained, member) for member, (seq, chained) in heads.items()],
    )


def open_sqlite(url: str, *, migrate: bool = True) -> SQLiteStore:
    """Open ``sqlite:///path.db?synchronous=normal&busy_timeout=5000``; with ``migrate=False`` a
    missing, empty or older file is refused rather than created or upgraded."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc:
        raise InvalidInput("url", f"expected sqlite:///relative.db or sqlite:////absolute.db, got {url!r}")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path == ":memory:":
        raise InvalidInput("url", "an SQLite store needs a file path (use memory:// for an in-memory store)")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    unknown = set(options) - {"synchronous", "busy_timeout"}
    if unknown:
        raise InvalidInput("url", f"unknown SQLite option(s): {', '.join(sorted(unknown))}")
    timeout = options.get("busy_timeout", "10000")
    if not (timeout.isascii() and timeout.isdecimal()):
        raise InvalidInput("busy_timeout", f"must be whole milliseconds, got {timeout!r}")
    return SQLiteStore(
        path, synchronous=options.get("synchronous", "full"), busy_timeout_ms=int(timeout), migrate=migrate
    )
