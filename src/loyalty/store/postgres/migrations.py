"""The PostgreSQL schema's forward migrations, one step per version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loyalty.store.postgres.moved_entries import MOVED_ENTRIES

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[tuple[Any, ...]]


def _add_column(table: str, column: str, default: str) -> str:
    """Add a ``NOT NULL`` column with a default to ``table``.

    On a table with rows, the default is stored once in the catalog (no rewrite). On an
    empty one (every new schema), adding the column bare, then its default, then
    ``NOT NULL`` gives the same column far sooner: on the servers measured, a column added
    with a default took 55-120 ms even on an empty table, against 3 ms for the three steps,
    and every new schema paid it five times.
    """
    name = column.split()[0]
    return f"""DO $$ BEGIN
        IF EXISTS (SELECT FROM {{s}}.{table}) THEN
            ALTER TABLE {{s}}.{table} ADD COLUMN {column} NOT NULL DEFAULT {default};
        ELSE
            ALTER TABLE {{s}}.{table} ADD COLUMN {column};
            ALTER TABLE {{s}}.{table} ALTER COLUMN {name} SET DEFAULT {default};
            ALTER TABLE {{s}}.{table} ALTER COLUMN {name} SET NOT NULL;
        END IF;
    END $$"""


# Schema 17's guard on an entry's update: only its text (reason and actor) changes, only once its
# digest is kept. Schema 18 let an erasure's rename through as well; schema 23 takes it back.
TEXT_ONLY = """CREATE FUNCTION {s}.entries_text_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF to_jsonb(NEW) - 'reason' - 'actor' IS DISTINCT FROM to_jsonb(OLD) - 'reason' - 'actor'
                  OR NOT EXISTS (SELECT 1 FROM {s}.kept_texts AS t
                                 WHERE t.seq = OLD.seq AND t.member_id = OLD.member_id) THEN
                   RAISE EXCEPTION 'ledger entries are immutable';
               END IF;
               RETURN NEW;
           END $$"""


# Forward migrations, applied in order; the list index + 1 is the version.
# Never edit a released step: add a new one. ``{s}`` is the schema, filled in
# with sql.Identifier; nothing else is ever formatted into SQL. ``REPACK``,
# ``SHARES``, ``CHAIN`` and ``MARK`` are steps done in Python.
REPACK = "-- pack the operations kept before schema 7"
SHARES = "-- work out the rule shares of the entries kept before schema 13"
CHAIN = "-- chain the entries kept before schema 14"
MARK = "-- the tallies of a purchase or lot kept under its member (schema 20)"
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
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
        # The ledger is append-only: the database itself refuses edits, even
        # from a client that bypasses the engine.
        """CREATE FUNCTION {s}.entries_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'ledger entries are immutable'; END $$""",
        """CREATE TRIGGER entries_no_update_or_delete BEFORE UPDATE OR DELETE ON {s}.entries
           FOR EACH ROW EXECUTE FUNCTION {s}.entries_are_immutable()""",
        """CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON {s}.entries
           FOR EACH STATEMENT EXECUTE FUNCTION {s}.entries_are_immutable()""",
        # request/result are TEXT holding rows.dump_json, as in SQLite: JSONB
        # would buy nothing here, since they are only ever read back whole.
        """CREATE TABLE {s}.operations (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
    ),
    # 2: earning rules. Entries name the program version their rules belong
    # to (the ids go in the existing ``rule`` column, space-separated);
    # birthdays can change; tallies for caps and budgets; program versions.
    (
        "ALTER TABLE {s}.entries ADD COLUMN program_version TEXT",
        """ALTER TABLE {s}.members ADD COLUMN birthday_changed_at TIMESTAMPTZ,
           ADD COLUMN birthday_changed_offset INTEGER""",
        """CREATE TABLE {s}.tallies (
            key TEXT PRIMARY KEY,
            count BIGINT NOT NULL DEFAULT 0,
            points NUMERIC NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE {s}.program_versions (
            version TEXT PRIMARY KEY,
            effective_from TIMESTAMPTZ,
            effective_offset INTEGER,
            body TEXT NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
    ),
    # 3: every member's visit count (recorded purchases), which first-purchase
    # rules read, for purchases recorded before tallies existed. Set, not
    # added: the operations hold every purchase ever recorded.
    (
        """INSERT INTO {s}.tallies AS t (key, count, points)
           SELECT 'visits|' || (request::jsonb ->> 'member_id'), COUNT(*), 0
           FROM {s}.operations
           WHERE kind = 'purchase' AND request::jsonb ->> 'member_id' IS NOT NULL
           GROUP BY request::jsonb ->> 'member_id'
           ON CONFLICT (key) DO UPDATE SET count = excluded.count""",
    ),
    # 4: lots and holds. Credits carry their lot's dates, debits the lots they drew
    # from; the lots table is maintained with them. Points from before lots
    # existed become one lot per member that never expires (a policy applies
    # to points earned after it), numbered by the member's last entry.
    (
        """ALTER TABLE {s}.entries ADD COLUMN vests_at TIMESTAMPTZ,
           ADD COLUMN expires_at TIMESTAMPTZ, ADD COLUMN draws TEXT""",
        """CREATE TABLE {s}.lots (
            lot BIGINT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES {s}.members(member_id),
            points BIGINT NOT NULL,
            -- A debt (what a return took back beyond the member's points) is a lot of negative points.
            remaining BIGINT NOT NULL
                CHECK (points > 0 AND remaining BETWEEN 0 AND points
                    OR points < 0 AND remaining BETWEEN points AND 0),
            earned_at TIMESTAMPTZ NOT NULL,
            earned_offset INTEGER NOT NULL,
            vests_at TIMESTAMPTZ,
            expires_at TIMESTAMPTZ
        )""",
        "CREATE INDEX lots_open ON {s}.lots (member_id, lot) WHERE remaining <> 0",
        """CREATE INDEX lots_vesting ON {s}.lots (member_id, vests_at)
           WHERE remaining <> 0 AND vests_at IS NOT NULL""",
        """CREATE INDEX lots_due ON {s}.lots (expires_at, lot)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """CREATE INDEX lots_due_by_member ON {s}.lots (member_id, expires_at, lot)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """INSERT INTO {s}.lots (lot, member_id, points, remaining, earned_at, earned_offset)
           SELECT e.seq, m.member_id, m.balance, m.balance, e.occurred_at, e.occurred_offset
           FROM {s}.members AS m
           JOIN {s}.entries AS e
             ON e.seq = (SELECT MAX(seq) FROM {s}.entries WHERE member_id = m.member_id)
           WHERE m.balance > 0""",
        # Holds: open ones are found by member (for the balance) and by expiry date (maintenance).
        """CREATE TABLE {s}.holds (
            hold_id TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES {s}.members(member_id),
            points BIGINT NOT NULL,
            draws TEXT NOT NULL,
            held_at TIMESTAMPTZ NOT NULL,
            held_offset INTEGER NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            status TEXT NOT NULL,
            captured BIGINT NOT NULL DEFAULT 0,
            ended_at TIMESTAMPTZ
        )""",
        "CREATE INDEX holds_open ON {s}.holds (member_id, hold_id) WHERE status = 'open'",
        "CREATE INDEX holds_due ON {s}.holds (expires_at, hold_id) WHERE status = 'open'",
    ),
    # 5: tiers. One row per member who has left the lowest tier (or was assigned
    # one), found by member and, for maintenance, by the date it is next due.
    (
        """CREATE TABLE {s}.tier_states (
            member_id TEXT PRIMARY KEY REFERENCES {s}.members(member_id),
            tier TEXT NOT NULL,
            earned TEXT NOT NULL,
            since TIMESTAMPTZ NOT NULL,
            review_at TIMESTAMPTZ,
            due_at TIMESTAMPTZ,
            floor TEXT,
            floor_until TIMESTAMPTZ,
            reached TEXT NOT NULL
        )""",
        """CREATE INDEX tier_states_due ON {s}.tier_states (due_at, member_id COLLATE "C")
           WHERE due_at IS NOT NULL""",
        # Lots whose date moves with the member's activity, and the entries that move them.
        _add_column("entries", "rolling BOOLEAN", "FALSE"),
        "ALTER TABLE {s}.entries ADD COLUMN redates TEXT",
        _add_column("lots", "rolling BOOLEAN", "FALSE"),
        # The outbox. Events are numbered at commit from one head row, whose lock makes
        # concurrent writers of events commit in seq order: a reader never skips one.
        """CREATE TABLE {s}.events (
            seq BIGINT PRIMARY KEY,
            kind TEXT NOT NULL,
            member_id TEXT NOT NULL,
            occurred_at TIMESTAMPTZ NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at TIMESTAMPTZ NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        """CREATE TABLE {s}.outbox_head (
            one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
            last BIGINT NOT NULL
        )""",
        "INSERT INTO {s}.outbox_head (last) VALUES (0)",
        # Referrals: one code per member, one attribution per referee.
        """CREATE TABLE {s}.referral_codes (
            code TEXT PRIMARY KEY,
            member_id TEXT NOT NULL UNIQUE REFERENCES {s}.members(member_id)
        )""",
        """CREATE TABLE {s}.referrals (
            referee TEXT PRIMARY KEY REFERENCES {s}.members(member_id),
            referrer TEXT NOT NULL REFERENCES {s}.members(member_id),
            code TEXT NOT NULL,
            referred_at TIMESTAMPTZ NOT NULL,
            referred_offset INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            purchase_id TEXT,
            referrer_points BIGINT NOT NULL,
            referee_points BIGINT NOT NULL,
            referrer_lot BIGINT,
            referee_lot BIGINT,
            vests_at TIMESTAMPTZ,
            decided_at TIMESTAMPTZ
        )""",
        'CREATE INDEX referrals_by_referrer ON {s}.referrals (referrer, referee COLLATE "C")',
    ),
    # 6: reads that cost what they return. Spending finds a member's lots of points in draw
    # order (btree order puts the lots that never expire last); period figures find the
    # period's entries and purchases by their time (a purchase's till time copied out of its
    # request); member_ids pages in code-point order, which the primary key's collation
    # need not be.
    (
        "CREATE INDEX lots_spendable ON {s}.lots (member_id, expires_at, lot) WHERE remaining > 0",
        "CREATE INDEX entries_by_time ON {s}.entries (occurred_at) INCLUDE (kind, points)",
        "ALTER TABLE {s}.operations ADD COLUMN purchased_at TIMESTAMPTZ",
        """UPDATE {s}.operations SET purchased_at = (request::jsonb ->> 'at')::timestamptz
           WHERE kind = 'purchase'""",
        "CREATE INDEX operations_purchases ON {s}.operations (purchased_at) WHERE kind = 'purchase'",
        "CREATE INDEX members_by_enrolment ON {s}.members (enrolled_at)",
        'CREATE INDEX members_in_code_point_order ON {s}.members (member_id COLLATE "C")',
    ),
    # 7: idempotency records kept compactly (loyalty.records.pack_operation: a purchase's request
    # and result once, by position, in one column). The records kept before are packed in
    # Python (REPACK), a page at a time, in the migration's transaction.
    (
        "ALTER TABLE {s}.operations ADD COLUMN body TEXT",
        REPACK,
        "ALTER TABLE {s}.operations DROP COLUMN request, DROP COLUMN result",
        "ALTER TABLE {s}.operations ALTER COLUMN body SET NOT NULL",
    ),
    # 8: the tallies every purchase touches kept in the member's row (loyalty.store.member_tallies):
    # its visits, first and last visit, what returns left it owing (the keys of
    # earning.visits_key, habits.seen_key, returns.debt_key and owed_key, as of this schema) and
    # its latest month's spend (habits.spent_key), taken out of the tallies table.
    (
        "ALTER TABLE {s}.members ADD COLUMN tallies TEXT",
        """WITH moved AS (
               DELETE FROM {s}.tallies AS t
               USING {s}.members AS m, (VALUES ('visits|'), ('seen|'), ('debt|'), ('owed|')) AS p(prefix)
               WHERE t.key = p.prefix || m.member_id
               RETURNING m.member_id, split_part(t.key, '|', 1) AS family, t.count, t.points
           )
           UPDATE {s}.members AS m SET tallies = j.tallies
           FROM (SELECT member_id, json_object_agg(family, json_build_array(count, points::text))::text
                 FROM moved GROUP BY member_id) AS j(member_id, tallies)
           WHERE m.member_id = j.member_id""",
        """WITH latest AS (
               SELECT substr(key, 15) AS member_id, max(substr(key, 7, 7)) AS month FROM {s}.tallies
               WHERE left(key, 6) = 'spent|' AND substr(key, 14, 1) = '|' AND length(key) > 14
                 AND substr(key, 7, 7) ~ '^[0-9][0-9][0-9][0-9]-[0-9][0-9]$'
                 AND substr(key, 15) IN (SELECT member_id FROM {s}.members)
               GROUP BY 1
           ), moved AS (
               DELETE FROM {s}.tallies AS t USING latest AS l
               WHERE t.key = 'spent|' || l.month || '|' || l.member_id
               RETURNING l.member_id, l.month, t.count, t.points
           )
           UPDATE {s}.members AS m
           SET tallies = jsonb_set(COALESCE(m.tallies, '{{}}')::jsonb, '{{spent}}',
                                   jsonb_build_array(moved.month, moved.count, moved.points::text))::text
           FROM moved WHERE m.member_id = moved.member_id""",
    ),
    # 9: a member's open lots found through lots_spendable (the lots with points left, which it
    # already held) and lots_debts (the few lots a return left negative), so a credit that opens
    # a lot writes one index page fewer than lots_open, which held every open lot again.
    (
        "CREATE INDEX lots_debts ON {s}.lots (member_id, lot) WHERE remaining < 0",
        "DROP INDEX {s}.lots_open",
    ),
    # 10: a member's status (loyalty.members.MemberStatus): read with the balance's lock, so a
    # command checks it for nothing; every member enrolled before it is active.
    (_add_column("members", "status TEXT", "'active'"),),
    # 11: members' cards and keys (loyalty.identifiers): one row per key ever given, unique by
    # kind and value whatever its status (a replaced card stays retired), found by member too.
    (
        """CREATE TABLE {s}.identifiers (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            member_id TEXT NOT NULL REFERENCES {s}.members(member_id),
            since TIMESTAMPTZ NOT NULL,
            since_offset INTEGER NOT NULL,
            status TEXT NOT NULL,
            replaced_by TEXT,
            PRIMARY KEY (kind, value)
        )""",
        "CREATE INDEX identifiers_by_member ON {s}.identifiers (member_id)",
    ),
    # 12: vouchers for rewards bought with points (loyalty.vouchers), kept by code; found by
    # member, and while issued by the date they expire (maintenance) and by the purchase they
    # were bought against (a full return revokes them).
    (
        """CREATE TABLE {s}.vouchers (
            code TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES {s}.members(member_id),
            reward_id TEXT NOT NULL,
            points BIGINT NOT NULL CHECK (points > 0),
            draws TEXT NOT NULL,
            issued_at TIMESTAMPTZ NOT NULL,
            issued_offset INTEGER NOT NULL,
            expires_at TIMESTAMPTZ NOT NULL,
            status TEXT NOT NULL,
            purchase_id TEXT,
            ended_at TIMESTAMPTZ,
            used_for TEXT
        )""",
        'CREATE INDEX vouchers_by_member ON {s}.vouchers (member_id, issued_at, code COLLATE "C")',
        """CREATE INDEX vouchers_due ON {s}.vouchers (expires_at, code COLLATE "C")
           WHERE status = 'issued'""",
        """CREATE INDEX vouchers_against ON {s}.vouchers (purchase_id, code COLLATE "C")
           WHERE status = 'issued' AND purchase_id IS NOT NULL""",
    ),
    # 13: figures by rule (loyalty.ledger.rule_shares). An entry of several rules keeps each one's
    # share of its points in ``rule_shares`` (a JSON object), written with it; an entry of one rule
    # needs none. The entries of several rules kept before have their shares worked out once in
    # Python (SHARES) from the record their command kept, into kept_shares: the ledger is never
    # rewritten. (An entry whose record is gone counts for no rule.)
    (
        "ALTER TABLE {s}.entries ADD COLUMN rule_shares TEXT",
        "CREATE TABLE {s}.kept_shares (seq BIGINT PRIMARY KEY, rule_shares TEXT NOT NULL)",
        SHARES,
    ),
    # 14: tamper evidence (loyalty.chains). Every entry carries ``link``, a hash chained to the
    # member's entry before it, and the member's row the head of its chain (its last entry's seq
    # and link), both written by the statement that moves the balance (computed there with
    # sha256()). The entries kept before are chained from each member's first entry once, in
    # Python (CHAIN), into kept_links: the ledger is never rewritten.
    (
        "ALTER TABLE {s}.entries ADD COLUMN link BYTEA",
        _add_column("members", "chain_seq BIGINT", "0"),
        _add_column("members", "chain_link BYTEA", "decode('00000000000000000000000000000000', 'hex')"),
        "CREATE TABLE {s}.kept_links (seq BIGINT PRIMARY KEY, link BYTEA NOT NULL)",
        CHAIN,
    ),
    # 15: a schema ready to shard by member (docs/scaling.md). Citus lets a table distributed by
    # member enforce a key only if the key holds the member's id, and a foreign key only between
    # rows of one member: every member-owned table's primary key gains member_id (after the
    # column that was the key, so what paged or looked up by it keeps its index); the entries'
    # side tables gain the member of their entry; the foreign keys that cross members go (the
    # referrer's, held by the referee's row) or would leave a reference table (the cards and
    # referral codes, looked up by their value for any member). Every writer checks those
    # members itself first, as it did beside the keys.
    (
        "ALTER TABLE {s}.entries DROP CONSTRAINT entries_pkey, ADD PRIMARY KEY (seq, member_id)",
        "ALTER TABLE {s}.lots DROP CONSTRAINT lots_pkey, ADD PRIMARY KEY (lot, member_id)",
        "ALTER TABLE {s}.holds DROP CONSTRAINT holds_pkey, ADD PRIMARY KEY (hold_id, member_id)",
        "ALTER TABLE {s}.vouchers DROP CONSTRAINT vouchers_pkey, ADD PRIMARY KEY (code, member_id)",
        "ALTER TABLE {s}.events DROP CONSTRAINT events_pkey, ADD PRIMARY KEY (seq, member_id)",
        "ALTER TABLE {s}.kept_shares ADD COLUMN member_id TEXT",
        "UPDATE {s}.kept_shares AS k SET member_id = e.member_id FROM {s}.entries AS e WHERE e.seq = k.seq",
        """ALTER TABLE {s}.kept_shares ALTER COLUMN member_id SET NOT NULL,
           DROP CONSTRAINT kept_shares_pkey, ADD PRIMARY KEY (seq, member_id)""",
        "ALTER TABLE {s}.kept_links ADD COLUMN member_id TEXT",
        "UPDATE {s}.kept_links AS k SET member_id = e.member_id FROM {s}.entries AS e WHERE e.seq = k.seq",
        """ALTER TABLE {s}.kept_links ALTER COLUMN member_id SET NOT NULL,
           DROP CONSTRAINT kept_links_pkey, ADD PRIMARY KEY (seq, member_id)""",
        "ALTER TABLE {s}.referrals DROP CONSTRAINT referrals_referrer_fkey",
        "ALTER TABLE {s}.identifiers DROP CONSTRAINT identifiers_member_id_fkey",
        "ALTER TABLE {s}.referral_codes DROP CONSTRAINT referral_codes_member_id_fkey",
    ),
    # 16: offline allowances (loyalty.offline): what a terminal may redeem while cut off, found
    # by terminal; each member's use of one in a row of its own (what all members used is a
    # tally).
    (
        """CREATE TABLE {s}.offline_allowances (
            id TEXT PRIMARY KEY,
            terminal_id TEXT NOT NULL,
            per_member BIGINT NOT NULL CHECK (per_member > 0),
            total BIGINT NOT NULL CHECK (total >= per_member),
            opened_at TIMESTAMPTZ NOT NULL,
            opened_offset INTEGER NOT NULL,
            until TIMESTAMPTZ NOT NULL,
            until_offset INTEGER NOT NULL,
            actor TEXT NOT NULL
        )""",
        """CREATE INDEX offline_allowances_by_terminal
           ON {s}.offline_allowances (terminal_id, opened_at, id COLLATE "C")""",
        """CREATE TABLE {s}.offline_uses (
            allowance_id TEXT NOT NULL REFERENCES {s}.offline_allowances(id),
            member_id TEXT NOT NULL REFERENCES {s}.members(member_id),
            redemptions BIGINT NOT NULL,
            points BIGINT NOT NULL,
            shortfall BIGINT NOT NULL,
            declined BIGINT NOT NULL,
            PRIMARY KEY (allowance_id, member_id)
        )""",
    ),
    # 17: erasure on request (loyalty.erasure). An erased entry's reason and actor are rewritten,
    # and the text digest it was chained with kept in kept_texts (keyed by its entry's member too,
    # as kept_links is since 15): the database refuses a change to any other column of an entry,
    # and to those two of an entry whose digest is not kept (the erasure keeps it first, in the
    # same transaction).
    (
        """CREATE TABLE {s}.kept_texts (
            seq BIGINT NOT NULL,
            member_id TEXT NOT NULL,
            digest BYTEA NOT NULL,
            PRIMARY KEY (seq, member_id)
        )""",
        TEXT_ONLY,
        "DROP TRIGGER entries_no_update_or_delete ON {s}.entries",
        """CREATE TRIGGER entries_no_delete BEFORE DELETE ON {s}.entries
           FOR EACH ROW EXECUTE FUNCTION {s}.entries_are_immutable()""",
        """CREATE TRIGGER entries_text_only BEFORE UPDATE ON {s}.entries
           FOR EACH ROW EXECUTE FUNCTION {s}.entries_text_only()""",
    ),
    # 18: an erasure renames its member (loyalty.pseudonyms) with the guard in force, without DDL
    # (an ALTER TABLE ... DISABLE TRIGGER locks the whole table: two erasures at once deadlocked):
    # an entry's member and source id may change only while the transaction's own settings
    # loyalty.erasing and loyalty.pseudonym (set_config(..., true)) name that member and that
    # pseudonym, and, like its text, only of an entry whose digest is kept.
    (
        """CREATE OR REPLACE FUNCTION {s}.entries_text_only() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               IF to_jsonb(NEW) - 'reason' - 'actor' - 'member_id' - 'source_id'
                     IS DISTINCT FROM to_jsonb(OLD) - 'reason' - 'actor' - 'member_id' - 'source_id'
                  OR (NEW.member_id, NEW.source_id) IS DISTINCT FROM (OLD.member_id, OLD.source_id)
                     AND (OLD.member_id IS DISTINCT FROM current_setting('loyalty.erasing', true)
                          OR NEW.member_id IS DISTINCT FROM current_setting('loyalty.pseudonym', true))
                  OR NOT EXISTS (SELECT 1 FROM {s}.kept_texts AS t
                                 WHERE t.seq = OLD.seq AND t.member_id = OLD.member_id) THEN
                   RAISE EXCEPTION 'ledger entries are immutable';
               END IF;
               RETURN NEW;
           END $$""",
    ),
    # 19: a member's own tallies that its row does not keep (a rule's cap, a day's spend, an older
    # month's: loyalty.store.owned_tallies) in member_tallies, keyed by the member and the key,
    # beside its other rows (distributed by member: docs/scaling.md); tallies keeps the counters
    # across members (a budget, a referrer's count, an allowance's total) and the keys that name
    # no member. The member is the key's last part after as many as its family has (the rule
    # owned_tallies.owner follows); the rows move.
    # And the records of the commands written one member at a time (loyalty.transfers.PARTED_KINDS)
    # indexed by kind and key, alone: maintenance finds the first parts kept without their second
    # by a probe of this index, not a scan of every record. The search names the same kinds, so
    # that even a generic plan of the prepared statement knows the index holds every row it wants.
    (
        """CREATE TABLE {s}.member_tallies (
            member_id TEXT NOT NULL,
            key TEXT NOT NULL,
            count BIGINT NOT NULL DEFAULT 0,
            points NUMERIC NOT NULL DEFAULT 0,
            PRIMARY KEY (member_id, key)
        )""",
        """WITH owned AS (
               SELECT key, CASE
                   WHEN split_part(key, '|', 1)
                        IN ('visits', 'carry', 'redeemed', 'seen', 'atrisk', 'debt', 'owed', 'merged')
                   THEN substring(key FROM '^[^|]*[|](.+)$')
                   WHEN split_part(key, '|', 1) IN ('spent', 'stamps')
                   THEN substring(key FROM '^[^|]*[|][^|]*[|](.+)$')
                   WHEN split_part(key, '|', 1) IN ('cap', 'birthday', 'events', 'tier')
                   THEN substring(key FROM '^[^|]*[|][^|]*[|][^|]*[|](.+)$') END AS member_id
               FROM {s}.tallies),
           moved AS (
               DELETE FROM {s}.tallies AS t USING owned AS o WHERE o.key = t.key AND o.member_id IS NOT NULL
               RETURNING o.member_id, t.key, t.count, t.points)
           INSERT INTO {s}.member_tallies (member_id, key, count, points) SELECT * FROM moved""",
        """CREATE INDEX operations_parts ON {s}.operations (kind, key) WHERE kind IN
           ('transfer', 'referral_reward', 'referral_take_back',
            'member_merge_owed', 'member_merge_referees')""",
    ),
    # 20: a purchase's own tallies (what came back of it, what paid for it) and a lot's expiry
    # reminder name their member (loyalty.tallies.of_member) and are kept in member_tallies with
    # its other rows, on its shard: a return, a redemption against a purchase and a reminder write
    # no row of tallies (local on a cluster's coordinator). The keys kept before, without the
    # member, are moved in Python (MARK), a page at a time, each member found through the
    # purchase's record or the lot's entry; a key of neither stays as it is.
    (MARK,),
    # 21: an erasure written one member at a time (loyalty.service.erasure_parts): the record of
    # the parts its other members are owed (kind member_erasure_others) joins the kinds of
    # operations_parts, so that finding those left unwritten (run_due, and a referee's command
    # that finds its referral naming an erased referrer) is a probe, as for the other kinds.
    (
        "DROP INDEX {s}.operations_parts",
        """CREATE INDEX operations_parts ON {s}.operations (kind, key) WHERE kind IN
           ('transfer', 'referral_reward', 'referral_take_back',
            'member_merge_owed', 'member_merge_referees', 'member_erasure_others')""",
    ),
    # 22: the purchases indexed in the order their listing without an entry pages through
    # (loyalty.store.no_entry): when recorded, their till time (the earliest instant where the
    # record has none, written out as the query writes it), their key in code-point order. A page
    # walks the index from where the last one ended, not a sort of every purchase after it.
    (
        """CREATE INDEX operations_purchase_order ON {s}.operations
           (recorded_at, (COALESCE(purchased_at, '0001-01-01 00:00:00+00'::timestamptz)), key COLLATE "C")
           WHERE kind = 'purchase'""",
    ),
    # 23: an erasure moves its member's rows to the pseudonym (inserted under it, then deleted),
    # never updating the member id, the column a cluster distributes them by: the entries' guard
    # lets through the delete of an entry whose copy is there (loyalty.store.postgres.moved_entries),
    # and its update only as schema 17 did.
    (TEXT_ONLY.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1), *MOVED_ENTRIES),
)
SCHEMA_VERSION = len(MIGRATIONS)
# Records packed per statement while migrating to schema 7.
REPACK_PAGE = 1000
