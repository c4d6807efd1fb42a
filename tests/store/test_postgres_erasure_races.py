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
from loyalty.store.postgres import open_postgres
from loyalty.testing.contract import T0
from loyalty.testing.contract.erasure_ids import PROGRAM
from tests.pg import postgres_dsn, schema_of

pytestmark = pytest.mark.postgres

#: Races per test, and the delays (seconds) the erasure starts after the other command, in turn.
ROUNDS = 12
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


@pytest.mark.parametrize("erased", ["referrer", "referee"])
def test_a_member_erased_while_a_referees_first_purchase_rewards_its_referrer_leaves_no_id(
    store_url: str, erased: str
) -> None:
    buyer, eraser = _engines(store_url)
    pairs = _pairs()
    gone = [pair[0] if erased == "referrer" else pair[1] for pair in pairs]
    with buyer, eraser:
        for referrer, referee in pairs:
            buyer.enroll(referrer, at=T0)
            buyer.enroll(referee, at=T0, referred_by=buyer.referral_code(referrer))
        for n, ((_, referee), member) in enumerate(zip(pairs, gone, strict=True)):
            buy, erase = partial(_buy, f"P{n}", referee), partial(_erase, f"E{n}", member)
            _at_once((buyer, eraser), buy, erase, DELAYS[n % len(DELAYS)])
        buyer.run_due()
        assert buyer.verify().ok
    assert _left(store_url, gone) == []


def test_a_sender_erased_while_its_transfer_is_received_leaves_no_id(store_url: str) -> None:
    sender, eraser = _engines(store_url)
    pairs = _pairs()
    with sender, eraser:
        for n, (frm, to) in enumerate(pairs):
            sender.enroll(frm, at=T0)
            sender.enroll(to, at=T0)
            sender.adjust(frm, 5, id=f"A{n}", at=T0, reason="start", actor="clerk")
        for n, (frm, to) in enumerate(pairs):
            send, erase = partial(_send, f"T{n}", frm, to), partial(_erase, f"E{n}", frm)
            _at_once((sender, eraser), send, erase, DELAYS[n % len(DELAYS)])
        sender.run_due()
        assert sender.verify().ok
    assert _left(store_url, [frm for frm, _ in pairs]) == []
