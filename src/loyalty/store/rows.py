"""Row shapes shared by the SQL adapters: how values become columns and back.

Instants are stored as a UTC timestamp plus the offset the till used, so
``occurred_at`` comes back as the same instant in the same local offset (the
zone's *name* is not kept: ``Europe/Amsterdam`` returns as ``+01:00``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from loyalty.holds import Hold, HoldStatus
from loyalty.identifiers import Identifier, IdentifierKind, IdentifierStatus
from loyalty.ledger import Entry, EntryKind, Posting
from loyalty.lots import Lot
from loyalty.members import Member, MemberStatus
from loyalty.offline import OfflineAllowance, OfflineUse
from loyalty.outbox import DomainEvent, EventKind
from loyalty.records import unpack_operation
from loyalty.referrals import Referral, ReferralState
from loyalty.store import Operation, StoredProgram, check_rules, check_shares
from loyalty.tiers import TierState
from loyalty.vouchers import Voucher, VoucherStatus

__all__ = [
    "ENTRY_KINDS",
    "allowance_from_row",
    "draws_text",
    "dump_json",
    "entry_from_row",
    "event_from_row",
    "hold_from_row",
    "identifier_from_row",
    "kind_code",
    "kind_of",
    "load_json",
    "lot_from_row",
    "member_from_row",
    "offset_of",
    "program_from_row",
    "redates_text",
    "referral_from_row",
    "restore_instant",
    "rules_text",
    "tier_state_from_row",
    "use_from_row",
    "voucher_from_row",
    "without_entry",
]

# The ``rule`` column (schema 1) holds the rule ids joined by single spaces;
# NULL or "" is no rules.
ENTRY_COLUMNS = (
    "seq, member_id, kind, points, balance_after, occurred_at, occurred_offset, "
    "recorded_at, recorded_offset, source_id, reason, actor, rule, program_version,"
    " vests_at, expires_at, draws, rolling, redates"
)
LOT_COLUMNS = "lot, member_id, points, remaining, earned_at, earned_offset, vests_at, expires_at, rolling"
HOLD_COLUMNS = (
    "hold_id, member_id, points, draws, held_at, held_offset, expires_at, status, captured, ended_at"
)
VOUCHER_COLUMNS = (
    "code, member_id, reward_id, points, draws, issued_at, issued_offset, expires_at, status,"
    " purchase_id, ended_at, used_for"
)
MEMBER_COLUMNS = (
    "member_id, enrolled_at, enrolled_offset, birthday, attributes,"
    " birthday_changed_at, birthday_changed_offset, status"
)
EVENT_COLUMNS = (
    "seq, kind, member_id, occurred_at, occurred_offset, recorded_at, recorded_offset, source_id, data"
)
REFERRAL_COLUMNS = (
    "referee, referrer, code, referred_at, referred_offset, state, reason, purchase_id,"
    " referrer_points, referee_points, referrer_lot, referee_lot, vests_at, decided_at"
)
TIER_COLUMNS = "member_id, tier, earned, since, review_at, due_at, floor, floor_until, reached"
IDENTIFIER_COLUMNS = "kind, value, member_id, since, since_offset, status, replaced_by"
ALLOWANCE_COLUMNS = "id, terminal_id, per_member, total, opened_at, opened_offset, until, until_offset, actor"
USE_COLUMNS = "allowance_id, member_id, redemptions, points, shortfall, declined"
PROGRAM_COLUMNS = "version, effective_from, effective_offset, body, recorded_at, recorded_offset"


def offset_of(value: datetime) -> int:
    offset = value.utcoffset()
    assert offset is not None  # the engine only passes aware datetimes
    return int(offset.total_seconds())


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def restore_instant(utc: datetime | str | int, offset: int) -> datetime:
    """An instant kept as UTC (a datetime, ISO 8601 text, or microseconds since 1970, as an
    integer or its digits) with its offset in seconds, back in that offset."""
    if isinstance(utc, str):
        # The adapters write ISO 8601 with its 'T'; SQLite's entries keep digits from schema 18.
        utc = datetime.fromisoformat(utc) if "T" in utc else _EPOCH + timedelta(microseconds=int(utc))
    elif isinstance(utc, int):
        utc = _EPOCH + timedelta(microseconds=utc)
    if utc.tzinfo is None:
        utc = utc.replace(tzinfo=UTC)
    return utc.astimezone(timezone(timedelta(seconds=offset)))


def shares_text(posting: Posting) -> str | None:
    """The ``rule_shares`` column's value: each rule's share of a posting's points as a JSON object
    (the SQL adapters add them up by rule with their JSON functions), ``None`` without shares."""
    if not posting.shares:
        return None
    check_shares(posting.rules, posting.points, posting.shares)
    return json.dumps(dict(zip(posting.rules, posting.shares, strict=True)), separators=(",", ":"))


def rules_text(rules: tuple[str, ...]) -> str | None:
    """The ``rule`` column's value: the ids joined by single spaces, ``None`` for no rules."""
    if not rules:
        return None
    check_rules(rules)
    return " ".join(rules)


