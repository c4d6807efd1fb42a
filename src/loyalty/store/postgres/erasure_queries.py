"""The statements of an erasure (:mod:`loyalty.store.postgres.erasure`), composed with the
adapter's others (:class:`~loyalty.store.postgres.queries.Queries`) and kept apart from them:
an erasure is rare, and most of what it reads is scanned."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from loyalty.erasure import MEMBER_FIELDS

if TYPE_CHECKING:
    from psycopg import sql


class ErasureQueries:
    """An erasure's statements, composed once with the schema as an identifier."""

    def _compose_erasure(self, q: Callable[[str], sql.Composed]) -> None:
        # Rare, so the records are scanned.
        # (S608: the fields are our constants; the member is a parameter.)
        named = " OR ".join(f"body::jsonb -> 3 ->> '{field}' = %(m)s" for field in MEMBER_FIELDS)
        records = f"SELECT key, kind, body FROM {{s}}.operations WHERE body::jsonb ->> 0 = %(m)s OR {named}"  # noqa: S608
        self.member_records = q(records)
        # The member's events, and the merges into it (whose data lists the keys they carried to it).
        about = "(member_id = %(m)s OR kind = 'member_merged' AND data::jsonb ->> 'survivor' = %(m)s)"
        self.member_events = q(f"SELECT {{event_columns}} FROM {{s}}.events WHERE {about} ORDER BY seq")  # noqa: S608
        self.erase_keys = q("DELETE FROM {s}.identifiers WHERE member_id = %s")
        self.keep_text = q(
            "INSERT INTO {s}.kept_texts (seq, member_id, digest) SELECT seq, member_id, %s FROM {s}.entries"
            " WHERE seq = %s AND member_id = %s ON CONFLICT (seq, member_id) DO NOTHING"
        )
        self.erase_text = q(
            "UPDATE {s}.entries SET reason = %s, actor = %s WHERE seq = %s AND member_id = %s"
        )
        self.erase_record = q("UPDATE {s}.operations SET body = %s WHERE key = %s")
        self.erase_shared_event = q("UPDATE {s}.events SET data = %s WHERE seq = %s AND member_id = %s")
        # What holds a member id as JSON text (its JSON form without the quotes: a tally key too).
        self.mentioning_records = q("SELECT key, kind, body FROM {s}.operations WHERE strpos(body, %s) > 0")
        self.mentioning_events = q(
            "SELECT {event_columns} FROM {s}.events WHERE strpos(data, %s) > 0 ORDER BY seq"
        )
        # The entries whose reason the engine wrote a member id into (a scan: an erasure is rare).
        self.naming = q("SELECT {entry_columns} FROM {s}.entries WHERE reason = ANY(%s) ORDER BY seq")
        self.erasure_secret = q("SELECT points FROM {s}.tallies WHERE key = %s")
        self.add_erasure_secret = q(
            "INSERT INTO {s}.tallies (key, count, points) VALUES (%s, 0, %s) ON CONFLICT (key) DO NOTHING"
        )
        self.tallies_mentioning = q("SELECT key FROM {s}.tallies WHERE strpos(key, %s) > 0")
        self.rename_tally = q("UPDATE {s}.tallies SET key = %s WHERE key = %s")
        self.member_tally_keys = q("SELECT key FROM {s}.member_tallies WHERE member_id = %s")
        self.rename_member_tally = q(
            "UPDATE {s}.member_tallies SET key = %s WHERE member_id = %s AND key = %s"
        )
        # Every column of every table (those a later schema adds too), with whether it is in the
        # table's primary key; not a generated column, which a copy of the row leaves to compute.
        self.table_columns = q(
            "SELECT c.relname, a.attname, COALESCE(a.attnum = ANY(x.indkey), false) FROM pg_class AS c"
            " JOIN pg_attribute AS a ON a.attrelid = c.oid"
            " LEFT JOIN pg_index AS x ON x.indrelid = c.oid AND x.indisprimary"
            " WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = %s) AND c.relkind = 'r'"
            " AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '' ORDER BY c.relname, a.attnum"
        )
        # What the entries' guard reads (schema 18, and for a move schema 23): the member an
        # erasure renames, into what, for the rest of its transaction ('' and '': none).
        self.renaming = q(
            "SELECT set_config('loyalty.erasing', %s, true), set_config('loyalty.pseudonym', %s, true)"
        )
