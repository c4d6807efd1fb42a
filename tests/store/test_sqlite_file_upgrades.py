"""SQLite files of schema versions 5 to 16 upgraded in place: the shape a fresh file has, their
rows kept or filled in, and the engine working on them afterwards."""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import (
    Engine,
    Program,
)
from loyalty.earning_keys import visits_key
from loyalty.habits import seen_key, spent_key
from loyalty.identifiers import Identifier, IdentifierKind
from loyalty.merges import merged_key
from loyalty.records import unpack_operation
from loyalty.store import Tally
from loyalty.store.member_tallies import FAMILIES
from loyalty.store.rows import dump_json
from loyalty.store.sqlite import SCHEMA_VERSION, SQLiteStore
from loyalty.store.sqlite.migrations import MIGRATIONS
from loyalty.store.sqlite.statements import OPEN_LOTS
from tests import shop
from tests.sqlite_files import shape_of
from tests.tampering import as_sqlite_schema_14, as_sqlite_schema_15, as_sqlite_schema_16

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# What migration 6 added, taken off a current file again: a file as schema version 5 left it.
V6_INDEXES = ("lots_spendable", "entries_by_time", "operations_purchases", "members_by_enrolment")


_shape = shape_of


def test_a_version_5_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path, v5 = tmp_path / "v5.db", tmp_path / "fresh-v5.db"
    store = SQLiteStore(path)
    before = shop.reading(shop.record(store))
    store.close()
    conn = sqlite3.connect(path)
    _as_schema_6(conn)
    for index in V6_INDEXES:
        conn.execute(f"DROP INDEX {index}")
    conn.execute("ALTER TABLE operations DROP COLUMN purchased_micros")
    conn.execute("UPDATE schema_version SET version = 5")
    conn.commit()
    fresh = sqlite3.connect(v5)
    for step in MIGRATIONS[:5]:
        for statement in step:
            fresh.execute(statement)
    assert _shape(conn) == {**_shape(fresh), "schema_version": ["version"]}
    fresh.close()
    conn.close()
    shop.check_reopened(SQLiteStore(path), SCHEMA_VERSION, before)
    conn = sqlite3.connect(path)
    try:
        plan = " ".join(
            row[-1]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM operations WHERE kind = 'purchase' AND purchased_micros < 0"
            )
        )
        assert "operations_purchases" in plan, plan
        filled = conn.execute("SELECT COUNT(*) FROM operations WHERE purchased_micros IS NOT NULL").fetchone()
        assert filled == (6,)  # every purchase, nothing else
    finally:
        conn.close()


# The index migration 4 made and migration 9 dropped.
(LOTS_OPEN,) = (statement for statement in MIGRATIONS[3] if "INDEX lots_open" in statement)


def _micros(text: str) -> int:
    return (datetime.fromisoformat(text) - EPOCH) // timedelta(microseconds=1)


def _undo(conn: sqlite3.Connection, version: int, *statements: str) -> None:
    """Take a migration back by hand: run ``statements``, then say the file is at ``version``."""
    for statement in statements:
        conn.execute(statement)
    conn.execute("UPDATE schema_version SET version = ?", (version,))
    conn.commit()


def _as_schema_13(conn: sqlite3.Connection) -> None:
    """A current file as schema 13 left it: no rule shares, in entries or kept apart."""
    as_sqlite_schema_14(conn)
    _undo(conn, 13, "DROP TABLE kept_shares", "ALTER TABLE entries DROP COLUMN rule_shares")


def _as_schema_12(conn: sqlite3.Connection) -> None:
    """A current file as schema 12 left it: no vouchers either."""
    _as_schema_13(conn)
    _undo(conn, 12, "DROP TABLE vouchers")


def _as_schema_11(conn: sqlite3.Connection) -> None:
    """A current file as schema 11 left it: no members' keys either."""
    _as_schema_12(conn)
    _undo(conn, 11, "DROP TABLE identifiers")


