"""PostgreSQL schema migrations: run once, concurrently safe, version 1 upgraded in place, newer refused."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import psycopg
import pytest
from psycopg import sql

from loyalty.earning_keys import visits_key
from loyalty.engine import Engine
from loyalty.errors import StorageError
from loyalty.habits import seen_key, spent_key
from loyalty.identifiers import Identifier, IdentifierKind
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.members import Member
from loyalty.program import Program
from loyalty.records import unpack_operation
from loyalty.store import StoredProgram, Tally
from loyalty.store.member_tallies import FAMILIES
from loyalty.store.postgres import SCHEMA_VERSION, PostgresStore, open_postgres
from loyalty.store.postgres.migrations import MIGRATIONS
from loyalty.store.rows import dump_json
from loyalty.tiers import TierState
from tests import shop
from tests.pg import admin, fresh_schema_url, postgres_dsn, schema_of
from tests.store.test_postgres_sharding import problems
from tests.tampering import (
    as_postgres_schema_13,
    as_postgres_schema_14,
    as_postgres_schema_15,
    as_postgres_schema_16,
)

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


def test_migrations_are_idempotent(schema_url: str) -> None:
    first = open_postgres(schema_url)
    Engine(Program("PG", "EUR"), first, clock=lambda: T0).enroll("M1", at=T0)
    first.close()
    second = open_postgres(schema_url)
    try:
        assert second.schema_version() == SCHEMA_VERSION
        assert Engine(Program("PG", "EUR"), second).member("M1").id == "M1"
    finally:
        second.close()


# Schema version 1 exactly as released: migration 1 must never change.
V1_DDL = (
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
    """CREATE FUNCTION {s}.entries_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'ledger entries are immutable'; END $$""",
    """CREATE TRIGGER entries_no_update_or_delete BEFORE UPDATE OR DELETE ON {s}.entries
           FOR EACH ROW EXECUTE FUNCTION {s}.entries_are_immutable()""",
    """CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON {s}.entries
           FOR EACH STATEMENT EXECUTE FUNCTION {s}.entries_are_immutable()""",
    """CREATE TABLE {s}.operations (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
)


def test_migration_1_is_unchanged() -> None:
    assert MIGRATIONS[0] == V1_DDL


def _version_1_schema(url: str) -> None:
    """A schema as version 1 left it: a member, an earn entry with its rule, a redemption."""
    s = sql.Identifier(schema_of(url))
    with psycopg.connect(postgres_dsn()) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
        for statement in V1_DDL:
            conn.execute(sql.SQL(statement).format(s=s))
        conn.execute(sql.SQL("CREATE TABLE {}.schema_version (version INTEGER NOT NULL)").format(s))
        conn.execute(sql.SQL("INSERT INTO {}.schema_version (version) VALUES (1)").format(s))
        conn.execute(
            sql.SQL("INSERT INTO {}.members VALUES (%s, %s, %s, %s, %s, %s)").format(s),
            ("M1", datetime(2024, 3, 1, 8, 30, tzinfo=UTC), 3600, date(2000, 2, 29), '{"vip":true}', 30),
        )
        entry = sql.SQL(
            "INSERT INTO {}.entries (member_id, kind, points, balance_after, occurred_at, occurred_offset,"
            " recorded_at, recorded_offset, source_id, reason, actor, rule)"
            " VALUES ('M1', %s, %s, %s, %s, 7200, %s, 0, %s, %s, NULL, %s)"
        ).format(s)
        conn.execute(entry, ("earn", 40, 40, T0, T0 + timedelta(minutes=1), "P1", "purchase", "base"))
        conn.execute(entry, ("redeem", -10, 30, T0, T0 + timedelta(minutes=2), "R1", "redemption", None))


