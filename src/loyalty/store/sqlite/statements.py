"""Every statement of the SQLite adapter whose text is fixed, and the values it binds:
UTC text that sorts as the instants do, exact microseconds, errors as the engine's."""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import ParamSpec, TypeVar

from loyalty.errors import StorageError, TransientStorageError
from loyalty.habits import micros as micros  # re-exported: the adapters' instants as numbers
from loyalty.records import pack_operation
from loyalty.store.periods import instant_of
from loyalty.store.rows import (
    ENTRY_COLUMNS,
    EVENT_COLUMNS,
    HOLD_COLUMNS,
    LOT_COLUMNS,
    MEMBER_COLUMNS,
    PROGRAM_COLUMNS,
    REFERRAL_COLUMNS,
    TIER_COLUMNS,
    load_json,
)
from loyalty.tallies import Tally

# Column lists are module constants; every value is bound as a parameter.
SELECT_MEMBER = f"SELECT {MEMBER_COLUMNS} FROM members WHERE member_id = ?"  # noqa: S608
SELECT_ENTRIES = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE seq > ? ORDER BY seq LIMIT ?"  # noqa: S608
SELECT_HISTORY = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE member_id = ? AND seq > ? ORDER BY seq LIMIT ?"  # noqa: S608
INSERT_MEMBER = f"INSERT INTO members ({MEMBER_COLUMNS}, tallies) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
SELECT_PROGRAMS = f"SELECT {PROGRAM_COLUMNS} FROM program_versions"  # noqa: S608
INSERT_PROGRAM = f"INSERT INTO program_versions ({PROGRAM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"  # noqa: S608
# A lot is kept in one of two places (schema 18): in the row of the entry that opened it (its id
# the entry's seq, its points ``opened`` or the entry's, its dates the entry's), or in ``lots``
# (kept there before schema 18, or redated). Every read of lots reads both, each through its own
# partial indexes, as one compound statement: ``where`` names the lot's id {lot} and when it
# was earned, as fixed-width UTC text without offset, {earned}.
ENTRY_LOT_COLUMNS = (
    "seq, member_id, COALESCE(opened, points), remaining, occurred_at, occurred_offset, vests_at,"
    " expires_at, rolling"
)
# An entry's occurred_at (microseconds since 1970, schema 22) as the UTC date and time to the
# second, and its microseconds (the remainder taken up to 0..999999 for instants before 1970).
_MICROS_OF = "(({0} % 1000000 + 1000000) % 1000000)"
_SECONDS_OF = "strftime('%Y-%m-%dT%H:%M:%S', ({0} - " + _MICROS_OF + ") / 1000000, 'unixepoch')"
# A lot's earned_at, from an entry: the text isoformat() gives in UTC (as lots keeps it).
ISO_OF_ENTRY = (
    f"{_SECONDS_OF.format('occurred_at')} || CASE WHEN {_MICROS_OF.format('occurred_at')} = 0 THEN ''"
    f" ELSE printf('.%06d', {_MICROS_OF.format('occurred_at')}) END || '+00:00'"
)
# earned_at is isoformat() in UTC, which leaves out zero microseconds: padded to a fixed width
# (what earned_key gives) it sorts as the instant does.
_EARNED_IN_LOTS = (
    "substr(earned_at, 1, 19)"
    " || CASE WHEN substr(earned_at, 20, 1) = '.' THEN substr(earned_at, 20, 7) ELSE '.000000' END"
)
EARNED_IN_ENTRIES = (
    f"{_SECONDS_OF.format('occurred_at')} || printf('.%06d', {_MICROS_OF.format('occurred_at')})"
)
_PLACES = (
    ("lots", LOT_COLUMNS, "lot", _EARNED_IN_LOTS),
    ("entries", ENTRY_LOT_COLUMNS, "seq", EARNED_IN_ENTRIES),
)


def _both(where: str, extra: str = "", indexed: str = "") -> str:
    return " UNION ALL ".join(
        f"SELECT {columns}{extra.format(earned=earned)} FROM {table}"  # noqa: S608
        f"{indexed.format(table=table)} WHERE {where.format(lot=lot, earned=earned)}"
        for table, columns, lot, earned in _PLACES
    )


