"""An erasure works on a schema distributed by member (docs/scaling.md), with the cluster
simulated on one PostgreSQL server: a trigger on every table the sharding test lists as
distributed refuses an ``UPDATE`` of its distribution column, as Citus does. The erasures of
members with every kind of row (entries, lots, holds, vouchers, tier state, events, own tallies,
offline uses, kept texts, shares and links, a referral as referee and as referrer, a transfer
each way, a merge) succeed by moving the rows to the pseudonym (schema 23), every figure reads
the same, and no personal value is left in the schema's bytes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from loyalty import Engine, Program, open_store
from loyalty.config import program_from_dict
from loyalty.testing.contract import T0
from loyalty.testing.contract.erasure import PERSONAL_PROGRAM
from loyalty.testing.contract.erasure_ids import PROGRAM, REFEREE, REFERRER, write_referral_history
from tests import shop
from tests.pg import postgres_dsn, schema_of
from tests.raw_bytes import forms, pg_dump
from tests.store.test_erasure_leaves_no_bytes import _assert_absent, _erase_and_compare
from tests.store.test_postgres_migrations import _as_schema_12
from tests.store.test_postgres_sharding import MEMBER_OWNED, NOT_MEMBER_OWNED

pytestmark = pytest.mark.postgres

#: Each distributed table and its distribution column: the member's tables, and ``operations``.
DISTRIBUTED = {**MEMBER_OWNED, **{t: d[3:] for t, d in NOT_MEMBER_OWNED.items() if d.startswith("by ")}}
#: What Citus says to an update of a distribution column.
REFUSED = "modifying the partition value of rows is not allowed"


def _refuse_distribution_updates(schema: str) -> None:
    """A trigger on each distributed table that refuses any ``UPDATE`` setting its distribution
    column (``BEFORE UPDATE OF``: an ``ON CONFLICT ... DO UPDATE`` setting it too)."""
    s = sql.Identifier(schema)
    with psycopg.connect(postgres_dsn()) as conn:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {}.distributed() RETURNS trigger LANGUAGE plpgsql AS $$"
                " BEGIN RAISE EXCEPTION {}; END $$"
            ).format(s, sql.Literal(REFUSED))
        )
        for table, column in DISTRIBUTED.items():
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER distributed BEFORE UPDATE OF {} ON {}.{}"
                    " FOR EACH ROW EXECUTE FUNCTION {}.distributed()"
                ).format(sql.Identifier(column), s, sql.Identifier(table), s)
            )


def test_the_simulated_cluster_refuses_an_update_of_a_distribution_column(schema_url: str) -> None:
    with Engine(Program("Club", "EUR"), open_store(schema_url), clock=lambda: T0) as engine:
        engine.enroll("M1", at=T0)
        engine.adjust("M1", 5, id="fix-1", at=T0, reason="welcome", actor="ops")
    schema = schema_of(schema_url)
    _refuse_distribution_updates(schema)
    for table, column in (("members", "member_id"), ("operations", "key")):
        update = sql.SQL("UPDATE {}.{} SET {} = {} || 'x'").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(column), sql.Identifier(column)
        )
        with (
            psycopg.connect(postgres_dsn()) as conn,
            pytest.raises(psycopg.errors.RaiseException, match=REFUSED),
        ):
            conn.execute(update)


def test_an_erasure_of_a_member_sharing_transfers_and_a_merge_moves_its_rows(schema_url: str) -> None:
    # Its own history (keys, events, purchases, adjustments, a merge of its old account), a
    # referral of M2, transfers each way with M2, M3 merged into it, an offline redemption.
    with Engine(PERSONAL_PROGRAM, open_store(schema_url), clock=lambda: T0) as engine:
        _refuse_distribution_updates(schema_of(schema_url))
        _erase_and_compare(engine)
    _assert_absent(pg_dump(postgres_dsn(), schema_of(schema_url)))


#: :data:`PROGRAM` with a reward bought as a voucher.
SHOP = {
    **PROGRAM,
    "rewards": [{"id": "tote", "name": "A bag", "cost": 15, "gives": "voucher", "valid_for_days": 30}],
}


def _state(engine: Engine, member: str, hidden: dict[str, str]) -> str:
    """What the engine says of ``member`` (under its pseudonym once erased), the text the erasure
    rewrote left out, every pseudonym read as its member's id."""
    member = hidden.get(member, member)
    history = [
        (e.seq, e.kind, e.points, e.balance_after, e.occurred_at, e.source_id) for e in engine.history(member)
    ]
    state: list[Any] = [
        engine.balance(member),
        engine.lots(member),
        engine.holds(member),
        engine.vouchers(member),
        engine.tier(member),
        history,
    ]
    text = repr(state)
    for old, new in hidden.items():
        text = text.replace(new, old)
    return text


