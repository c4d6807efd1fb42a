"""SQLite schema 19: the entries' guard lets an erasure rename its member (member and source id,
through loyalty_erasing()) without dropping a trigger; files of schema 18 upgraded to it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from loyalty import Engine, Program
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.migrations import SCHEMA_VERSION
from loyalty.testing.contract import T0
from loyalty.testing.contract.erasure import PERSONAL_PROGRAM, write_personal_history
from tests.old_erasures import erase_again, erase_keeping_the_id
from tests.sqlite_files import previous_schema_file, shape_of
from tests.tampering import as_sqlite_schema_18

_TRIGGERS = "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"
PHONE = "+31612345678"


def test_a_version_18_file_lets_an_erasure_rename_its_member_once_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "v18.db"
    with Engine(PERSONAL_PROGRAM, SQLiteStore(path), clock=lambda: T0) as engine:
        write_personal_history(engine, PHONE)
        engine.enroll("M2", at=T0)
        engine.transfer(PHONE, "M2", 2, id="send-1", at=T0, reason="for M2")
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_18(conn)
        fresh = tmp_path / "fresh-v18.db"
        previous_schema_file(fresh, 18)
        with closing(sqlite3.connect(fresh)) as v18:
            assert shape_of(conn) == shape_of(v18)
            assert conn.execute(_TRIGGERS).fetchall() == v18.execute(_TRIGGERS).fetchall()
        assert "entries_renamed" not in {name for name, _ in conn.execute(_TRIGGERS)}
    store = SQLiteStore(path)
    with Engine(PERSONAL_PROGRAM, store, clock=lambda: T0) as engine:
        assert store.schema_version() == SCHEMA_VERSION == 25
        before = (engine.balance(PHONE), engine.balance("M2"), engine.verify())
        hidden = engine.erase(PHONE, id="erase-1", at=T0, reason="GDPR", actor="dpo").pseudonym
        assert (engine.balance(hidden), engine.balance("M2"), engine.verify()) == before
    with closing(sqlite3.connect(path)) as conn:
        names = {name for name, _ in conn.execute(_TRIGGERS)}
        assert {"entries_renamed", "entries_no_update", "entries_text_kept", "entries_no_delete"} <= names
        members = conn.execute("SELECT DISTINCT member_id FROM entries ORDER BY member_id").fetchall()
        assert PHONE not in {member for (member,) in members} and (hidden,) in members


def test_a_member_erased_by_version_18_keeping_its_id_takes_its_pseudonym_when_erased_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v18.db"
    with Engine(Program("Club", "EUR"), SQLiteStore(path), clock=lambda: T0) as engine:
        erase_keeping_the_id(engine)
    with closing(sqlite3.connect(path)) as conn:
        as_sqlite_schema_18(conn)
    with Engine(Program("Club", "EUR"), SQLiteStore(path), clock=lambda: T0) as engine:
        hidden = erase_again(engine)
    with closing(sqlite3.connect(path)) as conn:
        members = conn.execute("SELECT member_id FROM members ORDER BY member_id").fetchall()
    assert members == [("M2",), (hidden,)]