# By lot: entries_by_member has the order, but goes through every entry of the member.
OPEN_LOTS = (
    f"{_both('member_id = :m AND remaining > 0', indexed=' INDEXED BY {table}_spendable')} UNION ALL"
    f" {_both('member_id = :m AND remaining < 0', indexed=' INDEXED BY {table}_debts')} ORDER BY lot"
)
ALL_OPEN_LOTS = f"{_both('{lot} > :after AND remaining <> 0')} ORDER BY lot LIMIT :n"
PENDING_LOTS = (
    f"{_both('member_id = :m AND remaining <> 0 AND vests_at IS NOT NULL AND vests_at > :at')} ORDER BY lot"
)
# The lot an entry keeps, moved to ``lots`` (before it is redated there) and taken out of the entry.
MOVE_LOT_OUT = (
    f"INSERT INTO lots ({LOT_COLUMNS}) SELECT {ENTRY_LOT_COLUMNS.replace('occurred_at', ISO_OF_ENTRY)}"  # noqa: S608
    " FROM entries"
    " WHERE seq = ? AND remaining IS NOT NULL"
)
# The lots a roll moves (loyalty.lots.rolls_to), in either table: the spendable indexes' order.
ROLLS = "member_id = :m AND remaining > 0 AND expires_at < :until AND rolling = 1"
ROLL_OUT = MOVE_LOT_OUT.replace("seq = ? AND remaining IS NOT NULL", ROLLS)
# The balance by state in one statement (schema 20): the member's row, which keeps its open holds'
# points and says whether ``lots`` may hold a lot of its (the CASE runs those searches only then),
# and a search of each of the entries' covering date indexes for its overdue and pending lots.
# Bound by name from a dict: two values bound once each cost less than fourteen ``?`` bound in
# turn, and numbered ones bound from a sequence warn on some Pythons (3.13.0).
_OVERDUE = (
    "(SELECT COALESCE(SUM(remaining), 0) FROM {table} WHERE member_id = :m AND remaining <> 0"
    " AND expires_at IS NOT NULL AND expires_at <= :at)"
)
_PENDING = (
    "(SELECT COALESCE(SUM(remaining), 0) FROM {table} WHERE member_id = :m AND remaining <> 0"
    " AND vests_at IS NOT NULL AND vests_at > :at AND (expires_at IS NULL OR expires_at > :at))"
)
_IN_LOTS = "CASE WHEN lots_kept THEN {} ELSE 0 END"
BALANCE_BY_STATE = f"""SELECT balance,
       {_IN_LOTS.format(_OVERDUE.format(table="lots"))} + {_OVERDUE.format(table="entries")},
       {_IN_LOTS.format(_PENDING.format(table="lots"))} + {_PENDING.format(table="entries")},
       held
FROM members WHERE member_id = :m
"""  # noqa: S608


