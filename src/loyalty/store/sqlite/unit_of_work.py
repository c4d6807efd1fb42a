"""An SQLite unit of work: one transaction on one connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from loyalty.chains import Head, Link, content_digest
from loyalty.errors import StorageError
from loyalty.figures import PeriodTotals
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Balance, check_draws, check_redates, counted_balance, roll_of
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent, NewEvent
from loyalty.records import pack_operation, unpack_operation
from loyalty.referrals import Referral
from loyalty.store import (
    Operation,
    StoredProgram,
    check_deltas,
    check_json,
    check_tally_key,
    program_order,
)
from loyalty.store.entry_records import carries
from loyalty.store.member_tallies import Row, Rows, checked, own_keys, where
from loyalty.store.owned_tallies import split
from loyalty.store.periods import purchase_time
from loyalty.store.rows import (
    dump_json,
    entry_from_row,
    event_from_row,
    member_from_row,
    offset_of,
    program_from_row,
    referral_from_row,
    restore_instant,
    rules_text,
    tier_state_from_row,
)
from loyalty.store.sqlite.entries import Pending, facts, insert_entry, pending
from loyalty.store.sqlite.erasure import SQLiteErasure
from loyalty.store.sqlite.holds import SQLiteHolds
from loyalty.store.sqlite.identifiers import IdentifierRows
from loyalty.store.sqlite.lots import SQLiteLots, find_lots, roll
from loyalty.store.sqlite.no_entry import SQLiteNoEntry
from loyalty.store.sqlite.offline import SQLiteOffline
from loyalty.store.sqlite.periods import period_totals
from loyalty.store.sqlite.statements import (
    BALANCE_BY_STATE,
    DUE_TIERS,
    EPOCH,
    EVENTS,
    INSERT_MEMBER,
    INSERT_OPERATION,
    INSERT_PROGRAM,
    KEYS_PER_QUERY,
    MOVE_BALANCE,
    MOVE_BALANCE_AND_TALLIES,
    MOVE_LOT_OUT,
    PUT_REFERRAL,
    PUT_ROW_TALLIES,
    PUT_TIER,
    REFERRALS_BY,
    SELECT_ENTRIES,
    SELECT_HEADS,
    SELECT_HISTORY,
    SELECT_LINKS,
    SELECT_MEMBER,
    SELECT_OPERATION,
    SELECT_PROGRAMS,
    SELECT_REFERRAL,
    SELECT_ROW_TALLIES,
    SELECT_TIER,
    UPSERT_MEMBER_TALLY,
    UPSERT_TALLY,
    micros,
    sortable,
    utc_text,
)
from loyalty.store.sqlite.transaction import Pool, Transactional
from loyalty.store.sqlite.transfers import SQLiteTransfers
from loyalty.store.sqlite.vouchers import SQLiteVouchers
from loyalty.tallies import Tally
from loyalty.tiers import TierState

#: A member's stored status by its text.
_STATUSES = {status.value: status for status in MemberStatus}


class SQLiteUnitOfWork(
    Transactional,
    IdentifierRows,
    SQLiteVouchers,
    SQLiteOffline,
    SQLiteLots,
    SQLiteHolds,
    SQLiteErasure,
    SQLiteTransfers,
    SQLiteNoEntry,
):
    def __init__(self, pool: Pool, readonly: bool) -> None:
        # Its connection is borrowed, and its transaction begun, when it is entered.
        self._pool = pool
        self._readonly = readonly
        # Tallies this unit of work has read or written. A write unit of work
        # holds the write lock from its first statement, so they cannot change
        # under it: add_tallies adds to them without reading them again.
        self._seen: dict[str, Tally] = {}
        # Members' row tallies (loyalty.store.member_tallies): changes are written with the
        # member's next balance update, or at commit.
        self._rows = Rows()
        #: Members' statuses as this unit of work read or wrote them (a lock reads it with the balance).
        self._statuses: dict[str, MemberStatus] = {}
        #: Members' enrollment times as a lock read them (stored form: restored when asked).
        self._enrolled: dict[str, tuple[Any, Any]] = {}
        # The entry appended last, numbered but not inserted yet (loyalty.store.sqlite.entries).
        self._pending: Pending | None = None
        # Keys operation() found in neither table: under the write lock, no one else can take them,
        # so a purchase's record may go in its entry (schema 11) without a look in operations.
        self._free: set[str] = set()

    def _writable(self) -> None:
        if self._readonly:
            raise StorageError(None, "write in a read-only unit of work")

    def member(self, member_id: str) -> Member | None:
        row = self._conn.execute(SELECT_MEMBER, (member_id,)).fetchone()
        return None if row is None else member_from_row(row)

    def member_ids(self, *, after: str = "", limit: int) -> list[str]:
        # SQLite's default BINARY collation compares UTF-8 bytes: code-point order, as Python does.
        rows = self._conn.execute(
            "SELECT member_id FROM members WHERE member_id > ? ORDER BY member_id LIMIT ?", (after, limit)
        )
        return [str(row[0]) for row in rows]

    def add_member(self, member: Member) -> None:
        self._writable()
        changed = member.birthday_changed_at
        # The member's own tallies live in its row from now on: any kept before it enrolled
        # (only a hand-made key can be) move in with it.
        keys = own_keys(member.id)
        moved = self._conn.execute(
            f"DELETE FROM member_tallies WHERE member_id = ? AND key IN ({', '.join('?' * len(keys))})"  # noqa: S608
            " RETURNING key, count, points",
            [member.id, *keys],
        ).fetchall()
        row = Row(member.id, None)
        for key, count, points in moved:
            found = where(key)
            assert found is not None
            row.put(found[1], None, Tally(int(count), Decimal(points)))
        self._conn.execute(
            INSERT_MEMBER,
            (
                member.id,
                utc_text(member.enrolled_at),
                offset_of(member.enrolled_at),
                None if member.birthday is None else member.birthday.isoformat(),
                dump_json(dict(member.attributes)),
                None if changed is None else utc_text(changed),
                None if changed is None else offset_of(changed),
                member.status.value,
                row.text() if moved else None,
            ),
        )
        row.changed = False
        self._rows.rows[member.id] = row

    def update_member(self, member: Member) -> None:
        self._writable()
        changed = member.birthday_changed_at
        cursor = self._conn.execute(
            "UPDATE members SET birthday = ?, attributes = ?, birthday_changed_at = ?,"
            " birthday_changed_offset = ?, status = ? WHERE member_id = ?",
            (
                None if member.birthday is None else member.birthday.isoformat(),
                dump_json(dict(member.attributes)),
                None if changed is None else utc_text(changed),
                None if changed is None else offset_of(changed),
                member.status.value,
                member.id,
            ),
        )
        if cursor.rowcount != 1:
            raise StorageError("member_id", f"no member {member.id!r} to update")
        self._statuses[member.id] = member.status

    def balance(self, member_id: str, *, for_update: bool = False) -> int | None:
        # BEGIN IMMEDIATE already holds the database's write lock: nothing more to lock.
        # The row's tallies come with it: a purchase reads them next.
        # And its status, which the command checks next (loyalty.service.locks), and its
        # enrollment, which the time guards may check.
        found = self._conn.execute(
            "SELECT balance, tallies, status, enrolled_at, enrolled_offset FROM members WHERE member_id = ?",
            (member_id,),
        )
        row = found.fetchone()
        if row is None:
            return None
        self._rows.loaded(member_id, row[1])
        # (Looked up rather than called: the enum's call is two Python calls, on every purchase;
        # an unknown text still raises as the call does.)
        self._statuses[member_id] = _STATUSES.get(row[2]) or MemberStatus(row[2])
        self._enrolled[member_id] = (row[3], row[4])
        return int(row[0])

    def member_status(self, member_id: str) -> MemberStatus | None:
        status = self._statuses.get(member_id)
        if status is None:
            found = self._conn.execute("SELECT status FROM members WHERE member_id = ?", (member_id,))
            row = found.fetchone()
            if row is None:
                return None
            status = self._statuses[member_id] = _STATUSES.get(row[0]) or MemberStatus(row[0])
        return status

    def enrolled_at(self, member_id: str) -> datetime | None:
        stored = self._enrolled.get(member_id)
        if stored is None:
            found = self._conn.execute(
                "SELECT enrolled_at, enrolled_offset FROM members WHERE member_id = ?", (member_id,)
            )
            row = found.fetchone()
            if row is None:
                return None
            stored = self._enrolled[member_id] = (row[0], row[1])
        return restore_instant(*stored)

    def balance_by_state(self, member_id: str, now: datetime) -> Balance | None:
        if self._pending is not None:
            self._flush()  # the lot of the entry appended last is in its row
        row = self._conn.own.execute(BALANCE_BY_STATE, {"m": member_id, "at": sortable(now)}).fetchone()
        if row is None:
            return None
        # INTEGER columns and integer sums: ints as they come.
        total, overdue, pending, held = row
        return counted_balance(total - pending - overdue, pending, overdue, held)

    def append(self, posting: Posting) -> Entry:
        self._writable()
        # The entry before goes in first: this one is numbered after it.
        self._flush()
        conn = self._conn
        drawn: list[tuple[int, int]] = []
        # The lots kept in their entries' rows (schema 18) among those drawn and redated.
        drawn_kept: set[int] = set()
        redated_kept: set[int] = set()
        if posting.points < 0 or posting.draws:
            # Checked before anything is written, against the lots as stored.
            lots, drawn_kept = find_lots(conn, posting.member_id, [lot for lot, _ in posting.draws])
            check_draws(posting, lots)
            drawn = [(points, lot) for lot, points in posting.draws]
        moves, until = posting.redates, None
        if moves or posting.kind is EntryKind.REDATE:
            until = roll_of(posting)  # a roll's lots are moved in SQL below, however many
            redated, redated_kept = find_lots(conn, posting.member_id, [lot for lot, _ in moves])
            check_redates(posting, redated)
        rules_text(posting.rules)  # refused before anything is written
        tallies = self._rows.take(posting.member_id)
        # (A bytearray: sqlite3 binds it as the same blob without the look-up a bytes costs.)
        digest = bytearray(content_digest(posting))
        if tallies is not None:
            # The row's tallies this unit of work changed go with the balance: one statement.
            found = conn.execute(
                MOVE_BALANCE_AND_TALLIES, (posting.points, tallies, posting.points, digest, posting.member_id)
            )
        else:
            found = conn.execute(MOVE_BALANCE, (posting.points, posting.points, digest, posting.member_id))
        balance, seq, chained = found.fetchone()
        # Inserted, with the lot it opens, with the record of the command that appends it, if that
        # comes next (add_operation).
        self._pending = pending(posting, seq, balance, chained)
        if drawn:
            in_entries = [draw for draw in drawn if draw[1] in drawn_kept]
            if in_entries:
                conn.executemany("UPDATE entries SET remaining = remaining + ? WHERE seq = ?", in_entries)
            if len(in_entries) < len(drawn):
                in_lots = [draw for draw in drawn if draw[1] not in drawn_kept]
                conn.executemany("UPDATE lots SET remaining = remaining + ? WHERE lot = ?", in_lots)
        if moves:
            # A redated lot's expiry is no longer its entry's: it moves to lots first.
            out = [(lot,) for lot, _ in moves if lot in redated_kept]
            if out:
                conn.executemany(MOVE_LOT_OUT, out)
                conn.executemany("UPDATE entries SET remaining = NULL WHERE seq = ?", out)
            moved = [(sortable(at), int(posting.rolling), lot) for lot, at in moves]
            conn.executemany("UPDATE lots SET expires_at = ?, rolling = ? WHERE lot = ?", moved)
        if until is not None:
            roll(conn, posting.member_id, until)
        return posting.recorded(seq, balance)

    def _flush(self, record: str | None = None) -> None:
        """Insert the entry appended last, if it is not in yet (with ``record``): before anything
        reads the ledger or the idempotency records, and before the commit."""
        entry = self._pending
        if entry is not None:
            self._pending = None
            self._conn.execute(*insert_entry(entry.values, record))

    def history(self, member_id: str, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        self._flush()
        rows = self._conn.execute(
            SELECT_HISTORY, (member_id, after, -1 if limit is None else limit)
        ).fetchall()
        return [entry_from_row(row) for row in rows]

    def last_seq(self) -> int:
        # The primary key's last: writers run one at a time, so drawn is committed (or its own).
        self._flush()
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM entries").fetchone()
        return int(row[0])

    def entries(self, *, after: int = 0, limit: int | None = None) -> list[Entry]:
        # Writers take the write lock at BEGIN (BEGIN IMMEDIATE) and hold it to their commit:
        # one at a time, so seq order is commit order.
        self._flush()
        rows = self._conn.execute(SELECT_ENTRIES, (after, -1 if limit is None else limit)).fetchall()
        return [entry_from_row(row) for row in rows]

    def chain_links(self, *, after: int = 0, limit: int) -> list[Link]:
        self._flush()
        rows = self._conn.execute(SELECT_LINKS, (after, limit)).fetchall()
        return [
            Link(entry_from_row(row), *(None if value is None else bytes(value) for value in row[-2:]))
            for row in rows
        ]

    def chain_heads(self, *, after: str = "", limit: int) -> list[Head]:
        rows = self._conn.execute(SELECT_HEADS, (after, limit)).fetchall()
        return [Head(str(member), int(seq), bytes(link), int(balance)) for member, seq, link, balance in rows]

    def referral_code(self, member_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT code FROM referral_codes WHERE member_id = ?", (member_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def code_owner(self, code: str) -> str | None:
        row = self._conn.execute("SELECT member_id FROM referral_codes WHERE code = ?", (code,)).fetchone()
        return None if row is None else str(row[0])

    def add_referral_code(self, member_id: str, code: str) -> None:
        self._writable()
        if self._conn.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,)).fetchone() is None:
            raise StorageError("member_id", f"no member {member_id!r}")
        try:
            self._conn.execute(
                "INSERT INTO referral_codes (code, member_id) VALUES (?, ?)", (code, member_id)
            )
        except sqlite3.IntegrityError as exc:
            raise StorageError("code", f"code {code!r} or member {member_id!r} already has a code") from exc

    def referral(self, referee: str) -> Referral | None:
        row = self._conn.execute(SELECT_REFERRAL, (referee,)).fetchone()
        return None if row is None else referral_from_row(row)

    def referrals_by(self, referrer: str) -> list[Referral]:
        return [referral_from_row(row) for row in self._conn.execute(REFERRALS_BY, (referrer,))]

    def put_referral(self, referral: Referral) -> None:
        self._writable()
        for member_id in (referral.referee, referral.referrer):
            if (
                self._conn.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,)).fetchone()
                is None
            ):
                raise StorageError("member_id", f"no member {member_id!r}")
        self._conn.execute(
            PUT_REFERRAL,
            (
                referral.referee,
                referral.referrer,
                referral.code,
                utc_text(referral.referred_at),
                offset_of(referral.referred_at),
                referral.state.value,
                referral.reason,
                referral.purchase_id,
                referral.referrer_points,
                referral.referee_points,
                referral.referrer_lot,
                referral.referee_lot,
                sortable(referral.vests_at),
                sortable(referral.decided_at),
            ),
        )

    def period_totals(self, start: datetime, end: datetime, before: datetime) -> PeriodTotals:
        self._flush()
        return period_totals(self._conn, start, end, before)

    def add_event(self, event: NewEvent) -> None:
        self._writable()
        self._conn.execute(
            "INSERT INTO events (kind, member_id, occurred_at, occurred_offset, recorded_at, recorded_offset,"
            " source_id, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.kind.value,
                event.member_id,
                utc_text(event.occurred_at),
                offset_of(event.occurred_at),
                utc_text(event.recorded_at),
                offset_of(event.recorded_at),
                event.source_id,
                dump_json(check_json("data", event.data)),
            ),
        )

    def events(self, *, after: int = 0, limit: int | None = None) -> list[DomainEvent]:
        rows = self._conn.execute(EVENTS, (after, -1 if limit is None else limit))
        return [event_from_row(row) for row in rows]

    def tier_state(self, member_id: str) -> TierState | None:
        row = self._conn.execute(SELECT_TIER, (member_id,)).fetchone()
        return None if row is None else tier_state_from_row(row)

    def put_tier_state(self, state: TierState) -> None:
        self._writable()
        if (
            self._conn.execute("SELECT 1 FROM members WHERE member_id = ?", (state.member_id,)).fetchone()
            is None
        ):
            raise StorageError("member_id", f"no member {state.member_id!r}")
        self._conn.execute(
            PUT_TIER,
            (
                state.member_id,
                state.tier,
                state.earned,
                sortable(state.since),
                sortable(state.review_at),
                sortable(state.due_at),
                state.floor,
                sortable(state.floor_until),
                dump_json(list(state.reached)),
            ),
        )

    def due_tier_states(self, until: datetime, *, limit: int | None = None) -> list[TierState]:
        rows = self._conn.execute(DUE_TIERS, (sortable(until), -1 if limit is None else limit))
        return [tier_state_from_row(row) for row in rows]

    def operation_and_lock(self, key: str, member_id: str) -> tuple[Operation | None, int | None]:
        # Two statements: SQLite has no round trip to save, and BEGIN IMMEDIATE is the lock.
        return self.operation(key), self.balance(member_id, for_update=True)

    def operation(self, key: str) -> Operation | None:
        self._flush()
        row = self._conn.execute(SELECT_OPERATION, {"k": key}).fetchone()
        if row is None:
            if not self._readonly:
                self._free.add(key)
            return None
        kind, body, recorded, offset, member_id, *rest = row
        request, result = unpack_operation(key, body, None if member_id is None else facts(member_id, *rest))
        if isinstance(recorded, int):
            recorded = EPOCH + timedelta(microseconds=recorded)
        return Operation(key, kind, request, result, restore_instant(recorded, offset))

    def add_operation(self, operation: Operation) -> None:
        self._writable()
        kind, key = operation.kind, operation.key
        entry, free = self._pending, self._free
        if key in free:
            free.discard(key)
            if entry is not None and carries(entry.posting, operation):
                # A purchase's record goes in its entry: one row written, not two.
                self._flush(pack_operation(kind, key, operation.request, operation.result, entry.facts()))
                return
        self._flush()
        purchased = purchase_time(operation)
        self._conn.execute(
            INSERT_OPERATION,
            (
                key,
                kind,
                pack_operation(kind, key, operation.request, operation.result),
                micros(operation.recorded_at),
                offset_of(operation.recorded_at),
                None if purchased is None else micros(purchased),
            ),
        )

    def _stored_tallies(self, keys: list[str]) -> dict[str, Tally]:
        found: dict[str, Tally] = {}
        shared, owned = split(keys)
        for start in range(0, len(shared), KEYS_PER_QUERY):
            chunk = shared[start : start + KEYS_PER_QUERY]
            rows = self._conn.execute(
                # Only "?" placeholders are formatted in; the keys are bound.
                f"SELECT key, count, points FROM tallies WHERE key IN ({', '.join('?' * len(chunk))})",  # noqa: S608
                chunk,
            ).fetchall()
            for key, count, points in rows:
                found[key] = Tally(int(count), Decimal(points))
        for start in range(0, len(owned), KEYS_PER_QUERY):
            members = sorted({member for member, _ in owned[start : start + KEYS_PER_QUERY]})
            chunk = [key for _, key in owned[start : start + KEYS_PER_QUERY]]
            # A key names its member: both lists probe the primary key, and find the keys alone.
            marks = ", ".join("?" * len(members)), ", ".join("?" * len(chunk))
            query = (
                "SELECT key, count, points FROM member_tallies"  # noqa: S608
                f" WHERE member_id IN ({marks[0]}) AND key IN ({marks[1]})"
            )
            rows = self._conn.execute(query, [*members, *chunk]).fetchall()
            for key, count, points in rows:
                found[key] = Tally(int(count), Decimal(points))
        return found

    def _load_rows(self, members: list[str]) -> list[tuple[str, str | None]]:
        found: list[tuple[str, str | None]] = []
        for start in range(0, len(members), KEYS_PER_QUERY):
            chunk = members[start : start + KEYS_PER_QUERY]
            found += self._conn.execute(SELECT_ROW_TALLIES.format(", ".join("?" * len(chunk))), chunk)
        return found

    def tallies(self, keys: Collection[str], *, for_update: bool = False) -> dict[str, Tally]:
        # A write unit of work holds the database's write lock from BEGIN IMMEDIATE:
        # for_update needs nothing more.
        wanted = [check_tally_key(key) for key in keys]
        result = self._rows.read(wanted, self._seen, self._load_rows, self._stored_tallies)
        if not self._readonly:
            self._seen.update(result)
        return {key: result[key] for key in wanted}

    def add_tallies(self, deltas: Mapping[str, Tally]) -> None:
        self._writable()
        if not deltas:
            return
        # Read, add exactly in Python, write back: safe under the write lock
        # BEGIN IMMEDIATE took, and SQLite has no exact decimal arithmetic.
        seen, rows = self._seen, self._rows
        for key, delta in deltas.items():
            # A key this unit of work has read was checked then, or stored (and checked when it
            # was first written): only another is checked, as the memory adapter does.
            if type(key) is not str or key not in seen or type(delta) is not Tally:
                check_deltas(deltas)
                break
        unseen = [key for key in deltas if key not in seen]
        if unseen:
            self.tallies(unseen)  # what they are now, and their members' rows
        # Every sum first: one that fails leaves nothing added.
        totals = {key: checked(key, seen[key] + delta) for key, delta in deltas.items()}
        seen.update(totals)
        table: list[tuple[str, Tally]] = []
        taken: list[str] = []
        for key, total in totals.items():
            if not rows.keeps(key):
                table.append((key, total))
                continue
            gone, held = rows.put(key, total)
            if gone is not None:
                table.append(gone)
            if held:
                taken.append(key)  # read into the total, kept by the row from now on
        if taken:
            # Only a member's own key is kept by its row: never one of the tallies table.
            self._conn.executemany(
                "DELETE FROM member_tallies WHERE member_id = ? AND key = ?", split(taken)[1]
            )
        if table:
            put = dict(table)
            shared, owned = split(put)
            self._conn.executemany(UPSERT_TALLY, [(k, put[k].count, str(put[k].points)) for k in shared])
            self._conn.executemany(
                UPSERT_MEMBER_TALLY, [(m, k, put[k].count, str(put[k].points)) for m, k in owned]
            )

    def program_versions(self) -> list[StoredProgram]:
        rows = self._conn.execute(SELECT_PROGRAMS).fetchall()
        return sorted((program_from_row(row) for row in rows), key=program_order)

    def add_program_version(self, program: StoredProgram) -> None:
        self._writable()
        effective = program.effective_from
        self._conn.execute(
            INSERT_PROGRAM,
            (
                program.version,
                None if effective is None else utc_text(effective),
                None if effective is None else offset_of(effective),
                dump_json(program.body),
                utc_text(program.recorded_at),
                offset_of(program.recorded_at),
            ),
        )

    def commit(self) -> None:
        self._flush()
        changed = [(row.text(), row.member_id) for row in self._rows.changed()]
        if changed:
            self._conn.executemany(PUT_ROW_TALLIES, changed)
        self._conn.own.execute("COMMIT")
