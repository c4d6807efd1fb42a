"""Rows changed behind the engine's back, on every adapter, for the tamper-evidence tests.

Each :class:`Tamperer` edits, deletes, inserts or reorders one ledger row the way someone
with write access to the database could: on SQLite and PostgreSQL with the ledger's
triggers out of the way, on memory by reaching into the store's structures.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import attrs

from loyalty.ledger import EntryKind
from loyalty.records import pack_operation, unpack_operation
from loyalty.store.memory import MemoryStore
from loyalty.store.postgres.migrations import MIGRATIONS as PG_MIGRATIONS
from loyalty.store.rows import kind_of
from loyalty.store.sqlite.entries import FACTS, facts

__all__ = [
    "EDITS",
    "MemoryTamperer",
    "PostgresTamperer",
    "SQLiteTamperer",
    "Tamperer",
    "as_postgres_schema_13",
    "as_postgres_schema_14",
    "as_postgres_schema_17",
    "as_postgres_schema_18",
    "as_postgres_schema_19",
    "as_sqlite_schema_14",
    "as_sqlite_schema_15",
    "as_sqlite_schema_16",
    "as_sqlite_schema_17",
    "as_sqlite_schema_18",
    "as_sqlite_schema_19",
    "as_sqlite_schema_20",
    "as_sqlite_schema_21",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: What an edit changes in one row: a column and how (the same on every adapter).
EDITS = ("points", "balance_after", "reason", "kind", "member_id", "link")


class Tamperer(Protocol):
    def edit(self, seq: int, what: str, other_member: str) -> None: ...

    def delete(self, seq: int) -> None: ...

    def insert_copy(self, seq: int) -> int: ...

    def swap(self, first: int, second: int) -> None: ...

    def truncate(self, member: str, *, balance: bool) -> None:
        """Delete the member's last entry and put its row's head (``chain_seq``, ``chain_link``)
        on the entry before, as stored; with ``balance``, its balance on that entry's too."""
        ...

    def rewrite(self, seq: int, reason: str, links: dict[int, bytes], member: str) -> None:
        """Give entry ``seq`` another reason and the member's entries the ``links`` worked out
        again from it, and the member's head the last of them: a tail rewritten with its hashes."""
        ...

    def relabel(self, first: str, second: str) -> None:
        """Swap two members' whole histories, with their rows' heads and balances."""
        ...


# Every entry column but seq (and SQLite's record, which none of these rows has).
_COLUMNS = (
    "member_id, kind, points, balance_after, occurred_at, occurred_offset, recorded_at, recorded_offset,"
    " source_id, reason, actor, rule, program_version, vests_at, expires_at, draws, rolling, redates,"
    " rule_shares, link"
)
_SET = {
    "points": "points = points + 1",
    "balance_after": "balance_after = balance_after + 1",
    "reason": "reason = reason || '!'",
    "kind": "kind = CASE kind WHEN 'adjust' THEN 'earn' ELSE 'adjust' END",
    "member_id": "member_id = {other}",
    "link": "link = {zeros}",
}
_SWAP = ", ".join(f"{c.strip()} = t.{c.strip()}" for c in _COLUMNS.split(","))
# Statements for _SQLTampering._sql: {entries} and {members} the tables, {p} a placeholder.
_BEFORE_LAST = (
    "SELECT seq, link, balance_after FROM {entries} WHERE member_id = {p} AND seq < {p}"
    " ORDER BY seq DESC LIMIT 1"
)
_ROWS = "SELECT member_id, balance, chain_seq, chain_link FROM {members} WHERE member_id IN ({p}, {p})"
_RELABEL = (
    "UPDATE {entries} SET member_id = CASE member_id WHEN {p} THEN {p} ELSE {p} END"
    " WHERE member_id IN ({p}, {p})"
)
_SET_ROW = "UPDATE {members} SET balance = {p}, chain_seq = {p}, chain_link = {p} WHERE member_id = {p}"


