"""An erasure leaves none of the member's personal values in the database's own bytes: the
SQLite file (checkpointed and vacuumed) and a data dump of the PostgreSQL schema, the other
members' entries and events of the transfers and merges with it included, and its id (a phone
number) replaced by its pseudonym everywhere; and every figure and the chains are as they were."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from loyalty import Engine, open_store
from loyalty.config import program_from_dict
from loyalty.testing.contract import T0
from loyalty.testing.contract.erasure import PERSONAL, PERSONAL_PROGRAM, write_personal_history
from loyalty.testing.contract.erasure_ids import PROGRAM, REFEREE, REFERRER, write_referral_history
from tests.pg import postgres_dsn, schema_of
from tests.raw_bytes import forms, pg_dump, sqlite_bytes

# What staff typed in the reason of commands M1 shares with other members (a transfer each way
# and a merge into it): the other members' entries and events repeat it.
SHARED = "for Zelda's sister Yolanda Quux"
# The member's id: a phone number, as a till may use (its old account's is PHONE + "-old").
PHONE = "+31612345678"


def _write_shared(engine: Engine) -> None:
    # M2 is referred by the member, which sends it points and gets some back; M3 merges into it.
    engine.enroll("M2", at=T0, referred_by=engine.referral_code(PHONE))
    engine.enroll("M3", at=T0)
    engine.adjust("M3", 4, id="fix-3", at=T0, reason="welcome", actor="ops")
    engine.transfer(PHONE, "M2", 2, id="send-1", at=T0, reason=SHARED)
    engine.transfer("M2", PHONE, 1, id="send-2", at=T0, reason=SHARED)
    engine.merge_members(PHONE, "M3", id="merge-3", at=T0, reason=SHARED)


def _erase_and_compare(engine: Engine) -> None:
    write_personal_history(engine, PHONE)
    _write_shared(engine)
    week = (T0 - timedelta(days=7), T0 + timedelta(days=1))

    def figures(member_id: str) -> tuple[object, ...]:
        balances = (engine.balance(member_id), engine.balance("M2"), engine.balance("M3"))
        points = [(lot.id, lot.points, lot.remaining) for lot in engine.lots(member_id)]
        return (*balances, points, engine.figures(*week), engine.offline_report("till-9"))

    before, report = figures(PHONE), engine.verify()
    assert report.ok
    hidden = engine.erase(PHONE, id="erase-1", at=T0, reason="GDPR request 7", actor="dpo").pseudonym
    engine.erase(f"{PHONE}-old", id="erase-2", at=T0, reason="GDPR request 7", actor="dpo")
    # The same figures, the member named by its pseudonym (in the offline report's uses).
    assert repr(figures(hidden)).replace(hidden, PHONE) == repr(before)
    assert engine.verify() == report


# What the store still holds before an erasure: every value but the birthday the update replaced.
LIVE = (*(value for value in PERSONAL if value != "1977-07-08"), SHARED, PHONE)


def _assert_absent(dump: bytes) -> None:
    # The values were there to be found: the same history without the erasure has them (below).
    found = {value: form for value in (*PERSONAL, SHARED, PHONE) for form in forms(value) if form in dump}
    assert found == {}


def test_the_sqlite_file_keeps_no_personal_value_once_erased(tmp_path: Path) -> None:
    path = tmp_path / "club.db"
    with Engine(PERSONAL_PROGRAM, open_store(f"sqlite:///{path}"), clock=lambda: T0) as engine:
        _erase_and_compare(engine)
    dump = sqlite_bytes(path)
    _assert_absent(dump)


def test_the_sqlite_file_holds_the_personal_values_before_the_erasure(tmp_path: Path) -> None:
    # The scan above finds what is there: without the erasure, every value is in the file.
    path = tmp_path / "club.db"
    with Engine(PERSONAL_PROGRAM, open_store(f"sqlite:///{path}"), clock=lambda: T0) as engine:
        write_personal_history(engine, PHONE)
        _write_shared(engine)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    dump = path.read_bytes()
    assert [value for value in LIVE if not any(form in dump for form in forms(value))] == []


def _held_bytes(data: object) -> bytes:
    """Every string (as UTF-8) and byte string held by ``data``, its containers and objects walked."""
    out, seen, todo = bytearray(), set(), [data]
    while todo:
        value = todo.pop()
        if isinstance(value, str):
            out += value.encode("utf-8", "surrogatepass") + b"\0"
        elif isinstance(value, bytes | bytearray):
            out += value + b"\0"
        elif isinstance(value, int | float | Decimal | datetime | date | timedelta | None):
            out += str(value).encode() + b"\0"
        elif id(value) not in seen:
            seen.add(id(value))
            if isinstance(value, Mapping):
                todo += [*value.keys(), *value.values()]
            elif isinstance(value, Iterable):
                todo += list(value)
            elif attrs.has(type(value)):
                todo += [getattr(value, field.name) for field in attrs.fields(type(value))]  # type: ignore[arg-type]
            elif hasattr(value, "__dict__"):
                todo.append(vars(value))
    return bytes(out)


@pytest.mark.parametrize("erase", [True, False], ids=["erased", "not-erased"])
def test_the_memory_stores_data_keeps_no_personal_value_once_erased(erase: bool) -> None:
    # Everything the in-memory store holds: its strings as UTF-8, its packed records as the
    # bytes they are.
    store = open_store("memory://")
    with Engine(PERSONAL_PROGRAM, store, clock=lambda: T0) as engine:
        if erase:
            _erase_and_compare(engine)
        else:
            write_personal_history(engine, PHONE)
            _write_shared(engine)
        dump = _held_bytes(store._data)  # type: ignore[attr-defined]
    if erase:
        _assert_absent(dump)
    else:  # the scan finds what is there
        assert [value for value in LIVE if not any(form in dump for form in forms(value))] == []


def _erase_referrals(engine: Engine, now: list[datetime]) -> None:
    # Ids and reasons the engine made from the ids: referral bonuses, tier reviews, reminders.
    write_referral_history(engine, now)
    figures, report = (engine.figures(T0, now[0]), engine.verify())
    engine.erase(REFEREE, id="erase-3", at=now[0], reason="GDPR", actor="dpo")
    engine.erase(REFERRER, id="erase-4", at=now[0], reason="GDPR", actor="dpo")
    assert (engine.figures(T0, now[0]), engine.verify()) == (figures, report)


def test_the_sqlite_file_keeps_no_member_id_the_engine_wrote_into_ids_and_reasons(tmp_path: Path) -> None:
    path = tmp_path / "club.db"
    now = [T0]
    with Engine(program_from_dict(PROGRAM), open_store(f"sqlite:///{path}"), clock=lambda: now[0]) as engine:
        _erase_referrals(engine, now)
    dump = sqlite_bytes(path)
    assert [form for value in (REFERRER, REFEREE) for form in forms(value) if form in dump] == []
    assert b"tier-review:erased-" in dump and b"referral bonus: erased-" in dump


@pytest.mark.postgres
@pytest.mark.parametrize("erase", [True, False], ids=["erased", "not-erased"])
def test_a_dump_of_the_postgres_schema_keeps_no_personal_value_once_erased(
    schema_url: str, erase: bool
) -> None:
    with Engine(PERSONAL_PROGRAM, open_store(schema_url), clock=lambda: T0) as engine:
        if erase:
            _erase_and_compare(engine)
        else:
            write_personal_history(engine, PHONE)
            _write_shared(engine)
    dump = pg_dump(postgres_dsn(), schema_of(schema_url))
    if erase:
        _assert_absent(dump)
    else:  # the scan finds what is there
        assert [value for value in LIVE if not any(form in dump for form in forms(value))] == []


@pytest.mark.postgres
def test_a_dump_of_the_postgres_schema_keeps_no_member_id_the_engine_wrote_into_ids_and_reasons(
    schema_url: str,
) -> None:
    now = [T0]
    with Engine(program_from_dict(PROGRAM), open_store(schema_url), clock=lambda: now[0]) as engine:
        _erase_referrals(engine, now)
    dump = pg_dump(postgres_dsn(), schema_of(schema_url))
    assert [form for value in (REFERRER, REFEREE) for form in forms(value) if form in dump] == []
    assert b"tier-review:erased-" in dump and b"referral bonus: erased-" in dump
