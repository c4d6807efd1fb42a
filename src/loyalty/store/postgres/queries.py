"""Every statement of the PostgreSQL adapter, composed once per schema."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from loyalty.store.postgres.erasure_queries import ErasureQueries
from loyalty.store.postgres.migrations import CHAIN, MARK, MIGRATIONS, REPACK, SHARES
from loyalty.store.postgres.prepared import ENTRY_TYPES, Prepared
from loyalty.store.rows import (
    ALLOWANCE_COLUMNS,
    ENTRY_COLUMNS,
    EVENT_COLUMNS,
    HOLD_COLUMNS,
    IDENTIFIER_COLUMNS,
    LOT_COLUMNS,
    MEMBER_COLUMNS,
    PROGRAM_COLUMNS,
    REFERRAL_COLUMNS,
    TIER_COLUMNS,
    USE_COLUMNS,
    VOUCHER_COLUMNS,
)
from loyalty.transfers import PARTED_KINDS

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    Connection = psycopg.Connection[tuple[Any, ...]]


class Queries(ErasureQueries):
    """Every statement, composed once with the schema as an identifier."""

    def __init__(self, schema: str, *, prepare: bool = True) -> None:
        from psycopg import sql

        #: What the advisory lock of a member's keys hashes before its id (one set per schema).
        self.lock_prefix = f"{schema}.member:"
        #: The entries table, as pg_get_serial_sequence names it (the name needs no quotes).
        self.entries_table = f"{schema}.entries"
        names = {
            "s": sql.Identifier(schema),
            "member_columns": sql.SQL(MEMBER_COLUMNS),
            "entry_columns": sql.SQL(ENTRY_COLUMNS),
            "program_columns": sql.SQL(PROGRAM_COLUMNS),
            "lot_columns": sql.SQL(LOT_COLUMNS),
            "hold_columns": sql.SQL(HOLD_COLUMNS),
            "tier_columns": sql.SQL(TIER_COLUMNS),
            "event_columns": sql.SQL(EVENT_COLUMNS),
            "referral_columns": sql.SQL(REFERRAL_COLUMNS),
            "identifier_columns": sql.SQL(IDENTIFIER_COLUMNS),
            "voucher_columns": sql.SQL(VOUCHER_COLUMNS),
            "allowance_columns": sql.SQL(ALLOWANCE_COLUMNS),
            "use_columns": sql.SQL(USE_COLUMNS),
            # The ledger feed's advisory key (an int4, first of two; see below).
            "feed_key": sql.Literal(zlib.crc32(f"{schema}.ledger feed".encode()) & 0x7FFFFFFF),
        }

        def q(template: str) -> sql.Composed:
            return sql.SQL(template).format(**names)

        # A purchase's statements, prepared on each connection unless ``prepare`` is off.
        self.prepared = Prepared(on=prepare)
        prepared = self.prepared.statement

        self.member = q("SELECT {member_columns} FROM {s}.members WHERE member_id = %s")
        self.member_ids = q(
            'SELECT member_id FROM {s}.members WHERE member_id COLLATE "C" > %s'
            ' ORDER BY member_id COLLATE "C" LIMIT %s'
        )
        # The member's own tallies live in its row from now on: any kept before it enrolled
        # (only a hand-made key can be) move in with it.
        self.add_member = q(
            "WITH moved AS (DELETE FROM {s}.member_tallies WHERE member_id = %s AND key = ANY(%s::text[])"
            " RETURNING key, count, points)"
            " INSERT INTO {s}.members ({member_columns}, tallies) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
            " (SELECT json_object_agg(split_part(key, '|', 1), json_build_array(count, points::text))::text"
            " FROM moved)) RETURNING tallies"
        )
        self.update_member = q(
            "UPDATE {s}.members SET birthday = %s, attributes = %s, birthday_changed_at = %s,"
            " birthday_changed_offset = %s, status = %s WHERE member_id = %s"
        )
        self.balance = q("SELECT balance FROM {s}.members WHERE member_id = %s")
        # The row's tallies and the member's status come with the lock: a purchase reads them next
        # (and its enrollment, which the time guards may check).
        # A member's own lock is FOR NO KEY UPDATE: it does not wait for another member's part
        # holding the member (FOR KEY SHARE: keep_named), which only FOR UPDATE (lock_erasing: an
        # erasure, and its DELETE of the row, or a change of status) waits for.
        self.balance_for_update = q(
            "SELECT balance, tallies, status, enrolled_at, enrolled_offset FROM {s}.members"
            " WHERE member_id = %s FOR NO KEY UPDATE"
        )
        self.balance_for_erasure = q(
            "SELECT balance, tallies, status, enrolled_at, enrolled_offset FROM {s}.members"
            " WHERE member_id = %s FOR UPDATE"
        )
        self.hold_member = q("SELECT status FROM {s}.members WHERE member_id = %s FOR KEY SHARE")
        self.enrolled_at = q("SELECT enrolled_at, enrolled_offset FROM {s}.members WHERE member_id = %s")
        self.member_status = q("SELECT status FROM {s}.members WHERE member_id = %s")
        self.row_tallies = q("SELECT member_id, tallies FROM {s}.members WHERE member_id = ANY(%s::text[])")
        # Enrolling a member and adding to one of its keys while it is not enrolled take this
        # lock (one per member id, held to the end of the transaction): an enrolment that takes
        # the member's keys out of the table cannot miss one a writer has not committed yet.
        self.lock_member_keys = q(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s || m, 0))"
            ' FROM (SELECT m FROM unnest(%s::text[]) AS t(m) ORDER BY m COLLATE "C") AS ordered'
        )
        # A write unit of work adds to what it reads: the rows are locked, in one order.
        self.row_tallies_for_update = q(
            "SELECT member_id, tallies FROM {s}.members WHERE member_id = ANY(%s::text[])"
            ' ORDER BY member_id COLLATE "C" FOR NO KEY UPDATE'
        )
        self.put_row_tallies = q(
            "UPDATE {s}.members AS m SET tallies = d.t FROM unnest(%s::text[], %s::text[]) AS d(m, t)"
            " WHERE m.member_id = d.m"
        )
        # Each part through its partial index.
        self.balance_by_state = q(
            "SELECT balance,"
            " (SELECT COALESCE(SUM(remaining), 0) FROM {s}.lots WHERE member_id = %(m)s"
            " AND remaining <> 0 AND expires_at IS NOT NULL AND expires_at <= %(now)s),"
            " (SELECT COALESCE(SUM(remaining), 0) FROM {s}.lots WHERE member_id = %(m)s"
            " AND remaining <> 0 AND vests_at IS NOT NULL AND vests_at > %(now)s"
            " AND (expires_at IS NULL OR expires_at > %(now)s)),"
            " (SELECT COALESCE(SUM(points), 0) FROM {s}.holds WHERE member_id = %(m)s AND status = 'open')"
            " FROM {s}.members WHERE member_id = %(m)s"
        )
        # One segment of the draw order (loyalty.store.spending) through lots_spendable.
        spendable = (
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %(m)s AND remaining > 0"
            " AND (vests_at IS NOT NULL AND vests_at > %(now)s) = %(pending)s"
        )
        self.spendable_dated = q(
            f"{spendable} AND (expires_at, lot) > (%(expires)s, %(lot)s) ORDER BY expires_at, lot LIMIT %(n)s"
        )
        # Ordered by expires_at too (NULL in every row): the index's own order, so the planner
        # takes it rather than the primary key and a filter on the member.
        self.spendable_undated = q(
            f"{spendable} AND expires_at IS NULL AND lot > %(lot)s ORDER BY expires_at, lot LIMIT %(n)s"
        )
        # The oldest-earned order: the member's lots through lots_spendable, sorted (no index has it).
        self.spendable_earned = q(
            f"{spendable} AND (expires_at IS NULL OR expires_at > %(now)s)"
            " AND (earned_at, lot) > (%(earned)s, %(lot)s) ORDER BY earned_at, lot LIMIT %(n)s"
        )
        # One round trip: the UPDATE takes the member's row lock (if balance()
        # has not already) before the entry draws its seq, so per member the
        # seq order is also the commit order and paging by seq never skips.
        # A credit opens its lot in the same statement. append_numbered is the same with the
        # entry's number drawn beforehand under the member's lock (operation_and_lock): it goes
        # out with the commit, since nothing waits for its answer.
        append = (
            "WITH moved AS ("
            " UPDATE {{s}}.members AS m"
            " SET balance = m.balance + %(points)s, tallies = COALESCE(%(tallies)s::text, m.tallies),"
            # The chain head moves to the entry (loyalty.chains.link, computed here from the head
            # before): its number drawn here, under the member's row lock the unit of work holds.
            " (chain_seq, chain_link) = (SELECT n.seq, substring(sha256(m.chain_link || int8send(n.seq)"
            " || int8send(m.balance + %(points)s) || %(digest)s) FROM 1 FOR 16)"
            " FROM (SELECT {seq}::bigint AS seq) AS n)"
            " WHERE m.member_id = %(member_id)s RETURNING m.balance, m.chain_seq, m.chain_link),"
            " entry AS ("
            " INSERT INTO {{s}}.entries (seq, member_id, kind, points, balance_after, occurred_at,"
            " occurred_offset, recorded_at, recorded_offset, source_id, reason, actor, rule, program_version,"
            " vests_at, expires_at, draws, rolling, redates, rule_shares, link) OVERRIDING SYSTEM VALUE"
            " SELECT moved.chain_seq, %(member_id)s, %(kind)s, %(points)s, moved.balance,"
            " %(occurred_at)s, %(occurred_offset)s, %(recorded_at)s, %(recorded_offset)s,"
            " %(source_id)s, %(reason)s, %(actor)s, %(rule)s, %(program_version)s,"
            " %(vests_at)s, %(expires_at)s, %(draws)s, %(rolling)s, %(redates)s, %(rule_shares)s,"
            " moved.chain_link FROM moved"
            " RETURNING seq, balance_after),"
            " lot AS ("
            " INSERT INTO {{s}}.lots ({{lot_columns}})"
            " SELECT seq, %(member_id)s, %(opens)s, %(opens)s, %(occurred_at)s, %(occurred_offset)s,"
            " %(vests_at)s, %(expires_at)s, %(rolling)s FROM entry WHERE %(opens)s <> 0)"
            " SELECT seq, balance_after FROM entry"
        )
        self.append = prepared(
            "append",
            q(append.format(seq="nextval(pg_get_serial_sequence(%(entries)s, 'seq'))")),
            {**ENTRY_TYPES, "entries": "text"},
        )
        self.append_numbered = prepared(
            "append_numbered", q(append.format(seq="%(seq)s")), {**ENTRY_TYPES, "seq": "bigint"}
        )
        # Entries with their links (those kept before schema 14 have theirs in kept_links), and heads.
        # And the text digest an erasure kept of an entry whose text it rewrote.
        self.chain_links = q(
            "SELECT {entry_columns}, COALESCE(e.link,"
            " (SELECT k.link FROM {s}.kept_links AS k WHERE k.seq = e.seq AND k.member_id = e.member_id)),"
            " (SELECT t.digest FROM {s}.kept_texts AS t WHERE t.seq = e.seq AND t.member_id = e.member_id)"
            " FROM {s}.entries AS e WHERE e.seq > %s ORDER BY e.seq LIMIT %s"
        )
        self._compose_erasure(q)
        self.schema = schema
        self.chain_heads = q(
            "SELECT member_id, chain_seq, chain_link, balance FROM {s}.members"
            ' WHERE member_id COLLATE "C" > %s ORDER BY member_id COLLATE "C" LIMIT %s'
        )
        self.unchained = q("SELECT {entry_columns} FROM {s}.entries WHERE seq > %s ORDER BY seq LIMIT %s")
        self.keep_links = q(
            "INSERT INTO {s}.kept_links (seq, link) SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        )
        self.put_heads = q(
            "UPDATE {s}.members AS m SET chain_seq = h.seq, chain_link = h.link"
            " FROM unnest(%s::text[], %s::bigint[], %s::bytea[]) AS h(member_id, seq, link)"
            " WHERE m.member_id = h.member_id"
        )
        self.lots_by_id = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND lot = ANY(%s::bigint[])"
            " ORDER BY lot FOR UPDATE"
        )
        # By the member too: the whole primary key, and the one shard that holds the member's lots.
        self.redate = q(
            "UPDATE {s}.lots AS l SET expires_at = d.e, rolling = %s"
            " FROM unnest(%s::bigint[], %s::timestamptz[]) AS d(lot, e)"
            " WHERE l.lot = d.lot AND l.member_id = %s"
        )
        self.draw = q(
            "UPDATE {s}.lots AS l SET remaining = l.remaining + d.p"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS d(lot, p) WHERE l.lot = d.lot AND l.member_id = %s"
        )
        self.add_hold = q(
            "INSERT INTO {s}.holds ({hold_columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self.hold = q("SELECT {hold_columns} FROM {s}.holds WHERE hold_id = %s")
        self.open_holds = q(
            "SELECT {hold_columns} FROM {s}.holds WHERE member_id = %s AND status = 'open'"
            ' ORDER BY hold_id COLLATE "C"'
        )
        self.due_holds = q(
            "SELECT {hold_columns} FROM {s}.holds WHERE status = 'open' AND expires_at <= %s"
            ' ORDER BY expires_at, hold_id COLLATE "C" LIMIT %s'
        )
        # The status test is the final arbiter: a hold ends exactly once.
        self.end_hold = q(
            "UPDATE {s}.holds SET status = %s, captured = %s, ended_at = %s"
            " WHERE hold_id = %s AND status = 'open' RETURNING {hold_columns}"
        )
        # A member's open lots: those with points left (lots_spendable), then its debts (lots_debts).
        self.lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %(m)s AND remaining > 0"
            " UNION ALL SELECT {lot_columns} FROM {s}.lots WHERE member_id = %(m)s AND remaining < 0"
            " ORDER BY lot"
        )
        self.lot = q("SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND lot = %s")
        self.open_lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE lot > %s AND remaining <> 0 ORDER BY lot LIMIT %s"
        )
        self.referral_code = q("SELECT code FROM {s}.referral_codes WHERE member_id = %s")
        self.code_owner = q("SELECT member_id FROM {s}.referral_codes WHERE code = %s")
        self.add_referral_code = q("INSERT INTO {s}.referral_codes (code, member_id) VALUES (%s, %s)")
        self.add_identifier = q(
            "INSERT INTO {s}.identifiers ({identifier_columns}) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        )
        self.identifier = q("SELECT {identifier_columns} FROM {s}.identifiers WHERE kind = %s AND value = %s")
        self.identifiers = q(
            "SELECT {identifier_columns} FROM {s}.identifiers WHERE member_id = %s"
            ' ORDER BY since, kind COLLATE "C", value COLLATE "C"'
        )
        self.update_identifier = q(
            "UPDATE {s}.identifiers SET member_id = %s, since = %s, since_offset = %s, status = %s,"
            " replaced_by = %s WHERE kind = %s AND value = %s"
        )
        self.referral = q("SELECT {referral_columns} FROM {s}.referrals WHERE referee = %s")
        self.referrals_by = q(
            'SELECT {referral_columns} FROM {s}.referrals WHERE referrer = %s ORDER BY referee COLLATE "C"'
        )
        self.put_referral = q(
            "INSERT INTO {s}.referrals ({referral_columns})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (referee) DO UPDATE SET referrer = excluded.referrer, code = excluded.code,"
            " referred_at = excluded.referred_at, referred_offset = excluded.referred_offset,"
            " state = excluded.state, reason = excluded.reason, purchase_id = excluded.purchase_id,"
            " referrer_points = excluded.referrer_points, referee_points = excluded.referee_points,"
            " referrer_lot = excluded.referrer_lot, referee_lot = excluded.referee_lot,"
            " vests_at = excluded.vests_at, decided_at = excluded.decided_at"
        )
        # Each rule's points of a period's entries: an entry of one rule gives it all of them, an
        # entry of several each rule its share (rule_shares, or kept_shares for those kept before).
        self.period_rules = q(
            "SELECT rule, SUM(points) FROM ("
            " SELECT rule, points FROM {s}.entries WHERE occurred_at >= %(lo)s AND occurred_at < %(hi)s"
            " AND rule IS NOT NULL AND position(' ' in rule) = 0"
            " UNION ALL SELECT j.key, j.value::bigint FROM {s}.entries AS e CROSS JOIN LATERAL"
            " jsonb_each_text(COALESCE(e.rule_shares,"
            " (SELECT k.rule_shares FROM {s}.kept_shares AS k WHERE k.seq = e.seq"
            " AND k.member_id = e.member_id))::jsonb) AS j"
            " WHERE e.occurred_at >= %(lo)s AND e.occurred_at < %(hi)s AND position(' ' in e.rule) > 0"
            ") AS shares GROUP BY rule"
        )
        self.period_kinds = q(
            "SELECT kind, SUM(points), SUM(GREATEST(points, 0)) FROM {s}.entries"
            " WHERE occurred_at >= %s AND occurred_at < %s GROUP BY kind"
        )
        self.period_purchases = q(
            # A record starts with its member and amount (loyalty.records.pack_operation).
            "WITH now AS ("
            " SELECT body::jsonb ->> 0 AS member, (body::jsonb ->> 1)::numeric AS amount FROM {s}.operations"
            " WHERE kind = 'purchase' AND purchased_at >= %(lo)s AND purchased_at < %(hi)s),"
            " prior AS (SELECT body::jsonb ->> 0 AS member FROM {s}.operations"
            " WHERE kind = 'purchase' AND purchased_at >= %(first)s AND purchased_at < %(lo)s)"
            " SELECT (SELECT COUNT(*) FROM {s}.members WHERE enrolled_at < %(hi)s),"
            " (SELECT COUNT(*) FROM now), (SELECT COUNT(DISTINCT member) FROM now),"
            " (SELECT COUNT(DISTINCT member) FROM prior),"
            " (SELECT COUNT(*) FROM (SELECT member FROM now INTERSECT SELECT member FROM prior) AS both_),"
            " (SELECT COALESCE(SUM(amount), 0) FROM now)"
        )
        self.ledger_span = q("SELECT MIN(occurred_at), MAX(occurred_at) FROM {s}.entries")
        self.points_before = q("SELECT COALESCE(SUM(points), 0) FROM {s}.entries WHERE occurred_at < %s")
        self.points_before_from_total = q(
            "SELECT (SELECT COALESCE(SUM(balance), 0) FROM {s}.members)"
            " - (SELECT COALESCE(SUM(points), 0) FROM {s}.entries WHERE occurred_at >= %s)"
        )
        self.claim_events = q("UPDATE {s}.outbox_head SET last = last + %s RETURNING last")
        self.add_events = q(
            "INSERT INTO {s}.events ({event_columns})"
            " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::integer[],"
            " %s::timestamptz[], %s::integer[], %s::text[], %s::text[])"
        )
        self.events = q("SELECT {event_columns} FROM {s}.events WHERE seq > %s ORDER BY seq LIMIT %s")
        # The ledger feed (loyalty.store.postgres.feed): every writing unit of work holds the
        # schema's feed key with its backend's pid (advisory locks of two int4 keys, apart from
        # the one-bigint keys above); a reader lists the holders and waits for each in turn.
        self.hold_feed = prepared(
            "hold_feed", q("SELECT pg_advisory_xact_lock({feed_key}, pg_backend_pid())"), []
        )
        self.feed_horizon = q(
            "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence(%s, 'seq')::regclass), 0)"
        )
        self.feed_writers = q(
            "SELECT objid::text::int FROM pg_locks WHERE locktype = 'advisory' AND classid = {feed_key}::oid"
            " AND objsubid = 2 AND granted AND pid <> pg_backend_pid()"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        # Sent outside any transaction (before the reader's BEGIN): a statement of its own, whose
        # transaction lock is dropped when it ends, however it ends.
        self.feed_wait = q("SELECT pg_advisory_xact_lock_shared({feed_key}, %s::int)")
        self.entries = q(
            "SELECT {entry_columns} FROM {s}.entries WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
        )
        self.tier_state = q("SELECT {tier_columns} FROM {s}.tier_states WHERE member_id = %s")
        self.put_tier_state = q(
            "INSERT INTO {s}.tier_states ({tier_columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (member_id) DO UPDATE SET tier = excluded.tier, earned = excluded.earned,"
            " since = excluded.since, review_at = excluded.review_at, due_at = excluded.due_at,"
            " floor = excluded.floor, floor_until = excluded.floor_until, reached = excluded.reached"
        )
        self.due_tier_states = q(
            "SELECT {tier_columns} FROM {s}.tier_states WHERE due_at IS NOT NULL AND due_at <= %s"
            ' ORDER BY due_at, member_id COLLATE "C" LIMIT %s'
        )
        self.pending_lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND remaining <> 0"
            " AND vests_at IS NOT NULL AND vests_at > %s ORDER BY lot"
        )
        self.due_lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE remaining <> 0"
            " AND expires_at IS NOT NULL AND expires_at <= %s ORDER BY expires_at, lot LIMIT %s"
        )
        self.member_due_lots = q(
            "SELECT {lot_columns} FROM {s}.lots WHERE member_id = %s AND remaining <> 0"
            " AND expires_at IS NOT NULL AND expires_at <= %s ORDER BY expires_at, lot LIMIT %s"
        )
        self.history = q(
            "SELECT {entry_columns} FROM {s}.entries WHERE member_id = %s AND seq > %s ORDER BY seq LIMIT %s"
        )
        self.operation = q(
            "SELECT kind, body, recorded_at, recorded_offset FROM {s}.operations WHERE key = %s"
        )
        # The lookup and the member's row lock in one statement (one row, whether or not either
        # is found), the lock taken whatever the lookup finds, which a retry does not mind. One
        # statement, so that the member the lookup finds is the one it locked (a member enrolled
        # between two statements would be found unlocked); the entry number is drawn in the
        # outer select, once the materialized CTE holds the lock, so per member the number order
        # is still the commit order. None for a member with a pending referral: its first purchase
        # numbers its entries after holding its referrer, whose status it reads (keep_named,
        # loyalty.service.locks.lock_status); a number drawn and not used would be a gap.
        self.operation_and_lock = prepared(
            "operation_and_lock",
            q(
                "WITH locked AS MATERIALIZED ("
                " SELECT balance, tallies, status, enrolled_at, enrolled_offset FROM {s}.members"
                " WHERE member_id = %s FOR NO KEY UPDATE)"
                " SELECT o.kind, o.body, o.recorded_at, o.recorded_offset, l.balance, l.tallies, l.status,"
                " l.enrolled_at, l.enrolled_offset,"
                " CASE WHEN l.balance IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {s}.referrals AS r"
                " WHERE r.referee = %s AND r.state = 'pending')"
                " THEN nextval(pg_get_serial_sequence(%s, 'seq')) END"
                " FROM (SELECT 1) AS one LEFT JOIN {s}.operations AS o ON o.key = %s"
                " LEFT JOIN locked AS l ON true"
            ),
            ["text", "text", "text", "text"],
        )
        # Transfers whose sender's part is kept without the receiver's (a transfer's record is
        # kept whole: [member, amount, 0, request, result]).
        # Both name the kinds of operations_parts (the partial index of the records of commands
        # written in parts: loyalty.transfers.PARTED_KINDS), so that a generic plan of the
        # prepared statement, which knows no kind, still knows the index holds every row wanted.
        parted = f"kind IN ({', '.join(repr(kind) for kind in PARTED_KINDS)})"
        self.unreceived_transfers = q(
            f"SELECT key FROM {{s}}.operations AS o WHERE kind = 'transfer' AND {parted}"  # noqa: S608
            " AND (body::jsonb -> 4 -> 'runs') IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM {s}.operations AS r WHERE r.key = o.key || %s) ORDER BY key LIMIT %s"
        )
        # Commands written in parts whose first part is kept without the second (any other kind
        # is scanned for).
        find = (
            "SELECT key FROM {{s}}.operations AS o WHERE kind = %s{parted} AND NOT EXISTS"
            " (SELECT 1 FROM {{s}}.operations AS r WHERE r.key = o.key || %s) ORDER BY key LIMIT %s"
        )
        self.unfinished_parts = q(find.format(parted=f" AND {parted}"))
        self.unfinished_parts_scanned = q(find.format(parted=""))
        # A page of the purchases from the first, or after a place, by when they were recorded,
        # each with whether an entry has its key as its source (loyalty.store.no_entry): a walk of
        # operations_purchase_order (schema 22), whose expressions these are, from the place on.
        bought = "COALESCE(purchased_at, '0001-01-01 00:00:00+00'::timestamptz)"
        # The probe for an entry is a lateral read of one, not EXISTS: the planner would hash every
        # entry for a page's EXISTS (a read of the whole ledger a page).
        page = (
            "SELECT c.key, c.recorded_at, c.bought, x.one IS NOT NULL, c.body, c.recorded_offset"
            " FROM (SELECT key, body, recorded_at, recorded_offset, {bought} AS bought FROM {{s}}.operations"
            " WHERE kind = 'purchase'{after} ORDER BY recorded_at, {bought}, key COLLATE \"C\" LIMIT %s) AS c"
            " LEFT JOIN LATERAL (SELECT 1 AS one FROM {{s}}.entries AS e"
            " WHERE e.member_id = (c.body::json ->> 0) AND e.source_id = c.key LIMIT 1) AS x ON true"
            ' ORDER BY c.recorded_at, c.bought, c.key COLLATE "C"'
        )
        self.purchases_without_entry_first = q(page.format(bought=bought, after=""))
        after = f' AND (recorded_at, {bought}, key COLLATE "C") > (%s, %s, %s)'
        self.purchases_without_entry = q(page.format(bought=bought, after=after))
        self.add_operation = prepared(
            "add_operation",
            q(
                "INSERT INTO {s}.operations (key, kind, body, recorded_at, recorded_offset, purchased_at)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
            ),
            ["text", "text", "text", "timestamptz", "integer", "timestamptz"],
        )
        # A page of the records kept before schema 7, through the primary key's index.
        self.unpacked = q(
            "SELECT key, kind, request, result FROM {s}.operations WHERE key > %s ORDER BY key LIMIT %s"
        )
        self.repack = q(
            "UPDATE {s}.operations AS o SET body = p.body FROM unnest(%s::text[], %s::text[]) AS p(key, body)"
            " WHERE o.key = p.key"
        )
        # A page of the entries of several rules kept before schema 13, with their commands' records.
        self.unshared = q(
            "SELECT e.seq, e.rule, e.points, e.source_id, o.body FROM {s}.entries AS e"
            " LEFT JOIN {s}.operations AS o ON o.key = e.source_id"
            " WHERE e.seq > %s AND position(' ' in e.rule) > 0 ORDER BY e.seq LIMIT %s"
        )
        # Migration 20: a page of the keys of a purchase's or lot's tallies kept without their
        # member, the members of their purchases and lots, and the move of each under its member.
        self.unmarked = q(
            "SELECT key FROM {s}.tallies WHERE key > %s AND split_part(key, '|', 1)"
            " IN ('returned', 'taken', 'paid', 'refunded', 'reminded') ORDER BY key LIMIT %s"
        )
        self.purchase_records = q(
            "SELECT key, body FROM {s}.operations WHERE kind = 'purchase' AND key = ANY(%s::text[])"
        )
        self.lot_members = q("SELECT seq, member_id FROM {s}.entries WHERE seq = ANY(%s::bigint[])")
        self.mark_tallies = q(
            "WITH moved AS (DELETE FROM {s}.tallies AS t USING unnest(%s::text[], %s::text[], %s::text[])"
            " AS u(k, m, n) WHERE t.key = u.k RETURNING u.m, u.n, t.count, t.points)"
            " INSERT INTO {s}.member_tallies (member_id, key, count, points) SELECT * FROM moved"
        )
        self.keep_shares = q(
            "INSERT INTO {s}.kept_shares (seq, rule_shares) SELECT * FROM unnest(%s::bigint[], %s::text[])"
        )
        self.tallies = q("SELECT key, count, points FROM {s}.tallies WHERE key = ANY(%s::text[])")
        # A member's own tallies (loyalty.store.owned_tallies): a key names its member, so the keys
        # alone say which rows; the members let the primary key (and on a cluster, the shards) be
        # probed by member.
        member_tallies = (
            "SELECT key, count, points FROM {s}.member_tallies"
            " WHERE member_id = ANY(%s::text[]) AND key = ANY(%s::text[])"
        )
        self.member_tallies = q(member_tallies)
        self.both_tallies = q(
            member_tallies  # noqa: S608 (constant text)
            + " UNION ALL SELECT key, count, points FROM {s}.tallies WHERE key = ANY(%s::text[])"
        )
        # for_update: first make sure every key has a row (a missing one cannot
        # be locked), then lock them all. Both go in one byte-wise order
        # (COLLATE "C", which is also Python's str order) so writers of
        # overlapping key sets never deadlock.
        self.create_tallies = q(
            "INSERT INTO {s}.tallies (key) SELECT k FROM unnest(%s::text[]) AS t(k)"
            ' ORDER BY k COLLATE "C" ON CONFLICT DO NOTHING'
        )
        self.tallies_for_update = q(
            "SELECT key, count, points FROM {s}.tallies WHERE key = ANY(%s::text[])"
            ' ORDER BY key COLLATE "C" FOR UPDATE'
        )
        # A member's own, likewise (before the tallies table's, in every unit of work that locks both).
        self.create_member_tallies = q(
            "INSERT INTO {s}.member_tallies (member_id, key)"
            " SELECT m, k FROM unnest(%s::text[], %s::text[]) AS t(m, k)"
            ' ORDER BY m COLLATE "C", k COLLATE "C" ON CONFLICT DO NOTHING'
        )
        self.member_tallies_for_update = q(
            member_tallies + ' ORDER BY member_id COLLATE "C", key COLLATE "C" FOR UPDATE'
        )
        # A month's spend a member's row let go of (set: the table did not hold it), and one it
        # took in.
        self.set_tallies = q(
            "INSERT INTO {s}.tallies AS t (key, count, points)"
            " SELECT k, c, p FROM unnest(%s::text[], %s::bigint[], %s::numeric[]) AS d(k, c, p)"
            ' ORDER BY k COLLATE "C"'
            " ON CONFLICT (key) DO UPDATE SET count = excluded.count, points = excluded.points"
        )
        self.set_member_tallies = q(
            "INSERT INTO {s}.member_tallies AS t (member_id, key, count, points)"
            " SELECT m, k, c, p FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::numeric[])"
            " AS d(m, k, c, p)"
            ' ORDER BY m COLLATE "C", k COLLATE "C"'
            " ON CONFLICT (member_id, key) DO UPDATE SET count = excluded.count, points = excluded.points"
        )
        # Only a member's own key is taken into its row.
        self.take_tallies = q(
            "DELETE FROM {s}.member_tallies AS t USING unnest(%s::text[], %s::text[]) AS d(m, k)"
            " WHERE t.member_id = d.m AND t.key = d.k"
        )
        # NUMERIC addition is exact.
        self.add_tallies = q(
            "INSERT INTO {s}.tallies AS t (key, count, points)"
            " SELECT k, c, p FROM unnest(%s::text[], %s::bigint[], %s::numeric[]) AS d(k, c, p)"
            ' ORDER BY k COLLATE "C"'
            " ON CONFLICT (key) DO UPDATE"
            " SET count = t.count + excluded.count, points = t.points + excluded.points"
        )
        self.add_member_tallies = q(
            "INSERT INTO {s}.member_tallies AS t (member_id, key, count, points)"
            " SELECT m, k, c, p FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::numeric[])"
            " AS d(m, k, c, p)"
            ' ORDER BY m COLLATE "C", k COLLATE "C"'
            " ON CONFLICT (member_id, key) DO UPDATE"
            " SET count = t.count + excluded.count, points = t.points + excluded.points"
        )
        self.add_voucher = q(
            "INSERT INTO {s}.vouchers ({voucher_columns})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self.voucher = q("SELECT {voucher_columns} FROM {s}.vouchers WHERE code = %s")
        self.member_vouchers = q(
            "SELECT {voucher_columns} FROM {s}.vouchers WHERE member_id = %s"
            ' ORDER BY issued_at, code COLLATE "C"'
        )
        self.due_vouchers = q(
            "SELECT {voucher_columns} FROM {s}.vouchers WHERE status = 'issued' AND expires_at <= %s"
            ' ORDER BY expires_at, code COLLATE "C" LIMIT %s'
        )
        self.vouchers_bought_against = q(
            "SELECT {voucher_columns} FROM {s}.vouchers WHERE status = 'issued'"
            ' AND purchase_id IS NOT NULL AND purchase_id = %s ORDER BY code COLLATE "C"'
        )
        # The status test is the final arbiter: a voucher ends exactly once.
        self.end_voucher = q(
            "UPDATE {s}.vouchers SET status = %s, ended_at = %s, used_for = %s"
            " WHERE code = %s AND status = 'issued' RETURNING {voucher_columns}"
        )
        self.add_offline_allowance = q(
            "INSERT INTO {s}.offline_allowances ({allowance_columns})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self.offline_allowances = q(
            "SELECT {allowance_columns} FROM {s}.offline_allowances WHERE terminal_id = %s"
            ' ORDER BY opened_at, id COLLATE "C"'
        )
        self.offline_uses = q(
            "SELECT {use_columns} FROM {s}.offline_uses WHERE allowance_id = %s"
            ' ORDER BY member_id COLLATE "C"'
        )
        self.member_offline_use = q(
            "SELECT {use_columns} FROM {s}.offline_uses WHERE allowance_id = %s AND member_id = %s"
        )
        self.add_offline_use = q(
            "INSERT INTO {s}.offline_uses AS u ({use_columns}) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (allowance_id, member_id) DO UPDATE SET"
            " redemptions = u.redemptions + excluded.redemptions, points = u.points + excluded.points,"
            " shortfall = u.shortfall + excluded.shortfall, declined = u.declined + excluded.declined"
        )
        self.program_versions = q("SELECT {program_columns} FROM {s}.program_versions")
        self.add_program_version = q(
            "INSERT INTO {s}.program_versions ({program_columns}) VALUES (%s, %s, %s, %s, %s, %s)"
        )
        self.create_schema = q("CREATE SCHEMA IF NOT EXISTS {s}")
        self.create_version = q("CREATE TABLE IF NOT EXISTS {s}.schema_version (version INTEGER NOT NULL)")
        self.version = q("SELECT version FROM {s}.schema_version")
        self.insert_version = q("INSERT INTO {s}.schema_version (version) VALUES (%s)")
        self.update_version = q("UPDATE {s}.schema_version SET version = %s")
        self.migrations = [
            [statement if statement in (REPACK, SHARES, CHAIN, MARK) else q(statement) for statement in step]
            for step in MIGRATIONS
        ]