def _as_schema_10(conn: sqlite3.Connection) -> None:
    """A current file as schema 10 left it: every purchase's record in a row of operations (at its
    entry's till and recording times, which the adapter checks are the record's), none in entries."""
    _as_schema_11(conn)
    carried = conn.execute(
        "SELECT source_id, record, recorded_at, recorded_offset, occurred_at FROM entries"
        " WHERE record IS NOT NULL"
    ).fetchall()
    conn.execute("DROP TRIGGER operations_key_once")
    conn.execute("DROP INDEX entries_by_key")
    conn.execute("ALTER TABLE entries DROP COLUMN record")
    conn.executemany(
        "INSERT INTO operations VALUES (?, 'purchase', ?, ?, ?, ?)",
        [(key, record, _micros(at), offset, _micros(till)) for key, record, at, offset, till in carried],
    )
    conn.execute("UPDATE schema_version SET version = 10")
    conn.commit()


def _as_schema_9(conn: sqlite3.Connection) -> None:
    """A current file as schema 9 left it: no member status (every member was active)."""
    _as_schema_10(conn)
    _undo(conn, 9, "ALTER TABLE members DROP COLUMN status")


def _as_schema_8(conn: sqlite3.Connection) -> None:
    """A current file as schema 8 left it: every open lot indexed by lots_open, no lots_debts."""
    _as_schema_9(conn)
    _undo(conn, 8, "DROP INDEX lots_debts", LOTS_OPEN)


def _as_schema_7(conn: sqlite3.Connection) -> None:
    """A current file as schema 7 left it: the tallies its members' rows keep as rows of the
    tallies table (``loyalty.store.member_tallies``'s layout, taken apart by hand)."""
    _as_schema_8(conn)
    for member_id, text in conn.execute("SELECT member_id, tallies FROM members").fetchall():
        conn.executemany("INSERT INTO tallies VALUES (?, ?, ?)", shop.row_tallies(member_id, text))
    conn.execute("ALTER TABLE members DROP COLUMN tallies")
    conn.execute("UPDATE schema_version SET version = 7")
    conn.commit()


def _as_schema_6(conn: sqlite3.Connection) -> None:
    """A current file's operations as schema 6 kept them: the request and the result as JSON text
    (``rows.dump_json``, as the schema-6 adapter wrote them), the time as UTC text."""
    _as_schema_7(conn)
    rows = conn.execute(
        "SELECT key, kind, body, recorded_micros, recorded_offset, purchased_micros FROM operations"
    ).fetchall()
    conn.execute("DROP TABLE operations")
    conn.execute(MIGRATIONS[0][5])
    conn.execute(MIGRATIONS[5][2])
    conn.execute(MIGRATIONS[5][4])
    for key, kind, body, micros, offset, purchased in rows:
        request, result = unpack_operation(key, body)
        recorded = (EPOCH + timedelta(microseconds=micros)).isoformat()
        conn.execute(
            "INSERT INTO operations VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, kind, dump_json(request), dump_json(result), recorded, offset, purchased),
        )
    conn.execute("UPDATE schema_version SET version = 6")
    conn.commit()