def test_a_version_1_schema_is_upgraded_in_place(schema_url: str) -> None:
    _version_1_schema(schema_url)
    store = open_postgres(schema_url)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 23
        occurred = T0.astimezone(timezone(timedelta(hours=2)))
        t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
        with store.unit_of_work(readonly=True) as uow:
            member = uow.member("M1")
            enrolled = datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
            assert member == Member("M1", enrolled, date(2000, 2, 29), {"vip": True})
            assert uow.history("M1") == [
                Entry(1, "M1", EntryKind.EARN, 40, 40, occurred, t1, "P1", "purchase", None, ("base",)),
                Entry(2, "M1", EntryKind.REDEEM, -10, 30, occurred, t2, "R1", "redemption"),
            ]
            assert uow.tallies(["k"]) == {"k": Tally()}
            assert uow.program_versions() == []
        assert member is not None
        with store.unit_of_work() as uow:
            uow.update_member(attrs.evolve(member, birthday=None, birthday_changed_at=T0))
            uow.add_tallies({"k": Tally(1, Decimal("0.5"))})
            uow.add_program_version(StoredProgram("v1", None, {"rules": []}, T0))
            rules = ("base", "bonus")
            entry = uow.append(Posting("M1", EntryKind.EARN, 5, T0, T0, "P2", "purchase", None, rules, "v1"))
            assert uow.tier_state("M1") is None
            uow.put_tier_state(TierState("M1", "gold", "gold", T0, T0, T0))
            uow.commit()
        assert (entry.seq, entry.balance_after) == (3, 35)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.history("M1", after=2) == [entry]
            assert uow.due_tier_states(T0) == [TierState("M1", "gold", "gold", T0, T0, T0)]
            # The points from before lots existed: one lot that never expires, numbered by the last entry.
            assert [(lot.id, lot.remaining, lot.expires_at) for lot in uow.lots("M1")] == [
                (2, 30, None),
                (3, 5, None),
            ]
            assert uow.tallies(["k"]) == {"k": Tally(1, Decimal("0.5"))}
            changed = uow.member("M1")
            assert changed is not None and (changed.birthday, changed.birthday_changed_at) == (None, T0)
    finally:
        store.close()
    forge = sql.SQL("UPDATE {}.entries SET program_version = 'forged'")
    with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
        admin(forge.format(sql.Identifier(schema_of(schema_url))))


def test_a_newer_schema_version_is_refused(schema_url: str) -> None:
    open_postgres(schema_url).close()
    schema = sql.Identifier(schema_of(schema_url))
    admin(sql.SQL("UPDATE {}.schema_version SET version = {}").format(schema, SCHEMA_VERSION + 1))
    with pytest.raises(StorageError, match="upgrade loyalty-engine"):
        open_postgres(schema_url)


def test_concurrent_openers_of_a_new_schema_both_succeed(schema_url: str) -> None:
    openers = 4
    start = threading.Barrier(openers)

    def open_one(_: int) -> PostgresStore:
        start.wait()
        return open_postgres(schema_url)

    with ThreadPoolExecutor(openers) as pool:
        stores = list(pool.map(open_one, range(openers)))
    try:
        Engine(Program("PG", "EUR"), stores[0], clock=lambda: T0).enroll("M1", at=T0)
        for store in stores:
            assert store.schema_version() == SCHEMA_VERSION
            assert Engine(Program("PG", "EUR"), store).balance("M1").available == 0
    finally:
        for store in stores:
            store.close()


# What migration 6 added, taken off a current schema again: a schema as version 5 left it.
V6_INDEXES = (
    "lots_spendable",
    "entries_by_time",
    "operations_purchases",
    "members_by_enrolment",
    "members_in_code_point_order",
)


def _shape(schema: str) -> set[tuple[str, str]]:
    """Every column and index of ``schema``, as (table, name) pairs."""
    with psycopg.connect(postgres_dsn()) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s"
            " UNION SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s",
            (schema, schema),
        ).fetchall()
    return {(str(table), str(name)) for table, name in rows}


def test_a_version_5_schema_is_upgraded_in_place(schema_url: str) -> None:
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    store.close()
    schema = schema_of(schema_url)
    _as_schema_6(schema)
    s = sql.Identifier(schema)
    for index in V6_INDEXES:
        admin(sql.SQL("DROP INDEX {}.{}").format(s, sql.Identifier(index)))
    admin(sql.SQL("ALTER TABLE {}.operations DROP COLUMN purchased_at").format(s))
    admin(sql.SQL("UPDATE {}.schema_version SET version = 5").format(s))
    _assert_migrated_shape(schema, 5)
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    assert {(table, index) for table, index in _shape(schema) if index in V6_INDEXES} == {
        ("lots", "lots_spendable"),
        ("entries", "entries_by_time"),
        ("operations", "operations_purchases"),
        ("members", "members_by_enrolment"),
        ("members", "members_in_code_point_order"),
    }


