"""SQLite schema 23 (issue 12): ``entries`` made again with its times as integer microseconds
and its kind as a number (loyalty.store.sqlite.migrations, step 23), apart so that the list of
steps stays readable."""

from __future__ import annotations

__all__ = ["INTEGER_TIMES", "KIND_CODES"]

# Every column of an entry as schema 23 makes the table again, in order.
_ENTRY_COLUMNS = (
    "seq, member_id, kind, points, balance_after, occurred_at, occurred_offset, recorded_at,"
    " recorded_offset, source_id, reason, actor, rule, program_version, vests_at, expires_at, draws,"
    " rolling, redates, record, rule_shares, link, opened, remaining"
)
# An entry's kind as its number from schema 23 (loyalty.store.rows.ENTRY_KINDS, as of this schema).
KIND_CODES = (
    "CASE kind WHEN 'earn' THEN 0 WHEN 'redeem' THEN 1 WHEN 'adjust' THEN 2 WHEN 'expire' THEN 3"
    " WHEN 'hold' THEN 4 WHEN 'release' THEN 5 WHEN 'return' THEN 6 WHEN 'refund' THEN 7"
    " WHEN 'collect' THEN 8 WHEN 'tier' THEN 9 WHEN 'redate' THEN 10 WHEN 'transfer' THEN 11"
    " WHEN 'merge' THEN 12 ELSE kind END"
)

#: Step 23 of the SQLite migrations.
INTEGER_TIMES: tuple[str, ...] = (
    "DROP TRIGGER operations_key_once",
    """CREATE TABLE entries_23 (
            seq INTEGER PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members(member_id),
            kind INTEGER NOT NULL,
            points INTEGER NOT NULL,
            balance_after INTEGER NOT NULL,
            occurred_at INTEGER NOT NULL,
            occurred_offset INTEGER NOT NULL,
            recorded_at INTEGER NOT NULL,
            recorded_offset INTEGER NOT NULL,
            source_id TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT,
            rule TEXT,
            program_version TEXT,
            vests_at TEXT,
            expires_at TEXT,
            draws TEXT,
            rolling INTEGER NOT NULL DEFAULT 0,
            redates TEXT,
            record TEXT,
            rule_shares TEXT,
            link BLOB,
            opened INTEGER,
            remaining INTEGER CHECK (remaining IS NULL
                OR COALESCE(opened, points) > 0 AND remaining BETWEEN 0 AND COALESCE(opened, points)
                OR COALESCE(opened, points) < 0 AND remaining BETWEEN COALESCE(opened, points) AND 0)
        )""",
    f"""INSERT INTO entries_23 ({_ENTRY_COLUMNS})
           SELECT seq, member_id, {KIND_CODES}, points, balance_after, loyalty_instant(occurred_at),
                  occurred_offset,
                  CASE WHEN instr(recorded_at, 'T') THEN loyalty_instant(recorded_at)
                       ELSE CAST(recorded_at AS INTEGER) END,
                  recorded_offset, source_id, reason, actor, rule, program_version, vests_at, expires_at,
                  draws, rolling, redates, record, rule_shares, link, opened, remaining
           FROM entries ORDER BY seq""",  # noqa: S608
    "DROP TABLE entries",
    "ALTER TABLE entries_23 RENAME TO entries",
    "CREATE INDEX entries_by_member ON entries(member_id, seq)",
    "CREATE INDEX entries_by_time ON entries(occurred_at, kind, points)",
    "CREATE UNIQUE INDEX entries_by_key ON entries(source_id) WHERE record IS NOT NULL",
    "CREATE INDEX entries_spendable ON entries(member_id, expires_at, seq) WHERE remaining > 0",
    "CREATE INDEX entries_debts ON entries(member_id, seq) WHERE remaining < 0",
    """CREATE INDEX entries_due ON entries(expires_at, seq)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
    """CREATE INDEX entries_vesting ON entries(member_id, vests_at, expires_at, remaining)
           WHERE remaining <> 0 AND vests_at IS NOT NULL""",
    """CREATE INDEX entries_due_by_member ON entries(member_id, expires_at, seq, remaining)
           WHERE remaining <> 0 AND expires_at IS NOT NULL""",
    """CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    """CREATE TRIGGER entries_text_kept BEFORE UPDATE OF reason, actor, record ON entries
           WHEN NOT EXISTS (SELECT 1 FROM kept_texts WHERE seq = OLD.seq)
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    """CREATE TRIGGER entries_no_update BEFORE UPDATE OF seq, kind, points, balance_after,
               occurred_at, occurred_offset, recorded_at, recorded_offset, rule,
               program_version, vests_at, expires_at, draws, rolling, redates, rule_shares, link, opened
           ON entries BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    """CREATE TRIGGER entries_renamed BEFORE UPDATE OF member_id, source_id ON entries
           WHEN NOT loyalty_erasing(OLD.member_id, NEW.member_id)
             OR NOT EXISTS (SELECT 1 FROM kept_texts WHERE seq = OLD.seq)
           BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable'); END""",
    """CREATE TRIGGER operations_key_once BEFORE INSERT ON operations
           WHEN EXISTS (SELECT 1 FROM entries WHERE source_id = NEW.key AND record IS NOT NULL)
           BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: entries.source_id'); END""",
)
