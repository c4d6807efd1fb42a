"""The PostgreSQL adapter (psycopg 3 + psycopg-pool), for stores shared by many tills.

``postgresql://user:password@host:5432/dbname`` (or ``postgres://``), with
loyalty options as query parameters next to any libpq ones
(``sslmode``, ``connect_timeout``, ``application_name``...):

- ``schema`` (default ``loyalty``): where the tables live; it must match
  ``^[a-z_][a-z0-9_]{0,62}$`` so it never needs quoting and never carries SQL.
- ``pool_min`` / ``pool_max`` (default 1 / 10): connections kept open / at most.
- ``pool_timeout`` in seconds (default 30): how long each unit of work waits
  for a connection before giving up.
- ``prepare`` (``on`` or ``off``, default ``on``): ``off`` prepares no statement
  on the server (neither the adapter's nor psycopg's), for a pooler in
  transaction mode such as PgBouncer's (docs/storage-postgres.md, "PgBouncer").

Opening the store connects once first, so a wrong host, port, database, role,
password or option fails at once (libpq's ``connect_timeout``, 5 seconds
unless the URL gives one, bounds an unreachable host) with the server's own
reason in the :class:`~loyalty.errors.StorageError`. With ``migrate=False``
an absent or older schema is refused instead of created or upgraded.

Writes run in READ COMMITTED and lock the member's row (``SELECT ... FOR
UPDATE``) before deciding on its balance, so concurrent writers to one member
queue up instead of losing updates, while writers to different members never
wait for each other. The UNIQUE key of ``operations`` is the final arbiter of
idempotency: the loser of a same-key race gets a unique violation, which is
reported as :class:`~loyalty.errors.TransientStorageError` so the engine
retries and then finds the winner's operation. Read-only units of work run in
REPEATABLE READ so every read in one of them sees the same snapshot.

psycopg is imported only when a store is opened, so ``import loyalty`` works
without it; install it with ``pip install 'loyalty-engine[postgres]'``.

Opening a store migrates its schema forward, logged at INFO: from which
version to which, and how long it took (see ``docs/logging.md``).
"""

from __future__ import annotations

import hashlib
import logging
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loyalty.chains import GENESIS, link_of
from loyalty.errors import InvalidInput, StorageError
from loyalty.records import pack_operation, unpack_operation
from loyalty.store import Closing
from loyalty.store.owned_tallies import marked, unmarked
from loyalty.store.periods import kept_shares
from loyalty.store.postgres.driver import (
    BEGIN_READ,
    BEGIN_WRITE,
    DEFAULT_SCHEMA,
    SCHEMA_NAME,
    behind_pooler,
    import_driver,
    session_reset,
    translate,
)
from loyalty.store.postgres.migrations import CHAIN, MARK, REPACK_PAGE, SHARES
from loyalty.store.postgres.migrations import SCHEMA_VERSION as SCHEMA_VERSION
from loyalty.store.postgres.prepared import rollback
from loyalty.store.postgres.queries import Queries
from loyalty.store.postgres.unit_of_work import PostgresUnitOfWork as PostgresUnitOfWork
from loyalty.store.rows import entry_from_row, load_json

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

    Connection = psycopg.Connection[tuple[Any, ...]]

__all__ = ["DEFAULT_SCHEMA", "SCHEMA_VERSION", "PostgresStore", "open_postgres"]

logger = logging.getLogger(__name__)