def test_a_version_6_file_is_upgraded_in_place_and_its_purchases_replay_return_and_explain(
    tmp_path: Path,
) -> None:
    path, v6 = tmp_path / "v6.db", tmp_path / "fresh-v6.db"
    receipts, before = shop.recorded(SQLiteStore(path))
    conn = sqlite3.connect(path)
    _as_schema_6(conn)
    fresh = sqlite3.connect(v6)
    fresh.create_function("loyalty_instant", 1, lambda text: None)  # no rows to read
    for step in MIGRATIONS[:6]:
        for statement in step:
            fresh.execute(statement)
    assert _shape(conn) == {**_shape(fresh), "schema_version": ["version"]}
    fresh.close()
    kept = conn.execute("SELECT key, request, result FROM operations ORDER BY key").fetchall()
    conn.close()
    shop.check_reopened(SQLiteStore(path), SCHEMA_VERSION, before, receipts, kept)
    conn = sqlite3.connect(path)
    try:
        # Every purchase is kept compactly (the current layout, 2), the rest whole (0).
        layouts = conn.execute(
            "SELECT kind, json_extract(body, '$[2]'), COUNT(*) FROM operations GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        assert layouts == [("hold", 0, 1), ("purchase", 2, 9), ("redeem", 0, 2), ("return", 0, 1)]
    finally:
        conn.close()


def _migrated_shape(path: Path, version: int) -> dict[str, list[str]]:
    """The shape of a new file at ``path`` taken through the first ``version`` migrations, with
    the schema_version table an adapter adds."""
    with closing(sqlite3.connect(path)) as fresh:
        fresh.create_function("loyalty_instant", 1, lambda text: None)  # no rows to read
        fresh.create_function("loyalty_pack", 4, lambda *row: None)
        fresh.create_function("loyalty_shares", 4, lambda *row: None)
        for step in MIGRATIONS[:version]:
            for statement in step:
                fresh.execute(statement)
        return {**_shape(fresh), "schema_version": ["version"]}


def _tallies(conn: sqlite3.Connection) -> dict[str, tuple[int, str]]:
    """The tallies kept in tables: ``tallies`` and, from schema 20, a member's own in ``member_tallies``."""
    found = {key: (count, points) for key, count, points in conn.execute("SELECT * FROM tallies")}
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'member_tallies'").fetchone():
        owned = conn.execute("SELECT key, count, points FROM member_tallies")
        found |= {key: (count, points) for key, count, points in owned}
    return found


def test_a_version_7_file_keeps_its_members_habits_in_their_rows_after_the_upgrade(tmp_path: Path) -> None:
    path, v7 = tmp_path / "v7.db", tmp_path / "fresh-v7.db"
    receipts, before = shop.recorded(SQLiteStore(path))
    conn = sqlite3.connect(path)
    _as_schema_7(conn)
    assert _shape(conn) == _migrated_shape(v7, 7)
    # Besides what the engine wrote: an earlier month of a member's, and keys of no member.
    handmade = {
        spent_key("a", "2023-12"): (1, "4.50"),
        spent_key("ghost", "2024-03"): (1, "1"),
        visits_key("ghost"): (2, "0"),
    }
    conn.executemany("INSERT INTO tallies VALUES (?, ?, ?)", [(k, *v) for k, v in handmade.items()])
    conn.commit()
    tallies = _tallies(conn)
    assert {seen_key("a"), spent_key("a", "2024-03"), visits_key("k")} <= tallies.keys()
    kept = [
        (key, *map(json.dumps, unpack_operation(key, body)))
        for key, body in conn.execute("SELECT key, body FROM operations ORDER BY key")
    ]
    conn.close()
    store = SQLiteStore(path)
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tallies(list(tallies)) == {k: Tally(c, Decimal(p)) for k, (c, p) in tallies.items()}
    shop.check_reopened(store, SCHEMA_VERSION, before, receipts, kept)
    conn = sqlite3.connect(path)
    try:
        # Only the members' earlier months and the keys of no member are left in the table.
        left = {key for key in _tallies(conn) if key.partition("|")[0] in {"spent", *FAMILIES.values()}}
        assert left == set(handmade)
        (row,) = conn.execute("SELECT tallies FROM members WHERE member_id = 'c'").fetchone()
        assert json.loads(row) == {
            "visits": [1, "0"],
            "seen": list(tallies[seen_key("c")]),
            "spent": ["2024-03", *tallies[spent_key("c", "2024-03")]],
        }
    finally:
        conn.close()


def test_a_migration_is_logged_at_info_with_its_versions_and_duration(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "logged.db"
    caplog.set_level(logging.DEBUG, logger="loyalty")
    shop.record(SQLiteStore(path)).close()
    conn = sqlite3.connect(path)
    _as_schema_7(conn)
    conn.close()
    SQLiteStore(path).close()
    SQLiteStore(path).close()  # at the current version: nothing to say
    records = [r for r in caplog.records if r.name == "loyalty.store.sqlite"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    messages = [r.getMessage().rpartition(" in ") for r in records]
    assert [head for head, _, _ in messages] == [
        f"SQLite store {path}: schema migrated from version {old} to {SCHEMA_VERSION}" for old in (0, 7)
    ]
    assert all(took.endswith(" s") and float(took[:-2]) >= 0 for _, _, took in messages)


def test_migration_8_moves_the_keys_the_adapter_keeps_in_members_rows() -> None:
    # The migration spells the key prefixes, as it must never change; they are the owners' keys.
    moved = " ".join(MIGRATIONS[7])
    # Not the mark of a merge (``merged|``): no file of schema 7 had one; merges since write it.
    assert all(f"'{prefix}'" in moved for prefix in FAMILIES if prefix != merged_key(""))
    assert spent_key("M", "2024-03") == "spent|2024-03|M"  # substr(key, 7, 7) and substr(key, 15)


def test_a_version_8_file_finds_open_lots_and_debts_through_their_own_indexes(tmp_path: Path) -> None:
    path, v8 = tmp_path / "v8.db", tmp_path / "fresh-v8.db"
    store = SQLiteStore(path)
    engine = shop.indebted(store)
    lots = {member: engine.lots(member) for member in ("d", "e")}
    assert [lot.remaining for lot in lots["d"] + lots["e"]] == [-35, 40]
    store.close()
    conn = sqlite3.connect(path)
    _as_schema_8(conn)
    assert _shape(conn) == _migrated_shape(v8, 8)
    conn.close()
    shop.check_debts_reopened(SQLiteStore(path), SCHEMA_VERSION, lots)
    conn = sqlite3.connect(path)
    try:
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(lots)")}
        assert "lots_open" not in indexes and "lots_debts" in indexes
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {OPEN_LOTS}", {"m": "d"}))
        assert "lots_spendable" in plan and "lots_debts" in plan and "SCAN" not in plan, plan
    finally:
        conn.close()


def test_a_version_10_file_keeps_its_records_and_its_purchases_replay_return_and_explain(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v10.db"
    receipts, voided, before = shop.recorded_and_returned(SQLiteStore(path))
    with closing(sqlite3.connect(path)) as conn:
        _as_schema_10(conn)
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v10.db", 10)
        kept = conn.execute("SELECT key, kind, body FROM operations ORDER BY key").fetchall()
    purchases = [key for key, kind, _ in kept if kind == "purchase"]
    assert purchases == ["B1", "B2", "B3", "P0", "P1", "P2", "P3", "P4", "P5"]
    shop.check_records_upgraded(lambda: SQLiteStore(path), SCHEMA_VERSION, receipts, voided, before)
    with closing(sqlite3.connect(path)) as conn:
        # The records kept before stay where they were, as they were; the new purchase's is in its entry.
        assert set(kept) <= set(conn.execute("SELECT key, kind, body FROM operations"))
        assert conn.execute("SELECT source_id FROM entries WHERE record IS NOT NULL").fetchall() == [("N1",)]
        triggers = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        assert triggers == {
            "entries_no_update",
            "entries_text_kept",
            "entries_no_delete",
            "entries_renamed",
            "operations_key_once",
            # Schema 19's: the open holds' points and the kept-lots mark in the members' rows.
            "holds_held_inserted",
            "holds_held_updated",
            "holds_held_deleted",
            "lots_kept_inserted",
            "lots_kept_moved",
        }


def test_a_version_11_file_gains_members_keys_and_keeps_its_members(tmp_path: Path) -> None:
    path = tmp_path / "v11.db"
    program = Program("Club", "EUR")
    with Engine(program, SQLiteStore(path), clock=lambda: T0) as engine:
        engine.enroll("M1", at=T0)
        engine.adjust("M1", 5, id="A1", at=T0, reason="welcome", actor="staff")
    with closing(sqlite3.connect(path)) as conn:
        _as_schema_11(conn)
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v11.db", 11)
    card = Identifier(IdentifierKind.CARD, "12345678", "M1", T0)
    with SQLiteStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        with store.unit_of_work() as uow:
            uow.add_identifier(card)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.identifiers("M1") == [card] and uow.balance("M1") == 5
    with closing(sqlite3.connect(path)) as conn:
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(identifiers)")}
        assert "identifiers_by_member" in indexes
        plan = " ".join(
            row[-1]
            for row in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM identifiers WHERE member_id = 'M1'")
        )
        assert "identifiers_by_member" in plan, plan


def test_a_version_12_file_gains_vouchers_and_keeps_its_history(tmp_path: Path) -> None:
    path = tmp_path / "v12.db"
    store = SQLiteStore(path)
    before = shop.reading(shop.record(store))
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        _as_schema_12(conn)
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v12.db", 12)
    shop.check_reopened(SQLiteStore(path), SCHEMA_VERSION, before)
    with closing(sqlite3.connect(path)) as conn:
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v14.db", SCHEMA_VERSION)
        indexes = {row[1] for row in conn.execute("PRAGMA index_list(vouchers)")}
        assert {"vouchers_by_member", "vouchers_due", "vouchers_against"} <= indexes


def test_a_version_13_file_works_out_the_rule_shares_of_its_entries_from_their_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v13.db"
    before = shop.record_bonuses(SQLiteStore(path))
    with closing(sqlite3.connect(path)) as conn:
        _as_schema_13(conn)
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v13.db", 13)
    shop.check_bonuses_reopened(SQLiteStore(path), SCHEMA_VERSION, before)
    with closing(sqlite3.connect(path)) as conn:
        # Kept apart for the entries from before (the ledger is never rewritten); the new one's in it.
        assert conn.execute("SELECT * FROM kept_shares").fetchall() == [
            (1, '{"base":4,"bonus":3}'),
            (2, '{"base":10,"bonus":3}'),
        ]
        assert conn.execute(
            "SELECT seq, rule_shares FROM entries WHERE rule_shares IS NOT NULL"
        ).fetchall() == [(3, '{"base":1,"bonus":3}')]


def test_a_version_15_file_gains_offline_allowances_and_keeps_its_history(tmp_path: Path) -> None:
    path = tmp_path / "v15.db"
    store = SQLiteStore(path)
    before = shop.reading(shop.record(store))
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_15(conn)
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v15.db", 15)
    shop.check_reopened(SQLiteStore(path), SCHEMA_VERSION, before)
    with closing(sqlite3.connect(path)) as conn:
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v16.db", SCHEMA_VERSION)
        plan = " ".join(
            row[-1]
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM offline_allowances"
                " WHERE terminal_id = 't' ORDER BY opened_at"
            )
        )
        assert "offline_allowances_by_terminal" in plan, plan


def test_a_version_16_file_gains_kept_texts_and_its_members_can_then_be_erased(tmp_path: Path) -> None:
    path = tmp_path / "v16.db"
    store = SQLiteStore(path)
    before = shop.reading(shop.record(store))
    store.close()
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_16(conn)
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v16.db", 16)
    shop.check_reopened(SQLiteStore(path), SCHEMA_VERSION, before)
    with closing(sqlite3.connect(path)) as conn:
        assert _shape(conn) == _migrated_shape(tmp_path / "fresh-v17.db", SCHEMA_VERSION)
    with Engine(shop.PROGRAM, SQLiteStore(path), clock=lambda: shop.AT) as engine:
        balance = engine.balance("a")
        hidden = engine.erase("a", id="E1", at=shop.AT, reason="GDPR request 7", actor="dpo").pseudonym
        # The entries kept before the migration are rewritten under the new triggers, and chain still.
        assert (engine.balance(hidden), engine.verify().ok) == (balance, True)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM kept_texts").fetchone()[0] > 0
