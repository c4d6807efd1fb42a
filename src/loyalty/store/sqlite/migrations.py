"""The SQLite schema's forward migrations, one step per version."""

from __future__ import annotations

from loyalty.store.sqlite.integer_times import INTEGER_TIMES
from loyalty.store.sqlite.no_entry_index import NO_ENTRY_INDEX

# Forward migrations, applied in order; the list index + 1 is the version.
# Never edit a released step: add a new one. ``CHAIN`` is a step done in Python.
CHAIN = "-- chain the entries kept before schema 15"
MARK = "-- the tallies of a purchase or lot kept under its member (schema 22)"
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE members (
            member_id TEXT PRIMARY KEY,
            enrolled_at TEXT NOT NULL,
            enrolled_offset INTEGER NOT NULL,
            birthday TEXT,
            attributes TEXT NOT NULL,
            balance INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE entries (
            seq INTEGER PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            kind TEXT NOT NULL,
            points INTEGER NOT NULL,
            balance_after INTEGER NOT NULL,
            occurred_at TEXT NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT,
            rule TEXT
        )""",
        "CREATE INDEX entries_by_member ON entries(member_id, seq)",
        # The ledger is append-only: the database itself refuses edits.
        """CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
        """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
        """CREATE TABLE operations (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            request TEXT NOT NULL,
            result TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
    ),
    # 2: earning rules. Entries name the program version their rules belong
    # to (the ids go in the existing ``rule`` column, space-separated);
    # birthdays can change; tallies for caps and budgets; program versions.
    (
        "ALTER TABLE entries ADD COLUMN program_version TEXT",
        "ALTER TABLE members ADD COLUMN birthday_changed_at TEXT",
        "ALTER TABLE members ADD COLUMN birthday_changed_offset INTEGER",
        # points is the Decimal's exact text; sums are done in Python. Without
        # rowid, the key's b-tree is the table: one page written per change, not two.
        """CREATE TABLE tallies (
            key TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            points TEXT NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE program_versions (
            version TEXT PRIMARY KEY,
            effective_from TEXT,
            effective_offset INTEGER,
            body TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL
        )""",
    ),
    # 3: every member's visit count (recorded purchases), which first-purchase
    # rules read, for purchases recorded before tallies existed. Set, not
    # added: the operations hold every purchase ever recorded.
    (
        """INSERT INTO tallies (key, count, points)
           SELECT 'visits|' || json_extract(request, '$.member_id'), COUNT(*), '0'
           FROM operations
           WHERE kind = 'purchase' AND json_extract(request, '$.member_id') IS NOT NULL
           GROUP BY json_extract(request, '$.member_id')
           ON CONFLICT (key) DO UPDATE SET count = excluded.count""",
    ),
    # 4: lots and holds. Credits carry their lot's dates, debits the lots they
    # drew from; the lots table is maintained with them. Dates are fixed-width UTC
    # text, so they sort as instants. Points from before lots existed become
    # one lot per member that never expires (a policy applies to points
    # earned after it), numbered by the member's last entry.
    (
        "ALTER TABLE entries ADD COLUMN vests_at TEXT",
        "ALTER TABLE entries ADD COLUMN expires_at TEXT",
        "ALTER TABLE entries ADD COLUMN draws TEXT",
        """CREATE TABLE lots (
            lot INTEGER PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            points INTEGER NOT NULL,
            -- A debt (what a return took back beyond the member's points) is a lot of negative points.
            remaining INTEGER NOT NULL
                CHECK (points > 0 AND remaining BETWEEN 0 AND points
                    OR points < 0 AND remaining BETWEEN points AND 0),
            earned_at TEXT NOT NULL,
            earned_offset INTEGER NOT NULL,
            vests_at TEXT,
            expires_at TEXT
        )""",
        "CREATE INDEX lots_open ON lots(member_id, lot) WHERE remaining <> 0",
        """CREATE INDEX lots_vesting ON lots(member_id, vests_at)
           WHERE remaining <> 0 AND vests_at IS NOT NULL""",
        """CREATE INDEX lots_due ON lots(expires_at, lot)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """CREATE INDEX lots_due_by_member ON lots(member_id, expires_at, lot)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """INSERT INTO lots (lot, member_id, points, remaining, earned_at, earned_offset)
           SELECT e.seq, m.member_id, m.balance, m.balance, e.occurred_at, e.occurred_offset
           FROM members AS m
           JOIN entries AS e ON e.seq = (SELECT MAX(seq) FROM entries WHERE member_id = m.member_id)
           WHERE m.balance > 0""",
        # Holds: open ones are found by member (for the balance) and by expiry date (maintenance).
        """CREATE TABLE holds (
            hold_id TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            points INTEGER NOT NULL,
            draws TEXT NOT NULL,
            held_at TEXT NOT NULL,
            held_offset INTEGER NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL,
            captured INTEGER NOT NULL DEFAULT 0,
            ended_at TEXT
        )""",
        "CREATE INDEX holds_open ON holds(member_id, hold_id) WHERE status = 'open'",
        "CREATE INDEX holds_due ON holds(expires_at, hold_id) WHERE status = 'open'",
    ),
    # 5: tiers. One row per member who has left the lowest tier (or was assigned
    # one), found by member and, for maintenance, by the date it is next due.
    (
        """CREATE TABLE tier_states (
            member_id TEXT PRIMARY KEY REFERENCES members(member_id),
            tier TEXT NOT NULL,
            earned TEXT NOT NULL,
            since TEXT NOT NULL,
            review_at TEXT,
            due_at TEXT,
            floor TEXT,
            floor_until TEXT,
            reached TEXT NOT NULL
        )""",
        "CREATE INDEX tier_states_due ON tier_states(due_at, member_id) WHERE due_at IS NOT NULL",
        # Lots whose date moves with the member's activity, and the entries that move them.
        "ALTER TABLE entries ADD COLUMN rolling INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE entries ADD COLUMN redates TEXT",
        "ALTER TABLE lots ADD COLUMN rolling INTEGER NOT NULL DEFAULT 0",
        # The outbox. Writers are serialized (BEGIN IMMEDIATE), so seq order is commit order.
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            member_id TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at TEXT NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        # Referrals: one code per member, one attribution per referee.
        """CREATE TABLE referral_codes (
            code TEXT PRIMARY KEY,
            member_id TEXT NOT NULL UNIQUE REFERENCES members(member_id)
        )""",
        """CREATE TABLE referrals (
            referee TEXT PRIMARY KEY REFERENCES members(member_id),
            referrer TEXT NOT NULL REFERENCES members(member_id),
            code TEXT NOT NULL,
            referred_at TEXT NOT NULL,
            referred_offset INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            purchase_id TEXT,
            referrer_points INTEGER NOT NULL,
            referee_points INTEGER NOT NULL,
            referrer_lot INTEGER,
            referee_lot INTEGER,
            vests_at TEXT,
            decided_at TEXT
        )""",
        "CREATE INDEX referrals_by_referrer ON referrals(referrer, referee)",
    ),
    # 6: reads that cost what they return. Spending finds a member's lots of points in draw
    # order; period figures find the period's entries and purchases by their time. A
    # purchase's till time is copied out of its request as exact microseconds by
    # loyalty_instant(), which the store registers on every connection, this one included.
    (
        "CREATE INDEX lots_spendable ON lots(member_id, expires_at, lot) WHERE remaining > 0",
        "CREATE INDEX entries_by_time ON entries(occurred_at, kind, points)",
        "ALTER TABLE operations ADD COLUMN purchased_micros INTEGER",
        """UPDATE operations SET purchased_micros = loyalty_instant(json_extract(request, '$.at'))
           WHERE kind = 'purchase'""",
        "CREATE INDEX operations_purchases ON operations(purchased_micros) WHERE kind = 'purchase'",
        "CREATE INDEX members_by_enrolment ON members(enrolled_at)",
    ),
    # 7: idempotency records kept compactly (loyalty.records.pack_operation: a purchase's request
    # and result once, by position, in one column, which loyalty_pack() writes for the records
    # kept before), with the times as microseconds. Without rowid, the key's b-tree is the table.
    (
        """CREATE TABLE operations_7 (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            body TEXT NOT NULL,
            recorded_micros INTEGER NOT NULL,
            recorded_offset INTEGER NOT NULL,
            purchased_micros INTEGER
        ) WITHOUT ROWID""",
        """INSERT INTO operations_7 (key, kind, body, recorded_micros, recorded_offset, purchased_micros)
           SELECT key, kind, loyalty_pack(kind, key, request, result), loyalty_instant(recorded_at),
                  recorded_offset, purchased_micros
           FROM operations""",
        "DROP TABLE operations",
        "ALTER TABLE operations_7 RENAME TO operations",
        "CREATE INDEX operations_purchases ON operations(purchased_micros) WHERE kind = 'purchase'",
    ),
    # 8: the tallies every purchase touches kept in the member's row (loyalty.store.member_tallies):
    # its visits, first and last visit, what returns left it owing (the keys of
    # earning.visits_key, habits.seen_key, returns.debt_key and owed_key, as of this schema) and
    # its latest month's spend (habits.spent_key), taken out of the tallies table.
    (
        "ALTER TABLE members ADD COLUMN tallies TEXT",
        """UPDATE members SET tallies = (
            SELECT json_group_object(substr(t.key, 1, instr(t.key, '|') - 1), json_array(t.count, t.points))
            FROM tallies AS t
            WHERE t.key IN ('visits|' || members.member_id, 'seen|' || members.member_id,
                            'debt|' || members.member_id, 'owed|' || members.member_id)
        )""",
        """DELETE FROM tallies WHERE key IN (
            SELECT p.prefix || m.member_id
            FROM members AS m, (SELECT 'visits|' AS prefix UNION ALL SELECT 'seen|'
                                UNION ALL SELECT 'debt|' UNION ALL SELECT 'owed|') AS p
        )""",
        """CREATE TEMP TABLE latest_spent AS
           SELECT substr(key, 15) AS member_id, MAX(substr(key, 7, 7)) AS month FROM tallies
           WHERE key GLOB 'spent|[0-9][0-9][0-9][0-9]-[0-9][0-9]|?*'
             AND substr(key, 15) IN (SELECT member_id FROM members)
           GROUP BY 1""",
        """UPDATE members SET tallies = json_set(tallies, '$.spent', json_array(l.month, t.count, t.points))
           FROM latest_spent AS l JOIN tallies AS t ON t.key = 'spent|' || l.month || '|' || l.member_id
           WHERE members.member_id = l.member_id""",
        "DELETE FROM tallies WHERE key IN (SELECT 'spent|' || month || '|' || member_id FROM latest_spent)",
        "DROP TABLE temp.latest_spent",
    ),
    # 9: a member's open lots found through lots_spendable (the lots with points left, which it
    # already held) and lots_debts (the few lots a return left negative), so a credit that opens
    # a lot writes one index page fewer than lots_open, which held every open lot again.
    (
        "CREATE INDEX lots_debts ON lots(member_id, lot) WHERE remaining < 0",
        "DROP INDEX lots_open",
    ),
    # 10: a member's status (loyalty.members.MemberStatus): read with the balance's lock, so a
    # command checks it for nothing; every member enrolled before it is active.
    ("ALTER TABLE members ADD COLUMN status TEXT NOT NULL DEFAULT 'active'",),
    # 11: a purchase's idempotency record goes in its entry's insert (loyalty.records.pack_operation
    # in ``record``, found by the entry's source_id), not in a row and an index of operations of its
    # own; what writes no entry (a decline, a purchase of no points) and every other kind keeps
    # using operations. Records kept before stay where they are: the ledger is never rewritten.
    # A key is one namespace across both tables: the unique index keeps it among entries, the
    # trigger keeps an operation off a key an entry holds, and the adapter puts a record in an
    # entry only for a key it found in neither table under the write lock it holds.
    (
        "ALTER TABLE entries ADD COLUMN record TEXT",
        "CREATE UNIQUE INDEX entries_by_key ON entries(source_id) WHERE record IS NOT NULL",
        """CREATE TRIGGER operations_key_once BEFORE INSERT ON operations
           WHEN EXISTS (SELECT 1 FROM entries WHERE source_id = NEW.key AND record IS NOT NULL)
           BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: entries.source_id'); END""",
    ),
    # 12: members' cards and keys (loyalty.identifiers): one row per key ever given, unique by
    # kind and value whatever its status (a replaced card stays retired), found by member too.
    # ``since`` is fixed-width UTC text, which orders a member's keys. Without rowid, the
    # primary key's b-tree is the table.
    (
        """CREATE TABLE identifiers (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            since TEXT NOT NULL,
            since_offset INTEGER NOT NULL,
            status TEXT NOT NULL,
            replaced_by TEXT,
            PRIMARY KEY (kind, value)
        ) WITHOUT ROWID""",
        "CREATE INDEX identifiers_by_member ON identifiers(member_id)",
    ),
    # 13: vouchers for rewards bought with points (loyalty.vouchers), kept by code; found by
    # member, and while issued by the date they expire (maintenance) and by the purchase they
    # were bought against (a full return revokes them). Dates are fixed-width UTC text.
    (
        """CREATE TABLE vouchers (
            code TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            reward_id TEXT NOT NULL,
            points INTEGER NOT NULL CHECK (points > 0),
            draws TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            issued_offset INTEGER NOT NULL,
            expires_at TEXT NOT NULL,
            status TEXT NOT NULL,
            purchase_id TEXT,
            ended_at TEXT,
            used_for TEXT
        )""",
        "CREATE INDEX vouchers_by_member ON vouchers(member_id, issued_at, code)",
        "CREATE INDEX vouchers_due ON vouchers(expires_at, code) WHERE status = 'issued'",
        """CREATE INDEX vouchers_against ON vouchers(purchase_id, code)
           WHERE status = 'issued' AND purchase_id IS NOT NULL""",
    ),
    # 14: figures by rule (loyalty.ledger.rule_shares). An entry of several rules keeps each one's
    # share of its points in ``rule_shares`` (a JSON object), written with it; an entry of one rule
    # needs none. The entries of several rules kept before have their shares worked out once, by
    # loyalty_shares() from the record their command kept, into kept_shares: the ledger is never
    # rewritten. (An entry whose record is gone counts for no rule.)
    (
        "ALTER TABLE entries ADD COLUMN rule_shares TEXT",
        "CREATE TABLE kept_shares (seq INTEGER PRIMARY KEY, rule_shares TEXT NOT NULL)",
        """INSERT INTO kept_shares (seq, rule_shares)
           SELECT seq, shares FROM (
               SELECT e.seq, loyalty_shares(e.rule, e.points, e.source_id, COALESCE(e.record,
                   (SELECT o.body FROM operations AS o WHERE o.key = e.source_id))) AS shares
               FROM entries AS e WHERE instr(e.rule, ' ') > 0)
           WHERE shares IS NOT NULL""",
    ),
    # 15: tamper evidence (loyalty.chains). Every entry carries ``link``, a hash chained to the
    # member's entry before it, and the member's row the head of its chain (its last entry's seq
    # and link), both written by the statement that moves the balance. The entries kept before
    # are chained from each member's first entry once, in Python (CHAIN), into kept_links: the
    # ledger is never rewritten.
    (
        "ALTER TABLE entries ADD COLUMN link BLOB",
        "ALTER TABLE members ADD COLUMN chain_seq INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE members ADD COLUMN chain_link BLOB NOT NULL DEFAULT X'00000000000000000000000000000000'",
        "CREATE TABLE kept_links (seq INTEGER PRIMARY KEY, link BLOB NOT NULL)",
        CHAIN,
    ),
    # 16: offline allowances (loyalty.offline): what a terminal may redeem while cut off, found
    # by terminal; each member's use of one in a row of its own (what all members used is a
    # tally). Dates are fixed-width UTC text with their offsets. Without rowid, the primary
    # key's b-tree is the table.
    (
        """CREATE TABLE offline_allowances (
            id TEXT PRIMARY KEY,
            terminal_id TEXT NOT NULL,
            per_member INTEGER NOT NULL CHECK (per_member > 0),
            total INTEGER NOT NULL CHECK (total >= per_member),
            opened_at TEXT NOT NULL,
            opened_offset INTEGER NOT NULL,
            until TEXT NOT NULL,
            until_offset INTEGER NOT NULL,
            actor TEXT NOT NULL
        )""",
        "CREATE INDEX offline_allowances_by_terminal ON offline_allowances(terminal_id, opened_at, id)",
        """CREATE TABLE offline_uses (
            allowance_id TEXT NOT NULL REFERENCES offline_allowances(id),
            member_id TEXT NOT NULL REFERENCES members(member_id),
            redemptions INTEGER NOT NULL,
            points INTEGER NOT NULL,
            shortfall INTEGER NOT NULL,
            declined INTEGER NOT NULL,
            PRIMARY KEY (allowance_id, member_id)
        ) WITHOUT ROWID""",
    ),
    # 17: erasure on request (loyalty.erasure). An erased entry's reason, actor and record are
    # rewritten, and the text digest it was chained with kept in kept_texts: the database
    # refuses a change to any other column of an entry, and to those three of an entry whose
    # digest is not kept (the erasure keeps it first, in the same transaction).
    (
        "CREATE TABLE kept_texts (seq INTEGER PRIMARY KEY, digest BLOB NOT NULL)",
        "DROP TRIGGER entries_no_update",
        """CREATE TRIGGER entries_no_update BEFORE UPDATE OF seq, member_id, kind, points, balance_after,
               occurred_at, occurred_offset, recorded_at, recorded_offset, source_id, rule,
               program_version, vests_at, expires_at, draws, rolling, redates, rule_shares, link
           ON entries BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
        """CREATE TRIGGER entries_text_kept BEFORE UPDATE OF reason, actor, record ON entries
           WHEN NOT EXISTS (SELECT 1 FROM kept_texts WHERE seq = OLD.seq)
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    ),
    # 18: the lot a credit opens kept in its entry's row (issue 12): ``remaining`` is the lot's
    # points left (NULL when the entry keeps no lot), ``opened`` its points where they are not the
    # entry's (a credit that repaid a debt first, a return that opened a debt); its dates are the
    # entry's. A purchase writes its entry and its member's row, no lot row and no lot index
    # entry of a table of its own. A lot stays in ``lots`` when it was kept there before or is
    # redated (its expiry no longer the entry's): the adapter moves it there first. The lots kept
    # before whose every column the entry that opened them says move into it, which leaves no row
    # of theirs in ``lots``. ``opened`` is a fact of the ledger, ``remaining`` derived state.
    # And an entry's ``recorded_at`` is written as microseconds since 1970 (UTC), which the
    # column's TEXT affinity keeps as 16 digits rather than 32 characters of ISO 8601: no
    # statement compares it, and the entries kept before keep their ISO text, read alike.
    (
        "ALTER TABLE entries ADD COLUMN opened INTEGER",
        """ALTER TABLE entries ADD COLUMN remaining INTEGER CHECK (remaining IS NULL
            OR COALESCE(opened, points) > 0 AND remaining BETWEEN 0 AND COALESCE(opened, points)
            OR COALESCE(opened, points) < 0 AND remaining BETWEEN COALESCE(opened, points) AND 0)""",
        "CREATE INDEX entries_spendable ON entries(member_id, expires_at, seq) WHERE remaining > 0",
        "CREATE INDEX entries_debts ON entries(member_id, seq) WHERE remaining < 0",
        """CREATE INDEX entries_vesting ON entries(member_id, vests_at)
           WHERE remaining <> 0 AND vests_at IS NOT NULL""",
        """CREATE INDEX entries_due ON entries(expires_at, seq)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """CREATE INDEX entries_due_by_member ON entries(member_id, expires_at, seq)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
        """UPDATE entries SET remaining = l.remaining FROM lots AS l
           WHERE l.lot = entries.seq AND l.member_id = entries.member_id AND entries.draws IS NULL
             AND l.points = entries.points AND l.earned_at = entries.occurred_at
             AND l.earned_offset = entries.occurred_offset AND l.vests_at IS entries.vests_at
             AND l.expires_at IS entries.expires_at AND l.rolling = entries.rolling""",
        "DELETE FROM lots WHERE lot IN (SELECT seq FROM entries WHERE remaining IS NOT NULL)",
        "DROP TRIGGER entries_no_update",
        """CREATE TRIGGER entries_no_update BEFORE UPDATE OF seq, member_id, kind, points, balance_after,
               occurred_at, occurred_offset, recorded_at, recorded_offset, source_id, rule,
               program_version, vests_at, expires_at, draws, rolling, redates, rule_shares, link, opened
           ON entries BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    ),
    # 19: an erasure renames its member (loyalty.pseudonyms) with the guard in force: an entry's
    # member and source id may change only while the connection says it renames that member to
    # that pseudonym (loyalty_erasing(), a function the adapter registers on its connections,
    # loyalty.store.sqlite.erasure: a connection without it changes neither), and only of an
    # entry whose text digest is kept. No trigger is dropped while the store runs.
    (
        "DROP TRIGGER entries_no_update",
        """CREATE TRIGGER entries_no_update BEFORE UPDATE OF seq, kind, points, balance_after,
               occurred_at, occurred_offset, recorded_at, recorded_offset, rule,
               program_version, vests_at, expires_at, draws, rolling, redates, rule_shares, link, opened
           ON entries BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
        """CREATE TRIGGER entries_renamed BEFORE UPDATE OF member_id, source_id ON entries
           WHEN NOT loyalty_erasing(OLD.member_id, NEW.member_id)
             OR NOT EXISTS (SELECT 1 FROM kept_texts WHERE seq = OLD.seq)
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    ),
    # 20: a balance read in the member's row and the entries' date indexes alone (issue 12).
    # ``members.held`` is the points of the member's open holds and ``members.lots_kept`` whether a
    # row of ``lots`` ever named the member (1 stays 1: a lot may reopen). Both are kept by
    # triggers the database runs on every write to ``holds`` and ``lots``, so no write path (an
    # import, a merge, a migration) can leave them behind; the balance reads ``lots`` only for a
    # member it names, which on a file never redated is none. And the entries' vesting and
    # due-by-member indexes carry what the balance sums, so it reads no entry's row. The old
    # indexes' partial conditions are kept: a draw from a dated lot rewrote their entries already.
    (
        "ALTER TABLE members ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0)",
        "ALTER TABLE members ADD COLUMN lots_kept INTEGER NOT NULL DEFAULT 0",
        """UPDATE members SET held = (SELECT COALESCE(SUM(points), 0) FROM holds
           WHERE holds.member_id = members.member_id AND status = 'open')""",
        "UPDATE members SET lots_kept = 1 WHERE member_id IN (SELECT member_id FROM lots)",
        """CREATE TRIGGER holds_held_inserted AFTER INSERT ON holds WHEN NEW.status = 'open'
           BEGIN UPDATE members SET held = held + NEW.points WHERE member_id = NEW.member_id; END""",
        """CREATE TRIGGER holds_held_updated AFTER UPDATE OF status, points, member_id ON holds
           BEGIN
               UPDATE members SET held = held - OLD.points
               WHERE OLD.status = 'open' AND member_id = OLD.member_id;
               UPDATE members SET held = held + NEW.points
               WHERE NEW.status = 'open' AND member_id = NEW.member_id;
           END""",
        """CREATE TRIGGER holds_held_deleted AFTER DELETE ON holds WHEN OLD.status = 'open'
           BEGIN UPDATE members SET held = held - OLD.points WHERE member_id = OLD.member_id; END""",
        """CREATE TRIGGER lots_kept_inserted AFTER INSERT ON lots
           BEGIN UPDATE members SET lots_kept = 1 WHERE member_id = NEW.member_id AND lots_kept = 0; END""",
        """CREATE TRIGGER lots_kept_moved AFTER UPDATE OF member_id ON lots
           BEGIN UPDATE members SET lots_kept = 1 WHERE member_id = NEW.member_id AND lots_kept = 0; END""",
        "DROP INDEX entries_vesting",
        """CREATE INDEX entries_vesting ON entries(member_id, vests_at, expires_at, remaining)
           WHERE remaining <> 0 AND vests_at IS NOT NULL""",
        "DROP INDEX entries_due_by_member",
        """CREATE INDEX entries_due_by_member ON entries(member_id, expires_at, seq, remaining)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
    ),
    # 21: a member's own tallies that its row does not keep (a rule's cap, a day's spend, an older
    # month's: loyalty.store.owned_tallies) in member_tallies, keyed by the member and the key,
    # beside its other rows; tallies keeps the counters across members (a budget, a referrer's
    # count, an allowance's total) and the keys that name no member. The member is the key's last
    # part after as many as its family has (the rule owned_tallies.owner follows); the rows move.
    # And the records of the commands written one member at a time (loyalty.transfers.PARTED_KINDS)
    # indexed by kind and key, alone: maintenance finds the first parts kept without their second
    # by a probe of this index, not a scan of every record. The search names the same kinds, so
    # that SQLite knows the index holds every row it wants.
    (
        """CREATE TABLE member_tallies (
            member_id TEXT NOT NULL,
            key TEXT NOT NULL,
            count INTEGER NOT NULL,
            points TEXT NOT NULL,
            PRIMARY KEY (member_id, key)
        ) WITHOUT ROWID""",
        """INSERT INTO member_tallies (member_id, key, count, points)
           WITH p1 AS (
               SELECT key, count, points, substr(key, 1, instr(key, '|') - 1) AS family,
                      substr(key, instr(key, '|') + 1) AS r1
               FROM tallies WHERE instr(key, '|') > 0),
           p2 AS (SELECT *, CASE WHEN instr(r1, '|') > 0 THEN substr(r1, instr(r1, '|') + 1) END AS r2
                  FROM p1),
           p3 AS (SELECT *, CASE WHEN instr(r2, '|') > 0 THEN substr(r2, instr(r2, '|') + 1) END AS r3
                  FROM p2),
           owned AS (
               SELECT key, count, points, CASE
                   WHEN family IN ('visits', 'carry', 'redeemed', 'seen', 'atrisk', 'debt', 'owed', 'merged')
                   THEN r1
                   WHEN family IN ('spent', 'stamps') THEN r2
                   WHEN family IN ('cap', 'birthday', 'events', 'tier') THEN r3 END AS member_id
               FROM p3)
           SELECT member_id, key, count, points FROM owned WHERE member_id <> ''""",
        "DELETE FROM tallies WHERE key IN (SELECT key FROM member_tallies)",
        """CREATE INDEX operations_parts ON operations(kind, key) WHERE kind IN
           ('transfer', 'referral_reward', 'referral_take_back',
            'member_merge_owed', 'member_merge_referees')""",
    ),
    # 22: a purchase's own tallies (what came back of it, what paid for it) and a lot's expiry
    # reminder name their member (loyalty.tallies.of_member) and are kept in member_tallies with
    # its other rows: a return, a redemption against a purchase and a reminder write no row of
    # tallies. The keys kept before, without the member, are moved in Python (MARK), each member
    # found through the purchase's record or the lot's entry; a key of neither stays as it is.
    (MARK,),
    # 23: an entry's times as integers (issue 12): ``occurred_at`` and ``recorded_at`` are microseconds
    # since 1970 (UTC) in INTEGER columns, 8 bytes each where ISO 8601 text took 25 (and the 16
    # digits schema 18 wrote for ``recorded_at`` 16); their offsets stay in their own columns. And
    # its kind is a number (integer_times.KIND_CODES: earn and redeem take no byte), in
    # entries_by_time too.
    # A purchase's record written from now on leaves out what its entry says (layout 3 of
    # loyalty.records); those kept before stay as they are, read alike. The
    # table is made again (a column's affinity cannot change in place), every entry copied with the
    # same instants, so what it reads back, its link included, is what it was; its indexes and
    # triggers are made again as they were. ``entries_by_time`` compares integers from now on.
    INTEGER_TIMES,
    # 24: an erasure written one member at a time (loyalty.service.erasure_parts). A referee's
    # row names its referrer as a plain value, as on PostgreSQL since its schema 15: an erased
    # referrer's row is renamed in the erasure's first part, each referee's row in that referee's
    # part, so no foreign key may tie the two (the table is rebuilt without it; every writer reads
    # the referrer first, and members are never deleted but by that rename). And the record of the
    # parts an erasure's other members are owed (kind member_erasure_others) joins the kinds of
    # operations_parts.
    (
        """CREATE TABLE referrals_24 (
            referee TEXT PRIMARY KEY REFERENCES members(member_id),
            referrer TEXT NOT NULL,
            code TEXT NOT NULL,
            referred_at TEXT NOT NULL,
            referred_offset INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            purchase_id TEXT,
            referrer_points INTEGER NOT NULL,
            referee_points INTEGER NOT NULL,
            referrer_lot INTEGER,
            referee_lot INTEGER,
            vests_at TEXT,
            decided_at TEXT
        )""",
        """INSERT INTO referrals_24 (referee, referrer, code, referred_at, referred_offset, state, reason,
               purchase_id, referrer_points, referee_points, referrer_lot, referee_lot, vests_at, decided_at)
           SELECT referee, referrer, code, referred_at, referred_offset, state, reason, purchase_id,
                  referrer_points, referee_points, referrer_lot, referee_lot, vests_at, decided_at
           FROM referrals""",
        "DROP TABLE referrals",
        "ALTER TABLE referrals_24 RENAME TO referrals",
        "CREATE INDEX referrals_by_referrer ON referrals(referrer, referee)",
        "DROP INDEX operations_parts",
        """CREATE INDEX operations_parts ON operations(kind, key) WHERE kind IN
           ('transfer', 'referral_reward', 'referral_take_back',
            'member_merge_owed', 'member_merge_referees', 'member_erasure_others')""",
    ),
    # 25: the purchases indexed in the order their listing without an entry pages through
    # (loyalty.store.sqlite.no_entry_index): a page probes the index, not a sort of them all.
    NO_ENTRY_INDEX,
)
SCHEMA_VERSION = len(MIGRATIONS)
