"""Erasing a member on PostgreSQL while another member's part naming it is being written: the
part holds the member against its erasure (``keep_named``), so the erasure either waits and
then renames what the part wrote, or comes first and the part writes the pseudonym. Either way
the id is nowhere in the store after (each race run many times: it was caught before)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from functools import partial

import psycopg
import pytest
from psycopg import sql

from loyalty import Engine
from loyalty.config import program_from_dict
from loyalty.errors import MemberErased
from loyalty.purchases import Line, Purchase
from loyalty.returns import Return
from loyalty.store.postgres import open_postgres
from loyalty.testing.contract import T0
from loyalty.testing.contract.erasure_ids import PROGRAM
from tests.pg import postgres_dsn, schema_of

pytestmark = pytest.mark.postgres

#: Races per test, and the delays (seconds) the erasure starts after the other command, in turn.
ROUNDS = 6
DELAYS = (0.0, 0.004, 0.008, 0.012, 0.02, 0.03)


def _pairs() -> list[tuple[str, str]]:
    return [(f"+3160000{n:04d}", f"+3170000{n:04d}") for n in range(ROUNDS)]


def _at_once(
    engines: tuple[Engine, Engine],
    first: Callable[[Engine], object],
    erase: Callable[[Engine], object],
    delay: float,
) -> None:
    """``first`` on one engine, ``erase`` on the other ``delay`` seconds later; an erased member's
    own command refused is an outcome, anything else a failure."""
    failures: list[BaseException] = []

    def run(engine: Engine, command: Callable[[Engine], object], wait: float) -> None:
        time.sleep(wait)
        try:
            command(engine)
        except MemberErased:
            pass
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(engines[0], first, 0.0)),
        threading.Thread(target=run, args=(engines[1], erase, delay)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures


def _left(url: str, ids: list[str]) -> list[tuple[str, str]]:
    """Each (table, id) of a row that still holds one of ``ids`` (or its digits alone)."""
    schema = schema_of(url)
    found = []
    with psycopg.connect(postgres_dsn()) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT row_to_json(t)::text FROM {}.{} AS t").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            for (row,) in conn.execute(query).fetchall():
                found += [(str(table), member) for member in ids if member[1:] in row]
    return found


def _engines(url: str) -> tuple[Engine, Engine]:
    program = program_from_dict(PROGRAM)
    return (
        Engine(program, open_postgres(url), clock=lambda: T0),
        Engine(program, open_postgres(url), clock=lambda: T0),
    )


def _buy(key: str, member: str, engine: Engine) -> object:
    return engine.record_purchase(Purchase(key, member, T0, [Line("c", 1, Decimal("30"))], "EUR"))


def _erase(key: str, member: str, engine: Engine) -> object:
    return engine.erase(member, id=key, at=T0, reason="asked", actor="dpo")


def _send(key: str, frm: str, to: str, engine: Engine) -> object:
    return engine.transfer(frm, to, 1, id=key, at=T0)


def _merge(key: str, survivor: str, absorbed: str, engine: Engine) -> object:
    return engine.merge_members(survivor, absorbed, id=key, at=T0, reason="same person")


def _race(
    url: str,
    erased: int,
    setup: Callable[[Engine, int, str, str], object],
    command: Callable[[int, str, str, Engine], object],
) -> None:
    """For each pair of members: ``setup`` (engine, n, pair), then ``command`` (n, pair, engine) on
    one engine while the other erases the pair's member ``erased`` (0 or 1); then maintenance, and
    neither a broken chain nor a row holding an erased member's id."""
    first, eraser = _engines(url)
    pairs = _pairs()
    gone = [pair[erased] for pair in pairs]
    with first, eraser:
        for n, pair in enumerate(pairs):
            setup(first, n, *pair)
        for n, (pair, member) in enumerate(zip(pairs, gone, strict=True)):
            run, erase = partial(command, n, *pair), partial(_erase, f"E{n}", member)
            _at_once((first, eraser), run, erase, DELAYS[n % len(DELAYS)])
        first.run_due()
        assert first.verify().ok
    assert _left(url, gone) == []


def _referred(engine: Engine, n: int, referrer: str, referee: str) -> None:
    engine.enroll(referrer, at=T0)
    engine.enroll(referee, at=T0, referred_by=engine.referral_code(referrer))


