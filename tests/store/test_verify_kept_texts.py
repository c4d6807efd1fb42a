"""A text digest kept for an erased entry stands for its text only where the text reads as an
erasure leaves it: a row added to ``kept_texts`` by hand does not make an entry's reason and
actor editable unnoticed, on SQLite and PostgreSQL (whose guards let the text of an entry with a
kept digest change)."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from psycopg import sql

from loyalty import Engine, Line, Program, Purchase, open_store
from loyalty.chains import Break, read_heads, text_digest, write_heads
from loyalty.store import Store
from tests.pg import admin, postgres_dsn, schema_of

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
CLUB = Program("Club", "EUR")


def _adjusted(store: Store) -> tuple[Engine, bytes, str]:
    """M1 given 5 points and 7 by a clerk; the first entry's text digest and the heads exported."""
    engine = Engine(CLUB, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.adjust("M1", 5, id="A1", at=T0, reason="welcome", actor="clerk")
    engine.adjust("M1", 7, id="A2", at=T0, reason="welcome", actor="clerk")
    heads = io.StringIO()
    write_heads(engine.heads(), heads)
    return engine, text_digest(engine.history("M1")[0]), heads.getvalue()


def _forged(forge: Callable[[int, bytes], None], store: Store) -> tuple[str, list[Break], list[Break]]:
    engine, digest, heads = _adjusted(store)
    seq = engine.history("M1")[0].seq
    forge(seq, digest)
    report = engine.verify(heads=read_heads(io.StringIO(heads)))
    return engine.history("M1")[0].reason, list(report.breaks), [Break("M1", seq, "link")]


def test_a_forged_kept_text_does_not_hide_an_edit_of_a_purchases_reason(tmp_path: Path) -> None:
    path = tmp_path / "purchase.db"
    with closing(open_store(f"sqlite:///{path}")) as store:
        engine = Engine(CLUB, store, clock=lambda: T0)
        engine.enroll("M1", at=T0)
        engine.record_purchase(Purchase("P1", "M1", T0, [Line("cake", 1, Decimal("40.00"))], "EUR"))
        earned = engine.history("M1")[0]
        with closing(sqlite3.connect(path)) as conn:
            conn.execute(
                "INSERT INTO kept_texts (seq, digest) VALUES (?, ?)", (earned.seq, text_digest(earned))
            )
            conn.execute("UPDATE entries SET reason = 'refund approved' WHERE seq = ?", (earned.seq,))
            conn.commit()
        # An erasure keeps a purchase's reason: its text is hashed as it reads.
        assert list(engine.verify().breaks) == [Break("M1", earned.seq, "link")]


def test_a_forged_kept_text_does_not_hide_an_edit_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "forged.db"

    def forge(seq: int, digest: bytes) -> None:
        with closing(sqlite3.connect(path)) as conn:
            conn.execute("INSERT INTO kept_texts (seq, digest) VALUES (?, ?)", (seq, digest))
            conn.execute("UPDATE entries SET reason = 'refund approved', actor = 'ceo' WHERE seq = ?", (seq,))
            conn.commit()

    with closing(open_store(f"sqlite:///{path}")) as store:
        reason, breaks, expected = _forged(forge, store)
    assert reason == "refund approved"  # the guards let it through: the chain must not
    assert breaks == expected


@pytest.mark.postgres
def test_a_forged_kept_text_does_not_hide_an_edit_on_postgres(store_url: str) -> None:
    postgres_dsn()
    schema = sql.Identifier(schema_of(store_url))

    def forge(seq: int, digest: bytes) -> None:
        admin(
            sql.SQL("INSERT INTO {}.kept_texts (seq, member_id, digest) VALUES ({}, 'M1', {})").format(
                schema, sql.Literal(seq), sql.Literal(digest)
            )
        )
        admin(
            sql.SQL("UPDATE {}.entries SET reason = 'refund approved', actor = 'ceo' WHERE seq = {}").format(
                schema, sql.Literal(seq)
            )
        )

    with closing(open_store(store_url)) as store:
        reason, breaks, expected = _forged(forge, store)
    assert reason == "refund approved"
    assert breaks == expected