# One segment of the draw order (loyalty.store.spending) through lots_spendable and entries_spendable.
_SPENDABLE = "member_id = :m AND remaining > 0 AND (vests_at IS NOT NULL AND vests_at > :now) = :pending"
SPENDABLE_DATED = (
    f"{_both(_SPENDABLE + ' AND (expires_at, {lot}) > (:expires, :lot)')} ORDER BY expires_at, lot LIMIT :n"
)
SPENDABLE_UNDATED = f"{_both(_SPENDABLE + ' AND expires_at IS NULL AND {lot} > :lot')} ORDER BY lot LIMIT :n"
# The oldest-earned order: the member's lots through the spendable indexes, sorted (no index has it).
SPENDABLE_EARNED = (
    _both(
        f"{_SPENDABLE} AND (expires_at IS NULL OR expires_at > :now)"
        " AND ({earned}, {lot}) > (:earned, :lot)",
        ", {earned} AS earned_key",
    )
    + " ORDER BY earned_key, lot LIMIT :n"
)
_DUE = "remaining <> 0 AND expires_at IS NOT NULL AND expires_at <= :until"
DUE_LOTS = f"{_both(_DUE)} ORDER BY expires_at, lot LIMIT :n"
MEMBER_DUE_LOTS = f"{_both('member_id = :m AND ' + _DUE)} ORDER BY expires_at, lot LIMIT :n"
INSERT_HOLD = f"INSERT INTO holds ({HOLD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
SELECT_HOLD = f"SELECT {HOLD_COLUMNS} FROM holds WHERE hold_id = ?"  # noqa: S608
OPEN_HOLDS = f"SELECT {HOLD_COLUMNS} FROM holds WHERE member_id = ? AND status = 'open' ORDER BY hold_id"  # noqa: S608
DUE_HOLDS = (
    f"SELECT {HOLD_COLUMNS} FROM holds WHERE status = 'open' AND expires_at <= ?"  # noqa: S608
    " ORDER BY expires_at, hold_id LIMIT ?"
)
SELECT_REFERRAL = f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referee = ?"  # noqa: S608
REFERRALS_BY = f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE referrer = ? ORDER BY referee"  # noqa: S608
PUT_REFERRAL = f"INSERT OR REPLACE INTO referrals ({REFERRAL_COLUMNS}) VALUES ({', '.join('?' * 14)})"  # noqa: S608
# The period's purchases, from the idempotency records: those kept in their entries (schema 11)
# through entries_by_time, at the entry's till time (microseconds since 1970, schema 22), and
# those kept as operations through their till time (exact microseconds); a record keeps its
# amount second, and its member first unless it is of layout 3, whose member is its entry's
# (loyalty.records.pack_operation). Totals are rounded to the currency's
# minor unit, so their digits without the point add up exactly as integers.
# Each rule's points of a period's entries: an entry of one rule gives it all of them, an entry
# of several each rule its share (rule_shares, or kept_shares for the entries kept before them).
PERIOD_RULES = """
SELECT rule, SUM(points) FROM (
    SELECT rule, points FROM entries
    WHERE occurred_at >= :lo AND occurred_at < :hi AND rule IS NOT NULL AND instr(rule, ' ') = 0
    UNION ALL
    SELECT j.key, j.value FROM entries AS e, json_each(COALESCE(e.rule_shares,
        (SELECT k.rule_shares FROM kept_shares AS k WHERE k.seq = e.seq))) AS j
    WHERE e.occurred_at >= :lo AND e.occurred_at < :hi AND instr(e.rule, ' ') > 0
) GROUP BY rule
"""
# A record in its entry names its member first, but for one of layout 3, whose member is its entry's.
_RECORD_MEMBER = (
    "CASE json_extract(record, '$[2]') WHEN 3 THEN member_id ELSE json_extract(record, '$[0]') END"
)
PERIOD_PURCHASES = f"""
WITH now AS (
    SELECT json_extract(body, '$[0]') AS member, json_extract(body, '$[1]') AS amount
    FROM operations WHERE kind = 'purchase' AND purchased_micros >= :lo AND purchased_micros < :hi
    UNION ALL
    SELECT {_RECORD_MEMBER}, json_extract(record, '$[1]')
    FROM entries WHERE occurred_at >= :lo AND occurred_at < :hi AND record IS NOT NULL
), prior AS (
    SELECT json_extract(body, '$[0]') AS member
    FROM operations WHERE kind = 'purchase' AND purchased_micros >= :first AND purchased_micros < :lo
    UNION ALL
    SELECT {_RECORD_MEMBER}
    FROM entries WHERE occurred_at >= :first AND occurred_at < :lo AND record IS NOT NULL
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
"""  # noqa: S608
# The ledger's first and last instants, each through entries_by_time.
LEDGER_SPAN = "SELECT (SELECT MIN(occurred_at) FROM entries), (SELECT MAX(occurred_at) FROM entries)"
POINTS_BEFORE = "SELECT COALESCE(SUM(points), 0) FROM entries WHERE occurred_at < ?"
POINTS_BEFORE_FROM_TOTAL = (
    "SELECT (SELECT COALESCE(SUM(balance), 0) FROM members)"
    " - (SELECT COALESCE(SUM(points), 0) FROM entries WHERE occurred_at >= ?)"
)
EVENTS = f"SELECT {EVENT_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?"  # noqa: S608
SELECT_TIER = f"SELECT {TIER_COLUMNS} FROM tier_states WHERE member_id = ?"  # noqa: S608
PUT_TIER = (
    f"INSERT INTO tier_states ({TIER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
    " ON CONFLICT (member_id) DO UPDATE SET tier = excluded.tier, earned = excluded.earned,"
    " since = excluded.since, review_at = excluded.review_at, due_at = excluded.due_at,"
    " floor = excluded.floor, floor_until = excluded.floor_until, reached = excluded.reached"
)
DUE_TIERS = (
    f"SELECT {TIER_COLUMNS} FROM tier_states WHERE due_at IS NOT NULL AND due_at <= ?"  # noqa: S608
    " ORDER BY due_at, member_id LIMIT ?"
)
UPSERT_TALLY = (
    "INSERT INTO tallies (key, count, points) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET count = excluded.count, points = excluded.points"
)
# A member's own tally the row does not keep (loyalty.store.owned_tallies).
UPSERT_MEMBER_TALLY = (
    "INSERT INTO member_tallies (member_id, key, count, points) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (member_id, key) DO UPDATE SET count = excluded.count, points = excluded.points"
)
# A key's record, in its entry (a purchase's, recorded_at as UTC text) or kept as an operation
# (recorded_micros): the triggers of schema 11 keep it in one place at most.
# A record in its entry comes with what the entry says of it (loyalty.store.sqlite.entries.FACTS),
# which one of layout 3 leaves out (schema 22).
SELECT_OPERATION = (
    "SELECT 'purchase', record, recorded_at, recorded_offset,"
    " member_id, occurred_at, occurred_offset, points, balance_after, seq FROM entries"
    " WHERE source_id = :k AND record IS NOT NULL"
    " UNION ALL SELECT kind, body, recorded_micros, recorded_offset, NULL, NULL, NULL, NULL, NULL, NULL"
    " FROM operations WHERE key = :k"
)
INSERT_ENTRY = (
    "INSERT INTO entries (seq, member_id, kind, points, balance_after, occurred_at, occurred_offset,"
    " recorded_at, recorded_offset, source_id, reason, actor, rule, program_version,"
    " vests_at, expires_at, draws, rolling, redates, rule_shares, link, opened, remaining, record)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The same for an entry that leaves empty what most do (a purchase's earn entry: no actor, lot
# dates, draws, re-dates, shares or points opened apart from its own), NULL written in place:
# sqlite3 binds a None only after looking it up as a value to adapt, about 3,300 instructions
# each (loyalty.store.sqlite.entries.insert_entry).
INSERT_PLAIN_ENTRY = (
    "INSERT INTO entries (seq, member_id, kind, points, balance_after, occurred_at, occurred_offset,"
    " recorded_at, recorded_offset, source_id, reason, actor, rule, program_version,"
    " vests_at, expires_at, draws, rolling, redates, rule_shares, link, opened, remaining, record)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, NULL, NULL, ?, NULL, NULL, ?, NULL, ?, ?)"
)
# The member's balance moved by an entry, numbered after the ledger's last entry as SQLite would
# number it (the write lock is held, so it cannot change), and its chain head moved to the entry,
# whose link loyalty_link() works out from the head before (loyalty.chains.link): one statement.
# Its values: the points twice, the content digest, (the tallies,) the member.
_MOVE = (
    "UPDATE members SET balance = balance + ?{tallies},"
    " chain_seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM entries),"
    " chain_link = loyalty_link(chain_link, (SELECT COALESCE(MAX(seq), 0) + 1 FROM entries),"
    " balance + ?, ?) WHERE member_id = ? RETURNING balance, chain_seq, chain_link"
)
MOVE_BALANCE = _MOVE.format(tallies="")
MOVE_BALANCE_AND_TALLIES = _MOVE.format(tallies=", tallies = ?")
# Entries with their links (those kept before schema 15 have theirs in kept_links) and, for an
# entry an erasure rewrote, the text digest it kept.
SELECT_LINKS = (
    f"SELECT {ENTRY_COLUMNS}, COALESCE(link, (SELECT k.link FROM kept_links AS k WHERE k.seq = entries.seq)),"  # noqa: S608
    " (SELECT t.digest FROM kept_texts AS t WHERE t.seq = entries.seq)"
    " FROM entries WHERE seq > ? ORDER BY seq LIMIT ?"
)
SELECT_HEADS = (
    "SELECT member_id, chain_seq, chain_link, balance FROM members"
    " WHERE member_id > ? ORDER BY member_id LIMIT ?"
)
INSERT_OPERATION = (
    "INSERT INTO operations (key, kind, body, recorded_micros, recorded_offset, purchased_micros)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
SELECT_ROW_TALLIES = "SELECT member_id, tallies FROM members WHERE member_id IN ({})"
PUT_ROW_TALLIES = "UPDATE members SET tallies = ? WHERE member_id = ?"
ZERO = Tally()
# Keys per SELECT ... IN (...): well under SQLite's bound-parameter limit.
KEYS_PER_QUERY = 500
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL", "extra": "EXTRA"}


def utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# isoformat() cost a balance read about a sixth of its time; a day's text is the same all day.
TWO_DIGITS = tuple(f"{n:02}" for n in range(100))


@functools.lru_cache(maxsize=8)
def day_text(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat() + "T"


def sortable(value: datetime | None) -> str | None:
    """A lot date as fixed-width UTC text, which sorts and compares as the instant does: what
    ``isoformat(timespec="microseconds")`` gives in UTC."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    two = TWO_DIGITS
    # The microseconds' six digits cut from a seven-digit number: no format spec to parse.
    return (
        f"{day_text(value.toordinal())}{two[value.hour]}:{two[value.minute]}:{two[value.second]}"
        f".{str(1_000_000 + value.microsecond)[1:]}+00:00"
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def instant_micros(text: object) -> int | None:
    """An ISO 8601 instant with its offset, as microseconds since 1970 (an SQL function);
    ``None`` for anything else, as :func:`~loyalty.store.periods.purchase_time` reads it."""
    at = instant_of(text)
    return None if at is None else micros(at)


def pack(kind: str, key: str, request: str, result: str) -> str:
    """An operation kept before schema 7 (request and result as JSON text), as kept now (an SQL function)."""
    return pack_operation(kind, key, load_json(request), load_json(result))


_P = ParamSpec("_P")
_R = TypeVar("_R")


class _Interrupts(threading.local):
    # Per thread: each thread has its own connection, and a signal interrupts the main thread only.
    pending = False  # a function of ours was interrupted inside its body
    failed = False  # a function of ours raised an error of its own


_INTERRUPTS = _Interrupts()
# What sqlite3 raises in place of any exception that escapes an SQL function of ours.
_RAISED_IN_FUNCTION = "user-defined function raised exception"


def sql_function(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` as an SQL function that lets Ctrl-C through: sqlite3 swallows a
    KeyboardInterrupt raised inside an SQL function and reports an OperationalError instead,
    which would turn an interrupted command into a storage error; :func:`translate` raises it again."""

    @functools.wraps(function)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except KeyboardInterrupt:
            _INTERRUPTS.pending = True
            raise
        except BaseException:
            _INTERRUPTS.failed = True
            raise

    return call


def translate(exc: sqlite3.Error) -> StorageError:
    """``exc`` as the engine's error; a KeyboardInterrupt that an SQL function took is raised again.

    Python delivers a signal that came while SQLite ran C code at the next bytecode it runs,
    which is the first of the SQL function's frame, before its ``try``: an exception that left a
    function of ours without being noted by it is that interrupt, so it is raised again too."""
    pending, _INTERRUPTS.pending = _INTERRUPTS.pending, False
    failed, _INTERRUPTS.failed = _INTERRUPTS.failed, False
    if _RAISED_IN_FUNCTION in str(exc) and (pending or not failed):
        raise KeyboardInterrupt from exc
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return TransientStorageError(None, f"sqlite: {exc}")
    return StorageError(None, f"sqlite: {exc}")


def earned_key(value: datetime) -> str:
    """``value`` as SPENDABLE_EARNED compares ``earned_at``: fixed-width UTC text, no offset."""
    text = sortable(value)
    assert text is not None
    return text[:26]
