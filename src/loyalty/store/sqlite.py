"""The SQLite adapter (stdlib ``sqlite3``): the embedded default.

``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``, with options as
query parameters:

- ``synchronous=full`` (default) or ``normal``: with ``full`` an acknowledged
  write survives a power loss; ``normal`` survives an application crash only,
  and commits several times faster because WAL commits then do not fsync.
- ``busy_timeout`` in milliseconds (default 10000): how long a writer waits
  for another connection's write transaction before the engine retries.

Every write runs in ``BEGIN IMMEDIATE``: the write lock is taken before the
first read, so a read-then-write transaction cannot fail half way with
SQLITE_BUSY and no two writers decide on the same balance. Each thread gets
its own connection; several processes may share one file.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

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
from loyalty.store.periods import count_from_start, instant_of, purchase_time
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

__all__ = ["SCHEMA_VERSION", "SQLiteStore", "open_sqlite"]

# Forward migrations, applied in order; the list index + 1 is the version.
# Never edit a released step: add a new one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE members (
            member_id TEXT PRIMARY KEY,
            enrolled_at TEXT NOT NULL,
            enrolled_offset INTEGER NOT NULL,
            birthday TEXT,
            attributes TEXT NOT NULL,
            balance INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE entries (
            seq INTEGER PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            kind TEXT NOT NULL,
            points INTEGER NOT NULL,
            balance_after INTEGER NOT NULL,
            occurred_at TEXT NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT,
            rule TEXT
        )""",
        "CREATE INDEX entries_by_member ON entries(member_id, seq)",
        # The ledger is append-only: the database itself refuses edits.
        """CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
        """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
        """CREATE TABLE operations (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
    ),
    # 2: earning rules. Entries name the program version their rules belong
    # to (the ids go in the existing ``rule`` column, space-separated);
    # birthdays can change; tallies for caps and budgets; program versions.
    (
        "ALTER TABLE entries ADD COLUMN program_version TEXT",
        "ALTER TABLE members ADD COLUMN birthday_changed_at TEXT",
        "ALTER TABLE members ADD COLUMN birthday_changed_offset INTEGER",
        # points is the Decimal's exact text; sums are done in Python. Without
        # rowid, the key's b-tree is the table: one page written per change, not two.
        """CREATE TABLE tallies (
            key TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            points TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE program_versions (
            version TEXT PRIMARY KEY,
            effective_from TEXT,
            effective_offset INTEGER,
            body TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
    ),
    # 3: every member's visit count (recorded purchases), which first-purchase
    # rules read, for purchases recorded before tallies existed. Set, not
    # added: the operations hold every purchase ever recorded.
    (
        """INSERT INTO tallies (key, count, points)
           SELECT 'visits|' || json_extract(request, '$.member_id'), COUNT(*), '0'
           FROM operations
           WHERE kind = 'purchase' AND json_extract(request, '$.member_id') IS NOT NULL
           GROUP BY json_extract(request, '$.member_id')
           ON CONFLICT (key) DO UPDATE SET count = excluded.count""",
    ),
    # 4: lots and holds. Credits carry their lot's dates, debits the lots they
    # drew from; the lots table is maintained with them. Dates are fixed-width UTC
    # text, so they sort as instants. Points from before lots existed become
    # one lot per member that never expires (a policy applies to points
    # earned after it), numbered by the member's last entry.
    (
        "ALTER TABLE entries ADD COLUMN vests_at TEXT",
        "ALTER TABLE entries ADD COLUMN expires_at TEXT",
        "ALTER TABLE entries ADD COLUMN draws TEXT",
        """CREATE TABLE lots (
            lot INTEGER PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            points INTEGER NOT NULL,
            -- A debt (what a return took back beyond the member's points) is a lot of negative points.
            remaining INTEGER NOT NULL
                CHECK (points > 0 AND remaining BETWEEN 0 AND points
                    OR points < 0 AND remaining BETWEEN points AND 0),
            earned_at TEXT NOT NULL,
            earned_offset INTEGER NOT NULL,
            vests_at TEXT,
            expires_at TEXT
        )""",
        "CREATE INDEX lots_open ON lots(member_id, lot) WHERE remaining <> 0",
        """CREATE INDEX lots_vesting ON lots(member_id, vests_at)
           WHERE remaining <> 0 AND vests_at IS NOT NULL""",
        """CREATE INDEX lots_due ON lots(expires_at, lot)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """CREATE INDEX lots_due_by_member ON lots(member_id, expires_at, lot)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """INSERT INTO lots (lot, member_id, points, remaining, earned_at, earned_offset)
           SELECT e.seq, m.member_id, m.balance, m.balance, e.occurred_at, e.occurred_offset
           FROM members AS m
           JOIN entries AS e ON e.seq = (SELECT MAX(seq) FROM entries WHERE member_id = m.member_id)
           WHERE m.balance > 0""",
        # Holds: open ones are found by member (for the balance) and by expiry date (maintenance).
        """CREATE TABLE holds (
            hold_id TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            points INTEGER NOT NULL,
            draws TEXT NOT NULL,
            held_at TEXT NOT NULL,
            held_offset INTEGER NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL,
            captured INTEGER NOT NULL DEFAULT 0,
            ended_at TEXT
        )""",
        "CREATE INDEX holds_open ON holds(member_id, hold_id) WHERE status = 'open'",
        "CREATE INDEX holds_due ON holds(expires_at, hold_id) WHERE status = 'open'",
    ),
    # 5: tiers. One row per member who has left the lowest tier (or was assigned
    # one), found by member and, for maintenance, by the date it is next due.
    (
        """CREATE TABLE tier_states (
            member_id TEXT PRIMARY KEY REFERENCES members(member_id),
            tier TEXT NOT NULL,
            earned TEXT NOT NULL,
            since TEXT NOT NULL,
            review_at TEXT,
            due_at TEXT,
            floor TEXT,
            floor_until TEXT,
            reached TEXT NOT NULL
        )""",
        "CREATE INDEX tier_states_due ON tier_states(due_at, member_id) WHERE due_at IS NOT NULL",
        # Lots whose date moves with the member's activity, and the entries that move them.
        "ALTER TABLE entries ADD COLUMN rolling INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE entries ADD COLUMN redates TEXT",
        "ALTER TABLE lots ADD COLUMN rolling INTEGER NOT NULL DEFAULT 0",
        # The outbox. Writers are serialized (BEGIN IMMEDIATE), so seq order is commit order.
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            member_id TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        # Referrals: one code per member, one attribution per referee.
        """CREATE TABLE referral_codes (
            code TEXT PRIMARY KEY,
            member_id TEXT NOT NULL UNIQUE REFERENCES members(member_id)
        )""",
        """CREATE TABLE referrals (
            referee TEXT PRIMARY KEY REFERENCES members(member_id),
            referrer TEXT NOT NULL REFERENCES members(member_id),
            code TEXT NOT NULL,
            referred_at TEXT NOT NULL,
            referred_offset INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            purchase_id TEXT,
            referrer_points INTEGER NOT NULL,
            referee_points INTEGER NOT NULL,
            referrer_lot INTEGER,
            referee_lot INTEGER,
            vests_at TEXT,
            decided_at TEXT
        )""",
        "CREATE INDEX referrals_by_referrer ON referrals(referrer, referee)",
    ),
    # 6: reads that cost what they return. Spending finds a member's lots of points in draw
    # order; period figures find the period's entries and purchases by their time. A
    # purchase's till time is copied out of its request as exact microseconds by
    # loyalty_instant(), which the store registers on every connection, this one included.
    (
        "CREATE INDEX lots_spendable ON lots(member_id, expires_at, lot) WHERE remaining > 0",
        "CREATE INDEX entries_by_time ON entries(occurred_at, kind, points)",
        "ALTER TABLE operations ADD COLUMN purchased_micros INTEGER",
        """UPDATE operations SET purchased_micros = loyalty_instant(json_extract(request, '$.at'))
           WHERE kind = 'purchase'""",
        "CREATE INDEX operations_purchases ON operations(purchased_micros) WHERE kind = 'purchase'",
        "CREATE INDEX members_by_enrolment ON members(enrolled_at)",
    ),
    # 7: idempotency records kept compactly (loyalty.codec.pack_operation: a purchase's request
    # and result once, by position, in one column, which loyalty_pack() writes for the records
    # kept before), with the times as microseconds. Without rowid, the key's b-tree is the table.
    (
        """CREATE TABLE operations_7 (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            recorded_micros INTEGER NOT NULL,
            recorded_offset INTEGER NOT NULL,
            purchased_micros INTEGER
        ) WITHOUT ROWID""",
        """INSERT INTO operations_7 (key, kind, body, recorded_micros, recorded_offset, purchased_micros)
           SELECT key, kind, loyalty_pack(kind, key, request, result), loyalty_instant(recorded_at),
                  recorded_offset, purchased_micros
           FROM operations""",
        "DROP TABLE operations",
        "ALTER TABLE operations_7 RENAME TO operations",
        "CREATE INDEX operations_purchases ON operations(purchased_micros) WHERE kind = 'purchase'",
    ),
    # 8: the tallies every purchase touches kept in the member's row (loyalty.store.member_tallies):
    # its visits, first and last visit, what returns left it owing (the keys of
    # earning.visits_key, habits.seen_key, returns.debt_key and owed_key, as of this schema) and
    # its latest month's spend (habits.spent_key), taken out of the tallies table.
    (
        "ALTER TABLE members ADD COLUMN tallies TEXT",
        """UPDATE members SET tallies = (
            SELECT json_group_object(substr(t.key, 1, instr(t.key, '|') - 1), json_array(t.count, t.points))
            FROM tallies AS t
            WHERE t.key IN ('visits|' || members.member_id, 'seen|' || members.member_id,
                            'debt|' || members.member_id, 'owed|' || members.member_id)
        )""",
        """DELETE FROM tallies WHERE key IN (
            SELECT p.prefix || m.member_id
            FROM members AS m, (SELECT 'visits|' AS prefix UNION ALL SELECT 'seen|'
                                UNION ALL SELECT 'debt|' UNION ALL SELECT 'owed|') AS p
        )""",
        """CREATE TEMP TABLE latest_spent AS
           SELECT substr(key, 15) AS member_id, MAX(substr(key, 7, 7)) AS month FROM tallies
           WHERE key GLOB 'spent|[0-9][0-9][0-9][0-9]-[0-9][0-9]|?*'
             AND substr(key, 15) IN (SELECT member_id FROM members)
           GROUP BY 1""",
        """UPDATE members SET tallies = json_set(tallies, '$.spent', json_array(l.month, t.count, t.points))
           FROM latest_spent AS l JOIN tallies AS t ON t.key = 'spent|' || l.month || '|' || l.member_id
           WHERE members.member_id = l.member_id""",
        "DELETE FROM tallies WHERE key IN (SELECT 'spent|' || month || '|' || member_id FROM latest_spent)",
        "DROP TABLE temp.latest_spent",
    ),
)
SCHEMA_VERSION = len(_MIGRATIONS)
# Column lists are module constants; every value is bound as a parameter.
_SELECT_MEMBER = f"SELECT {MEMBER_COLUMNS} FROM members WHERE member_id = ?"  # noqa: S608
_SELECT_HISTORY = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE member_id = ? AND seq > ? ORDER BY seq LIMIT ?"  # noqa: S608
_INSERT_MEMBER = f"INSERT INTO members ({MEMBER_COLUMNS}, tallies) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_SELECT_PROGRAMS = f"SELECT {PROGRAM_COLUMNS} FROM program_versions"  # noqa: S608
_INSERT_PROGRAM = f"INSERT INTO program_versions ({PROGRAM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
_INSERT_LOT = f"INSERT INTO lots ({LOT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_OPEN_LOTS = f"SELECT {LOT_COLUMNS} FROM lots WHERE member_id = ? AND remaining <> 0 ORDER BY lot"  # noqa: S608
_ALL_OPEN_LOTS = f"SELECT {LOT_COLUMNS} FROM lots WHERE lot > ? AND remaining <> 0 ORDER BY lot LIMIT ?"  # noqa: S608
_PENDING_LOTS = (
    f"SELECT {LOT_COLUMNS} FROM lots WHERE member_id = ? AND remaining <> 0"  # noqa: S608
    " AND vests_at IS NOT NULL AND vests_at > ? ORDER BY lot"
)
# The balance by state in one statement, each part through its partial index; ?1 is the
# member, ?2 the instant (numbered, so they bind from a tuple, not a dict looked up by name).
_BALANCE_BY_STATE = """SELECT balance,
       (SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE member_id = ?1 AND remaining <> 0
        AND expires_at IS NOT NULL AND expires_at <= ?2),
       (SELECT COALESCE(SUM(remaining), 0) FROM lots WHERE member_id = ?1 AND remaining <> 0
        AND vests_at IS NOT NULL AND vests_at > ?2 AND (expires_at IS NULL OR expires_at > ?2)),
       (SELECT COALESCE(SUM(points), 0) FROM holds WHERE member_id = ?1 AND status = 'open')
FROM members WHERE member_id = ?1
"""
# One segment of the draw order (loyalty.store.spending) through lots_spendable.
_SPENDABLE = f"SELECT {LOT_COLUMNS} FROM lots WHERE member_id = :m AND remaining > 0"  # noqa: S608
_SPENDABLE_DATED = (
    f"{_SPENDABLE} AND (expires_at, lot) > (:expires, :lot)"
    " AND (vests_at IS NOT NULL AND vests_at > :now) = :pending ORDER BY expires_at, lot LIMIT :n"
)
_SPENDABLE_UNDATED = (
    f"{_SPENDABLE} AND expires_at IS NULL AND lot > :lot"
    " AND (vests_at IS NOT NULL AND vests_at > :now) = :pending ORDER BY lot LIMIT :n"
)
_DUE_LOTS = (
    f"SELECT {LOT_COLUMNS} FROM lots WHERE remaining <> 0"  # noqa: S608
    " AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, lot LIMIT ?"
)
_MEMBER_DUE_LOTS = (
    f"SELECT {LOT_COLUMNS} FROM lots WHERE member_id = ? AND remaining <> 0"  # noqa: S608
    " AND expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, lot LIMIT ?"
)
_INSERT_HOLD = f"INSERT INTO holds ({HOLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
_SELECT_HOLD = f"SELECT {HOLD_COLUMNS} FROM holds WHERE hold_id = ?"  # noqa: S608
_OPEN_HOLDS = f"SELECT {HOLD_COLUMNS} FROM holds WHERE member_id = ? AND status = 'open' ORDER BY hold_id"  # noqa: S608
_DUE_HOLDS = (
    f"SELECT {HOLD_COLUMNS} FROM holds WHERE status = 'open' AND expires_at <= ?"  # noqa: S608
    " ORDER BY expires_at, hold_id LIMIT ?"
)
_SELECT_REFERRAL = f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referee = ?"  # noqa: S608
_REFERRALS_BY = f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referrer = ? ORDER BY referee"  # noqa: S608
_PUT_REFERRAL = f"INSERT OR REPLACE INTO referrals ({REFERRAL_COLUMNS}) VALUES ({', '.join('?' * 14)})"  # noqa: S608
# The period's purchases, from the operations kept for idempotency, through their till time
# (exact microseconds); a record starts with its member and amount (loyalty.codec.pack_operation).
# Totals are rounded to the currency's minor unit, so their digits
# without the point add up exactly as integers.
_PERIOD_PURCHASES = """
WITH now AS (
    SELECT json_extract(body, '$[0]') AS member, json_extract(body, '$[1]') AS amount
    FROM operations WHERE kind = 'purchase' AND purchased_micros >= :lo AND purchased_micros < :hi
), prior AS (
    SELECT json_extract(body, '$[0]') AS member
    FROM operations WHERE kind = 'purchase' AND purchased_micros >= :first AND purchased_micros < :lo
)
SELECT (SELECT COUNT(*) FROM now),
       (SELECT COUNT(DISTINCT member) FROM now),
       (SELECT COUNT(DISTINCT member) FROM prior),
       (SELECT COUNT(*) FROM (SELECT member FROM now INTERSECT SELECT member FROM prior)),
       (SELECT SUM(CAST(REPLACE(amount, '.', '') AS INTEGER)) FROM now),
       (SELECT MIN(CASE WHEN instr(amount, '.') THEN length(amount) - instr(amount, '.') ELSE 0 END)
        FROM now),
       (SELECT MAX(CASE WHEN instr(amount, '.') THEN length(amount) - instr(amount, '.') ELSE 0 END)
        FROM now)
"""
# The ledger's first and last instants, each through entries_by_time.
_LEDGER_SPAN = "SELECT (SELECT MIN(occurred_at) FROM entries), (SELECT MAX(occurred_at) FROM entries)"
_POINTS_BEFORE = "SELECT COALESCE(SUM(points), 0) FROM entries WHERE occurred_at < ?"
_POINTS_BEFORE_FROM_TOTAL = (
    "SELECT (SELECT COALESCE(SUM(balance), 0) FROM members)"
    " - (SELECT COALESCE(SUM(points), 0) FROM entries WHERE occurred_at >= ?)"
)
_EVENTS = f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"  # noqa: S608
_SELECT_TIER = f"SELECT {TIER_COLUMNS} FROM tier_states WHERE member_id = ?"  # noqa: S608
_PUT_TIER = (
    f"INSERT INTO tier_states ({TIER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
    " ON CONFLICT (member_id) DO UPDATE SET tier = excluded.tier, earned = excluded.earned,"
    " since = excluded.since, review_at = excluded.review_at, due_at = excluded.due_at,"
    " floor = excluded.floor, floor_until = excluded.floor_until, reached = excluded.reached"
)
_DUE_TIERS = (
    f"SELECT {TIER_COLUMNS} FROM tier_states WHERE due_at IS NOT NULL AND due_at <= ?"  # noqa: S608
    " ORDER BY due_at, member_id LIMIT ?"
)
_UPSERT_TALLY = (
    "INSERT INTO tallies (key, count, points) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET count = excluded.count, points = excluded.points"
)
_SELECT_OPERATION = "SELECT kind, body, recorded_micros, recorded_offset FROM operations WHERE key = ?"
_INSERT_OPERATION = (
    "INSERT INTO operations (key, kind, body, recorded_micros, recorded_offset, purchased_micros)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_SELECT_ROW_TALLIES = "SELECT member_id, tallies FROM members WHERE member_id IN ({})"
_PUT_ROW_TALLIES = "UPDATE members SET tallies = ? WHERE member_id = ?"
_ZERO = Tally()
# Keys per SELECT ... IN (...): well under SQLite's bound-parameter limit.
_KEYS_PER_QUERY = 500
_SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "extra": "EXTRA"}


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# isoformat() cost a balance read about a sixth of its time; a day's text is the same all day.
_TWO_DIGITS = tuple(f"{n:02}" for n in range(100))


