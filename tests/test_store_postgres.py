from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import attrs
import psycopg
import pytest
from psycopg import sql

import shop
from loyalty import Receipt
from loyalty.engine import Engine
from loyalty.errors import IdempotencyConflict, InvalidInput, StorageError
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.members import Member
from loyalty.program import Program
from loyalty.purchases import Line, Purchase
from loyalty.store import Operation, Store, StoredProgram, Tally, open_store
from loyalty.store.postgres import _MIGRATIONS, SCHEMA_VERSION, PostgresStore, open_postgres
from loyalty.testing.contract import StoreContract
from loyalty.tiers import TierState
from pg import fresh_schema_url, postgres_dsn

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def schema_url() -> Iterator[str]:
    url, drop = fresh_schema_url(postgres_dsn())
    yield url
    drop()


class TestPostgresStore(StoreContract):
    concurrent_workers = 8
    concurrent_purchases = 200

    @pytest.fixture
    def store_factory(self, schema_url: str) -> Callable[[], Store]:
        return lambda: open_store(schema_url)


def _schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def _admin(sql_text: sql.Composed) -> None:
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        conn.execute(sql_text)


# -- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize("schema", ["x; DROP", "Upper", "a" * 64, "", "1abc", "sch-ema", 'x"y', "ünï", "a.b"])
def test_schema_names_are_validated_before_connecting(schema: str) -> None:
    with pytest.raises(InvalidInput) as info:
        PostgresStore("postgresql://nobody@192.0.2.1/none", schema=schema)
    assert info.value.field == "schema"


def test_schema_name_from_the_url_is_validated() -> None:
    with pytest.raises(InvalidInput) as info:
        open_store("postgresql://nobody@192.0.2.1/none?schema=x%3B%20DROP")
    assert info.value.field == "schema"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("pool_min=-1", "pool_min"),
        ("pool_max=0", "pool_max"),
        ("pool_min=5&pool_max=2", "pool_max"),
        ("pool_timeout=soon", "pool_timeout"),
        ("pool_timeout=0", "pool_timeout"),
    ],
)
def test_pool_options_are_validated(query: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        open_postgres(f"postgresql://nobody@192.0.2.1/none?{query}")
    assert info.value.field == field


def test_options_are_taken_from_the_url_and_the_rest_goes_to_libpq(schema_url: str) -> None:
    store = open_store(f"{schema_url}&pool_min=2&pool_max=3&application_name=loyalty-test")
    try:
        assert isinstance(store, PostgresStore)
        assert store.schema == _schema_of(schema_url)
        with store.unit_of_work(readonly=True) as uow:
            assert uow.balance("nobody") is None
        stats = store._pool.get_stats()
        assert (stats["pool_min"], stats["pool_max"]) == (2, 3)
        with psycopg.connect(postgres_dsn()) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'loyalty-test'"
            ).fetchone()
        assert row is not None and row[0] >= 2
    finally:
        store.close()


