"""What the PostgreSQL database itself refuses: ledger edits, text it cannot hold, writes out of turn."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg import sql

from loyalty.engine import Engine
from loyalty.errors import InvalidInput, StorageError
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.program import Program
from loyalty.store import Operation
from loyalty.store.postgres import PostgresStore, erasure, moves, open_postgres
from loyalty.store.postgres.erasure import PostgresErasure
from tests.pg import admin, postgres_dsn

pytestmark = pytest.mark.postgres


T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def store(postgres_store: PostgresStore) -> PostgresStore:
    return postgres_store


@pytest.mark.parametrize(
    "statement", ["UPDATE {}.entries SET points = 0", "DELETE FROM {}.entries", "TRUNCATE {}.entries CASCADE"]
)
def test_the_ledger_is_append_only_in_the_database(store: PostgresStore, statement: str) -> None:
    Engine(Program("PG", "EUR"), store, clock=lambda: T0).enroll("M1", at=T0)
    with store.unit_of_work() as uow:
        uow.append(Posting("M1", EntryKind.ADJUST, 5, T0, T0, "A1", "test", "staff"))
        uow.commit()
    with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
        admin(sql.SQL(statement).format(sql.Identifier(store.schema)))


def test_an_erasure_renames_the_members_entries_with_the_ledgers_guards_on(store: PostgresStore) -> None:
    # Schema 18: no trigger is disabled; the erasure's transaction names the member it renames
    # and into what (loyalty.erasing, loyalty.pseudonym), which the guard lets through.
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    engine.enroll("+31612345678", at=T0)
    engine.adjust("+31612345678", 10, id="A1", at=T0, reason="x", actor="y")
    triggers = sql.SQL(
        "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = {}::regclass AND NOT tgisinternal"
        " ORDER BY 1"
    ).format(sql.Literal(f"{store.schema}.entries"))
    members = sql.SQL("SELECT DISTINCT member_id FROM {}.entries").format(sql.Identifier(store.schema))
    with psycopg.connect(postgres_dsn(), autocommit=True) as conn:
        guards = conn.execute(triggers).fetchall()
        hidden = engine.erase("+31612345678", id="E1", at=T0, reason="r", actor="dpo").pseudonym
        assert conn.execute(triggers).fetchall() == guards and {state for _, state in guards} == {"O"}
        assert conn.execute(members).fetchall() == [(hidden,)]
    with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
        admin(sql.SQL("UPDATE {}.entries SET member_id = 'x'").format(sql.Identifier(store.schema)))


#: What an erasure's transaction says it moves: member M1 to its pseudonym (schemas 18 and 23).
_NAMING = "SELECT set_config('loyalty.erasing', %s, true), set_config('loyalty.pseudonym', %s, true)"
#: M1's entries copied under a member, with the values given (a JSON object) in place of theirs.
_COPY = (
    "INSERT INTO {s}.entries OVERRIDING SYSTEM VALUE SELECT (jsonb_populate_record(e, %s::jsonb)).*"
    " FROM {s}.entries AS e WHERE member_id = 'M1'"
)
#: Every entry's text digest kept (as an erasure keeps it before rewriting the text).
_KEPT = "INSERT INTO {s}.kept_texts (seq, member_id, digest) SELECT seq, member_id, '\\x00' FROM {s}.entries"


def _two_with_entries_and_p(store: PostgresStore) -> sql.Identifier:
    """Members M1 and M2 with an entry each, and P with none (for a copy to name); the schema."""
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    for member in ("M1", "M2", "P"):
        engine.enroll(member, at=T0)
    for member in ("M1", "M2"):
        engine.adjust(member, 10, id=f"A-{member}", at=T0, reason="x", actor="y")
    return sql.Identifier(store.schema)


def _move(conn: psycopg.Connection[Any], s: sql.Identifier, case: dict[str, Any]) -> None:
    """Keep the entries' digests (or not), name a move (or not), copy M1's entries (or not), then
    delete the member's entries."""
    if case.get("kept", True):
        conn.execute(sql.SQL(_KEPT).format(s=s))
    if case.get("naming") is not None:
        conn.execute(_NAMING, case["naming"])
    if case.get("copy") is not None:
        conn.execute(sql.SQL(_COPY).format(s=s), (json.dumps({"member_id": "P", **case["copy"]}),))
    statement = case.get("statement", "DELETE FROM {s}.entries WHERE member_id = %s")
    conn.execute(sql.SQL(statement).format(s=s), (case.get("member", "M1"),))


#: Each a delete the entries' guard refuses: of the member the transaction names as moved, to a
#: pseudonym other than it, of an entry whose text digest is kept (schema 23), and nothing else.
_REFUSED = {
    "no move named": {"copy": {}},
    "no move named, no copy": {},
    "the move named no more": {"naming": ("", ""), "copy": {}},
    "no pseudonym": {"naming": ("M1", ""), "copy": {}},
    "the entry its own copy": {"naming": ("M1", "M1")},
    "another member's entry": {"naming": ("M1", "P"), "copy": {}, "member": "M2"},
    "no digest kept": {"naming": ("M1", "P"), "copy": {}, "kept": False},
    # Schema 23: nothing renames an entry in place any more.
    "a rename in place": {
        "naming": ("M1", "P"),
        "statement": "UPDATE {s}.entries SET member_id = 'P' WHERE member_id = %s",
    },
}