def _assert_migrated_shape(schema: str, version: int) -> None:
    """``schema`` has the columns and indexes of a new schema taken through the first ``version``
    migrations, its ``schema_version`` table aside (the store makes that one, not a migration)."""
    assert _shape(schema) - {("schema_version", "version")} == _migrated_shape(version)


def _migrated_shape(version: int) -> set[tuple[str, str]]:
    """The shape of a new schema taken through the first ``version`` migrations."""
    fresh_url, drop = fresh_schema_url(postgres_dsn())
    fresh = sql.Identifier(schema_of(fresh_url))
    try:
        with psycopg.connect(postgres_dsn()) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(fresh))
            for step in MIGRATIONS[:version]:
                for statement in step:
                    conn.execute(sql.SQL(statement).format(s=fresh))
        return _shape(schema_of(fresh_url))
    finally:
        drop()


# The index migration 4 made and migration 9 dropped.
(LOTS_OPEN,) = (statement for statement in MIGRATIONS[3] if "INDEX lots_open" in statement)


def _undo(schema: str, version: int, *statements: str) -> None:
    """Take a migration back by hand: run ``statements`` (``{s}`` is the schema), then say the
    schema is at ``version``."""
    s = sql.Identifier(schema)
    with psycopg.connect(postgres_dsn()) as conn:
        for statement in statements:
            conn.execute(sql.SQL(statement).format(s=s))
        conn.execute(sql.SQL("UPDATE {s}.schema_version SET version = %s").format(s=s), (version,))


def _as_schema_12(schema: str) -> None:
    """A current schema as schema 12 left it: no rule shares, in entries or kept apart."""
    as_postgres_schema_13(postgres_dsn(), schema)
    _undo(schema, 12, "DROP TABLE {s}.kept_shares", "ALTER TABLE {s}.entries DROP COLUMN rule_shares")


def _as_schema_11(schema: str) -> None:
    """A current schema as schema 11 left it: no vouchers either."""
    _as_schema_12(schema)
    _undo(schema, 11, "DROP TABLE {s}.vouchers")


def _as_schema_10(schema: str) -> None:
    """A current schema as schema 10 left it: no members' keys either."""
    _as_schema_11(schema)
    _undo(schema, 10, "DROP TABLE {s}.identifiers")


def _as_schema_9(schema: str) -> None:
    """A current schema as schema 9 left it: no member status (every member was active)."""
    _as_schema_10(schema)
    _undo(schema, 9, "ALTER TABLE {s}.members DROP COLUMN status")


def _as_schema_8(schema: str) -> None:
    """A current schema as schema 8 left it: every open lot indexed by lots_open, no lots_debts."""
    _as_schema_9(schema)
    _undo(schema, 8, "DROP INDEX {s}.lots_debts", LOTS_OPEN)


def _as_schema_7(schema: str) -> None:
    """A current schema as schema 7 left it: the tallies its members' rows keep as rows of the
    tallies table (``loyalty.store.member_tallies``'s layout, taken apart by hand)."""
    _as_schema_8(schema)
    s = sql.Identifier(schema)
    with psycopg.connect(postgres_dsn()) as conn:
        rows = conn.execute(sql.SQL("SELECT member_id, tallies FROM {}.members").format(s)).fetchall()
        insert = sql.SQL("INSERT INTO {}.tallies (key, count, points) VALUES (%s, %s, %s::numeric)")
        for member_id, text in rows:
            for row in shop.row_tallies(member_id, text):
                conn.execute(insert.format(s), row)
        conn.execute(sql.SQL("ALTER TABLE {}.members DROP COLUMN tallies").format(s))
        conn.execute(sql.SQL("UPDATE {}.schema_version SET version = 7").format(s))