def as_sqlite_schema_24(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 24 left it: no index of the purchases in the order of their
    listing without an entry."""
    conn.execute("DROP INDEX operations_purchase_order")
    conn.execute("UPDATE schema_version SET version = 24")
    conn.commit()


def as_sqlite_schema_23(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 23 left it: a referee's row tied to its referrer's by a
    foreign key, and an erasure's record of its other members' parts not among the kinds
    ``operations_parts`` indexes."""
    from loyalty.store.sqlite.migrations import MIGRATIONS

    as_sqlite_schema_24(conn)
    (referrals,) = (s for s in MIGRATIONS[4] if "CREATE TABLE referrals (" in s)
    (parts,) = (s for s in MIGRATIONS[20] if "CREATE INDEX operations_parts" in s)
    for statement in (
        referrals.replace("CREATE TABLE referrals (", "CREATE TABLE referrals_23 (", 1),
        "INSERT INTO referrals_23 SELECT * FROM referrals",
        "DROP TABLE referrals",
        "ALTER TABLE referrals_23 RENAME TO referrals",
        "CREATE INDEX referrals_by_referrer ON referrals(referrer, referee)",
        "DROP INDEX operations_parts",
        parts,
        "UPDATE schema_version SET version = 23",
    ):
        conn.execute(statement)
    conn.commit()


def _schema_22_entries() -> list[str]:
    """The statements that make schema 22's ``entries`` (the table, its indexes and triggers, and
    the trigger on ``operations`` that names it), as a file of schema 22 has them."""
    from loyalty.store.sqlite.migrations import MIGRATIONS

    with closing(sqlite3.connect(":memory:")) as made:
        for name, arity in (("loyalty_instant", 1), ("loyalty_pack", 4), ("loyalty_shares", 4)):
            made.create_function(name, arity, lambda *_: None)  # no rows to read
        for step in MIGRATIONS[:22]:
            for statement in step:
                made.execute(statement)
        found = made.execute(
            "SELECT sql FROM sqlite_master WHERE (tbl_name = 'entries' OR name = 'operations_key_once')"
            " AND sql IS NOT NULL ORDER BY type = 'table' DESC, type = 'index' DESC, name"
        )
        return [str(sql) for (sql,) in found]


def _iso(micros: int) -> str:
    return (_EPOCH + timedelta(microseconds=micros)).isoformat()


def _layout_2(key: str, record: str | None, *row: Any) -> str | None:
    """A purchase's record as schema 22 kept it in its entry: one of layout 3 as layout 2."""
    if record is None:
        return None
    request, result = unpack_operation(key, record, facts(*row))
    return pack_operation("purchase", key, request, result)


def as_sqlite_schema_22(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 22 left it: an entry's ``occurred_at`` as ISO 8601 text in
    UTC and its ``recorded_at`` as the 16 digits of its microseconds, in TEXT columns, its kind by
    name, and the records in entries of layout 2 (with their member, till time, points, balance and lot)."""
    as_sqlite_schema_23(conn)
    table, *rest = _schema_22_entries()
    conn.create_function("iso_of", 1, _iso)
    conn.create_function("layout_2", 8, _layout_2)
    conn.create_function("kind_of", 1, lambda value: kind_of(value).value)
    conn.execute("DROP TRIGGER operations_key_once")
    conn.execute(table.replace("CREATE TABLE entries", "CREATE TABLE entries_22", 1))
    columns = ", ".join(str(row[1]) for row in conn.execute("PRAGMA table_info(entries)"))
    converted = (
        columns.replace("kind,", "kind_of(kind),")
        .replace("occurred_at,", "iso_of(occurred_at),")
        .replace("recorded_at,", "CAST(recorded_at AS TEXT),")
        .replace("record,", f"layout_2(source_id, record, {FACTS}),")
    )
    conn.execute(f"INSERT INTO entries_22 ({columns}) SELECT {converted} FROM entries ORDER BY seq")
    conn.execute("DROP TABLE entries")
    conn.execute("ALTER TABLE entries_22 RENAME TO entries")
    for statement in rest:
        conn.execute(statement)
    conn.execute("UPDATE schema_version SET version = 22")
    conn.commit()


def as_sqlite_schema_21(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 21 left it: the tallies of a purchase or lot (their keys
    marked with the member: loyalty.tallies.of_member) kept without the member, in tallies."""
    as_sqlite_schema_22(conn)
    for statement in (
        """INSERT INTO tallies (key, count, points)
           SELECT substr(key, 1, instr(key, char(31)) - 1), count, points FROM member_tallies
           WHERE instr(key, char(31)) > 0""",
        "DELETE FROM member_tallies WHERE instr(key, char(31)) > 0",
        "UPDATE schema_version SET version = 21",
    ):
        conn.execute(statement)
    conn.commit()


def as_sqlite_schema_20(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 20 left it: a member's own tallies in the tallies table, no
    index of the records written in parts."""
    as_sqlite_schema_21(conn)
    conn.execute("INSERT INTO tallies (key, count, points) SELECT key, count, points FROM member_tallies")
    conn.execute("DROP TABLE member_tallies")
    conn.execute("DROP INDEX operations_parts")
    conn.execute("UPDATE schema_version SET version = 20")
    conn.commit()


def as_sqlite_schema_19(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 19 left it: no open holds' points or kept-lots mark in the
    members' rows, and the entries' date indexes without the columns a balance sums."""
    from loyalty.store.sqlite.migrations import MIGRATIONS

    as_sqlite_schema_20(conn)
    names = ("INDEX entries_vesting ", "INDEX entries_due_by_member ")
    indexes = [s for s in MIGRATIONS[17] if any(name in s for name in names)]
    triggers = ("holds_held_inserted", "holds_held_updated", "holds_held_deleted", "lots_kept_inserted")
    for statement in (
        *(f"DROP TRIGGER {name}" for name in (*triggers, "lots_kept_moved")),
        "DROP INDEX entries_vesting",
        "DROP INDEX entries_due_by_member",
        *indexes,
        "ALTER TABLE members DROP COLUMN held",
        "ALTER TABLE members DROP COLUMN lots_kept",
    ):
        conn.execute(statement)
    conn.execute("UPDATE schema_version SET version = 19")
    conn.commit()


def as_sqlite_schema_18(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 18 left it: an entry's member and source id never change."""
    from loyalty.store.sqlite.migrations import MIGRATIONS

    as_sqlite_schema_19(conn)
    (no_update,) = (s for s in MIGRATIONS[17] if "CREATE TRIGGER entries_no_update" in s)
    for statement in ("DROP TRIGGER entries_renamed", "DROP TRIGGER entries_no_update", no_update):
        conn.execute(statement)
    conn.execute("UPDATE schema_version SET version = 18")
    conn.commit()


def as_sqlite_schema_17(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 17 left it: every lot a row of ``lots``, none in an entry."""
    from loyalty.store.rows import LOT_COLUMNS
    from loyalty.store.sqlite.migrations import MIGRATIONS
    from loyalty.store.sqlite.statements import ENTRY_LOT_COLUMNS

    as_sqlite_schema_18(conn)
    (no_update,) = (s for s in MIGRATIONS[16] if "CREATE TRIGGER entries_no_update" in s)
    conn.execute("DROP TRIGGER entries_no_update")
    # Recording times as text, as schema 17 wrote them.
    digits = "SELECT seq, recorded_at FROM entries WHERE recorded_at NOT LIKE '%T%'"
    conn.executemany(
        "UPDATE entries SET recorded_at = ? WHERE seq = ?",
        [((_EPOCH + timedelta(microseconds=int(at))).isoformat(), seq) for seq, at in conn.execute(digits)],
    )
    for statement in (
        f"INSERT INTO lots ({LOT_COLUMNS})"
        f" SELECT {ENTRY_LOT_COLUMNS} FROM entries WHERE remaining IS NOT NULL",
        *(f"DROP INDEX entries_{name}" for name in ("spendable", "debts", "vesting", "due", "due_by_member")),
        # remaining first: its CHECK names opened.
        "ALTER TABLE entries DROP COLUMN remaining",
        "ALTER TABLE entries DROP COLUMN opened",
        no_update,
    ):
        conn.execute(statement)
    conn.execute("UPDATE schema_version SET version = 17")
    conn.commit()


def as_sqlite_schema_16(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 16 left it: no kept texts, entries never updated."""
    from loyalty.store.sqlite.migrations import MIGRATIONS

    as_sqlite_schema_17(conn)

    (no_update,) = (s for s in MIGRATIONS[0] if "TRIGGER entries_no_update" in s)
    for statement in (
        "DROP TABLE kept_texts",
        "DROP TRIGGER entries_text_kept",
        "DROP TRIGGER entries_no_update",
        no_update,
    ):
        conn.execute(statement)
    conn.execute("UPDATE schema_version SET version = 16")
    conn.commit()


def as_sqlite_schema_15(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 15 left it: no offline allowances (nor what came after)."""
    as_sqlite_schema_16(conn)
    conn.execute("DROP TABLE offline_uses")
    conn.execute("DROP TABLE offline_allowances")
    conn.execute("UPDATE schema_version SET version = 15")
    conn.commit()


def as_sqlite_schema_14(conn: sqlite3.Connection) -> None:
    """A current SQLite file as schema 14 left it: no links, heads or kept links."""
    as_sqlite_schema_15(conn)
    for statement in (
        "DROP TABLE kept_links",
        "ALTER TABLE entries DROP COLUMN link",
        "ALTER TABLE members DROP COLUMN chain_seq",
        "ALTER TABLE members DROP COLUMN chain_link",
    ):
        conn.execute(statement)
    conn.execute("UPDATE schema_version SET version = 14")
    conn.commit()


# Schema 15 taken back: the keys without the member, the side tables without it, the foreign keys.
_UNDO_15 = (
    *(
        f"ALTER TABLE {{s}}.{table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY ({key})"
        for table, key in (("entries", "seq"), ("lots", "lot"), ("holds", "hold_id"), ("vouchers", "code"))
    ),
    "ALTER TABLE {s}.events DROP CONSTRAINT events_pkey, ADD PRIMARY KEY (seq)",
    *(
        f"ALTER TABLE {{s}}.{table} DROP CONSTRAINT {table}_pkey, DROP COLUMN member_id,"
        " ADD PRIMARY KEY (seq)"
        for table in ("kept_shares", "kept_links")
    ),
    "ALTER TABLE {s}.referrals ADD FOREIGN KEY (referrer) REFERENCES {s}.members(member_id)",
    "ALTER TABLE {s}.identifiers ADD FOREIGN KEY (member_id) REFERENCES {s}.members(member_id)",
    "ALTER TABLE {s}.referral_codes ADD FOREIGN KEY (member_id) REFERENCES {s}.members(member_id)",
    "UPDATE {s}.schema_version SET version = 14",
)

# Schema 16 taken back: no offline allowances.
_UNDO_16 = (
    "DROP TABLE {s}.offline_uses",
    "DROP TABLE {s}.offline_allowances",
    "UPDATE {s}.schema_version SET version = 15",
)


def _undo_17() -> tuple[str, ...]:
    """Schema 17 taken back: no kept texts, entries never updated (the trigger of schema 1)."""
    from loyalty.store.postgres.migrations import MIGRATIONS

    (no_update,) = (s for s in MIGRATIONS[0] if "TRIGGER entries_no_update_or_delete" in s)
    return (
        *_UNDO_19,
        "DROP TABLE {s}.kept_texts",
        "DROP TRIGGER entries_text_only ON {s}.entries",
        "DROP TRIGGER entries_no_delete ON {s}.entries",
        "DROP FUNCTION {s}.entries_text_only()",
        no_update,
        "UPDATE {s}.schema_version SET version = 16",
    )


#: Schema 23 taken back: an erasure renames its member's entries in place (schema 18's guard on
#: ``UPDATE``), and no entry is ever deleted (schema 17's trigger).
_UNDO_23 = (
    "DROP TRIGGER entries_moved_only ON {s}.entries",
    "DROP FUNCTION {s}.entries_moved_only()",
    *(s for s in PG_MIGRATIONS[16] if "CREATE TRIGGER entries_no_delete" in s),
    *PG_MIGRATIONS[17],
    "UPDATE {s}.schema_version SET version = 22",
)

#: Schema 22 taken back: no index of the purchases in the order of their listing without an entry.
_UNDO_22 = (
    *_UNDO_23,
    "DROP INDEX {s}.operations_purchase_order",
    "UPDATE {s}.schema_version SET version = 21",
)

#: Schema 21 taken back: an erasure's record of its other members' parts not among the kinds
#: ``operations_parts`` indexes (the index as schema 19 made it).
_UNDO_21 = (
    *_UNDO_22,
    "DROP INDEX {s}.operations_parts",
    *(s for s in PG_MIGRATIONS[18] if "CREATE INDEX operations_parts" in s),
    "UPDATE {s}.schema_version SET version = 20",
)

#: Schema 20 taken back: the tallies of a purchase or lot kept without their member, in tallies.
_UNDO_20 = (
    *_UNDO_21,
    """INSERT INTO {s}.tallies (key, count, points)
       SELECT left(key, strpos(key, chr(31)) - 1), count, points FROM {s}.member_tallies
       WHERE strpos(key, chr(31)) > 0""",
    "DELETE FROM {s}.member_tallies WHERE strpos(key, chr(31)) > 0",
    "UPDATE {s}.schema_version SET version = 19",
)

#: Schema 19 taken back: a member's own tallies in the tallies table, no index of the records
#: written in parts.
_UNDO_19 = (
    *_UNDO_20,
    "INSERT INTO {s}.tallies (key, count, points) SELECT key, count, points FROM {s}.member_tallies",
    "DROP TABLE {s}.member_tallies",
    "DROP INDEX {s}.operations_parts",
    "UPDATE {s}.schema_version SET version = 18",
)


def as_postgres_schema_20(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 20 left it: an erasure's record of its other members'
    parts not among the kinds ``operations_parts`` indexes, and no index of the purchases in the
    order of their listing without an entry."""
    _undo_postgres(dsn, schema, _UNDO_21)


def as_postgres_schema_22(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 22 left it: an erasure renames its member's entries in
    place, and no entry is ever deleted."""
    _undo_postgres(dsn, schema, _UNDO_23)


def as_postgres_schema_21(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 21 left it: no index of the purchases in the order
    of their listing without an entry."""
    _undo_postgres(dsn, schema, _UNDO_22)


def as_postgres_schema_19(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 19 left it: the tallies of a purchase or lot kept
    without their member, in tallies."""
    _undo_postgres(dsn, schema, _UNDO_20)


def as_postgres_schema_18(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 18 left it: a member's own tallies in the tallies table,
    no index of the records written in parts."""
    _undo_postgres(dsn, schema, _UNDO_19)


def as_postgres_schema_17(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 17 left it: an entry's member and source id never change."""
    from loyalty.store.postgres.migrations import MIGRATIONS

    (guard,) = (s for s in MIGRATIONS[16] if "CREATE FUNCTION {s}.entries_text_only()" in s)
    replaced = guard.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    _undo_postgres(dsn, schema, (*_UNDO_19, replaced, "UPDATE {s}.schema_version SET version = 17"))


def as_postgres_schema_16(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 16 left it: no kept texts, entries never updated."""
    _undo_postgres(dsn, schema, _undo_17())


def as_postgres_schema_15(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 15 left it: no offline allowances (nor kept texts)."""
    _undo_postgres(dsn, schema, (*_undo_17(), *_UNDO_16))


def as_postgres_schema_14(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 14 left it: keys and foreign keys not yet by member."""
    _undo_postgres(dsn, schema, (*_undo_17(), *_UNDO_16, *_UNDO_15))


def _undo_postgres(dsn: str, schema: str, statements: tuple[str, ...]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn) as conn:
        for statement in statements:
            conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))


def as_postgres_schema_13(dsn: str, schema: str) -> None:
    """A current PostgreSQL schema as schema 13 left it: no links, heads or kept links."""
    import psycopg
    from psycopg import sql

    as_postgres_schema_14(dsn, schema)
    with psycopg.connect(dsn) as conn:
        for statement in (
            "DROP TABLE {s}.kept_links",
            "ALTER TABLE {s}.entries DROP COLUMN link",
            "ALTER TABLE {s}.members DROP COLUMN chain_seq, DROP COLUMN chain_link",
            "UPDATE {s}.schema_version SET version = 13",
        ):
            conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)))


class _SQLTampering:
    """Cutting short, rewriting and relabelling a member's chain in SQL, the same statements on
    SQLite and PostgreSQL: ``_sql`` names the tables and the driver's placeholder in them."""

    def _run(self, statement: str, *params: object) -> Any:
        raise NotImplementedError

    def _query(self, statement: str, *params: object) -> list[Any]:
        raise NotImplementedError

    def _sql(self, statement: str) -> str:
        raise NotImplementedError

    def truncate(self, member: str, *, balance: bool) -> None:
        ((last,),) = self._query(self._sql("SELECT chain_seq FROM {members} WHERE member_id = {p}"), member)
        ((seq, link, after),) = self._query(self._sql(_BEFORE_LAST), member, last)
        self._run(self._sql("DELETE FROM {entries} WHERE seq = {p}"), last)
        moved = "UPDATE {members} SET chain_seq = {p}, chain_link = {p} WHERE member_id = {p}"
        self._run(self._sql(moved), seq, link, member)
        if balance:
            self._run(self._sql("UPDATE {members} SET balance = {p} WHERE member_id = {p}"), after, member)

    def rewrite(self, seq: int, reason: str, links: dict[int, bytes], member: str) -> None:
        self._run(self._sql("UPDATE {entries} SET reason = {p} WHERE seq = {p}"), reason, seq)
        for at, new in links.items():
            self._run(self._sql("UPDATE {entries} SET link = {p} WHERE seq = {p}"), new, at)
        head = "UPDATE {members} SET chain_link = {p} WHERE member_id = {p}"
        self._run(self._sql(head), links[max(links)], member)

    def relabel(self, first: str, second: str) -> None:
        rows = {str(m): (b, s, lk) for m, b, s, lk in self._query(self._sql(_ROWS), first, second)}
        self._run(self._sql(_RELABEL), first, second, first, first, second)
        for member, other in ((first, second), (second, first)):
            self._run(self._sql(_SET_ROW), *rows[other], member)


@attrs.define
class SQLiteTamperer(_SQLTampering):
    path: Path

    def _run(self, statement: str, *params: object) -> None:
        with closing(sqlite3.connect(self.path)) as conn, conn:
            conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
            conn.execute("DROP TRIGGER IF EXISTS entries_text_kept")
            conn.execute("DROP TRIGGER IF EXISTS entries_renamed")
            conn.execute("DROP TRIGGER IF EXISTS entries_no_delete")
            conn.execute(statement, params)

    def _query(self, statement: str, *params: object) -> list[Any]:
        with closing(sqlite3.connect(self.path)) as conn:
            return conn.execute(statement, params).fetchall()

    def _sql(self, statement: str) -> str:
        return statement.format(entries="entries", members="members", p="?")

    def edit(self, seq: int, what: str, other_member: str) -> None:
        change = _SET[what].format(other="?", zeros="zeroblob(16)")
        if what == "kind":
            # A kind is kept as its number from schema 22 (adjust 2, earn 0).
            change = "kind = CASE WHEN kind IN (2, 'adjust') THEN 0 ELSE 2 END"
        params = (other_member, seq) if what == "member_id" else (seq,)
        self._run(f"UPDATE entries SET {change} WHERE seq = ?", *params)

    def delete(self, seq: int) -> None:
        self._run("DELETE FROM entries WHERE seq = ?", seq)

    def insert_copy(self, seq: int) -> int:
        with closing(sqlite3.connect(self.path)) as conn:
            new = int(conn.execute("SELECT MAX(seq) FROM entries").fetchone()[0]) + 1
        self._run(
            f"INSERT INTO entries (seq, {_COLUMNS}) SELECT ?, {_COLUMNS} FROM entries WHERE seq = ?", new, seq
        )
        return new

    def swap(self, first: int, second: int) -> None:
        with closing(sqlite3.connect(self.path)) as conn, conn:
            conn.execute("DROP TRIGGER IF EXISTS entries_no_update")
            conn.execute("DROP TRIGGER IF EXISTS entries_text_kept")
            conn.execute("DROP TRIGGER IF EXISTS entries_renamed")
            # The lot an entry keeps (schema 18) goes with it, or the lot's CHECK refuses the swap.
            columns = f"{_COLUMNS}, opened, remaining"
            query = f"SELECT {columns} FROM entries WHERE seq = ?"
            one, two = (conn.execute(query, (seq,)).fetchone() for seq in (first, second))
            change = f"UPDATE entries SET ({columns}) = ({', '.join('?' * len(one))}) WHERE seq = ?"
            conn.execute(change, (*two, first))
            conn.execute(change, (*one, second))


@attrs.define
class PostgresTamperer(_SQLTampering):
    dsn: str
    schema: str

    def _run(self, statement: str, *params: object) -> list[tuple[object, ...]]:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn) as conn:
            s = sql.Identifier(self.schema)
            conn.execute(sql.SQL("ALTER TABLE {}.entries DISABLE TRIGGER USER").format(s))
            cursor = conn.execute(sql.SQL(statement).format(s=s), params)
            found = cursor.fetchall() if cursor.description else []
            conn.execute(sql.SQL("ALTER TABLE {}.entries ENABLE TRIGGER USER").format(s))
            return found

    def _query(self, statement: str, *params: object) -> list[Any]:
        return self._run(statement, *params)

    def _sql(self, statement: str) -> str:
        # "{s}" stays for _run to fill in with the schema, quoted.
        return statement.format(entries="{s}.entries", members="{s}.members", p="%s")

    def edit(self, seq: int, what: str, other_member: str) -> None:
        change = _SET[what].format(other="%s", zeros="decode(repeat('00', 16), 'hex')")
        params = (other_member, seq) if what == "member_id" else (seq,)
        self._run(f"UPDATE {{s}}.entries SET {change} WHERE seq = %s", *params)

    def delete(self, seq: int) -> None:
        self._run("DELETE FROM {s}.entries WHERE seq = %s", seq)

    def insert_copy(self, seq: int) -> int:
        # Far above any number the sequence will draw during the test.
        (new,) = self._run("SELECT COALESCE(MAX(seq), 0) + 1000000 FROM {s}.entries")[0]
        self._run(
            f"INSERT INTO {{s}}.entries (seq, {_COLUMNS}) OVERRIDING SYSTEM VALUE"
            f" SELECT %s, {_COLUMNS} FROM {{s}}.entries WHERE seq = %s",
            new,
            seq,
        )
        assert isinstance(new, int)
        return new

    def swap(self, first: int, second: int) -> None:
        self._run(
            f"UPDATE {{s}}.entries AS e SET {_SWAP} FROM {{s}}.entries AS t"
            " WHERE t.seq = %s + %s - e.seq AND e.seq IN (%s, %s)",
            first,
            second,
            first,
            second,
        )


@attrs.define
class MemoryTamperer:
    store: MemoryStore

    def _at(self, seq: int) -> int:
        ledger = self.store._data.ledger
        return next(i for i, entry in enumerate(ledger) if entry.seq == seq)

    def edit(self, seq: int, what: str, other_member: str) -> None:
        data = self.store._data
        i = self._at(seq)
        entry = data.ledger[i]
        if what == "link":
            data.links[seq] = bytes(16)
            return
        changed = {
            "points": {"points": entry.points + 1},
            "balance_after": {"balance_after": entry.balance_after + 1},
            "reason": {"reason": entry.reason + "!"},
            "kind": {"kind": EntryKind.EARN if entry.kind is EntryKind.ADJUST else EntryKind.ADJUST},
            "member_id": {"member_id": other_member},
        }[what]
        data.ledger[i] = attrs.evolve(entry, **changed)  # type: ignore[arg-type]

    def delete(self, seq: int) -> None:
        del self.store._data.ledger[self._at(seq)]

    def insert_copy(self, seq: int) -> int:
        data = self.store._data
        new = data.ledger[-1].seq + 1
        data.ledger.append(attrs.evolve(data.ledger[self._at(seq)], seq=new))
        data.links[new] = data.links[seq]
        data.next_seq = new + 1  # later appends come after it, as they would in a database
        return new

    def swap(self, first: int, second: int) -> None:
        data = self.store._data
        i, j = self._at(first), self._at(second)
        data.ledger[i], data.ledger[j] = (
            attrs.evolve(data.ledger[j], seq=first),
            attrs.evolve(data.ledger[i], seq=second),
        )
        data.links[first], data.links[second] = data.links[second], data.links[first]

    def _own(self, member: str) -> list[int]:
        return [entry.seq for entry in self.store._data.ledger if entry.member_id == member]

    def truncate(self, member: str, *, balance: bool) -> None:
        data = self.store._data
        *_, before, last = self._own(member)
        del data.ledger[self._at(last)]
        data.heads[member] = (before, data.links[before])
        if balance:
            data.balances[member] = data.ledger[self._at(before)].balance_after

    def rewrite(self, seq: int, reason: str, links: dict[int, bytes], member: str) -> None:
        data = self.store._data
        data.ledger[self._at(seq)] = attrs.evolve(data.ledger[self._at(seq)], reason=reason)
        data.links.update(links)
        data.heads[member] = (data.heads[member][0], links[max(links)])

    def relabel(self, first: str, second: str) -> None:
        data = self.store._data
        other = {first: second, second: first}
        data.ledger[:] = [
            attrs.evolve(e, member_id=other[e.member_id]) if e.member_id in other else e for e in data.ledger
        ]
        data.heads[first], data.heads[second] = data.heads[second], data.heads[first]
        data.balances[first], data.balances[second] = data.balances[second], data.balances[first]