@pytest.mark.parametrize("case", _REFUSED.values(), ids=_REFUSED.keys())
def test_the_ledgers_guard_refuses_a_delete_but_the_named_move(
    store: PostgresStore, case: dict[str, Any]
) -> None:
    s = _two_with_entries_and_p(store)
    with psycopg.connect(postgres_dsn()) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
            _move(conn, s, case)
        conn.rollback()


def test_the_ledgers_guard_lets_the_named_move_delete_the_members_entries(store: PostgresStore) -> None:
    s = _two_with_entries_and_p(store)
    rows = sql.SQL("SELECT member_id, source_id, points FROM {s}.entries ORDER BY seq, member_id").format(s=s)
    with psycopg.connect(postgres_dsn()) as conn:
        _move(conn, s, {"naming": ("M1", "P"), "copy": {"source_id": "S"}})
        assert conn.execute(rows).fetchall() == [("P", "S", 10), ("M2", "A-M2", 10)]
        conn.commit()
        # The settings are the transaction's own: the next one names nobody.
        with pytest.raises(psycopg.errors.RaiseException, match="immutable"):
            conn.execute(sql.SQL("DELETE FROM {s}.entries WHERE member_id = 'P'").format(s=s))


def test_the_ledgers_guard_reads_only_the_entrys_own_member(store: PostgresStore) -> None:
    # On a cluster the pseudonym's rows are on another shard, which a trigger on a shard must not
    # query: the guard does not look for the copy (a delete with none passes it). The erasure
    # checks the copy itself (next test).
    s = _two_with_entries_and_p(store)
    with psycopg.connect(postgres_dsn()) as conn:
        _move(conn, s, {"naming": ("M1", "P")})
        left = sql.SQL("SELECT member_id FROM {s}.entries ORDER BY member_id").format(s=s)
        assert conn.execute(left).fetchall() == [("M2",)]
        conn.rollback()


#: A flaw in the copy of one table's rows: the table, and what the copy writes in place of what.
_FLAWS = {
    "an entry's points": ("entries", 'o."points"', "o.points + 1"),
    "an entry's source id": ("entries", "COALESCE(r.made, o.source_id)", "'garbled'"),
    "a lot's points left": ("lots", 'o."remaining"', "o.remaining - 1"),
    "the member's attributes": ("members", 'o."attributes"', "o.attributes || ' '"),
}


@pytest.mark.parametrize("flaw", _FLAWS.values(), ids=_FLAWS.keys())
def test_an_erasure_whose_copy_differs_is_refused_and_writes_nothing(
    store: PostgresStore, monkeypatch: pytest.MonkeyPatch, flaw: tuple[str, str, str]
) -> None:
    engine = Engine(Program("PG", "EUR"), store, clock=lambda: T0)
    engine.enroll("+31612345678", at=T0, attributes={"email": "ann@example.com"})
    engine.adjust("+31612345678", 10, id="A1", at=T0, reason="for Ann", actor="clerk")
    before = (engine.history("+31612345678"), engine.balance("+31612345678"), engine.verify())
    table, written, instead = flaw
    copy = moves.copy_rows

    def flawed(schema: str, name: str, columns: Any, member: str) -> sql.Composed:
        composed = copy(schema, name, columns, member)
        if name != table:
            return composed
        text = composed.as_string(None)
        assert written in text
        return sql.Composed([sql.SQL(text.replace(written, instead, 1))])

    monkeypatch.setattr(erasure, "copy_rows", flawed)
    with pytest.raises(StorageError, match=f"{table}: the copy"):
        engine.erase("+31612345678", id="E1", at=T0, reason="asked", actor="dpo")
    assert (engine.history("+31612345678"), engine.balance("+31612345678"), engine.verify()) == before
    assert engine.member("+31612345678").attributes == {"email": "ann@example.com"}


def test_two_erasures_at_once_both_finish_without_a_retry(
    schema_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Each erasure, on an engine and connection of its own, has rewritten its member's entries
    # when both rename their members at once: the moment an ALTER TABLE ... DISABLE TRIGGER
    # (the way before schema 18) deadlocked, one of the two retried as transient.
    members = ["+31600000001", "+31600000002"]
    engines = [Engine(Program("PG", "EUR"), open_postgres(schema_url), clock=lambda: T0) for _ in members]
    for member in ["M0", *members]:
        engines[0].enroll(member, at=T0)
        engines[0].adjust(member, 10, id=f"A-{member}", at=T0, reason="for Ann", actor="clerk")
    engines[0].erase("M0", id="E-M0", at=T0, reason="r", actor="dpo")  # the store's secret is drawn
    both = threading.Barrier(len(members), timeout=10)
    rename = PostgresErasure._rename

    def meeting(uow: Any, old: str, new: str, sources: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            both.wait()
        rename(uow, old, new, sources)

    monkeypatch.setattr(PostgresErasure, "_rename", meeting)
    caplog.set_level(logging.INFO, logger="loyalty.service.running")
    with ThreadPoolExecutor(len(members)) as pool:
        done = list(
            pool.map(
                lambda pair: pair[0].erase(pair[1], id=f"E-{pair[1]}", at=T0, reason="r", actor="dpo"),
                zip(engines, members, strict=True),
            )
        )
    assert [record.getMessage() for record in caplog.records if "retrying" in record.getMessage()] == []
    assert [engines[0].balance(erased.pseudonym).available for erased in done] == [10, 10]
    assert engines[0].verify().ok
    for engine in engines:
        engine.close()


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
