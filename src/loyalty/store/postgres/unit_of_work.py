"""A PostgreSQL unit of work: one transaction on one connection."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loyalty.errors import InvalidInput, StorageError, TransientStorageError
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Balance, check_draws, check_redates, redates_of
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent, NewEvent
from loyalty.records import pack_operation, unpack_operation
from loyalty.store import (
    Operation,
    StoredProgram,
    check_deltas,
    check_json,
    check_tally_key,
    program_order,
)
from loyalty.store.member_tallies import Row, Rows, checked, own_keys, where
from loyalty.store.owned_tallies import columns, split
from loyalty.store.periods import purchase_time
from loyalty.store.postgres.driver import entry_values, pg_json, pg_text, translate
from loyalty.store.postgres.erasure import PostgresErasure
from loyalty.store.postgres.feed import PostgresFeed
from loyalty.store.postgres.figures import PostgresFigures
from loyalty.store.postgres.holds import PostgresHolds
from loyalty.store.postgres.identifiers import IdentifierRows
from loyalty.store.postgres.lots import PostgresLots
from loyalty.store.postgres.no_entry import PostgresNoEntry
from loyalty.store.postgres.offline import PostgresOffline
from loyalty.store.postgres.prepared import Executed
from loyalty.store.postgres.queries import Queries
from loyalty.store.postgres.referrals import PostgresReferrals
from loyalty.store.postgres.transfers import PostgresTransfers
from loyalty.store.postgres.vouchers import PostgresVouchers
from loyalty.store.rows import (
    entry_from_row,
    event_from_row,
    lot_from_row,
    member_from_row,
    offset_of,
    program_from_row,
    restore_instant,
    tier_state_from_row,
)
from loyalty.tallies import Tally
from loyalty.tiers import TierState

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

    Connection = psycopg.Connection[tuple[Any, ...]]


class PostgresUnitOfWork(
    IdentifierRows,
    PostgresVouchers,
    PostgresOffline,
    PostgresLots,
    PostgresHolds,
    PostgresFeed,
    PostgresFigures,
    PostgresErasure,
    PostgresTransfers,
    PostgresReferrals,
    PostgresNoEntry,
):
    """One transaction on one connection, which sends what needs no answer with what does.

    Its ``BEGIN`` and the writes whose answer nothing waits for (tallies added, an operation
    kept, lots drawn or re-dated, events) are queued and go to the server in one simple query
    with the next statement that must be answered, or with ``COMMIT``: a purchase costs one
    round trip per read it decides on, one for its entry and one for the rest and the commit.
    A queued write that fails raises from the call that sent it (at the latest, ``commit``),
    and the transaction is then rolled back as for any failed statement.
    """

    def __init__(
        self, conn: Connection, queries: Queries, readonly: bool = False, begin: bytes | None = None
    ) -> None:
        self._conn = conn
        self._q = queries
        self._readonly = readonly
        self._events: list[NewEvent] = []
        self._queued: list[tuple[sql.Composed | bytes, Any]] = [] if begin is None else [(begin, None)]
        if begin is not None and not readonly:
            # Before anything can draw an entry number: the ledger feed waits for this lock.
            self._queued.append((queries.hold_feed, None))
        # Until BEGIN has gone out, a connection the server dropped in the pool can be retried.
        self._fresh = begin is not None
        # Members' row tallies (loyalty.store.member_tallies), read from locked rows: changes are
        # written with the member's next balance update, or at commit.
        self._rows = Rows()
        #: Members' statuses as this unit of work read or wrote them (a lock reads it with the balance).
        self._statuses: dict[str, MemberStatus] = {}
        #: Members' enrollment times as a lock read them (stored form: restored when asked).
        self._enrolled: dict[str, tuple[Any, Any]] = {}
        # Members not enrolled whose keys this unit of work added to, under their lock.
        self._unenrolled: set[str] = set()
        # Balances read under the member's lock, as this unit of work's entries moved them, and
        # an entry number drawn under it (operation_and_lock) for the member's next credit.
        self._balances: dict[str, int] = {}
        self._numbered: tuple[str, int] | None = None
        # Members whose row this unit of work locked (or inserted): an entry's number is drawn
        # in the statement that moves their balance, which must not wait for the lock after.
        self._locked: set[str] = set()

    def _writable(self) -> None:
        # The server refuses writes in a READ ONLY transaction too; this says so
        # before a round trip, and also for writes that would send nothing.
        if self._readonly:
            raise StorageError(None, "write in a read-only unit of work")

    def _execute(self, query: sql.Composed | bytes, params: Any = None) -> psycopg.Cursor[tuple[Any, ...]]:
        """Run ``query`` (after what is queued, in one round trip) and return its cursor."""
        import psycopg

        fresh, self._fresh = self._fresh, False
        try:
            if not self._queued and not isinstance(query, Executed):
                return self._conn.execute(query, params)
            return self._batch(query, params)
        except psycopg.OperationalError as exc:
            if fresh:
                # The server dropped this connection while it sat in the pool (restart, idle
                # timeout). Nothing had run before, so the engine may safely retry; the pool
                # replaces the dead connection.
                raise TransientStorageError(None, f"postgresql: {exc}") from exc
            raise translate(exc) from exc
        except psycopg.Error as exc:
            raise translate(exc) from exc

    def _batch(self, query: sql.Composed | bytes, params: Any) -> psycopg.Cursor[tuple[Any, ...]]:
        """The queued statements and ``query`` as one simple query (values bound by the driver on
        this side), answered by ``query``'s result, the last of the batch."""
        from psycopg import ClientCursor

        cursor = ClientCursor(self._conn)
        queued, self._queued = self._queued, []
        cursor.execute("; ".join(cursor.mogrify(text, values) for text, values in [*queued, (query, params)]))
        while cursor.nextset():
            pass
        return cursor

    def _queue(self, query: sql.Composed | bytes, params: Any) -> None:
        """Send ``query`` with the next statement that needs an answer (its values checked now)."""
        self._queued.append((query, params))

    def member(self, member_id: str) -> Member | None:
        row = self._execute(self._q.member, (member_id,)).fetchone()
        return None if row is None else member_from_row(row)

    def member_ids(self, *, after: str = "", limit: int) -> list[str]:
        rows = self._execute(self._q.member_ids, (after, limit)).fetchall()
        return [str(row[0]) for row in rows]

    def add_member(self, member: Member) -> None:
        self._writable()
        changed = member.birthday_changed_at
        # Its own statement before the insert, so the insert's snapshot sees what a writer that
        # held the lock committed.
        self._queue(self._q.lock_member_keys, (self._q.lock_prefix, [pg_text("member_id", member.id)]))
        row = self._execute(
            self._q.add_member,
            (
                pg_text("member_id", member.id),
                own_keys(member.id),
                member.id,
                member.enrolled_at,
                offset_of(member.enrolled_at),
                member.birthday,
                pg_json("attributes", dict(member.attributes)),
                changed,
                None if changed is None else offset_of(changed),
                member.status.value,
            ),
        ).fetchone()
        assert row is not None  # an INSERT ... RETURNING
        self._rows.rows[member.id] = Row(member.id, row[0])
        self._locked.add(member.id)  # a row it inserted is its own until it commits

    def update_member(self, member: Member) -> None:
        self._writable()
        changed = member.birthday_changed_at
        cursor = self._execute(
            self._q.update_member,
            (
                member.birthday,
                pg_json("attributes", dict(member.attributes)),
                changed,
                None if changed is None else offset_of(changed),
                member.status.value,
                pg_text("member_id", member.id),
            ),
        )
        if cursor.rowcount != 1:
            raise StorageError("member_id", f"no member {member.id!r} to update")
        self._statuses[member.id] = member.status

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None:
        if not for_update:
            row = self._execute(self._q.balance, (member_id,)).fetchone()
            return None if row is None else int(row[0])
        return self._lock(member_id, self._q.balance_for_update)

    def lock_erasing(self, member_id: str) -> int | None:
        return self._lock(member_id, self._q.balance_for_erasure)

    def keep_named(self, member_id: str) -> bool:
        if member_id in self._locked:
            return True
        row = self._execute(self._q.hold_member, (member_id,)).fetchone()
        if row is None:
            return False
        # Read under the hold, after any change of status that held the row first (READ COMMITTED
        # locks the row's latest version): not the status this unit of work may have read before.
        # (A referee's first purchase, which decides on this status, drew no entry number with
        # its own lock: operation_and_lock. Its entries are numbered after this hold.)
        self._statuses[member_id] = MemberStatus(row[0])
        return True

    def _lock(self, member_id: str, query: Any) -> int | None:
        row = self._execute(query, (member_id,)).fetchone()
        if row is None:
            return None
        # Locked: this unit of work may add to the row's tallies (only locked rows are kept).
        self._locked.add(member_id)
        self._rows.loaded(member_id, row[1])
        self._statuses[member_id] = MemberStatus(row[2])
        self._enrolled[member_id] = (row[3], row[4])
        return int(row[0])

    def enrolled_at(self, member_id: str) -> datetime | None:
        stored = self._enrolled.get(member_id)
        if stored is None:
            row = self._execute(self._q.enrolled_at, (member_id,)).fetchone()
            if row is None:
                return None
            stored = self._enrolled[member_id] = (row[0], row[1])
        return restore_instant(*stored)

    def member_status(self, member_id: str) -> MemberStatus | None:
        status = self._statuses.get(member_id)
        if status is None:
            row = self._execute(self._q.member_status, (member_id,)).fetchone()
            if row is None:
                return None
            status = self._statuses[member_id] = MemberStatus(row[0])
        return status

    def balance_by_state(self, member_id: str, now: datetime) -> Balance | None:
        row = self._execute(self._q.balance_by_state, {"m": member_id, "now": now}).fetchone()
        if row is None:
            return None
        total, overdue, pending, held = map(int, row)
        return Balance(total - pending - overdue, pending, overdue, held)

    def append(self, posting: Posting) -> Entry:
        self._writable()
        member_id = posting.member_id
        numbered = self._numbered
        plain = posting.points >= 0 and not posting.draws and not posting.redates
        if (
            numbered is not None
            and numbered[0] == member_id
            and plain
            and posting.kind is not EntryKind.REDATE
        ):
            # A credit to the member locked with its number drawn: its number and balance are
            # known, so it goes out with the commit (or the next statement that is answered).
            self._numbered = None
            balance = self._balances[member_id] + posting.points
            self._queue(
                self._q.append_numbered,
                {**entry_values(posting, self._rows.take(posting.member_id)), "seq": numbered[1]},
            )
            self._balances[member_id] = balance
            return posting.recorded(numbered[1], balance)
        if posting.points < 0 or posting.draws:
            # Checked before anything is written, against the lots as stored (and locked).
            ids = [lot for lot, _ in posting.draws]
            rows = self._execute(self._q.lots_by_id, (posting.member_id, ids)).fetchall()
            check_draws(posting, {lot.id: lot for lot in map(lot_from_row, rows)})
        moves = posting.redates
        if moves or posting.kind is EntryKind.REDATE:
            named = [lot for lot, _ in moves]  # none for a roll: no round trip
            rows = self._execute(self._q.lots_by_id, (member_id, named)).fetchall() if named else []
            check_redates(posting, {lot.id: lot for lot in map(lot_from_row, rows)})
            moves = redates_of(posting, lambda: self.lots(member_id))  # a roll's: the store's own lots
        if member_id not in self._locked and self.balance(member_id, for_update=True) is None:
            raise StorageError("member_id", f"no member {posting.member_id!r} to append to")
        # Drawn from here on, a number drawn before would come after this entry's.
        self._numbered = None
        values = entry_values(posting, self._rows.take(posting.member_id))
        row = self._execute(self._q.append, {**values, "entries": self._q.entries_table}).fetchone()
        if row is None:
            raise StorageError("member_id", f"no member {posting.member_id!r} to append to")
        seq, balance = row
        if member_id in self._balances:
            self._balances[member_id] = balance
        if posting.draws:
            lots, points = zip(*posting.draws, strict=True)
            self._queue(self._q.draw, (list(lots), list(points), member_id))
        if moves:
            moved, dates = zip(*moves, strict=True)
            self._queue(self._q.redate, (posting.rolling, list(moved), list(dates), member_id))
        return posting.recorded(seq, balance)

    def add_event(self, event: NewEvent) -> None:
        self._writable()
        check_json("data", event.data)  # refused now, not at commit
        self._events.append(event)

    def events(self, *, after: int = 0, limit: int | None = None) -> list[DomainEvent]:
        rows = self._execute(self._q.events, (after, limit)).fetchall()
        return [event_from_row(row) for row in rows]

    def tier_state(self, member_id: str) -> TierState | None:
        row = self._execute(self._q.tier_state, (member_id,)).fetchone()
        return None if row is None else tier_state_from_row(row)

    def put_tier_state(self, state: TierState) -> None:
        self._writable()
        try:
            self._execute(
                self._q.put_tier_state,
                (
                    pg_text("member_id", state.member_id),
                    pg_text("tier", state.tier),
                    pg_text("earned", state.earned),
                    state.since,
                    state.review_at,
                    state.due_at,
                    state.floor,
                    state.floor_until,
                    pg_json("reached", list(state.reached)),
                ),
            )
        except StorageError as exc:
            if "foreign key" in exc.message:
                raise StorageError("member_id", f"no member {state.member_id!r}") from exc
            raise

    def due_tier_states(self, until: datetime, *, limit: int | None = None) -> list[TierState]:
        rows = self._execute(self._q.due_tier_states, (until, limit)).fetchall()
        return [tier_state_from_row(row) for row in rows]

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        # LIMIT NULL is no limit.
        rows = self._execute(self._q.history, (member_id, after, limit)).fetchall()
        return [entry_from_row(row) for row in rows]

    def operation(self, key: str) -> Operation | None:
        row = self._execute(self._q.operation, (key,)).fetchone()
        if row is None:
            return None
        kind, body, recorded_at, recorded_offset = row
        request, result = unpack_operation(key, body)
        return Operation(key, kind, request, result, restore_instant(recorded_at, recorded_offset))

    def operation_and_lock(self, key: str, member_id: str) -> tuple[Operation | None, int | None]:
        if self._readonly:
            return self.operation(key), self.balance(member_id)  # nothing to lock for
        query, entries = self._q.operation_and_lock, self._q.entries_table
        row = self._execute(query, (member_id, member_id, entries, key)).fetchone()
        assert row is not None  # one row, always
        kind, body, recorded_at, recorded_offset, balance, tallies, status, enrolled, offset, seq = row
        operation = None
        if kind is not None:
            request, result = unpack_operation(key, body)
            operation = Operation(key, kind, request, result, restore_instant(recorded_at, recorded_offset))
        if balance is None:
            return operation, None
        # Locked: this unit of work may add to the row's tallies (only locked rows are kept), and
        # knows the balance its next entry moves, and that entry's number (but a referee's: see
        # the query).
        self._rows.loaded(member_id, tallies)
        self._locked.add(member_id)
        self._statuses[member_id] = MemberStatus(status)
        self._enrolled[member_id] = (enrolled, offset)
        self._balances[member_id] = int(balance)
        self._numbered = None if seq is None else (member_id, int(seq))
        return operation, int(balance)

    def add_operation(self, operation: Operation) -> None:
        self._writable()
        key, kind = pg_text("id", operation.key), pg_text("kind", operation.kind)
        body = pack_operation(kind, key, operation.request, operation.result)
        try:
            pg_text("body", body)
        except InvalidInput:
            # Name the part that PostgreSQL cannot hold.
            pg_json("request", operation.request)
            pg_json("result", operation.result)
            raise
        self._queue(
            self._q.add_operation,
            (
                key,
                kind,
                body,
                operation.recorded_at,
                offset_of(operation.recorded_at),
                purchase_time(operation),
            ),
        )

    def _load_rows(self, members: list[str], *, lock: bool) -> list[tuple[str, str | None]]:
        query = self._q.row_tallies_for_update if lock else self._q.row_tallies
        return self._execute(query, (members,)).fetchall()

    def _table_tallies(self, keys: list[str], for_update: bool) -> dict[str, Tally]:
        # A member's own in member_tallies, the rest in tallies (loyalty.store.owned_tallies).
        shared, owned = split(keys)
        members = sorted({member for member, _ in owned})
        owned_keys = [key for _, key in owned]
        rows: list[tuple[str, int, Decimal]] = []
        if for_update and not self._readonly:
            # Every lock in one order: a member's own first, then the rest, each by code point.
            if owned:
                pairs = sorted(set(owned))
                self._queue(self._q.create_member_tallies, ([m for m, _ in pairs], [k for _, k in pairs]))
                rows += self._execute(self._q.member_tallies_for_update, (members, owned_keys)).fetchall()
            if shared:
                ordered = sorted(set(shared))
                self._queue(self._q.create_tallies, (ordered,))
                rows += self._execute(self._q.tallies_for_update, (ordered,)).fetchall()
        elif owned and shared:
            rows = self._execute(self._q.both_tallies, (members, owned_keys, shared)).fetchall()
        elif owned:
            rows = self._execute(self._q.member_tallies, (members, owned_keys)).fetchall()
        else:
            rows = self._execute(self._q.tallies, (shared,)).fetchall()
        return {key: Tally(count, points) for key, count, points in rows}

    def _read(self, keys: list[str], *, for_update: bool, lock_rows: bool) -> dict[str, Tally]:
        # Keys of the table are read afresh (what is queued goes first); a member's row is kept
        # for the unit of work, with what it added to it, only when it was locked (or in a
        # read-only unit of work, whose snapshot does not move).
        keep = lock_rows or self._readonly
        return self._rows.read(
            keys,
            {},
            lambda members: self._load_rows(members, lock=lock_rows and not self._readonly),
            lambda table: self._table_tallies(table, for_update),
            keep=keep,
        )

    def tallies(self, keys: Collection[str], *, for_update: bool = False) -> dict[str, Tally]:
        wanted = [check_tally_key(key) for key in keys]
        if not wanted:
            return {}
        found = self._read(wanted, for_update=for_update, lock_rows=for_update)
        return {key: found[key] for key in wanted}

    def add_tallies(self, deltas: Mapping[str, Tally]) -> None:
        self._writable()
        if not deltas:
            return
        check_deltas(deltas)
        rows = self._rows
        # A member's row tallies are added up here, on the locked row; the rest by the server.
        kept = [key for key in deltas if where(key) is not None]
        now = self._read(kept, for_update=False, lock_rows=True) if kept else {}
        absent = [m for m in rows.absent(kept) if m not in self._unenrolled]
        if absent:
            # Their keys go to the table: under the lock an enrolment takes, and only if they
            # are still not enrolled once it is held.
            self._queue(self._q.lock_member_keys, (self._q.lock_prefix, absent))
            enrolled = self._load_rows(absent, lock=True)
            self._unenrolled.update(absent)
            if enrolled:
                for member_id, text in enrolled:
                    rows.rows[member_id] = Row(member_id, text)
                now = self._read(kept, for_update=False, lock_rows=True)
        # Every sum first: one that fails leaves nothing added.
        totals = {key: checked(key, now[key] + deltas[key]) for key in kept if rows.keeps(key)}
        added: list[tuple[str, Tally]] = []
        let_go: list[tuple[str, Tally]] = []
        taken: list[str] = []
        for key, delta in deltas.items():
            # (Kept no longer if an earlier key moved its row to a later month: the table's.)
            if key not in totals or not rows.keeps(key):
                added.append((key, delta))
                continue
            gone, held = rows.put(key, totals[key])
            if gone is not None:
                let_go.append(gone)
            if held:
                taken.append(key)  # read into the total, kept by the row from now on
        if taken:
            pairs = split(taken)[1]  # only a member's own key is kept by its row
            self._queue(self._q.take_tallies, ([m for m, _ in pairs], [k for _, k in pairs]))
        for (owned_query, shared_query), part in (
            ((self._q.set_member_tallies, self._q.set_tallies), let_go),
            ((self._q.add_member_tallies, self._q.add_tallies), added),
        ):
            if part:
                owned, shared = columns(part)
                if owned[0]:
                    self._queue(owned_query, owned)
                if shared[0]:
                    self._queue(shared_query, shared)

    def program_versions(self) -> list[StoredProgram]:
        rows = self._execute(self._q.program_versions).fetchall()
        return sorted((program_from_row(row) for row in rows), key=program_order)

    def add_program_version(self, program: StoredProgram) -> None:
        self._writable()
        effective = program.effective_from
        self._execute(
            self._q.add_program_version,
            (
                pg_text("version", program.version),
                effective,
                None if effective is None else offset_of(effective),
                pg_json("body", program.body),
                program.recorded_at,
                offset_of(program.recorded_at),
            ),
        )

    def commit(self) -> None:
        from psycopg.pq import TransactionStatus

        # PostgreSQL answers COMMIT of a failed transaction with a silent
        # ROLLBACK; a caller that swallowed the error must not think it saved.
        if self._conn.info.transaction_status == TransactionStatus.INERROR:
            raise StorageError(None, "an earlier statement failed; the unit of work was rolled back")
        changed = self._rows.changed()
        if changed:
            self._queue(
                self._q.put_row_tallies, ([row.member_id for row in changed], [row.text() for row in changed])
            )
        if self._events:
            self._flush_events()
        self._execute(b"COMMIT")

    def _flush_events(self) -> None:
        """Number the unit of work's events and write them, last thing before COMMIT.

        The head row's lock is the last lock the transaction takes and is held
        to its commit, so events are numbered in commit order and no two
        writers can deadlock over it.
        """
        events, self._events = self._events, []
        row = self._execute(self._q.claim_events, (len(events),)).fetchone()
        assert row is not None  # the head row is created with the table
        first = int(row[0]) - len(events) + 1
        self._queue(
            self._q.add_events,
            (
                list(range(first, first + len(events))),
                [event.kind.value for event in events],
                [pg_text("member_id", event.member_id) for event in events],
                [event.occurred_at for event in events],
                [offset_of(event.occurred_at) for event in events],
                [event.recorded_at for event in events],
                [offset_of(event.recorded_at) for event in events],
                [pg_text("source_id", event.source_id) for event in events],
                [pg_json("data", check_json("data", event.data)) for event in events],
            ),
        )