@pytest.mark.parametrize("erased", [0, 1], ids=["referrer", "referee"])
def test_a_member_erased_while_a_referees_first_purchase_rewards_its_referrer_leaves_no_id(
    store_url: str, erased: int
) -> None:
    _race(store_url, erased, _referred, lambda n, _, referee, engine: _buy(f"P{n}", referee, engine))


def _funded(engine: Engine, n: int, frm: str, to: str) -> None:
    engine.enroll(frm, at=T0)
    engine.enroll(to, at=T0)
    engine.adjust(frm, 5, id=f"A{n}", at=T0, reason="start", actor="clerk")


@pytest.mark.parametrize("erased", [0, 1], ids=["sender", "receiver"])
def test_a_member_erased_while_its_transfer_is_written_leaves_no_id(store_url: str, erased: int) -> None:
    # The sender's part names the receiver (its record), the receiver's part the sender.
    _race(store_url, erased, _funded, lambda n, frm, to, engine: _send(f"T{n}", frm, to, engine))


def _merging(engine: Engine, n: int, survivor: str, absorbed: str) -> None:
    engine.enroll(survivor, at=T0, identifiers=[f"card:5{n:04d}"])
    engine.enroll(absorbed, at=T0, identifiers=[f"card:6{n:04d}"])
    engine.enroll(f"R{n}", at=T0, referred_by=engine.referral_code(absorbed))
    engine.adjust(absorbed, 5, id=f"A{n}", at=T0, reason="start", actor="clerk")


@pytest.mark.parametrize("erased", [0, 1], ids=["survivor", "absorbed"])
def test_a_member_erased_while_its_merge_is_written_leaves_no_id(store_url: str, erased: int) -> None:
    # The absorbed member's part names the survivor (its keys moved, its events and records), the
    # survivor's part the absorbed member (its entries, records and referral), a referee's part both.
    _race(store_url, erased, _merging, lambda n, s, a, engine: _merge(f"M{n}", s, a, engine))


def _coded(codes: dict[str, str], engine: Engine, n: int, referrer: str, referee: str) -> None:
    engine.enroll(referrer, at=T0)
    codes[referrer] = engine.referral_code(referrer)


def _enroll(codes: dict[str, str], n: int, referrer: str, referee: str, engine: Engine) -> object:
    # The referral row names the referrer, whose code the enrollment reads before its own writes
    # (its keys first: the erasure has time to come between).
    keys = [f"card:{referee[1:]}{k:02d}" for k in range(40)]
    return engine.enroll(referee, at=T0, referred_by=codes[referrer], identifiers=keys)


@pytest.mark.parametrize("erased", [0], ids=["referrer"])
def test_a_referrer_erased_while_a_referee_enrolls_with_its_code_leaves_no_id(
    store_url: str, erased: int
) -> None:
    codes: dict[str, str] = {}
    _race(store_url, erased, partial(_coded, codes), partial(_enroll, codes))


def _rewarded(engine: Engine, n: int, referrer: str, referee: str) -> None:
    _referred(engine, n, referrer, referee)
    _buy(f"P{n}", referee, engine)


@pytest.mark.parametrize("erased", [0], ids=["referrer"])
def test_a_referrer_erased_while_its_referees_first_purchase_is_returned_leaves_no_id(
    store_url: str, erased: int
) -> None:
    # The return takes the reward back: the rejected referral and the record owing the referrer's
    # part name the referrer.
    _race(
        store_url,
        erased,
        _rewarded,
        lambda n, _, __, engine: engine.record_return(Return(f"R{n}", f"P{n}", T0)),
    )


def test_a_referrer_and_its_referee_erased_at_once_leave_neither_id(store_url: str) -> None:
    # The referrer's erasure holds the referee (its part renames the referee's row) and the
    # referee's erasure first writes that part if the referrer's first part committed: either
    # order, and both at once, leave no id (a deadlock between the two is retried).
    first, eraser = _engines(store_url)
    pairs = _pairs()
    with first, eraser:
        for n, pair in enumerate(pairs):
            _referred(first, n, *pair)
            _buy(f"P{n}", pair[1], first)
        for n, (referrer, referee) in enumerate(pairs):
            _at_once(
                (first, eraser),
                partial(_erase, f"F{n}", referee),
                partial(_erase, f"E{n}", referrer),
                DELAYS[n % len(DELAYS)],
            )
        assert first.run_due().finished_erasures == 0  # each erasure finished its own parts
        assert first.verify().ok
    assert _left(store_url, [member for pair in pairs for member in pair]) == []