def _as_schema_6(schema: str) -> None:
    """A current schema's operations as schema 6 kept them: the request and the result as JSON
    text (``rows.dump_json``, as the schema-6 adapter wrote them)."""
    _as_schema_7(schema)
    s = sql.Identifier(schema)
    with psycopg.connect(postgres_dsn()) as conn:
        rows = conn.execute(sql.SQL("SELECT key, body FROM {}.operations").format(s)).fetchall()
        conn.execute(
            sql.SQL("ALTER TABLE {}.operations ADD COLUMN request TEXT, ADD COLUMN result TEXT").format(s)
        )
        for key, body in rows:
            request, result = unpack_operation(key, body)
            conn.execute(
                sql.SQL("UPDATE {}.operations SET request = %s, result = %s WHERE key = %s").format(s),
                (dump_json(request), dump_json(result), key),
            )
        conn.execute(
            sql.SQL(
                "ALTER TABLE {}.operations DROP COLUMN body, ALTER COLUMN request SET NOT NULL,"
                " ALTER COLUMN result SET NOT NULL"
            ).format(s)
        )
        conn.execute(sql.SQL("UPDATE {}.schema_version SET version = 6").format(s))


def test_a_version_6_schema_is_upgraded_in_place_and_its_purchases_replay_return_and_explain(
    schema_url: str,
) -> None:
    receipts, before = shop.recorded(open_postgres(schema_url))
    schema = schema_of(schema_url)
    _as_schema_6(schema)
    _assert_migrated_shape(schema, 6)
    s = sql.Identifier(schema)
    with psycopg.connect(postgres_dsn()) as conn:
        kept = conn.execute(sql.SQL("SELECT key, request, result FROM {}.operations").format(s)).fetchall()
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before, receipts, kept)
    with psycopg.connect(postgres_dsn()) as conn:
        layouts = conn.execute(
            sql.SQL(
                "SELECT kind, (body::jsonb ->> 2)::int, COUNT(*) FROM {}.operations"
                " GROUP BY 1, 2 ORDER BY 1, 2"
            ).format(s)
        ).fetchall()
    # Every purchase is kept compactly (the current layout, 2), the rest whole (0).
    assert layouts == [("hold", 0, 1), ("purchase", 2, 9), ("redeem", 0, 2), ("return", 0, 1)]


def _tallies(schema: str) -> dict[str, Tally]:
    """The tallies kept in tables: ``tallies`` and, from schema 19, a member's own in ``member_tallies``."""
    with psycopg.connect(postgres_dsn()) as conn:
        query = sql.SQL("SELECT key, count, points FROM {}.tallies").format(sql.Identifier(schema))
        rows = conn.execute(query).fetchall()
        if conn.execute("SELECT to_regclass(%s)", (f'"{schema}".member_tallies',)).fetchone() != (None,):
            owned = sql.SQL("SELECT key, count, points FROM {}.member_tallies").format(sql.Identifier(schema))
            rows += conn.execute(owned).fetchall()
        return {key: Tally(count, points) for key, count, points in rows}


def test_a_version_7_schema_keeps_its_members_habits_in_their_rows_after_the_upgrade(
    schema_url: str,
) -> None:
    receipts, before = shop.recorded(open_postgres(schema_url))
    schema = schema_of(schema_url)
    _as_schema_7(schema)
    _assert_migrated_shape(schema, 7)
    s = sql.Identifier(schema)
    # Besides what the engine wrote: an earlier month of a member's, and keys of no member.
    handmade = {
        spent_key("a", "2023-12"): Tally(1, Decimal("4.50")),
        spent_key("ghost", "2024-03"): Tally(1, Decimal(1)),
        visits_key("ghost"): Tally(2, Decimal(0)),
    }
    with psycopg.connect(postgres_dsn()) as conn:
        for key, tally in handmade.items():
            insert = sql.SQL("INSERT INTO {}.tallies VALUES (%s, %s, %s)").format(s)
            conn.execute(insert, (key, tally.count, tally.points))
        kept = [
            (key, *map(json.dumps, unpack_operation(key, body)))
            for key, body in conn.execute(sql.SQL("SELECT key, body FROM {}.operations").format(s))
        ]
    tallies = _tallies(schema)
    assert {seen_key("a"), spent_key("a", "2024-03"), visits_key("k")} <= tallies.keys()
    store = open_postgres(schema_url)
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tallies(list(tallies)) == tallies
    shop.check_reopened(store, SCHEMA_VERSION, before, receipts, kept)
    # Only the members' earlier months and the keys of no member are left in the table.
    left = {key for key in _tallies(schema) if key.partition("|")[0] in {"spent", *FAMILIES.values()}}
    assert left == set(handmade)
    with psycopg.connect(postgres_dsn()) as conn:
        query = sql.SQL("SELECT tallies FROM {}.members WHERE member_id = 'c'").format(s)
        found = conn.execute(query).fetchone()
    assert found is not None
    (row,) = found
    seen = tallies[seen_key("c")]
    spent = tallies[spent_key("c", "2024-03")]
    assert json.loads(row) == {
        "visits": [1, "0"],
        "seen": [seen.count, str(seen.points)],
        "spent": ["2024-03", spent.count, str(spent.points)],
    }


