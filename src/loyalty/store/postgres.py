"""The PostgreSQL adapter (psycopg 3 + psycopg-pool), for stores shared by many tills.

``postgresql://user:password@host:5432/dbname`` (or ``postgres://``), with
loyalty options as query parameters next to any libpq ones
(``sslmode``, ``connect_timeout``, ``application_name``...):

- ``schema`` (default ``loyalty``): where the tables live; it must match
  ``^[a-z_][a-z0-9_]{0,62}$`` so it never needs quoting and never carries SQL.
- ``pool_min`` / ``pool_max`` (default 1 / 10): connections kept open / at most.
- ``pool_timeout`` in seconds (default 30): how long opening the store and
  each unit of work wait for a connection before giving up.

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
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from loyalty.codec import pack_operation, unpack_operation
from loyalty.errors import InvalidInput, StorageError, TransientStorageError
from loyalty.figures import PeriodTotals
from loyalty.holds import Hold, HoldStatus
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Balance, Lot, check_draws, check_redates, opens
from loyalty.members import Member
from loyalty.outbox import DomainEvent, NewEvent
from loyalty.referrals import Referral
from loyalty.store import (
    Operation,
    StoredProgram,
    check_deltas,
    check_json,
    check_tally_key,
    program_order,
)
from loyalty.store.member_tallies import Row, Rows, checked, own_keys, where
from loyalty.store.periods import count_from_start, purchase_time
from loyalty.store.rows import (
    ENTRY_COLUMNS,
    EVENT_COLUMNS,
    HOLD_COLUMNS,
    LOT_COLUMNS,
    MEMBER_COLUMNS,
    PROGRAM_COLUMNS,
    REFERRAL_COLUMNS,
    TIER_COLUMNS,
    draws_text,
    dump_json,
    entry_from_row,
    event_from_row,
    hold_from_row,
    load_json,
    lot_from_row,
    member_from_row,
    offset_of,
    program_from_row,
    redates_text,
    referral_from_row,
    restore_instant,
    rules_text,
    tier_state_from_row,
)
from loyalty.store.spending import Segment, collect
from loyalty.tallies import Tally
from loyalty.tiers import TierState

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql
    from psycopg_pool import ConnectionPool

    Connection = psycopg.Connection[tuple[Any, ...]]

__all__ = ["DEFAULT_SCHEMA", "SCHEMA_VERSION", "PostgresStore", "open_postgres"]

DEFAULT_SCHEMA = "loyalty"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_INSTALL_HINT = "pip install 'loyalty-engine[postgres]'"

# Forward migrations, applied in order; the list index + 1 is the version.
# Never edit a released step: add a new one. ``{s}`` is the schema, filled in
# with sql.Identifier; nothing else is ever formatted into SQL. ``_REPACK`` is a
# step done in Python.
_REPACK = "-- pack the operations kept before schema 7"
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE {s}.members (
            member_id TEXT PRIMARY KEY,
            enrolled_at TIMESTAMPTZ NOT NULL,
            enrolled_offset INTEGER NOT NULL,
            birthday DATE,
            attributes TEXT NOT NULL,
            balance BIGINT NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE {s}.entries (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES {s}.members(member_id),
            kind TEXT NOT NULL,
            points BIGINT NOT NULL,
            balance_after BIGINT NOT NULL,
            occurred_at TIMESTAMPTZ NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT,
            rule TEXT
        )""",
        "CREATE INDEX entries_by_member ON {s}.entries (member_id, seq)",
        # The ledger is append-only: the database itself refuses edits, even
        # from a client that bypasses the engine.
        """CREATE FUNCTION {s}.entries_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'ledger entries are immutable'; END $$""",
        """CREATE TRIGGER entries_no_update_or_delete BEFORE UPDATE OR DELETE ON {s}.entries
           FOR EACH ROW EXECUTE FUNCTION {s}.entries_are_immutable()""",
        """CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON {s}.entries
           FOR EACH STATEMENT EXECUTE FUNCTION {s}.entries_are_immutable()""",
        # request/result are TEXT holding rows.dump_json, as in SQLite: JSONB
        # would buy nothing here, since they are only ever read back whole.
        """CREATE TABLE {s}.operations (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
    ),
    # 2: earning rules. Entries name the program version their rules belong
    # to (the ids go in the existing ``rule`` column, space-separated);
    # birthdays can change; tallies for caps and budgets; program versions.
    (
        "ALTER TABLE {s}.entries ADD COLUMN program_version TEXT",
        """ALTER TABLE {s}.members ADD COLUMN birthday_changed_at TIMESTAMPTZ,
           ADD COLUMN birthday_changed_offset INTEGER""",
        """CREATE TABLE {s}.tallies (
            key TEXT PRIMARY KEY,
            count BIGINT NOT NULL DEFAULT 0,
            points NUMERIC NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE {s}.program_versions (
            version TEXT PRIMARY KEY,
            effective_from TIMESTAMPTZ,
            effective_offset INTEGER,
            body TEXT NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
    ),
    # 3: every member's visit count (recorded purchases), which first-purchase
    # rules read, for purchases recorded before tallies existed. Set, not
    # added: the operations hold every purchase ever recorded.
    (
        """INSERT INTO {s}.tallies AS t (key, count, points)
           SELECT 'visits|' || (request::jsonb ->> 'member_id'), COUNT(*), 0
           FROM {s}.operations
           WHERE kind = 'purchase' AND request::jsonb ->> 'member_id' IS NOT NULL
           GROUP BY request::jsonb ->> 'member_id'
           ON CONFLICT (key) DO UPDATE SET count = excluded.count""",
    ),
    # 4: lots and holds. Credits carry their lot's dates, debits the lots they drew
    # from; the lots table is maintained with them. Points from before lots
    # existed become one lot per member that never expires (a policy applies
    # to points earned after it), numbered by the member's last entry.
    (
        """ALTER TABLE {s}.entries ADD COLUMN vests_at TIMESTAMPTZ,
           ADD COLUMN expires_at TIMESTAMPTZ, ADD COLUMN draws TEXT""",
        """CREATE TABLE {s}.lots (
            lot BIGINT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES {s}.members(member_id),
            points BIGINT NOT NULL,
            -- A debt (what a return took back beyond the member's points) is a lot of negative points.
            remaining BIGINT NOT NULL
                CHECK (points > 0 AND remaining BETWEEN 0 AND points
                    OR points < 0 AND remaining BETWEEN points AND 0),
            earned_at TIMESTAMPTZ NOT NULL,
            earned_offset INTEGER NOT NULL,
            vests_at TIMESTAMPTZ,
            expires_at TIMESTAMPTZ
        )""",
        "CREATE INDEX lots_open ON {s}.lots (member_id, lot) WHERE remaining <> 0",
        """CREATE INDEX lots_vesting ON {s}.lots (member_id, vests_at)
           WHERE remaining <> 0 AND vests_at IS NOT NULL""",
        """CREATE INDEX lots_due ON {s}.lots (expires_at, lot)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """CREATE INDEX lots_due_by_member ON {s}.lots (member_id, expires_at, lot)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """INSERT INTO {s}.lots (lot, member_id, points, remaining, earned_at, earned_offset)
           SELECT e.seq, m.member_id, m.balance, m.balance, e.occurred_at, e.occurred_offset
           FROM {s}.members AS m
           JOIN {s}.entries AS e
             ON e.seq = (SELECT MAX(seq) FROM {s}.entries WHERE member_id = m.member_id)
           WHERE m.balance > 0""",
        # Holds: open ones are found by member (for the balance) and by expiry date (maintenance).
        """CREATE TABLE {s}.holds (
            hold_id TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES {s}.members(member_id),
            points BIGINT NOT NULL,
            draws TEXT NOT NULL,
            held_at TIMESTAMPTZ NOT NULL,
            held_offset INTEGER NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            status TEXT NOT NULL,
            captured BIGINT NOT NULL DEFAULT 0,
            ended_at TIMESTAMPTZ
        )""",
        "CREATE INDEX holds_open ON {s}.holds (member_id, hold_id) WHERE status = 'open'",
        "CREATE INDEX holds_due ON {s}.holds (expires_at, hold_id) WHERE status = 'open'",
    ),
    # 5: tiers. One row per member who has left the lowest tier (or was assigned
    # one), found by member and, for maintenance, by the date it is next due.
    (
        """CREATE TABLE {s}.tier_states (
            member_id TEXT PRIMARY KEY REFERENCES {s}.members(member_id),
            tier TEXT NOT NULL,
            earned TEXT NOT NULL,
            since TIMESTAMPTZ NOT NULL,
            review_at TIMESTAMPTZ,
            due_at TIMESTAMPTZ,
            floor TEXT,
            floor_until TIMESTAMPTZ,
            reached TEXT NOT NULL
        )""",
        """CREATE INDEX tier_states_due ON {s}.tier_states (due_at, member_id COLLATE "C")
           WHERE due_at IS NOT NULL""",
        # Lots whose date moves with the member's activity, and the entries that move them.
        """ALTER TABLE {s}.entries ADD COLUMN rolling BOOLEAN NOT NULL DEFAULT FALSE,
           ADD COLUMN redates TEXT""",
        "ALTER TABLE {s}.lots ADD COLUMN rolling BOOLEAN NOT NULL DEFAULT FALSE",
        # The outbox. Events are numbered at commit from one head row, whose lock makes
        # concurrent writers of events commit in seq order: a reader never skips one.
        """CREATE TABLE {s}.events (
            seq BIGINT PRIMARY KEY,
            kind TEXT NOT NULL,
            member_id TEXT NOT NULL,
            occurred_at TIMESTAMPTZ NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        """CREATE TABLE {s}.outbox_head (
            one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
            last BIGINT NOT NULL
        )""",
        "INSERT INTO {s}.outbox_head (last) VALUES (0)",
        # Referrals: one code per member, one attribution per referee.
        """CREATE TABLE {s}.referral_codes (
            code TEXT PRIMARY KEY,
            member_id TEXT NOT NULL UNIQUE REFERENCES {s}.members(member_id)
        )""",
        """CREATE TABLE {s}.referrals (
            referee TEXT PRIMARY KEY REFERENCES {s}.members(member_id),
            referrer TEXT NOT NULL REFERENCES {s}.members(member_id),
            code TEXT NOT NULL,
            referred_at TIMESTAMPTZ NOT NULL,
            referred_offset INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            purchase_id TEXT,
            referrer_points BIGINT NOT NULL,
            referee_points BIGINT NOT NULL,
            referrer_lot BIGINT,
            referee_lot BIGINT,
            vests_at TIMESTAMPTZ,
            decided_at TIMESTAMPTZ
        )""",
        'CREATE INDEX referrals_by_referrer ON {s}.referrals (referrer, referee COLLATE "C")',
    ),
    # 6: reads that cost what they return. Spending finds a member's lots of points in draw
    # order (btree order puts the lots that never expire last); period figures find the
    # period's entries and purchases by their time (a purchase's till time copied out of its
    # request); member_ids pages in code-point order, which the primary key's collation
    # need not be.
    (
        "CREATE INDEX lots_spendable ON {s}.lots (member_id, expires_at, lot) WHERE remaining > 0",
        "CREATE INDEX entries_by_time ON {s}.entries (occurred_at) INCLUDE (kind, points)",
        "ALTER TABLE {s}.operations ADD COLUMN purchased_at TIMESTAMPTZ",
        """UPDATE {s}.operations SET purchased_at = (request::jsonb ->> 'at')::timestamptz
           WHERE kind = 'purchase'""",
        "CREATE INDEX operations_purchases ON {s}.operations (purchased_at) WHERE kind = 'purchase'",
        "CREATE INDEX members_by_enrolment ON {s}.members (enrolled_at)",
        'CREATE INDEX members_in_code_point_order ON {s}.members (member_id COLLATE "C")',
    ),
    # 7: idempotency records kept compactly (loyalty.codec.pack_operation: a purchase's request
    # and result once, by position, in one column). The records kept before are packed in
    # Python (_REPACK), a page at a time, in the migration's transaction.
    (
        "ALTER TABLE {s}.operations ADD COLUMN body TEXT",
        _REPACK,
        "ALTER TABLE {s}.operations DROP COLUMN request, DROP COLUMN result",
        "ALTER TABLE {s}.operations ALTER COLUMN body SET NOT NULL",
    ),
    # 8: the tallies every purchase touches kept in the member's row (loyalty.store.member_tallies):
    # its visits, first and last visit, what returns left it owing (the keys of
    # earning.visits_key, habits.seen_key, returns.debt_key and owed_key, as of this schema) and
    # its latest month's spend (habits.spent_key), taken out of the tallies table.
    (
        "ALTER TABLE {s}.members ADD COLUMN tallies TEXT",
        """WITH moved AS (
               DELETE FROM {s}.tallies AS t
               USING {s}.members AS m, (VALUES ('visits|'), ('seen|'), ('debt|'), ('owed|')) AS p(prefix)
               WHERE t.key = p.prefix || m.member_id
               RETURNING m.member_id, split_part(t.key, '|', 1) AS family, t.count, t.points
           )
           UPDATE {s}.members AS m SET tallies = j.tallies
           FROM (SELECT member_id, json_object_agg(family, json_build_array(count, points::text))::text
                 FROM moved GROUP BY member_id) AS j(member_id, tallies)
           WHERE m.member_id = j.member_id""",
        """WITH latest AS (
               SELECT substr(key, 15) AS member_id, max(substr(key, 7, 7)) AS month FROM {s}.tallies
               WHERE left(key, 6) = 'spent|' AND substr(key, 14, 1) = '|' AND length(key) > 14
                 AND substr(key, 7, 7) ~ '^[0-9][0-9][0-9][0-9]-[0-9][0-9]$'
                 AND substr(key, 15) IN (SELECT member_id FROM {s}.members)
               GROUP BY 1
           ), moved AS (
               DELETE FROM {s}.tallies AS t USING latest AS l
               WHERE t.key = 'spent|' || l.month || '|' || l.member_id
               RETURNING l.member_id, l.month, t.count, t.points
           )
           UPDATE {s}.members AS m
           SET tallies = jsonb_set(COALESCE(m.tallies, '{{}}')::jsonb, '{{spent}}',
                                   jsonb_build_array(moved.month, moved.count, moved.points::text))::text
           FROM moved WHERE m.member_id = moved.member_id""",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)
# Records packed per statement while migrating to schema 7.
_REPACK_PAGE = 1000

_ZERO = Tally()
_BEGIN_READ = b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_BEGIN_WRITE = b"BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE"
_UNIQUE_VIOLATION = "23505"
_SERIALIZATION_FAILURE = "40001"
_DEADLOCK_DETECTED = "40P01"
# A duplicate key here means another transaction won a race for the same
# member, idempotency key or program version: a retry will see the winner and
# answer from it.
_RACED_TABLES = frozenset({"members", "operations", "program_versions", "holds", "referral_codes"})


def _import_driver() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise StorageError(
            None, f"the PostgreSQL store needs psycopg 3 and psycopg-pool: {_INSTALL_HINT} ({exc})"
        ) from exc


def _translate(exc: psycopg.Error) -> StorageError:
    if exc.sqlstate in (_SERIALIZATION_FAILURE, _DEADLOCK_DETECTED) or (
        exc.sqlstate == _UNIQUE_VIOLATION and exc.diag.table_name in _RACED_TABLES
    ):
        return TransientStorageError(None, f"postgresql: {exc}")
    return StorageError(None, f"postgresql: {exc}")


def _text(field: str, value: str) -> str:
    """Refuse, naming the field, the strings PostgreSQL text cannot hold (the driver would say only how)."""
    if "\x00" in value:
        raise InvalidInput(field, "PostgreSQL text cannot hold NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "must be valid Unicode (no unpaired surrogates)") from None
    return value


def _json(field: str, value: Any) -> str:
    # dump_json escapes NUL as \u0000 but passes lone surrogates through.
    return _text(field, dump_json(value))


class _Queries:
    """Every statement, composed once with the schema as an identifier."""

    def __init__(self, schema: str) -> None:
        from psycopg import sql

        #: What the advisory lock of a member's keys hashes before its id (one set per schema).
        self.lock_prefix = f"{schema}.member:"
        #: The entries table, as pg_get_serial_sequence names it (the name needs no quotes).
        self.entries_table = f"{schema}.entries"
        names = {
            "s": sql.Identifier(schema),
            "member_columns": sql.SQL(MEMBER_COLUMNS),
            "entry_columns": sql.SQL(ENTRY_COLUMNS),
            "program_columns": sql.SQL(PROGRAM_COLUMNS),
            "lot_columns": sql.SQL(LOT_COLUMNS),
            "hold_columns": sql.SQL(HOLD_COLUMNS),
            "tier_columns": sql.SQL(TIER_COLUMNS),
            "event_columns": sql.SQL(EVENT_COLUMNS),
            "referral_columns": sql.SQL(REFERRAL_COLUMNS),
        }

        def q(template: str) -> sql.Composed:
            return sql.SQL(template).format(**names)

        self.member = q("SELECT {member_columns} FROM {s}.members WHERE member_id = %s")
        self.member_ids = q(
            'SELECT member_id FROM {s}.members WHERE member_id COLLATE "C" > %s'
            ' ORDER BY member_id COLLATE "C" LIMIT %s'
        )
        # The member's own tallies live in its row from now on: any kept before it enrolled
        # (only a hand-made key can be) move in with it.
        self.add_member = q(
            "WITH moved AS (DELETE FROM {s}.tallies WHERE key = ANY(%s::text[]) RETURNING key, count, points)"
            " INSERT INTO {s}.members ({member_columns}, tallies) VALUES (%s, %s, %s, %s, %s, %s, %s,"
            " (SELECT json_object_agg(split_part(key, '|', 1), json_build_array(count, points::text))::text"
            " FROM moved)) RETURNING tallies"
        )
        self.update_member = q(
            "UPDATE {s}.members SET birthday = %s, attributes = %s, birthday_changed_at = %s,"
            " birthday_changed_offset = %s WHERE member_id = %s"
        )
        self.balance = q("SELECT balance FROM {s}.members WHERE member_id = %s")
        # The row's tallies come with the lock: a purchase reads them next.
        self.balance_for_update = q(
            "SELECT balance, tallies FROM {s}.members WHERE member_id = %s FOR UPDATE"
        )
        self.row_tallies = q("SELECT member_id, tallies FROM {s}.members WHERE member_id = ANY(%s::text[])")
        # Enrolling a member and adding to one of its keys while it is not enrolled take this
        # lock (one per member id, held to the end of the transaction): an enrolment that takes
        # the member's keys out of the table cannot miss one a writer has not committed yet.
        self.lock_member_keys = q(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s || m, 0))"
            ' FROM (SELECT m FROM unnest(%s::text[]) AS t(m) ORDER BY m COLLATE "C") AS ordered'
        )
        # A write unit of work adds to what it reads: the rows are locked, in one order.
        self.row_tallies_for_update = q(
            "SELECT member_id, tallies FROM {s}.members WHERE member_id = ANY(%s::text[])"
            ' ORDER BY member_id COLLATE "C" FOR UPDATE'
        )
        self.put_row_tallies = q(
            "UPDATE {s}.members AS m SET tallies = d.t FROM unnest(%s::text[], %s::text[]) AS d(m, t)"
            " WHERE m.member_id = d.m"
        )
        # Each part through its partial index.
        self.balance_by_state = q(
            "SELECT balance,"
            " (SELECT COALESCE(SUM(remaining), 0) FROM {s}.lots WHERE member_id = %(m)s"
            " AND remaining <> 0 AND expires_at IS NOT NULL AND expires_at <= %(now)s),"
            " (SELECT COALESCE(SUM(remaining), 0) FROM {s}.lots WHERE member_id = %(m)s"
            " AND remaining <> 0 AND vests_at IS NOT NULL AND vests_at > %(now)s"
            " AND (expires_at IS NULL OR expires_at > %(now)s)),"
            " (SELECT COALESCE(SUM(points), 0) FROM {s}.holds WHERE member_id = %(m)s AND status = 'open')"
            " FROM {s}.members WHERE member_id = %(m)s"
        )
        # One segment of the draw order (loyalty.store.spending) through lots_spendable.
        spendable = (
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %(m)s AND remaining > 0"
            " AND (vests_at IS NOT NULL AND vests_at > %(now)s) = %(pending)s"
        )
        self.spendable_dated = q(
            f"{spendable} AND (expires_at, lot) > (%(expires)s, %(lot)s) ORDER BY expires_at, lot LIMIT %(n)s"
        )
        # Ordered by expires_at too (NULL in every row): the index's own order, so the planner
        # takes it rather than the primary key and a filter on the member.
        self.spendable_undated = q(
            f"{spendable} AND expires_at IS NULL AND lot > %(lot)s ORDER BY expires_at, lot LIMIT %(n)s"
        )
        # One round trip: the UPDATE takes the member's row lock (if balance()
        # has not already) before the entry draws its seq, so per member the
        # seq order is also the commit order and paging by seq never skips.
        # A credit opens its lot in the same statement. append_numbered is the same with the
        # entry's number drawn beforehand under the member's lock (operation_and_lock): it goes
        # out with the commit, since nothing waits for its answer.
        append = (
            "WITH moved AS ("
            " UPDATE {{s}}.members"
            " SET balance = balance + %(points)s, tallies = COALESCE(%(tallies)s::text, tallies)"
            " WHERE member_id = %(member_id)s RETURNING balance),"
            " entry AS ("
            " INSERT INTO {{s}}.entries ({seq}member_id, kind, points, balance_after, occurred_at,"
            " occurred_offset, recorded_at, recorded_offset, source_id, reason, actor, rule, program_version,"
            " vests_at, expires_at, draws, rolling, redates){overriding}"
            " SELECT {numbered}%(member_id)s, %(kind)s, %(points)s, moved.balance,"
            " %(occurred_at)s, %(occurred_offset)s, %(recorded_at)s, %(recorded_offset)s,"
            " %(source_id)s, %(reason)s, %(actor)s, %(rule)s, %(program_version)s,"
            " %(vests_at)s, %(expires_at)s, %(draws)s, %(rolling)s, %(redates)s FROM moved"
            " RETURNING seq, balance_after),"
            " lot AS ("
            " INSERT INTO {{s}}.lots ({{lot_columns}})"
            " SELECT seq, %(member_id)s, %(opens)s, %(opens)s, %(occurred_at)s, %(occurred_offset)s,"
            " %(vests_at)s, %(expires_at)s, %(rolling)s FROM entry WHERE %(opens)s <> 0)"
            " SELECT seq, balance_after FROM entry"
        )
        self.append = q(append.format(seq="", overriding="", numbered=""))
        self.append_numbered = q(
            append.format(seq="seq, ", overriding=" OVERRIDING SYSTEM VALUE", numbered="%(seq)s, ")
        )
        self.lots_by_id = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND lot = ANY(%s::bigint[])"
            " ORDER BY lot FOR UPDATE"
        )
        self.redate = q(
            "UPDATE {s}.lots AS l SET expires_at = d.e, rolling = %s"
            " FROM unnest(%s::bigint[], %s::timestamptz[]) AS d(lot, e) WHERE l.lot = d.lot"
        )
        self.draw = q(
            "UPDATE {s}.lots AS l SET remaining = l.remaining + d.p"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS d(lot, p) WHERE l.lot = d.lot"
        )
        self.add_hold = q(
            "INSERT INTO {s}.holds ({hold_columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self.hold = q("SELECT {hold_columns} FROM {s}.holds WHERE hold_id = %s")
        self.open_holds = q(
            "SELECT {hold_columns} FROM {s}.holds WHERE member_id = %s AND status = 'open'"
            ' ORDER BY hold_id COLLATE "C"'
        )
        self.due_holds = q(
            "SELECT {hold_columns} FROM {s}.holds WHERE status = 'open' AND expires_at <= %s"
            ' ORDER BY expires_at, hold_id COLLATE "C" LIMIT %s'
        )
        # The status test is the final arbiter: a hold ends exactly once.
        self.end_hold = q(
            "UPDATE {s}.holds SET status = %s, captured = %s, ended_at = %s"
            " WHERE hold_id = %s AND status = 'open' RETURNING {hold_columns}"
        )
        self.lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND remaining <> 0 ORDER BY lot"
        )
        self.lot = q("SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND lot = %s")
        self.open_lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE lot > %s AND remaining <> 0 ORDER BY lot LIMIT %s"
        )
        self.referral_code = q("SELECT code FROM {s}.referral_codes WHERE member_id = %s")
        self.code_owner = q("SELECT member_id FROM {s}.referral_codes WHERE code = %s")
        self.add_referral_code = q("INSERT INTO {s}.referral_codes (code, member_id) VALUES (%s, %s)")
        self.referral = q("SELECT {referral_columns} FROM {s}.referrals WHERE referee = %s")
        self.referrals_by = q(
            'SELECT {referral_columns} FROM {s}.referrals WHERE referrer = %s ORDER BY referee COLLATE "C"'
        )
        self.put_referral = q(
            "INSERT INTO {s}.referrals ({referral_columns})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (referee) DO UPDATE SET referrer = excluded.referrer, code = excluded.code,"
            " referred_at = excluded.referred_at, referred_offset = excluded.referred_offset,"
            " state = excluded.state, reason = excluded.reason, purchase_id = excluded.purchase_id,"
            " referrer_points = excluded.referrer_points, referee_points = excluded.referee_points,"
            " referrer_lot = excluded.referrer_lot, referee_lot = excluded.referee_lot,"
            " vests_at = excluded.vests_at, decided_at = excluded.decided_at"
        )
        self.period_kinds = q(
            "SELECT kind, SUM(points) FROM {s}.entries"
            " WHERE occurred_at >= %s AND occurred_at < %s GROUP BY kind"
        )
        self.period_purchases = q(
            # A record starts with its member and amount (loyalty.codec.pack_operation).
            "WITH now AS ("
            " SELECT body::jsonb ->> 0 AS member, (body::jsonb ->> 1)::numeric AS amount FROM {s}.operations"
            " WHERE kind = 'purchase' AND purchased_at >= %(lo)s AND purchased_at < %(hi)s),"
            " prior AS (SELECT body::jsonb ->> 0 AS member FROM {s}.operations"
            " WHERE kind = 'purchase' AND purchased_at >= %(first)s AND purchased_at < %(lo)s)"
            " SELECT (SELECT COUNT(*) FROM {s}.members WHERE enrolled_at < %(hi)s),"
            " (SELECT COUNT(*) FROM now), (SELECT COUNT(DISTINCT member) FROM now),"
            " (SELECT COUNT(DISTINCT member) FROM prior),"
            " (SELECT COUNT(*) FROM (SELECT member FROM now INTERSECT SELECT member FROM prior) AS both_),"
            " (SELECT COALESCE(SUM(amount), 0) FROM now)"
        )
        self.ledger_span = q("SELECT MIN(occurred_at), MAX(occurred_at) FROM {s}.entries")
        self.points_before = q("SELECT COALESCE(SUM(points), 0) FROM {s}.entries WHERE occurred_at < %s")
        self.points_before_from_total = q(
            "SELECT (SELECT COALESCE(SUM(balance), 0) FROM {s}.members)"
            " - (SELECT COALESCE(SUM(points), 0) FROM {s}.entries WHERE occurred_at >= %s)"
        )
        self.claim_events = q("UPDATE {s}.outbox_head SET last = last + %s RETURNING last")
        self.add_events = q(
            "INSERT INTO {s}.events ({event_columns})"
            " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::integer[],"
            " %s::timestamptz[], %s::integer[], %s::text[], %s::text[])"
        )
        self.events = q("SELECT {event_columns} FROM {s}.events WHERE seq > %s ORDER BY seq LIMIT %s")
        self.tier_state = q("SELECT {tier_columns} FROM {s}.tier_states WHERE member_id = %s")
        self.put_tier_state = q(
            "INSERT INTO {s}.tier_states ({tier_columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (member_id) DO UPDATE SET tier = excluded.tier, earned = excluded.earned,"
            " since = excluded.since, review_at = excluded.review_at, due_at = excluded.due_at,"
            " floor = excluded.floor, floor_until = excluded.floor_until, reached = excluded.reached"
        )
        self.due_tier_states = q(
            "SELECT {tier_columns} FROM {s}.tier_states WHERE due_at IS NOT NULL AND due_at <= %s"
            ' ORDER BY due_at, member_id COLLATE "C" LIMIT %s'
        )
        self.pending_lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND remaining <> 0"
            " AND vests_at IS NOT NULL AND vests_at > %s ORDER BY lot"
        )
        self.due_lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE remaining <> 0"
            " AND expires_at IS NOT NULL AND expires_at <= %s ORDER BY expires_at, lot LIMIT %s"
        )
        self.member_due_lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND remaining <> 0"
            " AND expires_at IS NOT NULL AND expires_at <= %s ORDER BY expires_at, lot LIMIT %s"
        )
        self.history = q(
            "SELECT {entry_columns} FROM {s}.entries WHERE member_id = %s AND seq > %s ORDER BY seq LIMIT %s"
        )
        self.operation = q(
            "SELECT kind, body, recorded_at, recorded_offset FROM {s}.operations WHERE key = %s"
        )
        # The lookup and the member's row lock in one statement (one row, whether or not either
        # is found), the lock taken whatever the lookup finds, which a retry does not mind. One
        # statement, so that the member the lookup finds is the one it locked (a member enrolled
        # between two statements would be found unlocked); the entry number is drawn in the
        # outer select, once the materialized CTE holds the lock, so per member the number order
        # is still the commit order.
        self.operation_and_lock = q(
            "WITH locked AS MATERIALIZED ("
            " SELECT balance, tallies FROM {s}.members WHERE member_id = %s FOR UPDATE)"
            " SELECT o.kind, o.body, o.recorded_at, o.recorded_offset, l.balance, l.tallies,"
            " CASE WHEN l.balance IS NOT NULL THEN nextval(pg_get_serial_sequence(%s, 'seq')) END"
            " FROM (SELECT 1) AS one LEFT JOIN {s}.operations AS o ON o.key = %s"
            " LEFT JOIN locked AS l ON true"
        )
        self.add_operation = q(
            "INSERT INTO {s}.operations (key, kind, body, recorded_at, recorded_offset, purchased_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)"
        )
        # A page of the records kept before schema 7, through the primary key's index.
        self.unpacked = q(
            "SELECT key, kind, request, result FROM {s}.operations WHERE key > %s ORDER BY key LIMIT %s"
        )
        self.repack = q(
            "UPDATE {s}.operations AS o SET body = p.body FROM unnest(%s::text[], %s::text[]) AS p(key, body)"
            " WHERE o.key = p.key"
        )
        self.tallies = q("SELECT key, count, points FROM {s}.tallies WHERE key = ANY(%s::text[])")
        # for_update: first make sure every key has a row (a missing one cannot
        # be locked), then lock them all. Both go in one byte-wise order
        # (COLLATE "C", which is also Python's str order) so writers of
        # overlapping key sets never deadlock.
        self.create_tallies = q(
            "INSERT INTO {s}.tallies (key) SELECT k FROM unnest(%s::text[]) AS t(k)"
            ' ORDER BY k COLLATE "C" ON CONFLICT DO NOTHING'
        )
        self.tallies_for_update = q(
            "SELECT key, count, points FROM {s}.tallies WHERE key = ANY(%s::text[])"
            ' ORDER BY key COLLATE "C" FOR UPDATE'
        )
        # A month's spend a member's row let go of (set: the table did not hold it), and one it
        # took in.
        self.set_tallies = q(
            "INSERT INTO {s}.tallies AS t (key, count, points)"
            " SELECT k, c, p FROM unnest(%s::text[], %s::bigint[], %s::numeric[]) AS d(k, c, p)"
            ' ORDER BY k COLLATE "C"'
            " ON CONFLICT (key) DO UPDATE SET count = excluded.count, points = excluded.points"
        )
        self.take_tallies = q("DELETE FROM {s}.tallies WHERE key = ANY(%s::text[])")
        # NUMERIC addition is exact.
        self.add_tallies = q(
            "INSERT INTO {s}.tallies AS t (key, count, points)"
            " SELECT k, c, p FROM unnest(%s::text[], %s::bigint[], %s::numeric[]) AS d(k, c, p)"
            ' ORDER BY k COLLATE "C"'
            " ON CONFLICT (key) DO UPDATE"
            " SET count = t.count + excluded.count, points = t.points + excluded.points"
        )
        self.program_versions = q("SELECT {program_columns} FROM {s}.program_versions")
        self.add_program_version = q(
            "INSERT INTO {s}.program_versions ({program_columns}) VALUES (%s, %s, %s, %s, %s, %s)"
        )
        self.create_schema = q("CREATE SCHEMA IF NOT EXISTS {s}")
        self.create_version = q("CREATE TABLE IF NOT EXISTS {s}.schema_version (version INTEGER NOT NULL)")
        self.version = q("SELECT version FROM {s}.schema_version")
        self.insert_version = q("INSERT INTO {s}.schema_version (version) VALUES (%s)")
        self.update_version = q("UPDATE {s}.schema_version SET version = %s")
        self.migrations = [
            [statement if statement == _REPACK else q(statement) for statement in step]
            for step in _MIGRATIONS
        ]


class PostgresUnitOfWork:
    """One transaction on one connection, which sends what needs no answer with what does.

    Its ``BEGIN`` and the writes whose answer nothing waits for (tallies added, an operation
    kept, lots drawn or re-dated, events) are queued and go to the server in one simple query
    with the next statement that must be answered, or with ``COMMIT``: a purchase costs one
    round trip per read it decides on, one for its entry and one for the rest and the commit.
    A queued write that fails raises from the call that sent it (at the latest, ``commit``),
    and the transaction is then rolled back as for any failed statement.
    """

    def __init__(
        self, conn: Connection, queries: _Queries, readonly: bool = False, begin: bytes | None = None
    ) -> None:
        self._conn = conn
        self._q = queries
        self._readonly = readonly
        self._events: list[NewEvent] = []
        self._queued: list[tuple[sql.Composed | bytes, Any]] = [] if begin is None else [(begin, None)]
        # Until BEGIN has gone out, a connection the server dropped in the pool can be retried.
        self._fresh = begin is not None
        # Members' row tallies (loyalty.store.member_tallies), read from locked rows: changes are
        # written with the member's next balance update, or at commit.
        self._rows = Rows()
        # Members not enrolled whose keys this unit of work added to, under their lock.
        self._unenrolled: set[str] = set()
        # Balances read under the member's lock, as this unit of work's entries moved them, and
        # an entry number drawn under it (operation_and_lock) for the member's next credit.
        self._balances: dict[str, int] = {}
        self._numbered: tuple[str, int] | None = None

    def _writable(self) -> None:
        # The server refuses writes in a READ ONLY transaction too; this says so
        # before a round trip, and also for writes that would send nothing.
        if self._readonly:
            raise StorageError(None, "write in a read-only unit of work")

    def _execute(self, query: sql.Composed | bytes, params: Any = None) -> psycopg.Cursor[tuple[Any, ...]]:
        """Run ``query`` (after what is queued, in one round trip) and return its cursor."""
        import psycopg

        fresh, self._fresh = self._fresh, False
        try:
            if not self._queued:
                return self._conn.execute(query, params)
            return self._batch(query, params)
        except psycopg.OperationalError as exc:
            if fresh:
                # The server dropped this connection while it sat in the pool (restart, idle
                # timeout). Nothing had run before, so the engine may safely retry; the pool
                # replaces the dead connection.
                raise TransientStorageError(None, f"postgresql: {exc}") from exc
            raise _translate(exc) from exc
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    def _batch(self, query: sql.Composed | bytes, params: Any) -> psycopg.Cursor[tuple[Any, ...]]:
        """The queued statements and ``query`` as one simple query (values bound by the driver on
        this side), answered by ``query``'s result, the last of the batch."""
        from psycopg import ClientCursor

        cursor = ClientCursor(self._conn)
        queued, self._queued = self._queued, []
        cursor.execute("; ".join(cursor.mogrify(text, values) for text, values in [*queued, (query, params)]))
        while cursor.nextset():
            pass
        return cursor

    def _queue(self, query: sql.Composed, params: Any) -> None:
        """Send ``query`` with the next statement that needs an answer (its values checked now)."""
        self._queued.append((query, params))

    def member(self, member_id: str) -> Member | None:
        row = self._execute(self._q.member, (member_id,)).fetchone()
        return None if row is None else member_from_row(row)

    def member_ids(self, *, after: str = "", limit: int) -> list[str]:
        rows = self._execute(self._q.member_ids, (after, limit)).fetchall()
        return [str(row[0]) for row in rows]

    def add_member(self, member: Member) -> None:
        self._writable()
        changed = member.birthday_changed_at
        # Its own statement before the insert, so the insert's snapshot sees what a writer that
        # held the lock committed.
        self._queue(self._q.lock_member_keys, (self._q.lock_prefix, [_text("member_id", member.id)]))
        row = self._execute(
            self._q.add_member,
            (
                own_keys(_text("member_id", member.id)),
                member.id,
                member.enrolled_at,
                offset_of(member.enrolled_at),
                member.birthday,
                _json("attributes", dict(member.attributes)),
                changed,
                None if changed is None else offset_of(changed),
            ),
        ).fetchone()
        assert row is not None  # an INSERT ... RETURNING
        self._rows.rows[member.id] = Row(member.id, row[0])

    def update_member(self, member: Member) -> None:
        self._writable()
        changed = member.birthday_changed_at
        cursor = self._execute(
            self._q.update_member,
            (
                member.birthday,
                _json("attributes", dict(member.attributes)),
                changed,
                None if changed is None else offset_of(changed),
                _text("member_id", member.id),
            ),
        )
        if cursor.rowcount != 1:
            raise StorageError("member_id", f"no member {member.id!r} to update")

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None:
        if not for_update:
            row = self._execute(self._q.balance, (member_id,)).fetchone()
            return None if row is None else int(row[0])
        row = self._execute(self._q.balance_for_update, (member_id,)).fetchone()
        if row is None:
            return None
        # Locked: this unit of work may add to the row's tallies (only locked rows are kept).
        self._rows.loaded(member_id, row[1])
        return int(row[0])

    def balance_by_state(self, member_id: str, now: datetime) -> Balance | None:
        row = self._execute(self._q.balance_by_state, {"m": member_id, "now": now}).fetchone()
        if row is None:
            return None
        total, overdue, pending, held = map(int, row)
        return Balance(total - pending - overdue, pending, overdue, held)

    def append(self, posting: Posting) -> Entry:
        self._writable()
        member_id = posting.member_id
        numbered = self._numbered
        plain = posting.points >= 0 and not posting.draws and not posting.redates
        if (
            numbered is not None
            and numbered[0] == member_id
            and plain
            and posting.kind is not EntryKind.REDATE
        ):
            # A credit to the member locked with its number drawn: its number and balance are
            # known, so it goes out with the commit (or the next statement that is answered).
            self._numbered = None
            balance = self._balances[member_id] + posting.points
            self._queue(self._q.append_numbered, {**self._entry_values(posting), "seq": numbered[1]})
            self._balances[member_id] = balance
            return posting.recorded(numbered[1], balance)
        if posting.points < 0 or posting.draws:
            # Checked before anything is written, against the lots as stored (and locked).
            ids = [lot for lot, _ in posting.draws]
            rows = self._execute(self._q.lots_by_id, (posting.member_id, ids)).fetchall()
            check_draws(posting, {lot.id: lot for lot in map(lot_from_row, rows)})
        if posting.redates or posting.kind is EntryKind.REDATE:
            ids = [lot for lot, _ in posting.redates]
            rows = self._execute(self._q.lots_by_id, (posting.member_id, ids)).fetchall()
            check_redates(posting, {lot.id: lot for lot in map(lot_from_row, rows)})
        # Drawn from here on, a number drawn before would come after this entry's.
        self._numbered = None
        row = self._execute(self._q.append, self._entry_values(posting)).fetchone()
        if row is None:
            raise StorageError("member_id", f"no member {posting.member_id!r} to append to")
        seq, balance = row
        if member_id in self._balances:
            self._balances[member_id] = balance
        if posting.draws:
            lots, points = zip(*posting.draws, strict=True)
            self._queue(self._q.draw, (list(lots), list(points)))
        if posting.redates:
            moved, dates = zip(*posting.redates, strict=True)
            self._queue(self._q.redate, (posting.rolling, list(moved), list(dates)))
        return posting.recorded(seq, balance)

    def _entry_values(self, posting: Posting) -> dict[str, Any]:
        version = posting.program_version
        rules = rules_text(posting.rules)
        return {
            "member_id": _text("member_id", posting.member_id),
            "kind": posting.kind.value,
            "points": posting.points,
            "occurred_at": posting.occurred_at,
            "occurred_offset": offset_of(posting.occurred_at),
            "recorded_at": posting.recorded_at,
            "recorded_offset": offset_of(posting.recorded_at),
            "source_id": _text("source_id", posting.source_id),
            "reason": _text("reason", posting.reason),
            "actor": None if posting.actor is None else _text("actor", posting.actor),
            "rule": rules,
            "program_version": None if version is None else _text("program_version", version),
            "vests_at": posting.vests_at,
            "expires_at": posting.expires_at,
            "draws": draws_text(posting.draws),
            "rolling": posting.rolling,
            "redates": redates_text(posting.redates),
            "opens": opens(posting),
            # The row's tallies this unit of work changed go with the balance.
            "tallies": self._rows.take(posting.member_id),
        }

    def add_hold(self, hold: Hold) -> None:
        self._writable()
        if not hold.open:
            raise StorageError("status", "a hold is recorded open")
        self._execute(
            self._q.add_hold,
            (
                _text("id", hold.id),
                _text("member_id", hold.member_id),
                hold.points,
                draws_text(hold.draws) or "[]",
                hold.held_at,
                offset_of(hold.held_at),
                hold.expires_at,
                hold.status.value,
                hold.captured,
                None,
            ),
        )

    def hold(self, hold_id: str) -> Hold | None:
        row = self._execute(self._q.hold, (hold_id,)).fetchone()
        return None if row is None else hold_from_row(row)

    def open_holds(self, member_id: str) -> list[Hold]:
        return [hold_from_row(row) for row in self._execute(self._q.open_holds, (member_id,)).fetchall()]

    def due_holds(self, until: datetime, *, limit: int | None = None) -> list[Hold]:
        return [hold_from_row(row) for row in self._execute(self._q.due_holds, (until, limit)).fetchall()]

    def end_hold(self, hold_id: str, status: HoldStatus, captured: int, at: datetime) -> Hold:
        self._writable()
        if status is HoldStatus.OPEN:
            raise StorageError("status", "a hold ends captured, released or expired")
        row = self._execute(self._q.end_hold, (status.value, captured, at, hold_id)).fetchone()
        if row is None:
            raise StorageError("hold_id", f"no open hold {hold_id!r} to end")
        return hold_from_row(row)

    def lots(self, member_id: str) -> list[Lot]:
        return [lot_from_row(row) for row in self._execute(self._q.lots, (member_id,)).fetchall()]

    def referral_code(self, member_id: str) -> str | None:
        row = self._execute(self._q.referral_code, (member_id,)).fetchone()
        return None if row is None else str(row[0])

    def code_owner(self, code: str) -> str | None:
        row = self._execute(self._q.code_owner, (code,)).fetchone()
        return None if row is None else str(row[0])

    def add_referral_code(self, member_id: str, code: str) -> None:
        self._writable()
        if self.member(member_id) is None:
            raise StorageError("member_id", f"no member {member_id!r}")
        # A code taken meanwhile by another writer is a unique violation the engine retries.
        self._execute(self._q.add_referral_code, (_text("code", code), _text("member_id", member_id)))

    def referral(self, referee: str) -> Referral | None:
        row = self._execute(self._q.referral, (referee,)).fetchone()
        return None if row is None else referral_from_row(row)

    def referrals_by(self, referrer: str) -> list[Referral]:
        return [referral_from_row(row) for row in self._execute(self._q.referrals_by, (referrer,)).fetchall()]

    def put_referral(self, referral: Referral) -> None:
        self._writable()
        for member_id in (referral.referee, referral.referrer):
            if self.member(member_id) is None:
                raise StorageError("member_id", f"no member {member_id!r}")
        self._execute(
            self._q.put_referral,
            (
                _text("referee", referral.referee),
                _text("referrer", referral.referrer),
                _text("code", referral.code),
                referral.referred_at,
                offset_of(referral.referred_at),
                referral.state.value,
                None if referral.reason is None else _text("reason", referral.reason),
                None if referral.purchase_id is None else _text("purchase_id", referral.purchase_id),
                referral.referrer_points,
                referral.referee_points,
                referral.referrer_lot,
                referral.referee_lot,
                referral.vests_at,
                referral.decided_at,
            ),
        )

    def period_totals(self, start: datetime, end: datetime, before: datetime) -> PeriodTotals:
        rows = self._execute(self._q.period_kinds, (start, end)).fetchall()
        by_kind = {str(kind): int(points) for kind, points in rows}
        row = self._execute(self._q.period_purchases, {"lo": start, "hi": end, "first": before}).fetchone()
        assert row is not None
        members, purchases, active, active_before, retained, spend = row
        return PeriodTotals(
            by_kind,
            self._points_before(end),
            int(members),
            int(active),
            int(active_before),
            int(retained),
            int(purchases),
            Decimal(spend),
        )

    def _points_before(self, end: datetime) -> int:
        """The points of every entry before ``end``, added up from the nearer end of the ledger."""
        span = self._execute(self._q.ledger_span).fetchone()
        if span is None or span[0] is None:
            return 0
        ahead = count_from_start(span[0], span[1], end)
        query = self._q.points_before if ahead else self._q.points_before_from_total
        row = self._execute(query, (end,)).fetchone()
        assert row is not None
        return int(row[0])

    def add_event(self, event: NewEvent) -> None:
        self._writable()
        check_json("data", event.data)  # refused now, not at commit
        self._events.append(event)

    def events(self, *, after: int = 0, limit: int | None = None) -> list[DomainEvent]:
        rows = self._execute(self._q.events, (after, limit)).fetchall()
        return [event_from_row(row) for row in rows]

    def tier_state(self, member_id: str) -> TierState | None:
        row = self._execute(self._q.tier_state, (member_id,)).fetchone()
        return None if row is None else tier_state_from_row(row)

    def put_tier_state(self, state: TierState) -> None:
        self._writable()
        try:
            self._execute(
                self._q.put_tier_state,
                (
                    _text("member_id", state.member_id),
                    _text("tier", state.tier),
                    _text("earned", state.earned),
                    state.since,
                    state.review_at,
                    state.due_at,
                    state.floor,
                    state.floor_until,
                    _json("reached", list(state.reached)),
                ),
            )
        except StorageError as exc:
            if "foreign key" in exc.message:
                raise StorageError("member_id", f"no member {state.member_id!r}") from exc
            raise

    def due_tier_states(self, until: datetime, *, limit: int | None = None) -> list[TierState]:
        rows = self._execute(self._q.due_tier_states, (until, limit)).fetchall()
        return [tier_state_from_row(row) for row in rows]

    def lot(self, member_id: str, lot_id: int) -> Lot | None:
        row = self._execute(self._q.lot, (member_id, lot_id)).fetchone()
        return None if row is None else lot_from_row(row)

    def open_lots(self, *, after: int = 0, limit: int) -> list[Lot]:
        rows = self._execute(self._q.open_lots, (after, limit)).fetchall()
        return [lot_from_row(row) for row in rows]

    def pending_lots(self, member_id: str, at: datetime) -> list[Lot]:
        rows = self._execute(self._q.pending_lots, (member_id, at)).fetchall()
        return [lot_from_row(row) for row in rows]

    def spendable_lots(
        self, member_id: str, now: datetime, *, pending: bool = False, after: Lot | None = None, limit: int
    ) -> list[Lot]:
        def read(segment: Segment, n: int) -> list[Lot]:
            bounds = {"m": member_id, "now": now, "pending": segment.pending, "lot": segment.after_id, "n": n}
            if segment.dated:
                bounds["expires"] = segment.after_expires
            query = self._q.spendable_dated if segment.dated else self._q.spendable_undated
            return [lot_from_row(row) for row in self._execute(query, bounds).fetchall()]

        return collect(now, pending=pending, after=after, limit=limit, read=read)

    def due_lots(
        self, until: datetime, *, member_id: str | None = None, limit: int | None = None
    ) -> list[Lot]:
        if member_id is None:
            rows = self._execute(self._q.due_lots, (until, limit)).fetchall()
        else:
            rows = self._execute(self._q.member_due_lots, (member_id, until, limit)).fetchall()
        return [lot_from_row(row) for row in rows]

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        # LIMIT NULL is no limit.
        rows = self._execute(self._q.history, (member_id, after, limit)).fetchall()
        return [entry_from_row(row) for row in rows]

    def operation(self, key: str) -> Operation | None:
        row = self._execute(self._q.operation, (key,)).fetchone()
        if row is None:
            return None
        kind, body, recorded_at, recorded_offset = row
        request, result = unpack_operation(key, body)
        return Operation(key, kind, request, result, restore_instant(recorded_at, recorded_offset))

    def operation_and_lock(self, key: str, member_id: str) -> tuple[Operation | None, int | None]:
        if self._readonly:
            return self.operation(key), self.balance(member_id)  # nothing to lock for
        row = self._execute(self._q.operation_and_lock, (member_id, self._q.entries_table, key)).fetchone()
        assert row is not None  # one row, always
        kind, body, recorded_at, recorded_offset, balance, tallies, seq = row
        operation = None
        if kind is not None:
            request, result = unpack_operation(key, body)
            operation = Operation(key, kind, request, result, restore_instant(recorded_at, recorded_offset))
        if balance is None:
            return operation, None
        # Locked: this unit of work may add to the row's tallies (only locked rows are kept), and
        # knows the balance its next entry moves, and that entry's number.
        self._rows.loaded(member_id, tallies)
        self._balances[member_id] = int(balance)
        self._numbered = (member_id, int(seq))
        return operation, int(balance)

    def add_operation(self, operation: Operation) -> None:
        self._writable()
        key, kind = _text("id", operation.key), _text("kind", operation.kind)
        body = pack_operation(kind, key, operation.request, operation.result)
        try:
            _text("body", body)
        except InvalidInput:
            # Name the part that PostgreSQL cannot hold.
            _json("request", operation.request)
            _json("result", operation.result)
            raise
        self._queue(
            self._q.add_operation,
            (
                key,
                kind,
                body,
                operation.recorded_at,
                offset_of(operation.recorded_at),
                purchase_time(operation),
            ),
        )

    def _load_rows(self, members: list[str], *, lock: bool) -> list[tuple[str, str | None]]:
        query = self._q.row_tallies_for_update if lock else self._q.row_tallies
        return self._execute(query, (members,)).fetchall()

    def _table_tallies(self, keys: list[str], for_update: bool) -> dict[str, Tally]:
        if for_update and not self._readonly:
            ordered = sorted(set(keys))
            self._queue(self._q.create_tallies, (ordered,))
            rows = self._execute(self._q.tallies_for_update, (ordered,)).fetchall()
        else:
            rows = self._execute(self._q.tallies, (keys,)).fetchall()
        return {key: Tally(count, points) for key, count, points in rows}

    def _read(self, keys: list[str], *, for_update: bool, lock_rows: bool) -> dict[str, Tally]:
        # Keys of the table are read afresh (what is queued goes first); a member's row is kept
        # for the unit of work, with what it added to it, only when it was locked (or in a
        # read-only unit of work, whose snapshot does not move).
        keep = lock_rows or self._readonly
        return self._rows.read(
            keys,
            {},
            lambda members: self._load_rows(members, lock=lock_rows and not self._readonly),
            lambda table: self._table_tallies(table, for_update),
            keep=keep,
        )

    def tallies(self, keys: Collection[str], *, for_update: bool = False) -> dict[str, Tally]:
        wanted = [check_tally_key(key) for key in keys]
        if not wanted:
            return {}
        found = self._read(wanted, for_update=for_update, lock_rows=for_update)
        return {key: found[key] for key in wanted}

    def add_tallies(self, deltas: Mapping[str, Tally]) -> None:
        self._writable()
        if not deltas:
            return
        check_deltas(deltas)
        rows = self._rows
        # A member's row tallies are added up here, on the locked row; the rest by the server.
        kept = [key for key in deltas if where(key) is not None]
        now = self._read(kept, for_update=False, lock_rows=True) if kept else {}
        absent = [m for m in rows.absent(kept) if m not in self._unenrolled]
        if absent:
            # Their keys go to the table: under the lock an enrolment takes, and only if they
            # are still not enrolled once it is held.
            self._queue(self._q.lock_member_keys, (self._q.lock_prefix, absent))
            enrolled = self._load_rows(absent, lock=True)
            self._unenrolled.update(absent)
            if enrolled:
                for member_id, text in enrolled:
                    rows.rows[member_id] = Row(member_id, text)
                now = self._read(kept, for_update=False, lock_rows=True)
        # Every sum first: one that fails leaves nothing added.
        totals = {key: checked(key, now[key] + deltas[key]) for key in kept if rows.keeps(key)}
        added: list[tuple[str, Tally]] = []
        let_go: list[tuple[str, Tally]] = []
        taken: list[str] = []
        for key, delta in deltas.items():
            # (Kept no longer if an earlier key moved its row to a later month: the table's.)
            if key not in totals or not rows.keeps(key):
                added.append((key, delta))
                continue
            gone, held = rows.put(key, totals[key])
            if gone is not None:
                let_go.append(gone)
            if held:
                taken.append(key)  # read into the total, kept by the row from now on
        if taken:
            self._queue(self._q.take_tallies, (taken,))
        for query, part in ((self._q.set_tallies, let_go), (self._q.add_tallies, added)):
            if part:
                self._queue(
                    query, ([k for k, _ in part], [t.count for _, t in part], [t.points for _, t in part])
                )

    def program_versions(self) -> list[StoredProgram]:
        rows = self._execute(self._q.program_versions).fetchall()
        return sorted((program_from_row(row) for row in rows), key=program_order)

    def add_program_version(self, program: StoredProgram) -> None:
        self._writable()
        effective = program.effective_from
        self._execute(
            self._q.add_program_version,
            (
                _text("version", program.version),
                effective,
                None if effective is None else offset_of(effective),
                _json("body", program.body),
                program.recorded_at,
                offset_of(program.recorded_at),
            ),
        )

    def commit(self) -> None:
        from psycopg.pq import TransactionStatus

        # PostgreSQL answers COMMIT of a failed transaction with a silent
        # ROLLBACK; a caller that swallowed the error must not think it saved.
        if self._conn.info.transaction_status == TransactionStatus.INERROR:
            raise StorageError(None, "an earlier statement failed; the unit of work was rolled back")
        changed = self._rows.changed()
        if changed:
            self._queue(
                self._q.put_row_tallies, ([row.member_id for row in changed], [row.text() for row in changed])
            )
        if self._events:
            self._flush_events()
        self._execute(b"COMMIT")

    def _flush_events(self) -> None:
        """Number the unit of work's events and write them, last thing before COMMIT.

        The head row's lock is the last lock the transaction takes and is held
        to its commit, so events are numbered in commit order and no two
        writers can deadlock over it.
        """
        events, self._events = self._events, []
        row = self._execute(self._q.claim_events, (len(events),)).fetchone()
        assert row is not None  # the head row is created with the table
        first = int(row[0]) - len(events) + 1
        self._queue(
            self._q.add_events,
            (
                list(range(first, first + len(events))),
                [event.kind.value for event in events],
                [_text("member_id", event.member_id) for event in events],
                [event.occurred_at for event in events],
                [offset_of(event.occurred_at) for event in events],
                [event.recorded_at for event in events],
                [offset_of(event.recorded_at) for event in events],
                [_text("source_id", event.source_id) for event in events],
                [_json("data", check_json("data", event.data)) for event in events],
            ),
        )


class PostgresStore:
    """A store in one schema of a PostgreSQL database, safe to share between threads and processes."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        pool_min: int = 1,
        pool_max: int = 10,
        pool_timeout: float = 30.0,
    ) -> None:
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
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
        _import_driver()
        import psycopg
        from psycopg_pool import ConnectionPool

        self.schema = schema
        self.pool_timeout = float(pool_timeout)
        self._q = _Queries(schema)
        self._closed = False
        # autocommit: every transaction is opened by an explicit BEGIN that
        # states its isolation level, whatever the server's default is.
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            conninfo,
            min_size=pool_min,
            max_size=pool_max,
            kwargs={"autocommit": True},
            timeout=self.pool_timeout,
            name=f"loyalty-{schema}",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=self.pool_timeout)
            self._migrate()
        except psycopg.Error as exc:
            self._pool.close()
            raise _translate(exc) from exc
        except BaseException:
            self._pool.close()
            raise

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

    def _migrate(self) -> None:
        with self._pool.connection() as conn:
            version = self._installed_version(conn)
            self._refuse_newer(version)
            if version == SCHEMA_VERSION:
                # The usual case needs no lock and no DDL privilege.
                return
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
                        if isinstance(statement, str):
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

    def _repack(self, conn: Connection) -> None:
        """Migration 7: every operation kept whole (request and result), packed a page at a time."""
        last = ""
        while rows := conn.execute(self._q.unpacked, (last, _REPACK_PAGE)).fetchall():
            keys = [key for key, _, _, _ in rows]
            last = keys[-1]
            bodies = [
                pack_operation(kind, key, load_json(request), load_json(result))
                for key, kind, request, result in rows
            ]
            conn.execute(self._q.repack, (keys, bodies))

    def schema_version(self) -> int:
        import psycopg

        try:
            with self._pool.connection() as conn:
                return self._installed_version(conn) or 0
        except psycopg.Error as exc:
            raise _translate(exc) from exc

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[PostgresUnitOfWork]:
        import psycopg
        from psycopg.pq import TransactionStatus

        if self._closed:
            raise StorageError(None, "the store is closed")
        try:
            conn = self._pool.getconn()
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        try:
            # BEGIN goes out with the unit of work's first statement.
            begin = _BEGIN_READ if readonly else _BEGIN_WRITE
            yield PostgresUnitOfWork(conn, self._q, readonly, begin)
        except psycopg.Error as exc:
            raise _translate(exc) from exc
        finally:
            try:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    # Not committed, or the block raised: nothing it did is kept.
                    conn.execute(b"ROLLBACK")
            except psycopg.Error:
                # The connection is broken; the pool sees that and replaces it.
                pass
            self._pool.putconn(conn)

    def close(self) -> None:
        self._closed = True
        self._pool.close()


_OPTIONS = {"schema", "pool_min", "pool_max", "pool_timeout"}


def open_postgres(url: str) -> PostgresStore:
    """Open ``postgresql://user@host/db?schema=loyalty&pool_min=1&pool_max=10&pool_timeout=30``."""
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
    return PostgresStore(conninfo, schema=ours.get("schema", DEFAULT_SCHEMA), **numbers)