@functools.lru_cache(maxsize=8)
def _day_text(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat() + "T"


def _sortable(value: datetime | None) -> str | None:
    """A lot date as fixed-width UTC text, which sorts and compares as the instant does: what
    ``isoformat(timespec="microseconds")`` gives in UTC."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    two = _TWO_DIGITS
    return (
        f"{_day_text(value.toordinal())}{two[value.hour]}:{two[value.minute]}:{two[value.second]}"
        f".{value.microsecond:06}+00:00"
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _instant_micros(text: object) -> int | None:
    """An ISO 8601 instant with its offset, as microseconds since 1970 (an SQL function);
    ``None`` for anything else, as :func:`~loyalty.store.periods.purchase_time` reads it."""
    at = instant_of(text)
    return None if at is None else _micros(at)


def _pack(kind: str, key: str, request: str, result: str) -> str:
    """An operation kept before schema 7 (request and result as JSON text), as kept now (an SQL function)."""
    return pack_operation(kind, key, load_json(request), load_json(result))


def _translate(exc: sqlite3.Error) -> StorageError:
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return TransientStorageError(None, f"sqlite: {exc}")
    return StorageError(None, f"sqlite: {exc}")


class SQLiteUnitOfWork:
    def __init__(self, conn: sqlite3.Connection, readonly: bool) -> None:
        self._conn = conn
        self._readonly = readonly
        # Tallies this unit of work has read or written. A write unit of work
        # holds the write lock from its first statement, so they cannot change
        # under it: add_tallies adds to them without reading them again.
        self._seen: dict[str, Tally] = {}
        # Members' row tallies (loyalty.store.member_tallies): changes are written with the
        # member's next balance update, or at commit.
        self._rows = Rows()

    def _writable(self) -> None:
        if self._readonly:
            raise StorageError(None, "write in a read-only unit of work")

    def member(self, member_id: str) -> Member | None:
        row = self._conn.execute(_SELECT_MEMBER, (member_id,)).fetchone()
        return None if row is None else member_from_row(row)

    def member_ids(self, *, after: str = "", limit: int) -> list[str]:
        # SQLite's default BINARY collation compares UTF-8 bytes: code-point order, as Python does.
        rows = self._conn.execute(
            "SELECT member_id FROM members WHERE member_id > ? ORDER BY member_id LIMIT ?", (after, limit)
        )
        return [str(row[0]) for row in rows]

    def add_member(self, member: Member) -> None:
        self._writable()
        changed = member.birthday_changed_at
        # The member's own tallies live in its row from now on: any kept before it enrolled
        # (only a hand-made key can be) move in with it.
        keys = own_keys(member.id)
        moved = self._conn.execute(
            f"DELETE FROM tallies WHERE key IN ({', '.join('?' * len(keys))}) RETURNING key, count, points",  # noqa: S608
            keys,
        ).fetchall()
        row = Row(member.id, None)
        for key, count, points in moved:
            found = where(key)
            assert found is not None
            row.put(found[1], None, Tally(int(count), Decimal(points)))
        self._conn.execute(
            _INSERT_MEMBER,
            (
                member.id,
                _utc_text(member.enrolled_at),
                offset_of(member.enrolled_at),
                None if member.birthday is None else member.birthday.isoformat(),
                dump_json(dict(member.attributes)),
                None if changed is None else _utc_text(changed),
                None if changed is None else offset_of(changed),
                row.text() if moved else None,
            ),
        )
        row.changed = False
        self._rows.rows[member.id] = row

    def update_member(self, member: Member) -> None:
        self._writable()
        changed = member.birthday_changed_at
        cursor = self._conn.execute(
            "UPDATE members SET birthday = ?, attributes = ?, birthday_changed_at = ?,"
            " birthday_changed_offset = ? WHERE member_id = ?",
            (
                None if member.birthday is None else member.birthday.isoformat(),
                dump_json(dict(member.attributes)),
                None if changed is None else _utc_text(changed),
                None if changed is None else offset_of(changed),
                member.id,
            ),
        )
        if cursor.rowcount != 1:
            raise StorageError("member_id", f"no member {member.id!r} to update")

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None:
        # BEGIN IMMEDIATE already holds the database's write lock: nothing more to lock.
        # The row's tallies come with it: a purchase reads them next.
        found = self._conn.execute("SELECT balance, tallies FROM members WHERE member_id = ?", (member_id,))
        row = found.fetchone()
        if row is None:
            return None
        self._rows.loaded(member_id, row[1])
        return int(row[0])

    def balance_by_state(self, member_id: str, now: datetime) -> Balance | None:
        row = self._conn.execute(_BALANCE_BY_STATE, (member_id, _sortable(now))).fetchone()
        if row is None:
            return None
        # INTEGER columns and integer sums: ints as they come.
        total, overdue, pending, held = row
        return Balance(total - pending - overdue, pending, overdue, held)

    def append(self, posting: Posting) -> Entry:
        self._writable()
        rules = rules_text(posting.rules)
        conn = self._conn
        drawn: list[tuple[int, int]] = []
        if posting.points < 0 or posting.draws:
            # Checked before anything is written, against the lots as stored.
            lots = self._lots_by_id(posting.member_id, [lot for lot, _ in posting.draws])
            check_draws(posting, lots)
            drawn = [(points, lot) for lot, points in posting.draws]
        if posting.redates or posting.kind is EntryKind.REDATE:
            check_redates(posting, self._lots_by_id(posting.member_id, [lot for lot, _ in posting.redates]))
        tallies = self._rows.take(posting.member_id)
        if tallies is not None:
            # The row's tallies this unit of work changed go with the balance: one statement.
            (balance,) = conn.execute(
                "UPDATE members SET balance = balance + ?, tallies = ? WHERE member_id = ? RETURNING balance",
                (posting.points, tallies, posting.member_id),
            ).fetchone()
        else:
            (balance,) = conn.execute(
                "UPDATE members SET balance = balance + ? WHERE member_id = ? RETURNING balance",
                (posting.points, posting.member_id),
            ).fetchone()
        cursor = conn.execute(
            "INSERT INTO entries (member_id, kind, points, balance_after, occurred_at, occurred_offset,"
            " recorded_at, recorded_offset, source_id, reason, actor, rule, program_version,"
            " vests_at, expires_at, draws, rolling, redates)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                posting.member_id,
                posting.kind.value,
                posting.points,
                balance,
                posting.occurred_at.astimezone(UTC).isoformat(),
                offset_of(posting.occurred_at),
                posting.recorded_at.astimezone(UTC).isoformat(),
                offset_of(posting.recorded_at),
                posting.source_id,
                posting.reason,
                posting.actor,
                rules,
                posting.program_version,
                _sortable(posting.vests_at),
                _sortable(posting.expires_at),
                draws_text(posting.draws),
                int(posting.rolling),
                redates_text(posting.redates),
            ),
        )
        seq = cursor.lastrowid
        assert seq is not None
        rest = opens(posting)
        if rest:
            conn.execute(
                _INSERT_LOT,
                (
                    seq,
                    posting.member_id,
                    rest,
                    rest,
                    _utc_text(posting.occurred_at),
                    offset_of(posting.occurred_at),
                    _sortable(posting.vests_at),
                    _sortable(posting.expires_at),
                    int(posting.rolling),
                ),
            )
        if drawn:
            conn.executemany("UPDATE lots SET remaining = remaining + ? WHERE lot = ?", drawn)
        if posting.redates:
            moved = [(_sortable(at), int(posting.rolling), lot) for lot, at in posting.redates]
            conn.executemany("UPDATE lots SET expires_at = ?, rolling = ? WHERE lot = ?", moved)
        return posting.recorded(seq, balance)

    def _lots_by_id(self, member_id: str, ids: list[int]) -> dict[int, Lot]:
        found: dict[int, Lot] = {}
        for start in range(0, len(ids), _KEYS_PER_QUERY):
            chunk = ids[start : start + _KEYS_PER_QUERY]
            rows = self._conn.execute(
                # Only "?" placeholders are formatted in; the ids are bound.
                f"SELECT {LOT_COLUMNS} FROM lots"  # noqa: S608
                f" WHERE member_id = ? AND lot IN ({', '.join('?' * len(chunk))})",
                [member_id, *chunk],
            ).fetchall()
            found.update((lot.id, lot) for lot in map(lot_from_row, rows))
        return found

    def lots(self, member_id: str) -> list[Lot]:
        return [lot_from_row(row) for row in self._conn.execute(_OPEN_LOTS, (member_id,))]

    def lot(self, member_id: str, lot_id: int) -> Lot | None:
        return self._lots_by_id(member_id, [lot_id]).get(lot_id)

    def open_lots(self, *, after: int = 0, limit: int) -> list[Lot]:
        rows = self._conn.execute(_ALL_OPEN_LOTS, (after, limit))
        return [lot_from_row(row) for row in rows]

    def pending_lots(self, member_id: str, at: datetime) -> list[Lot]:
        rows = self._conn.execute(_PENDING_LOTS, (member_id, _sortable(at)))
        return [lot_from_row(row) for row in rows]

    def spendable_lots(
        self, member_id: str, now: datetime, *, pending: bool = False, after: Lot | None = None, limit: int
    ) -> list[Lot]:
        def read(segment: Segment, n: int) -> list[Lot]:
            bounds = {"m": member_id, "lot": segment.after_id, "now": _sortable(now), "n": n}
            bounds["pending"] = segment.pending
            if segment.dated:
                bounds["expires"] = _sortable(segment.after_expires)
            query = _SPENDABLE_DATED if segment.dated else _SPENDABLE_UNDATED
            return [lot_from_row(row) for row in self._conn.execute(query, bounds)]

        return collect(now, pending=pending, after=after, limit=limit, read=read)

    def due_lots(
        self, until: datetime, *, member_id: str | None = None, limit: int | None = None
    ) -> list[Lot]:
        bound = -1 if limit is None else limit
        if member_id is None:
            rows = self._conn.execute(_DUE_LOTS, (_sortable(until), bound))
        else:
            rows = self._conn.execute(_MEMBER_DUE_LOTS, (member_id, _sortable(until), bound))
        return [lot_from_row(row) for row in rows]

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        rows = self._conn.execute(
            _SELECT_HISTORY, (member_id, after, -1 if limit is None else limit)
        ).fetchall()
        return [entry_from_row(row) for row in rows]

    def add_hold(self, hold: Hold) -> None:
        self._writable()
        if not hold.open:
            raise StorageError("status", "a hold is recorded open")
        self._conn.execute(
            _INSERT_HOLD,
            (
                hold.id,
                hold.member_id,
                hold.points,
                draws_text(hold.draws) or "[]",
                _utc_text(hold.held_at),
                offset_of(hold.held_at),
                _sortable(hold.expires_at),
                hold.status.value,
                hold.captured,
                None,
            ),
        )

    def hold(self, hold_id: str) -> Hold | None:
        row = self._conn.execute(_SELECT_HOLD, (hold_id,)).fetchone()
        return None if row is None else hold_from_row(row)

    def open_holds(self, member_id: str) -> list[Hold]:
        return [hold_from_row(row) for row in self._conn.execute(_OPEN_HOLDS, (member_id,))]

    def due_holds(self, until: datetime, *, limit: int | None = None) -> list[Hold]:
        rows = self._conn.execute(_DUE_HOLDS, (_sortable(until), -1 if limit is None else limit))
        return [hold_from_row(row) for row in rows]

    def end_hold(self, hold_id: str, status: HoldStatus, captured: int, at: datetime) -> Hold:
        self._writable()
        if status is HoldStatus.OPEN:
            raise StorageError("status", "a hold ends captured, released or expired")
        # The status test is the final arbiter: a hold ends exactly once.
        row = self._conn.execute(
            f"UPDATE holds SET status = ?, captured = ?, ended_at = ? WHERE hold_id = ? AND status = 'open'"  # noqa: S608
            f" RETURNING {HOLD_COLUMNS}",
            (status.value, captured, _sortable(at), hold_id),
        ).fetchone()
        if row is None:
            raise StorageError("hold_id", f"no open hold {hold_id!r} to end")
        return hold_from_row(row)

    def referral_code(self, member_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT code FROM referral_codes WHERE member_id = ?", (member_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def code_owner(self, code: str) -> str | None:
        row = self._conn.execute("SELECT member_id FROM referral_codes WHERE code = ?", (code,)).fetchone()
        return None if row is None else str(row[0])

    def add_referral_code(self, member_id: str, code: str) -> None:
        self._writable()
        if self._conn.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,)).fetchone() is None:
            raise StorageError("member_id", f"no member {member_id!r}")
        try:
            self._conn.execute(
                "INSERT INTO referral_codes (code, member_id) VALUES (?, ?)", (code, member_id)
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError("code", f"code {code!r} or member {member_id!r} already has a code") from exc

    def referral(self, referee: str) -> Referral | None:
        row = self._conn.execute(_SELECT_REFERRAL, (referee,)).fetchone()
        return None if row is None else referral_from_row(row)

    def referrals_by(self, referrer: str) -> list[Referral]:
        return [referral_from_row(row) for row in self._conn.execute(_REFERRALS_BY, (referrer,))]

    def put_referral(self, referral: Referral) -> None:
        self._writable()
        for member_id in (referral.referee, referral.referrer):
            if (
                self._conn.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,)).fetchone()
                is None
            ):
                raise StorageError("member_id", f"no member {member_id!r}")
        self._conn.execute(
            _PUT_REFERRAL,
            (
                referral.referee,
                referral.referrer,
                referral.code,
                _utc_text(referral.referred_at),
                offset_of(referral.referred_at),
                referral.state.value,
                referral.reason,
                referral.purchase_id,
                referral.referrer_points,
                referral.referee_points,
                referral.referrer_lot,
                referral.referee_lot,
                _sortable(referral.vests_at),
                _sortable(referral.decided_at),
            ),
        )

    def period_totals(self, start: datetime, end: datetime, before: datetime) -> PeriodTotals:
        conn = self._conn
        lo, hi = _utc_text(start), _utc_text(end)
        # UTC ISO text compares as the instant does ("+" sorts before "." and the digits).
        by_kind = {
            str(kind): int(points)
            for kind, points in conn.execute(
                "SELECT kind, SUM(points) FROM entries"
                " WHERE occurred_at >= ? AND occurred_at < ? GROUP BY kind",
                (lo, hi),
            )
        }
        (members,) = conn.execute("SELECT COUNT(*) FROM members WHERE enrolled_at < ?", (hi,)).fetchone()
        bounds = {"lo": _micros(start), "hi": _micros(end), "first": _micros(before)}
        row = conn.execute(_PERIOD_PURCHASES, bounds).fetchone()
        purchases, active, active_before, retained, minor, low, high = row
        if low != high:
            raise StorageError(None, "purchase totals with different numbers of decimals in one store")
        spend = Decimal(minor or 0).scaleb(-(low or 0))
        return PeriodTotals(
            by_kind,
            self._points_before(end),
            int(members),
            int(active),
            int(active_before),
            int(retained),
            int(purchases),
            spend,
        )

    def _points_before(self, end: datetime) -> int:
        """The points of every entry before ``end``, added up from the nearer end of the ledger."""
        first, last = self._conn.execute(_LEDGER_SPAN).fetchone()
        if first is None:
            return 0
        ahead = count_from_start(datetime.fromisoformat(first), datetime.fromisoformat(last), end)
        query = _POINTS_BEFORE if ahead else _POINTS_BEFORE_FROM_TOTAL
        (points,) = self._conn.execute(query, (_utc_text(end),)).fetchone()
        return int(points)

    def add_event(self, event: NewEvent) -> None:
        self._writable()
        self._conn.execute(
            "INSERT INTO events (kind, member_id, occurred_at, occurred_offset, recorded_at, recorded_offset,"
            " source_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.kind.value,
                event.member_id,
                _utc_text(event.occurred_at),
                offset_of(event.occurred_at),
                _utc_text(event.recorded_at),
                offset_of(event.recorded_at),
                event.source_id,
                dump_json(check_json("data", event.data)),
            ),
        )

    def events(self, *, after: int = 0, limit: int | None = None) -> list[DomainEvent]:
        rows = self._conn.execute(_EVENTS, (after, -1 if limit is None else limit))
        return [event_from_row(row) for row in rows]

    def tier_state(self, member_id: str) -> TierState | None:
        row = self._conn.execute(_SELECT_TIER, (member_id,)).fetchone()
        return None if row is None else tier_state_from_row(row)

    def put_tier_state(self, state: TierState) -> None:
        self._writable()
        if (
            self._conn.execute("SELECT 1 FROM members WHERE member_id = ?", (state.member_id,)).fetchone()
            is None
        ):
            raise StorageError("member_id", f"no member {state.member_id!r}")
        self._conn.execute(
            _PUT_TIER,
            (
                state.member_id,
                state.tier,
                state.earned,
                _sortable(state.since),
                _sortable(state.review_at),
                _sortable(state.due_at),
                state.floor,
                _sortable(state.floor_until),
                dump_json(list(state.reached)),
            ),
        )

    def due_tier_states(self, until: datetime, *, limit: int | None = None) -> list[TierState]:
        rows = self._conn.execute(_DUE_TIERS, (_sortable(until), -1 if limit is None else limit))
        return [tier_state_from_row(row) for row in rows]

    def operation_and_lock(self, key: str, member_id: str) -> tuple[Operation | None, int | None]:
        # Two statements: SQLite has no round trip to save, and BEGIN IMMEDIATE is the lock.
        return self.operation(key), self.balance(member_id, for_update=True)

    def operation(self, key: str) -> Operation | None:
        row = self._conn.execute(_SELECT_OPERATION, (key,)).fetchone()
        if row is None:
            return None
        kind, body, recorded, offset = row
        request, result = unpack_operation(key, body)
        return Operation(
            key, kind, request, result, restore_instant(_EPOCH + timedelta(microseconds=recorded), offset)
        )

    def add_operation(self, operation: Operation) -> None:
        self._writable()
        purchased = purchase_time(operation)
        self._conn.execute(
            _INSERT_OPERATION,
            (
                operation.key,
                operation.kind,
                pack_operation(operation.kind, operation.key, operation.request, operation.result),
                _micros(operation.recorded_at),
                offset_of(operation.recorded_at),
                None if purchased is None else _micros(purchased),
            ),
        )

    def _stored_tallies(self, keys: list[str]) -> dict[str, Tally]:
        found: dict[str, Tally] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            rows = self._conn.execute(
                # Only "?" placeholders are formatted in; the keys are bound.
                f"SELECT key, count, points FROM tallies WHERE key IN ({', '.join('?' * len(chunk))})",  # noqa: S608
                chunk,
            ).fetchall()
            for key, count, points in rows:
                found[key] = Tally(int(count), Decimal(points))
        return found

    def _load_rows(self, members: list[str]) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for start in range(0, len(members), _KEYS_PER_QUERY):
            chunk = members[start : start + _KEYS_PER_QUERY]
            found += self._conn.execute(_SELECT_ROW_TALLIES.format(", ".join("?" * len(chunk))), chunk)
        return found

    def tallies(self, keys: Collection[str], *, for_update: bool = False) -> dict[str, Tally]:
        # A write unit of work holds the database's write lock from BEGIN IMMEDIATE:
        # for_update needs nothing more.
        wanted = [check_tally_key(key) for key in keys]
        result = self._rows.read(wanted, self._seen, self._load_rows, self._stored_tallies)
        if not self._readonly:
            self._seen.update(result)
        return {key: result[key] for key in wanted}

    def add_tallies(self, deltas: Mapping[str, Tally]) -> None:
        self._writable()
        if not deltas:
            return
        # Read, add exactly in Python, write back: safe under the write lock
        # BEGIN IMMEDIATE took, and SQLite has no exact decimal arithmetic.
        check_deltas(deltas)
        seen, rows = self._seen, self._rows
        unseen = [key for key in deltas if key not in seen]
        if unseen:
            self.tallies(unseen)  # what they are now, and their members' rows
        # Every sum first: one that fails leaves nothing added.
        totals = {key: checked(key, seen[key] + delta) for key, delta in deltas.items()}
        seen.update(totals)
        table: list[tuple[str, int, str]] = []
        taken: list[tuple[str]] = []
        for key, total in totals.items():
            if not rows.keeps(key):
                table.append((key, total.count, str(total.points)))
                continue
            gone, held = rows.put(key, total)
            if gone is not None:
                table.append((gone[0], gone[1].count, str(gone[1].points)))
            if held:
                taken.append((key,))  # read into the total, kept by the row from now on
        if taken:
            self._conn.executemany("DELETE FROM tallies WHERE key = ?", taken)
        if table:
            self._conn.executemany(_UPSERT_TALLY, table)

    def program_versions(self) -> list[StoredProgram]:
        rows = self._conn.execute(_SELECT_PROGRAMS).fetchall()
        return sorted((program_from_row(row) for row in rows), key=program_order)

    def add_program_version(self, program: StoredProgram) -> None:
        self._writable()
        effective = program.effective_from
        self._conn.execute(
            _INSERT_PROGRAM,
            (
                program.version,
                None if effective is None else _utc_text(effective),
                None if effective is None else offset_of(effective),
                dump_json(program.body),
                _utc_text(program.recorded_at),
                offset_of(program.recorded_at),
            ),
        )

    def commit(self) -> None:
        changed = [(row.text(), row.member_id) for row in self._rows.changed()]
        if changed:
            self._conn.executemany(_PUT_ROW_TALLIES, changed)
        self._conn.execute("COMMIT")


class SQLiteStore:
    """A store in one SQLite file, safe to share between threads and processes."""

    def __init__(
        self, path: str | Path, *, synchronous: str = "full", busy_timeout_ms: int = 10_000, max_idle: int = 8
    ) -> None:
        if synchronous.lower() not in _SYNCHRONOUS:
            raise InvalidInput(
                "synchronous", f"must be one of {', '.join(_SYNCHRONOUS)}, got {synchronous!r}"
            )
        if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
            raise InvalidInput(
                "busy_timeout", f"must be a non-negative int of milliseconds, got {busy_timeout_ms!r}"
            )
        self.path = Path(path)
        self.synchronous = _SYNCHRONOUS[synchronous.lower()]
        self.busy_timeout_ms = busy_timeout_ms
        self.max_idle = max_idle
        self._idle: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False
        with self._connection() as conn:
            self._migrate(conn)

    def _open(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError(None, "the store is closed")
        try:
            # isolation_level=None: we issue BEGIN ourselves (see the module docstring).
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=self.busy_timeout_ms / 1000
            )
        except sqlite3.Error as exc:
            raise _translate(exc) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            # Exact instants for the period figures (julianday() rounds to the millisecond).
            conn.create_function("loyalty_instant", 1, _instant_micros, deterministic=True)
            # Records kept before schema 7, made compact (migration 7).
            conn.create_function("loyalty_pack", 4, _pack, deterministic=True)
            self._enable_wal(conn)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc) from exc
            raise
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching a new file to WAL needs an exclusive lock and does not wait
        # for busy_timeout, so processes creating one file at once retry here.
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _borrow(self) -> sqlite3.Connection:
        """An idle connection if there is one, else a new one.

        Connections are pooled rather than kept per thread, so a server that
        runs each request on a new thread does not leak one per thread.
        """
        with self._guard:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._guard:
            keep = not self._closed and len(self._idle) < self.max_idle
            if keep:
                self._idle.append(conn)
        if not keep:
            conn.close()

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection for the block (see :meth:`_borrow`)."""
        conn = self._borrow()
        try:
            yield conn
        finally:
            self._give_back(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
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
                for step in _MIGRATIONS[version:]:
                    for statement in step:
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
            raise _translate(exc) from exc

    def schema_version(self) -> int:
        with self._connection() as conn:
            return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])

    def unit_of_work(self, *, readonly: bool = False) -> _Transaction:
        return _Transaction(self, readonly)

    def close(self) -> None:
        """Close idle connections now; connections in use close when their unit of work ends."""
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class _Transaction:
    """A unit of work's transaction on a borrowed connection: ``BEGIN`` (``BEGIN IMMEDIATE`` to
    write) on entry; on exit, ``ROLLBACK`` unless committed, driver errors translated, and the
    connection back in the pool.

    A class rather than a generator-based context manager: a read such as a
    balance is a handful of statements, and the generator machinery cost
    about as much as the query.
    """

    __slots__ = ("_conn", "_readonly", "_store")

    def __init__(self, store: SQLiteStore, readonly: bool) -> None:
        self._store = store
        self._readonly = readonly
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> SQLiteUnitOfWork:
        if self._conn is not None:
            # Entered again, its first connection would be lost mid-transaction and the second
            # given back to the pool twice, to be handed to two borrowers at once.
            raise StorageError(None, "a unit of work is entered once: ask the store for another")
        conn = self._store._borrow()
        try:
            conn.execute("BEGIN" if self._readonly else "BEGIN IMMEDIATE")
        except BaseException as exc:
            self._store._give_back(conn)
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc) from exc
            raise
        self._conn = conn
        return SQLiteUnitOfWork(conn, self._readonly)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._conn
        assert conn is not None  # entered
        try:
            if conn.in_transaction:
                # Not committed, or the block raised: nothing it did is kept.
                conn.execute("ROLLBACK")
        finally:
            self._conn = None
            self._store._give_back(conn)
        if isinstance(exc, sqlite3.Error):
            raise _translate(exc) from exc


def open_sqlite(url: str) -> SQLiteStore:
    """Open ``sqlite:///path.db?synchronous=normal&busy_timeout=5000``."""
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
    return SQLiteStore(path, synchronous=options.get("synchronous", "full"), busy_timeout_ms=int(timeout))