def test_a_version_8_schema_finds_open_lots_and_debts_through_their_own_indexes(schema_url: str) -> None:
    store = open_postgres(schema_url)
    engine = shop.indebted(store)
    lots = {member: engine.lots(member) for member in ("d", "e")}
    assert [lot.remaining for lot in lots["d"] + lots["e"]] == [-35, 40]
    store.close()
    schema = schema_of(schema_url)
    _as_schema_8(schema)
    _assert_migrated_shape(schema, 8)
    shop.check_debts_reopened(open_postgres(schema_url), SCHEMA_VERSION, lots)
    indexes = {index for table, index in _shape(schema) if table == "lots"}
    assert "lots_open" not in indexes and "lots_debts" in indexes


def test_a_migration_is_logged_at_info_with_its_versions_and_duration(
    schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="loyalty")
    shop.record(open_postgres(schema_url)).close()
    open_postgres(schema_url).close()  # at the current version: nothing to say
    schema = schema_of(schema_url)
    _as_schema_7(schema)
    open_postgres(schema_url).close()
    records = [r for r in caplog.records if r.name == "loyalty.store.postgres"]
    assert [r.levelno for r in records] == [logging.INFO, logging.INFO]
    messages = [r.getMessage().rpartition(" in ") for r in records]
    assert [head for head, _, _ in messages] == [
        f"PostgreSQL store, schema {schema!r}: migrated from version {old} to {SCHEMA_VERSION}"
        for old in (0, 7)
    ]
    assert all(took.endswith(" s") and float(took[:-2]) >= 0 for _, _, took in messages)


