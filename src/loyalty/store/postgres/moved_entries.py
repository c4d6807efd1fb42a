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
- ``DELETE`` of an entry, refused outright until now, is let through for the move alone: the
  entry is of the member the transaction's setting ``loyalty.erasing`` names (set local to it
  with ``set_config(..., true)``, as since schema 18), ``loyalty.pseudonym`` names another
  member, and the entry's text digest is kept (the erasure's first step, in the same
  transaction). ``TRUNCATE`` stays refused.

The trigger reads the entry's own member's rows only (its kept digest), never the pseudonym's:
on a cluster those are on another shard, and a trigger on a shard that queried another one would
run a distributed query from a worker, which ``citus.enable_unsafe_triggers`` lets in on the
promise that it does not. That the copy under the pseudonym holds every value of the rows it
replaces is checked by the erasure itself, table by table, before it deletes anything
(:func:`loyalty.store.postgres.moves.compare_rows`): a bug in the copy is a refused erasure, not
a lost entry. The settings are the transaction's own: anyone able to set them could also drop
the trigger, so the guard, as before, is against a mistake or a client that bypasses the engine,
not against the table's owner; the chains (docs/audit.md) catch what gets past it.
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
              OR pseudonym IS NULL OR pseudonym = '' OR pseudonym = OLD.member_id
              OR NOT EXISTS (SELECT 1 FROM {s}.kept_texts AS o
                             WHERE o.seq = OLD.seq AND o.member_id = OLD.member_id) THEN
               RAISE EXCEPTION 'ledger entries are immutable';
           END IF;
           RETURN OLD;
       END $$""",
    "DROP TRIGGER entries_no_delete ON {s}.entries",
    """CREATE TRIGGER entries_moved_only BEFORE DELETE ON {s}.entries
       FOR EACH ROW EXECUTE FUNCTION {s}.entries_moved_only()""",
)
