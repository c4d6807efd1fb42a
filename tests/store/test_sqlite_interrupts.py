"""Ctrl-C while SQLite runs one of the adapter's SQL functions reaches the caller as
KeyboardInterrupt (sqlite3 would report it as an OperationalError), and nothing is written."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

import loyalty.store.sqlite as sqlite_adapter
from loyalty import Engine, Program, StorageError
from loyalty.chains import link
from loyalty.store.sqlite import SQLiteStore
from loyalty.store.sqlite.statements import sql_function, translate

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


class _CtrlC:
    """The chain's link function, interrupted (as a SIGINT would) once armed."""

    armed = False

    def __call__(self, before: bytes, seq: int, balance_after: int, digest: bytes) -> bytes:
        if self.armed:
            raise KeyboardInterrupt
        return link(before, seq, balance_after, digest)


def test_ctrl_c_inside_an_sql_function_is_a_keyboard_interrupt_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctrl_c = _CtrlC()
    monkeypatch.setattr(sqlite_adapter, "link", ctrl_c)
    store = SQLiteStore(tmp_path / "i.db")
    engine = Engine(Program("P", "EUR"), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.adjust("M1", 10, id="A1", at=T0, reason="x", actor="y")
    ctrl_c.armed = True
    with pytest.raises(KeyboardInterrupt):
        engine.adjust("M1", 5, id="A2", at=T0, reason="x", actor="y")
    ctrl_c.armed = False
    assert engine.balance("M1").available == 10
    assert [entry.points for entry in engine.history("M1")] == [10]
    # The interrupt is not left pending: the retry goes through, and a later driver error stays one.
    engine.adjust("M1", 5, id="A2", at=T0, reason="x", actor="y")
    assert engine.balance("M1").available == 15
    store.close()
    with pytest.raises(StorageError):
        store.unit_of_work().__enter__()


def test_an_interrupt_delivered_on_the_way_into_an_sql_function_is_a_keyboard_interrupt() -> None:
    # A SIGINT that arrives while SQLite runs C code is raised at the first bytecode Python runs
    # next: the SQL function's frame, before its handler. sqlite3 then reports only that the
    # function raised.
    with pytest.raises(KeyboardInterrupt):
        raise translate(sqlite3.OperationalError("user-defined function raised exception"))


def test_an_error_of_an_sql_functions_own_stays_a_storage_error() -> None:
    def broken(value: str) -> str:
        raise ValueError(value)

    with closing(sqlite3.connect(":memory:")) as conn:
        conn.create_function("broken", 1, sql_function(broken))
        with pytest.raises(sqlite3.OperationalError) as raised:
            conn.execute("SELECT broken('x')")
    error = translate(raised.value)
    assert isinstance(error, StorageError) and "raised exception" in str(error)