class PostgresStore(Closing):
    """A store in one schema of a PostgreSQL database, safe to share between threads and processes."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_min: int = 1,
        pool_max: int = 10,
        pool_timeout: float = 30.0,
        migrate: bool = True,
        prepare: bool = True,
    ) -> None:
        if not isinstance(schema, str) or not SCHEMA_NAME.fullmatch(schema):
            raise InvalidInput(
                "schema",
                f"must match ^[a-z_][a-z0-9_]{{0,62}}$ (lower case, at most 63 characters), got {schema!r}",
            )
        for name, value in (("pool_min", pool_min), ("pool_max", pool_max)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(name, f"must be a non-negative int, got {value!r}")
        if pool_max < max(pool_min, 1):
            raise InvalidInput("pool_max", f"must be at least max(1, pool_min={pool_min}), got {pool_max}")
        if (
            isinstance(pool_timeout, bool)
            or not isinstance(pool_timeout, int | float)
            or not pool_timeout > 0
        ):
            raise InvalidInput("pool_timeout", f"must be a positive number of seconds, got {pool_timeout!r}")
        if not isinstance(prepare, bool):
            raise InvalidInput("prepare", f"must be True or False, got {prepare!r}")
        import_driver()
        import psycopg
        from psycopg_pool import ConnectionPool

        self.schema = schema
        self.pool_timeout = float(pool_timeout)
        self._q = Queries(schema, prepare=prepare)
        self._closed = False
        # Connections that have prepared the statements (configure) and run no unit of work yet:
        # one not found in the first says a pooler (behind_pooler). (After any unit of work, a
        # read too, a statement gone may be another tool's reset: retried on a fresh connection,
        # whose first unit of work is then the retry.)
        self._unproven: weakref.WeakSet[Connection] = weakref.WeakSet()
        try:
            # One connection of our own before the pool's: the pool retries a failed connection
            # in the background until its timeout and then says only that it timed out.
            # (prepare off: nothing prepared on it either, a pooler may give each statement another session)
            with psycopg.connect(_with_timeout(conninfo), autocommit=True, **_unprepared(prepare)) as conn:
                self._migrate(conn, migrate=migrate)
        except psycopg.Error as exc:
            raise StorageError("url", f"postgresql: cannot open the store: {exc}") from exc
        # autocommit: every transaction is opened by an explicit BEGIN that
        # states its isolation level, whatever the server's default is.
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            conninfo,
            min_size=pool_min,
            max_size=pool_max,
            # psycopg prepares the other statements run five times on a connection (its
            # prepare_threshold); a unit of work's ROLLBACK goes past it (prepared.rollback), or it
            # would DEALLOCATE ALL, the adapter's statements too. prepare off: psycopg's off too.
            kwargs={"autocommit": True, **_unprepared(prepare)},
            timeout=self.pool_timeout,
            name=f"loyalty-{schema}",
            # A purchase's statements, prepared once per connection (store.postgres.prepared).
            configure=self._prepare if prepare else None,
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=self.pool_timeout)
        except psycopg.Error as exc:
            self._pool.close()
            raise translate(exc) from exc
        except BaseException:
            self._pool.close()
            raise

    def _prepare(self, conn: Connection) -> None:
        conn.execute(self._q.prepared.text)
        self._unproven.add(conn)

    def _lock_key(self) -> int:
        # Advisory locks are database-wide: one key per schema, stable across processes.
        digest = hashlib.blake2b(f"loyalty-engine schema {self.schema}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    def _installed_version(self, conn: Connection) -> int | None:
        row = conn.execute(
            "SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = 'schema_version'",
            (self.schema,),
        ).fetchone()
        if row is None:
            return None
        row = conn.execute(self._q.version).fetchone()
        return 0 if row is None else int(row[0])

    def _refuse_newer(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StorageError(
                None,
                f"schema {self.schema!r} has schema version {version}; this loyalty-engine knows up to "
                f"{SCHEMA_VERSION}: upgrade loyalty-engine",
            )

    def _migrate(self, conn: Connection, *, migrate: bool) -> None:
        version = self._installed_version(conn)
        self._refuse_newer(version)
        if version == SCHEMA_VERSION:
            # The usual case needs no lock and no DDL privilege.
            return
        if not migrate:
            found = "no loyalty store" if version is None else f"schema version {version}"
            raise StorageError(
                "url",
                f"schema {self.schema!r} holds {found}; this loyalty-engine uses {SCHEMA_VERSION}, and "
                "opening without migrate creates and upgrades nothing (open it once with migrate, "
                "as `loyalty migrate` does)",
            )
        started = time.perf_counter()
        conn.execute(b"BEGIN")
        try:
            # Concurrent openers of a new schema queue here; the later ones
            # then find it migrated. DDL is transactional, so a failed step
            # leaves nothing behind.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key(),))
            conn.execute(self._q.create_schema)
            conn.execute(self._q.create_version)
            row = conn.execute(self._q.version).fetchone()
            version = 0 if row is None else int(row[0])
            self._refuse_newer(version)
            for step in self._q.migrations[version:]:
                for statement in step:
                    if statement == SHARES:
                        self._keep_shares(conn)
                    elif statement == CHAIN:
                        self._chain_kept(conn)
                    elif statement == MARK:
                        self._mark_members(conn)
                    elif isinstance(statement, str):
                        self._repack(conn)
                    else:
                        conn.execute(statement)
            if row is None:
                conn.execute(self._q.insert_version, (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                conn.execute(self._q.update_version, (SCHEMA_VERSION,))
            conn.execute(b"COMMIT")
        except BaseException:
            conn.execute(b"ROLLBACK")
            raise
        if version != SCHEMA_VERSION:
            # (Not when another opener migrated it while this one waited for the lock.)
            logger.info(
                "PostgreSQL store, schema %r: migrated from version %d to %d in %.3f s",
                self.schema,
                version,
                SCHEMA_VERSION,
                time.perf_counter() - started,
            )

    def _repack(self, conn: Connection) -> None:
        """Migration 7: every operation kept whole (request and result), packed a page at a time."""
        last = ""
        while rows := conn.execute(self._q.unpacked, (last, REPACK_PAGE)).fetchall():
            keys = [key for key, _, _, _ in rows]
            last = keys[-1]
            bodies = [
                pack_operation(kind, key, load_json(request), load_json(result))
                for key, kind, request, result in rows
            ]
            conn.execute(self._q.repack, (keys, bodies))

    def _keep_shares(self, conn: Connection) -> None:
        """Migration 13: the rule shares of the entries of several rules, from their records."""
        last = 0
        while rows := conn.execute(self._q.unshared, (last, REPACK_PAGE)).fetchall():
            last = rows[-1][0]
            found = [(seq, kept_shares(rule, points, key, body)) for seq, rule, points, key, body in rows]
            kept = [(seq, shares) for seq, shares in found if shares is not None]
            conn.execute(self._q.keep_shares, ([seq for seq, _ in kept], [shares for _, shares in kept]))

    def _mark_members(self, conn: Connection) -> None:
        """Migration 20: the tallies of a purchase or lot kept without their member moved to
        ``member_tallies`` under it (:func:`loyalty.store.owned_tallies.marked`), a page at a time."""
        last = ""
        while keys := [key for (key,) in conn.execute(self._q.unmarked, (last, REPACK_PAGE))]:
            last = keys[-1]
            found = [of for of in map(unmarked, keys) if of is not None]
            pids = sorted({str(of[1]) for of in found if of[0] == "purchase"})
            purchases = {
                key: unpack_operation(key, body)[0]["member_id"]
                for key, body in conn.execute(self._q.purchase_records, (pids,))
            }
            numbers = sorted({int(of[1]) for of in found if of[0] == "lot"})
            lots = {int(seq): member for seq, member in conn.execute(self._q.lot_members, (numbers,))}
            moved = marked(keys, purchases, lots)
            conn.execute(
                self._q.mark_tallies,
                ([k for k, _, _ in moved], [m for _, m, _ in moved], [n for _, _, n in moved]),
            )

    def _chain_kept(self, conn: Connection) -> None:
        """Migration 14: the entries kept before chained per member from the first, a page at a
        time (one link per member held meanwhile), their links into kept_links, heads into rows."""
        heads: dict[str, tuple[int, bytes]] = {}
        last = 0
        while rows := conn.execute(self._q.unchained, (last, REPACK_PAGE)).fetchall():
            kept: list[tuple[int, bytes]] = []
            for row in rows:
                entry = entry_from_row(row)
                chained = link_of(heads.get(entry.member_id, (0, GENESIS))[1], entry)
                heads[entry.member_id] = (entry.seq, chained)
                kept.append((entry.seq, chained))
            last = kept[-1][0]
            conn.execute(self._q.keep_links, ([seq for seq, _ in kept], [link for _, link in kept]))
        members = list(heads)
        conn.execute(
            self._q.put_heads,
            (members, [heads[m][0] for m in members], [heads[m][1] for m in members]),
        )

    def schema_version(self) -> int:
        import psycopg

        try:
            with self._pool.connection() as conn:
                return self._installed_version(conn) or 0
        except psycopg.Error as exc:
            raise translate(exc) from exc

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[PostgresUnitOfWork]:
        import psycopg
        from psycopg.pq import TransactionStatus

        if self._closed:
            raise StorageError(None, "the store is closed")
        try:
            conn = self._pool.getconn()
        except psycopg.Error as exc:
            raise translate(exc) from exc
        reset = pooled = False
        first = conn in self._unproven
        try:
            # BEGIN goes out with the unit of work's first statement.
            begin = BEGIN_READ if readonly else BEGIN_WRITE
            yield PostgresUnitOfWork(conn, self._q, readonly, begin)
        except (psycopg.Error, StorageError) as exc:
            reset = session_reset(exc)
            behind = behind_pooler(exc) if reset and first else None
            if behind is not None:
                pooled = True
                raise behind from (exc if isinstance(exc, psycopg.Error) else exc.__cause__)
            if isinstance(exc, StorageError):
                raise
            raise translate(exc) from exc
        finally:
            try:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    # Not committed, or the block raised: nothing it did is kept.
                    rollback(conn)
            except psycopg.Error:
                # The connection is broken; the pool sees that and replaces it.
                pass
            if first:
                self._unproven.discard(conn)
            if reset and not pooled:
                # A statement prepared on it is gone (its server session was reset) or stale (a
                # table it reads changed): every later unit of work on it would fail alike. Closed,
                # the pool replaces it with one prepared afresh (configure), and the error is
                # transient: the retry runs there.
                logger.warning(
                    "PostgreSQL store, schema %r: a prepared statement was gone from its session "
                    "(DEALLOCATE, DISCARD or a pooler's other session) or its plan stale (a table "
                    "changed); the connection is replaced",
                    self.schema,
                )
            if reset:
                conn.close()
            self._pool.putconn(conn)
            if conn.broken:
                # The server dropped it (a restart, an idle timeout): the others that sat in the
                # pool as long are likely dead too. Test them now and replace the dead ones, so
                # the engine's retry gets a live connection rather than the next dead one.
                self._pool.check()

    def close(self) -> None:
        self._closed = True
        self._pool.close()


_OPTIONS = {"schema", "pool_min", "pool_max", "pool_timeout", "prepare"}
#: The values of the URL's ``prepare``.
_SWITCH = {"on": True, "off": False}
#: Seconds libpq waits for an unreachable server when the URL does not say.
CONNECT_TIMEOUT = 5


def _with_timeout(conninfo: str) -> str:
    """``conninfo`` for the first connection, with :data:`CONNECT_TIMEOUT` unless it has its own."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    if "connect_timeout" in conninfo_to_dict(conninfo):
        return conninfo
    return make_conninfo(conninfo, connect_timeout=CONNECT_TIMEOUT)


