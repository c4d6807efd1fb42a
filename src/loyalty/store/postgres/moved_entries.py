"""PostgreSQL schema 23: an erasure moves its member's rows to the pseudonym instead of renaming
them in place (step 23 of loyalty.store.postgres.migrations, apart so that the list of steps
stays readable).

On a cluster distributed by member (docs/scaling.md) the member's id is the distribution column
of its tables, which Citus refuses to ``UPDATE``; the erasure
(:meth:`loyalty.store.postgres.erasure.PostgresErasure._rename`) therefore inserts a copy of each
of the member's rows under the pseudonym (its shard) and deletes the old ones. The ledger's
guards follow:

- ``UPDATE`` of an entry is back to what schema 17 allowed: its reason and actor alone, once its
  text digest is kept. The member and source id no longer change in place (schema 18 let them,
  while the transaction's settings named the rename): nothing updates them any more.
- ``DELETE`` of an entry, refused outright until now, is let through for exactly the move: the
  entry is the member the transaction's settings ``loyalty.erasing`` names (set local to it with
  ``set_config(..., true)``, as since schema 18), and its copy is already there, under the member
  ``loyalty.pseudonym`` names (another member), with the same ``seq`` and every other column
  equal but the member and source id (the erasure renames the ids the engine made from the member
  id), with a text digest kept under the pseudonym equal to the old entry's. So a delete can only
  take out an entry whose every value is still in the ledger under the pseudonym: the chain,
  balances and history read the same, and ``verify`` finds what it found. The settings are the
  transaction's own: anyone able to set them could also drop the trigger, so the guard, as
  before, is against a mistake or a client that bypasses the engine, not against the table's
  owner. ``TRUNCATE`` stays refused.

The copy is checked row by row from the old entry's trigger: on a cluster that reads the
pseudonym's shard from the old member's (not tried here: no cluster; docs/scaling.md).
"""

from __future__ import annotations

__all__ = ["MOVED_ENTRIES"]

#: Step 23 of the PostgreSQL migrations, after schema 17's guard on an update again (``TEXT_ONLY``).
MOVED_ENTRIES: tuple[str, ...] = (
    """CREATE FUNCTION {s}.entries_moved_only() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE
           pseudonym TEXT := current_setting('loyalty.pseudonym', true);
       BEGIN
           IF OLD.member_id IS DISTINCT FROM current_setting('loyalty.erasing', true)
              OR pseudonym IS NULL OR pseudonym = OLD.member_id
              OR NOT EXISTS (SELECT 1 FROM {s}.entries AS c
                             WHERE c.seq = OLD.seq AND c.member_id = pseudonym
                               AND to_jsonb(c) - 'member_id' - 'source_id'
                                   = to_jsonb(OLD) - 'member_id' - 'source_id')
              OR NOT EXISTS (SELECT 1 FROM {s}.kept_texts AS t JOIN {s}.kept_texts AS o USING (seq, digest)
                             WHERE t.seq = OLD.seq AND t.member_id = pseudonym
                               AND o.member_id = OLD.member_id) THEN
               RAISE EXCEPTION 'ledger entries are immutable';
           END IF;
           RETURN OLD;
       END $$""",
    "DROP TRIGGER entries_no_delete ON {s}.entries",
    """CREATE TRIGGER entries_moved_only BEFORE DELETE ON {s}.entries
       FOR EACH ROW EXECUTE FUNCTION {s}.entries_moved_only()""",
)