def test_a_missing_driver_raises_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import psycopg` raise ImportError, as if it were not installed.
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(StorageError, match=r"loyalty-engine\[postgres\]"):
        open_store("postgresql://nobody@192.0.2.1/none")


def test_importing_loyalty_does_not_import_the_driver() -> None:
    code = "import sys, loyalty, loyalty.store.postgres; sys.exit('psycopg' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_an_unreachable_server_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="postgresql"):
        open_postgres("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1&pool_timeout=1")


# -- migrations ------------------------------------------------------------------------------


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
    assert _MIGRATIONS[0] == V1_DDL


def _version_1_schema(url: str) -> None:
    """A schema as version 1 left it: a member, an earn entry with its rule, a redemption."""
    s = sql.Identifier(_schema_of(url))
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
        assert store.schema_version() == SCHEMA_VERSION == 6
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
        _admin(forge.format(sql.Identifier(_schema_of(schema_url))))


def test_a_newer_schema_version_is_refused(schema_url: str) -> None:
    open_postgres(schema_url).close()
    schema = sql.Identifier(_schema_of(schema_url))
    _admin(sql.SQL("UPDATE {}.schema_version SET version = {}").format(schema, SCHEMA_VERSION + 1))
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


# -- the database's own guards ---------------------------------------------------------------


@pytest.fixture
def store(schema_url: str) -> Iterator[PostgresStore]:
    store = open_postgres(schema_url)
    yield store
    store.close()


@pytest.mark.parametrize(
    "statement", ["UPDATE {}.entries SET points = 0", "DELETE FROM {}.entries", "TRUNCATE {}.entries CASCADE"]
)
def test_the_ledger_is_append_only_in_the_database(store: PostgresStore, statement: str) -> None:
    Engine(Program("PG", "EUR"), store, clock=lambda: T0).enroll("M1", at=T0)
    with store.unit_of_work() as uow:
        uow.append(Posting("M1", EntryKind.ADJUST, 5, T0, T0, "A1", "test", "staff"))
        uow.commit()
    with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
        _admin(sql.SQL(statement).format(sql.Identifier(store.schema)))


@pytest.mark.parametrize("bad", ["nul\x00inside", "lone \ud800 surrogate"])
def test_text_postgres_cannot_hold_is_refused_naming_the_field(store: PostgresStore, bad: str) -> None:
    Engine(Program("PG", "EUR"), store, clock=lambda: T0).enroll("M1", at=T0)
    with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
        uow.append(Posting("M1", EntryKind.ADJUST, 5, T0, T0, "A1", bad, "staff"))
    assert info.value.field == "reason"
    with store.unit_of_work(readonly=True) as uow:
        assert uow.history("M1") == []
        assert uow.balance("M1") == 0


def test_a_nul_in_json_is_escaped_and_survives(store: PostgresStore) -> None:
    # The domain refuses NUL in member attributes; an operation's JSON may still carry one.
    operation = Operation("K1", "test", {"note": "nul\x00inside"}, {}, T0)
    with store.unit_of_work() as uow:
        uow.add_operation(operation)
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.operation("K1") == operation


def test_a_lone_surrogate_in_json_is_refused_naming_the_field(store: PostgresStore) -> None:
    with pytest.raises(InvalidInput) as info, store.unit_of_work() as uow:
        uow.add_operation(Operation("K1", "test", {"note": "lone \ud800 surrogate"}, {}, T0))
    assert info.value.field == "request"


def test_a_nul_in_a_lookup_is_a_storage_error_not_a_driver_error(store: PostgresStore) -> None:
    with pytest.raises(StorageError), store.unit_of_work(readonly=True) as uow:
        uow.member("a\x00b")


def test_a_readonly_unit_of_work_cannot_write(store: PostgresStore) -> None:
    with pytest.raises(StorageError, match="read-only"), store.unit_of_work(readonly=True) as uow:
        uow.add_member(Member("M1", T0))


def test_a_closed_store_refuses_work(store: PostgresStore) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"), store.unit_of_work():
        pass


# -- races the engine resolves by retrying ---------------------------------------------------


def _race(url: str, commands: list[Callable[[Engine], object]]) -> list[object]:
    """Run each command on its own store at the same instant; return results or raised errors."""
    stores = [open_postgres(url) for _ in commands]
    start = threading.Barrier(len(commands))

    def run(n: int) -> object:
        engine = Engine(Program("PG", "EUR"), stores[n], clock=lambda: T0)
        start.wait()
        try:
            return commands[n](engine)
        except IdempotencyConflict as exc:
            return exc

    try:
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(run, range(len(commands))))
    finally:
        for store in stores:
            store.close()


def _buy(member_id: str) -> Callable[[Engine], object]:
    """The same purchase id "P1" for ``member_id``: a retry if the member is the same, a conflict if not."""
    purchase = Purchase("P1", member_id, T0, [Line("x", 2, Decimal("5.00"))], "EUR")
    return lambda engine: engine.record_purchase(purchase)


@pytest.mark.parametrize("attempt", range(5))
def test_racing_the_same_purchase_gives_one_receipt_and_one_entry(
    store: PostgresStore, schema_url: str, attempt: int
) -> None:
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    outcomes = _race(schema_url, [_buy("M1")] * 2)
    assert all(isinstance(o, Receipt) for o in outcomes)
    assert outcomes[0] == outcomes[1]
    assert len(engine.history("M1")) == 1
    assert engine.balance("M1").available == 10


@pytest.mark.parametrize("attempt", range(5))
def test_racing_one_key_on_two_members_lets_exactly_one_win(
    store: PostgresStore, schema_url: str, attempt: int
) -> None:
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.enroll("M2", at=T0)
    outcomes = _race(schema_url, [_buy("M1"), _buy("M2")])
    winners = [o for o in outcomes if isinstance(o, Receipt)]
    losers = [o for o in outcomes if isinstance(o, IdempotencyConflict)]
    assert (len(winners), len(losers)) == (1, 1)
    assert losers[0].field == "member_id"
    assert len(engine.history("M1")) + len(engine.history("M2")) == 1
    assert engine.balance("M1").available + engine.balance("M2").available == 10


def test_racing_the_same_enrollment_enrolls_once(schema_url: str) -> None:
    outcomes = _race(schema_url, [lambda engine: engine.enroll("M1", at=T0)] * 4)
    assert all(isinstance(o, Member) and o.id == "M1" for o in outcomes)


def test_a_connection_dropped_in_the_pool_is_retried_on_a_new_one(schema_url: str) -> None:
    store = open_postgres(f"{schema_url}&pool_min=1&pool_max=1")
    try:
        with store._pool.connection() as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        with psycopg.connect(postgres_dsn(), autocommit=True) as admin:
            # The timeout makes it wait until the backend is gone, so the next BEGIN meets a dead socket.
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (row[0],))
        engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
        assert engine.enroll("M1", at=T0).id == "M1"
        assert engine.balance("M1").available == 0
    finally:
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
    schema = _schema_of(schema_url)
    s = sql.Identifier(schema)
    for index in V6_INDEXES:
        _admin(sql.SQL("DROP INDEX {}.{}").format(s, sql.Identifier(index)))
    _admin(sql.SQL("ALTER TABLE {}.operations DROP COLUMN purchased_at").format(s))
    _admin(sql.SQL("UPDATE {}.schema_version SET version = 5").format(s))
    fresh_url, drop = fresh_schema_url(postgres_dsn())
    fresh = sql.Identifier(_schema_of(fresh_url))
    try:
        with psycopg.connect(postgres_dsn()) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(fresh))
            for step in _MIGRATIONS[:5]:
                for statement in step:
                    conn.execute(sql.SQL(statement).format(s=fresh))
        assert _shape(schema) - {("schema_version", "version")} == _shape(_schema_of(fresh_url))
    finally:
        drop()
    store = open_postgres(schema_url)
    try:
        assert store.schema_version() == SCHEMA_VERSION == 6
        shop.check_upgraded(store, before)
    finally:
        store.close()
    assert {(table, index) for table, index in _shape(schema) if index in V6_INDEXES} == {
        ("lots", "lots_spendable"),
        ("entries", "entries_by_time"),
        ("operations", "operations_purchases"),
        ("members", "members_by_enrolment"),
        ("members", "members_in_code_point_order"),
    }
