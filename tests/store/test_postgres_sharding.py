"""The PostgreSQL schema is ready to shard by member (docs/scaling.md): read from the live catalog.

Citus enforces a primary key or unique index of a table distributed by member only if it holds
the member's id, and a foreign key only between rows of one member (or to a reference table).
Every table is listed below with its decision, so a new table fails here until it has one.
"""

from __future__ import annotations

from collections import defaultdict

import psycopg
import pytest
from psycopg import sql

from loyalty.store.postgres import open_postgres
from tests.pg import admin, postgres_dsn, schema_of

pytestmark = pytest.mark.postgres

#: Tables distributed by member (colocated with ``members``), and the column naming the member.
MEMBER_OWNED: dict[str, str] = {
    "members": "member_id",
    "entries": "member_id",
    "lots": "member_id",
    "holds": "member_id",
    "vouchers": "member_id",
    "tier_states": "member_id",
    "events": "member_id",
    "kept_shares": "member_id",
    "kept_links": "member_id",
    # A referral is the referee's: its row holds the referrer's id as a plain value.
    "referrals": "referee",
    # A member's use of a terminal's offline allowance.
    "offline_uses": "member_id",
    # The text digest of an entry an erasure rewrote, beside its entry.
    "kept_texts": "member_id",
    # A member's own tallies its row does not keep (caps, a day's spend, older months' spend),
    # and from schema 20 its purchases' (what came back, what paid) and its lots' reminders.
    "member_tallies": "member_id",
}
#: Tables that are not any one member's: ``reference`` (copied to every node), ``local`` (kept on
#: the coordinator), or ``by <column>`` (distributed by a key of its own, not colocated).
NOT_MEMBER_OWNED: dict[str, str] = {
    "schema_version": "reference",
    "program_versions": "reference",
    # Looked up by their value for any member, rarely written.
    "identifiers": "reference",
    "referral_codes": "reference",
    # A terminal's offline allowances: granted rarely, read with every offline redemption.
    "offline_allowances": "reference",
    # Counters across members (a rule's budget, a referrer's count, an allowance's total) and the
    # keys a caller made up that name no member, and the outbox's one numbering row.
    "tallies": "local",
    "outbox_head": "local",
    # Idempotency records, keyed by the caller's id whichever member it names.
    "operations": "by key",
}


def _tables(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = %s AND table_type = 'BASE TABLE'",
        (schema,),
    ).fetchall()
    return {str(name) for (name,) in rows}


def _unique_indexes(
    conn: psycopg.Connection[tuple[object, ...]], schema: str
) -> list[tuple[str, str, set[str]]]:
    """Every primary key, unique constraint and unique index: (table, index, its key columns).

    ``indkey`` lists the key columns and then the ones the index only carries (``INCLUDE``),
    which make nothing unique: only its first ``indnkeyatts`` entries are keys (an int2vector
    indexed from 0)."""
    rows = conn.execute(
        "SELECT t.relname, i.relname, a.attname FROM pg_index AS x"
        " JOIN pg_class AS t ON t.oid = x.indrelid JOIN pg_class AS i ON i.oid = x.indexrelid"
        " JOIN pg_namespace AS n ON n.oid = t.relnamespace"
        " LEFT JOIN pg_attribute AS a ON a.attrelid = t.oid"
        " AND a.attnum = ANY((x.indkey::int2[])[0:x.indnkeyatts - 1])"
        " WHERE n.nspname = %s AND x.indisunique",
        (schema,),
    ).fetchall()
    columns: dict[tuple[str, str], set[str]] = defaultdict(set)
    for table, index, column in rows:
        columns[str(table), str(index)] |= set() if column is None else {str(column)}
    return [(table, index, cols) for (table, index), cols in sorted(columns.items())]