def test_a_version_10_schema_gains_members_keys_and_keeps_its_members(schema_url: str) -> None:
    program = Program("Club", "EUR")
    with Engine(program, open_postgres(schema_url), clock=lambda: T0) as engine:
        engine.enroll("M1", at=T0)
        engine.adjust("M1", 5, id="A1", at=T0, reason="welcome", actor="staff")
    schema = schema_of(schema_url)
    _as_schema_10(schema)
    _assert_migrated_shape(schema, 10)
    email = Identifier(IdentifierKind.EMAIL, "ann@example.com", "M1", T0)
    with open_postgres(schema_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        with store.unit_of_work() as uow:
            uow.add_identifier(email)
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            assert uow.identifiers("M1") == [email] and uow.balance("M1") == 5
    assert ("identifiers", "identifiers_by_member") in _shape(schema)


def test_a_version_11_schema_gains_vouchers_and_keeps_its_history(schema_url: str) -> None:
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    store.close()
    schema = schema_of(schema_url)
    _as_schema_11(schema)
    _assert_migrated_shape(schema, 11)
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    _assert_migrated_shape(schema, SCHEMA_VERSION)
    indexes = {index for table, index in _shape(schema) if table == "vouchers"}
    assert {"vouchers_by_member", "vouchers_due", "vouchers_against"} <= indexes


def test_a_version_12_schema_works_out_the_rule_shares_of_its_entries_from_their_records(
    schema_url: str,
) -> None:
    before = shop.record_bonuses(open_postgres(schema_url))
    schema = schema_of(schema_url)
    _as_schema_12(schema)
    _assert_migrated_shape(schema, 12)
    shop.check_bonuses_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    s = sql.Identifier(schema)
    with psycopg.connect(postgres_dsn()) as conn:
        # Kept apart for the entries from before (the ledger is never rewritten); the new one's in it.
        # (Each with its entry's member, which schema 15 adds.)
        kept = conn.execute(
            sql.SQL("SELECT seq, rule_shares, member_id FROM {}.kept_shares ORDER BY seq").format(s)
        ).fetchall()
        assert kept == [(1, '{"base":4,"bonus":3}', "m"), (2, '{"base":10,"bonus":3}', "m")]
        own = sql.SQL("SELECT seq, rule_shares FROM {}.entries WHERE rule_shares IS NOT NULL").format(s)
        assert conn.execute(own).fetchall() == [(3, '{"base":1,"bonus":3}')]


def test_a_version_14_schema_keys_its_members_rows_by_member_and_answers_as_before(schema_url: str) -> None:
    store = open_postgres(schema_url)
    engine = shop.record(store)
    code = engine.referral_code("a")
    engine.enroll("d", at=shop.AT, referred_by=code, identifiers=["email:dee@example.com"])
    before = shop.reading(engine)
    store.close()
    schema = schema_of(schema_url)
    as_postgres_schema_14(postgres_dsn(), schema)
    _assert_migrated_shape(schema, 14)
    assert problems(schema) == [
        "kept_texts: no such table",  # schema 17's
        "member_tallies: no such table",  # schema 19's
        "offline_allowances: no such table",  # schema 16's
        "offline_uses: no such table",
        "kept_links: member_id is not a NOT NULL column",
        "kept_shares: member_id is not a NOT NULL column",
        "entries: entries_pkey (seq) lacks member_id",
        "events: events_pkey (seq) lacks member_id",
        "holds: holds_pkey (hold_id) lacks member_id",
        "kept_links: kept_links_pkey (seq) lacks member_id",
        "kept_shares: kept_shares_pkey (seq) lacks member_id",
        "lots: lots_pkey (lot) lacks member_id",
        "vouchers: vouchers_pkey (code) lacks member_id",
        "identifiers: identifiers_member_id_fkey references members, which Citus cannot keep",
        "referral_codes: referral_codes_member_id_fkey references members, which Citus cannot keep",
        "referrals: referrals_referrer_fkey crosses members",
    ]
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    assert problems(schema) == []
    with Engine(shop.PROGRAM, open_postgres(schema_url), clock=lambda: shop.AT) as reopened:
        # Found by their own keys still: a hold by its id, a member by its card and by its code.
        assert reopened.capture("H1", id="C1", at=shop.AT).captured == 3
        assert reopened.find_member("email:dee@example.com").id == "d"
        assert [referral.referee for referral in reopened.referrals("a").referred] == ["d"]
        assert reopened.referral_code("a") == code


def test_a_version_15_schema_gains_offline_allowances_and_keeps_its_history(schema_url: str) -> None:
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    store.close()
    schema = schema_of(schema_url)
    as_postgres_schema_15(postgres_dsn(), schema)
    _assert_migrated_shape(schema, 15)
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    _assert_migrated_shape(schema, SCHEMA_VERSION)
    assert ("offline_allowances", "offline_allowances_by_terminal") in _shape(schema)


def _entries_triggers(schema: str) -> set[str]:
    with psycopg.connect(postgres_dsn()) as conn:
        rows = conn.execute(
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = %s::regclass",
            (f'"{schema}".entries',),
        ).fetchall()
    return {row[0] for row in rows}


def test_a_version_16_schema_gains_kept_texts_keyed_by_member_and_its_members_can_then_be_erased(
    schema_url: str,
) -> None:
    store = open_postgres(schema_url)
    before = shop.reading(shop.record(store))
    store.close()
    schema = schema_of(schema_url)
    fresh = _entries_triggers(schema)
    as_postgres_schema_16(postgres_dsn(), schema)
    _assert_migrated_shape(schema, 16)
    shop.check_reopened(open_postgres(schema_url), SCHEMA_VERSION, before)
    _assert_migrated_shape(schema, SCHEMA_VERSION)
    assert _entries_triggers(schema) == fresh
    assert problems(schema) == []
    with Engine(shop.PROGRAM, open_postgres(schema_url), clock=lambda: shop.AT) as engine:
        balance = engine.balance("a")
        hidden = engine.erase("a", id="E1", at=shop.AT, reason="GDPR request 7", actor="dpo").pseudonym
        # The entries kept before the migration are rewritten under the new trigger, and chain still.
        assert (engine.balance(hidden), engine.verify().ok) == (balance, True)
    with psycopg.connect(postgres_dsn()) as conn:
        query = sql.SQL("SELECT DISTINCT member_id FROM {}.kept_texts").format(sql.Identifier(schema))
        kept = conn.execute(query)
        assert kept.fetchall() == [(hidden,)]  # under the member's pseudonym, as its entries