def rules_of(text: str | None) -> tuple[str, ...]:
    return tuple(text.split(" ")) if text else ()


def draws_text(draws: tuple[tuple[int, int], ...]) -> str | None:
    """The ``draws`` column's value: ``[[lot, points], ...]`` as JSON, ``None`` for none."""
    return dump_json([list(pair) for pair in draws]) if draws else None


def draws_of(text: str | None) -> tuple[tuple[int, int], ...]:
    return tuple((int(lot), int(points)) for lot, points in json.loads(text)) if text else ()


def redates_text(redates: tuple[tuple[int, datetime | None], ...]) -> str | None:
    """The ``redates`` column's value: ``[[lot, "UTC instant" or null], ...]``, ``None`` for none."""
    if not redates:
        return None
    return dump_json([[lot, None if at is None else at.astimezone(UTC).isoformat()] for lot, at in redates])


def redates_of(text: str | None) -> tuple[tuple[int, datetime | None], ...]:
    if not text:
        return ()
    return tuple((int(lot), utc_instant(at)) for lot, at in json.loads(text))


def utc_instant(value: datetime | str | None) -> datetime | None:
    """A lot's date as stored (UTC text or timestamptz), back as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC)


def required_instant(value: datetime | str) -> datetime:
    """A NOT NULL date column's value (UTC text or timestamptz), back as an aware UTC datetime."""
    instant = utc_instant(value)
    assert instant is not None  # NOT NULL
    return instant