def _foreign_keys(
    conn: psycopg.Connection[tuple[object, ...]], schema: str
) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """Every foreign key: (table, constraint, referenced table, its (column, referenced column) pairs)."""
    rows = conn.execute(
        "SELECT t.relname, c.conname, r.relname, a.attname, ra.attname"
        " FROM pg_constraint AS c JOIN pg_class AS t ON t.oid = c.conrelid"
        " JOIN pg_class AS r ON r.oid = c.confrelid JOIN pg_namespace AS n ON n.oid = c.connamespace"
        " CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(col, ref)"
        " JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.col"
        " JOIN pg_attribute AS ra ON ra.attrelid = c.confrelid AND ra.attnum = k.ref"
        " WHERE n.nspname = %s AND c.contype = 'f' ORDER BY 1, 2",
        (schema,),
    ).fetchall()
    keys: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
    for table, name, referenced, column, referenced_column in rows:
        keys[str(table), str(name), str(referenced)].append((str(column), str(referenced_column)))
    return [(table, name, referenced, pairs) for (table, name, referenced), pairs in keys.items()]


def _nullable(
    conn: psycopg.Connection[tuple[object, ...]], schema: str, table: str, column: str
) -> bool | None:
    row = conn.execute(
        "SELECT is_nullable FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s AND column_name = %s",
        (schema, table, column),
    ).fetchone()
    return None if row is None else row[0] == "YES"


def problems(
    schema: str, member_owned: dict[str, str] = MEMBER_OWNED, others: dict[str, str] = NOT_MEMBER_OWNED
) -> list[str]:
    """What keeps ``schema`` from being distributed by member as the two lists decide."""
    found: list[str] = []
    with psycopg.connect(postgres_dsn()) as conn:
        tables = _tables(conn, schema)
        found += [f"{table}: no decision" for table in sorted(tables - member_owned.keys() - others.keys())]
        found += [
            f"{table}: no such table" for table in sorted((member_owned.keys() | others.keys()) - tables)
        ]
        found += [f"{table}: decided twice" for table in sorted(member_owned.keys() & others.keys())]
        # The column each table is distributed by (none for reference and local tables).
        column = {**member_owned, **{t: d[3:] for t, d in others.items() if d.startswith("by ")}}
        for table, owner in sorted(column.items()):
            if table in tables and _nullable(conn, schema, table, owner) is not False:
                found.append(f"{table}: {owner} is not a NOT NULL column")
        for table, index, columns in _unique_indexes(conn, schema):
            if table in column and column[table] not in columns:
                found.append(f"{table}: {index} ({', '.join(sorted(columns))}) lacks {column[table]}")
        for table, name, referenced, pairs in _foreign_keys(conn, schema):
            if table not in member_owned and table not in others:
                continue  # reported as undecided
            if table in member_owned and referenced in member_owned:
                if (member_owned[table], member_owned[referenced]) not in pairs:
                    found.append(f"{table}: {name} crosses members")
            elif referenced in member_owned or others.get(table) == "reference" != others.get(referenced):
                found.append(f"{table}: {name} references {referenced}, which Citus cannot keep")
    return found


def test_every_key_of_a_member_owned_table_holds_the_member_and_no_foreign_key_crosses_members(
    schema_url: str,
) -> None:
    open_postgres(schema_url).close()
    assert problems(schema_of(schema_url)) == []


def test_a_new_table_needs_a_decision_and_a_member_owned_one_a_key_by_member(schema_url: str) -> None:
    open_postgres(schema_url).close()
    schema = schema_of(schema_url)
    s = sql.Identifier(schema)
    admin(
        sql.SQL(
            "CREATE TABLE {}.badges (badge TEXT PRIMARY KEY,"
            " member_id TEXT NOT NULL REFERENCES {}.members(member_id),"
            " holder TEXT REFERENCES {}.members(member_id), UNIQUE (member_id, badge))"
        ).format(s, s, s)
    )
    # A column an index only carries (INCLUDE) is not one of its keys: Citus still refuses it.
    admin(sql.SQL("CREATE UNIQUE INDEX badges_by_badge ON {}.badges (badge) INCLUDE (member_id)").format(s))
    assert problems(schema) == ["badges: no decision"]
    assert problems(schema, {**MEMBER_OWNED, "badges": "member_id"}) == [
        "badges: badges_by_badge (badge) lacks member_id",
        "badges: badges_pkey (badge) lacks member_id",
        "badges: badges_holder_fkey crosses members",
    ]
    assert problems(schema, MEMBER_OWNED, {**NOT_MEMBER_OWNED, "badges": "reference"}) == [
        "badges: badges_holder_fkey references members, which Citus cannot keep",
        "badges: badges_member_id_fkey references members, which Citus cannot keep",
    ]