def _unprepared(prepare: bool) -> dict[str, Any]:
    """A connection's arguments: with ``prepare`` off, psycopg's own preparing off too."""
    return {} if prepare else {"prepare_threshold": None}


def open_postgres(url: str, *, migrate: bool = True) -> PostgresStore:
    """Open ``postgresql://user@host/db?schema=loyalty&pool_min=1&pool_max=10&pool_timeout=30&prepare=on``;
    with ``migrate=False`` an absent or older schema is refused rather than created or upgraded."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise InvalidInput("url", f"expected postgresql://..., got {url!r}")
    ours: dict[str, str] = {}
    libpq: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OPTIONS:
            ours[key] = value
        else:
            libpq.append((key, value))
    # libpq would refuse our options as unknown connection parameters.
    conninfo = urlunsplit(parts._replace(query=urlencode(libpq)))
    numbers: dict[str, Any] = {}
    for name in ("pool_min", "pool_max"):
        if name in ours:
            if not (ours[name].isascii() and ours[name].isdecimal()):
                raise InvalidInput(name, f"must be a whole number, got {ours[name]!r}")
            numbers[name] = int(ours[name])
    if "pool_timeout" in ours:
        try:
            numbers["pool_timeout"] = float(ours["pool_timeout"])
        except ValueError:
            raise InvalidInput("pool_timeout", f"must be seconds, got {ours['pool_timeout']!r}") from None
    if "prepare" in ours:
        if ours["prepare"] not in _SWITCH:
            raise InvalidInput("prepare", f"must be on or off, got {ours['prepare']!r}")
        numbers["prepare"] = _SWITCH[ours["prepare"]]
    return PostgresStore(conninfo, schema=ours.get("schema", DEFAULT_SCHEMA), migrate=migrate, **numbers)