def test_erasures_of_a_referee_with_holds_and_vouchers_and_of_its_referrer_move_their_rows(
    schema_url: str,
) -> None:
    # Tier states and reviews, reminders (own tallies), a referral rewarded, a voucher and a hold.
    now: list[datetime] = [T0]
    members = [REFEREE, REFERRER]
    with Engine(program_from_dict(SHOP), open_store(schema_url), clock=lambda: now[0]) as engine:
        _refuse_distribution_updates(schema_of(schema_url))
        write_referral_history(engine, now)
        engine.redeem_reward(REFEREE, "tote", id="RW1", at=now[0])
        engine.hold(REFEREE, 5, id="H1", at=now[0], ttl=timedelta(days=1))
        assert engine.holds(REFEREE) and engine.vouchers(REFEREE)
        before = [_state(engine, member, {}) for member in members]
        figures, report = engine.figures(T0, now[0]), engine.verify()
        assert report.ok
        hidden: dict[str, str] = {}
        for number, member in enumerate(members):
            erased = engine.erase(member, id=f"erase-{number}", at=now[0], reason="GDPR", actor="dpo")
            hidden[member] = erased.pseudonym
        assert [_state(engine, member, hidden) for member in members] == before
        assert (engine.figures(T0, now[0]), engine.verify()) == (figures, report)
    dump = pg_dump(postgres_dsn(), schema_of(schema_url))
    assert [form for value in members for form in forms(value) if form in dump] == []


def test_an_erasure_moves_the_shares_and_links_kept_for_entries_older_than_schemas_13_and_14(
    schema_url: str,
) -> None:
    # The entries written before schemas 13 and 14 keep their rule shares and chain links apart
    # (kept_shares, kept_links), which an upgrade from schema 12 fills; figures by rule read them.
    shop.record_bonuses(open_store(schema_url))
    schema = schema_of(schema_url)
    _as_schema_12(schema)
    s = sql.Identifier(schema)
    kept = sql.SQL(
        "SELECT 'shares', member_id, count(*) FROM {s}.kept_shares GROUP BY member_id"
        " UNION ALL SELECT 'links', member_id, count(*) FROM {s}.kept_links GROUP BY member_id ORDER BY 1"
    ).format(s=s)
    day = (shop.START, shop.START + timedelta(days=1))
    with Engine(shop.BONUS, open_store(schema_url), clock=lambda: shop.START) as engine:
        _refuse_distribution_updates(schema)
        with psycopg.connect(postgres_dsn()) as conn:
            before = conn.execute(kept).fetchall()
        assert before == [("links", "m", 2), ("shares", "m", 2)]
        balance, figures, report = engine.balance("m"), engine.figures(*day), engine.verify()
        hidden = engine.erase("m", id="E1", at=shop.START, reason="GDPR", actor="dpo").pseudonym
        assert (engine.balance(hidden), engine.figures(*day), engine.verify()) == (balance, figures, report)
    with psycopg.connect(postgres_dsn()) as conn:
        assert conn.execute(kept).fetchall() == [(kind, hidden, count) for kind, _, count in before]