def dump_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_json(value: str | Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


#: An entry's kind as SQLite keeps it from schema 22: its number here (the first two, the
#: commonest, take no byte at all); a kind added later without one is kept by name. Never reorder.
ENTRY_KINDS = (
    EntryKind.EARN,
    EntryKind.REDEEM,
    EntryKind.ADJUST,
    EntryKind.EXPIRE,
    EntryKind.HOLD,
    EntryKind.RELEASE,
    EntryKind.RETURN,
    EntryKind.REFUND,
    EntryKind.COLLECT,
    EntryKind.TIER,
    EntryKind.REDATE,
    EntryKind.TRANSFER,
    EntryKind.MERGE,
)
_KIND_CODES: dict[EntryKind, int | str] = {kind: code for code, kind in enumerate(ENTRY_KINDS)}


def kind_code(kind: EntryKind) -> int | str:
    """What SQLite keeps of an entry's ``kind`` (schema 22): its number, or its name if it has none."""
    return _KIND_CODES.get(kind, kind.value)


def kind_of(value: int | str) -> EntryKind:
    """An entry's kind as a store keeps it: its name, or its number in :data:`ENTRY_KINDS`."""
    return ENTRY_KINDS[value] if type(value) is int else EntryKind(value)


def entry_from_row(row: Any) -> Entry:
    return Entry(
        seq=row[0],
        member_id=row[1],
        kind=kind_of(row[2]),
        points=row[3],
        balance_after=row[4],
        occurred_at=restore_instant(row[5], row[6]),
        recorded_at=restore_instant(row[7], row[8]),
        source_id=row[9],
        reason=row[10],
        actor=row[11],
        rules=rules_of(row[12]),
        program_version=row[13],
        vests_at=utc_instant(row[14]),
        expires_at=utc_instant(row[15]),
        draws=draws_of(row[16]),
        rolling=bool(row[17]),
        redates=redates_of(row[18]),
    )


def hold_from_row(row: Any) -> Hold:
    return Hold(
        row[0],
        row[1],
        int(row[2]),
        draws_of(row[3]),
        restore_instant(row[4], row[5]),
        required_instant(row[6]),
        HoldStatus(row[7]),
        int(row[8]),
        utc_instant(row[9]),
    )


def allowance_from_row(row: Any) -> OfflineAllowance:
    return OfflineAllowance(
        row[0],
        row[1],
        int(row[2]),
        int(row[3]),
        restore_instant(row[4], row[5]),
        restore_instant(row[6], row[7]),
        row[8],
    )


def use_from_row(row: Any) -> OfflineUse:
    return OfflineUse(row[0], row[1], int(row[2]), int(row[3]), int(row[4]), int(row[5]))


def voucher_from_row(row: Any) -> Voucher:
    return Voucher(
        row[0],
        row[1],
        row[2],
        int(row[3]),
        draws_of(row[4]),
        restore_instant(row[5], row[6]),
        required_instant(row[7]),
        VoucherStatus(row[8]),
        row[9],
        utc_instant(row[10]),
        row[11],
    )


def lot_from_row(row: Any) -> Lot:
    return Lot(
        int(row[0]),
        row[1],
        int(row[2]),
        int(row[3]),
        restore_instant(row[4], row[5]),
        utc_instant(row[6]),
        utc_instant(row[7]),
        bool(row[8]),
    )


def member_from_row(row: Any) -> Member:
    birthday = row[3]
    if isinstance(birthday, str):
        birthday = date.fromisoformat(birthday)
    changed = None if row[5] is None else restore_instant(row[5], row[6])
    return Member(
        row[0],
        restore_instant(row[1], row[2]),
        birthday,
        load_json(row[4]),
        birthday_changed_at=changed,
        status=MemberStatus(row[7]),
    )


def identifier_from_row(row: Any) -> Identifier:
    return Identifier(
        IdentifierKind(row[0]),
        row[1],
        row[2],
        restore_instant(row[3], row[4]),
        IdentifierStatus(row[5]),
        row[6],
    )


def program_from_row(row: Any) -> StoredProgram:
    effective = None if row[1] is None else restore_instant(row[1], row[2])
    return StoredProgram(row[0], effective, load_json(row[3]), restore_instant(row[4], row[5]))


def tier_state_from_row(row: Any) -> TierState:
    return TierState(
        row[0],
        row[1],
        row[2],
        required_instant(row[3]),
        utc_instant(row[4]),
        utc_instant(row[5]),
        row[6],
        utc_instant(row[7]),
        tuple(load_json(row[8])),
    )


def event_from_row(row: Any) -> DomainEvent:
    return DomainEvent(
        int(row[0]),
        EventKind(row[1]),
        row[2],
        restore_instant(row[3], row[4]),
        restore_instant(row[5], row[6]),
        row[7],
        load_json(row[8]),
    )


def referral_from_row(row: Any) -> Referral:
    return Referral(
        row[0],
        row[1],
        row[2],
        restore_instant(row[3], row[4]),
        ReferralState(row[5]),
        row[6],
        row[7],
        int(row[8]),
        int(row[9]),
        None if row[10] is None else int(row[10]),
        None if row[11] is None else int(row[11]),
        utc_instant(row[12]),
        utc_instant(row[13]),
    )


def without_entry(rows: Iterable[tuple[Any, ...]]) -> list[Operation]:
    """Of a page of an SQL adapter's purchases (key, recorded, till time, whether an entry has the
    key, the record, the recording's offset: loyalty.store.no_entry), those that wrote no entry."""
    return [
        Operation(key, "purchase", *unpack_operation(key, body), restore_instant(recorded, offset))
        for key, recorded, _, entered, body, offset in rows
        if not entered
    ]
