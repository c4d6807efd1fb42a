"""Exporting a store's history (:mod:`loyalty.history`): its members' enrollments, then the
commands the tills and staff sent, in commit order, as the records that made them.

The commands come from the store's idempotency records (each command's request, kept under its
id); their commit order is the ledger feed's (:meth:`loyalty.store.LedgerRole.entries`), whose
entries name the command that wrote them (``source_id``). A custom event that earned nothing
and a declined redemption changed no points, and are left out (see docs/import-export.md).
Purchases, returns, redemptions, adjustments, custom events, opening balances, rewards bought,
transfers, merges and holds (open or captured) have a record type; the commands that wrote no
entry but must be replayed are read beside the feed, each written before the first command
whose entries came after the ledger's last entry when it was recorded (one of an earlier
release, which did not keep that: before the first command recorded after it): status changes
(by hand, or an erasure) from the outbox (see :func:`_status_changes`), and purchases that
earned nothing from the store (:mod:`loyalty.service.history_no_entry`), or sooner where a
command naming one comes first (see :func:`_named_ahead`); between the two, see
:func:`_change_first`. The other commands
have no record type and are counted in :attr:`HistoryExport.skipped`.

Members are read ``page`` at a time by id and entries ``page`` at a time by ``seq``, each page in
one read-only unit of work, and the ids of the commands already written are remembered up to a
bound: the memory used is a page's, whatever the store.
"""

from __future__ import annotations

import functools
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from loyalty import codec
from loyalty.erasure import ERASED
from loyalty.errors import InvalidInput
from loyalty.history import (
    TYPE_OF,
    Adjustment,
    CustomEvent,
    Enrollment,
    Event,
    HeldPoints,
    HoldCaptured,
    MembersMerged,
    OpeningBalance,
    PointsSent,
    Redemption,
    Referred,
    RewardBought,
    Sale,
    SaleReturn,
    StatusChanged,
    VoucherVoided,
)
from loyalty.holds import HoldStatus
from loyalty.identifiers import IdentifierStatus
from loyalty.ledger import EntryKind
from loyalty.outbox import EventKind
from loyalty.returns import Return, Returned
from loyalty.service.context import Context
from loyalty.service.exporting import MAX_PAGE
from loyalty.service.history_no_entry import Aside, purchases_without_entry
from loyalty.store import Operation, UnitOfWork
from loyalty.store.no_entry import order
from loyalty.vouchers import VoucherStatus

__all__ = ["HistoryExport", "export_history", "record_of_operation"]

#: How many command ids are remembered to write each command once: a command's entries are
#: appended together, so one seen this many ids ago does not come back.
_SEEN = 10_000


@attrs.define
class HistoryExport:
    """What :func:`export_history` wrote, by record type, and left out, by command kind."""

    written: Counter[str] = attrs.field(factory=Counter)
    skipped: Counter[str] = attrs.field(factory=Counter)


def _enrollment(uow: UnitOfWork, member_id: str) -> Enrollment:
    member = uow.member(member_id)
    assert member is not None  # listed by the store
    # An erased member's row has lost its birthday and attributes and its keys are deleted:
    # only its id and enrollment time are left to export.
    keys = tuple(i.key for i in uow.identifiers(member_id) if i.status is IdentifierStatus.ACTIVE)
    # Its own referral code, which the members it referred are linked to after the enrollments.
    code = uow.referral_code(member_id)
    joined, birthday, attributes = member.enrolled_at, member.birthday, member.attributes
    return Enrollment(f"ENR-{member_id}", member_id, joined, birthday, attributes, keys, referral_code=code)


def _quantity(text: Any) -> int | Decimal:
    value = Decimal(str(text))
    return int(value) if value == value.to_integral_value() and "." not in str(text) else value


def _text(value: Any) -> str:
    """A text field of a request, or :data:`~loyalty.erasure.ERASED` where an erasure nulled it."""
    return ERASED if value is None else str(value)


def record_of_operation(uow: UnitOfWork, operation: Operation) -> Event | None:
    """The history record of a stored command, or ``None`` for a kind no record type describes
    (or a redemption that was declined)."""
    key, request = operation.key, operation.request
    at = datetime.fromisoformat(request["at"]) if "at" in request else None
    if operation.kind == "purchase":
        return Sale(codec.purchase_from_request(key, request))
    if at is None or "declined" in operation.result:
        return None
    if operation.kind == "event":
        return CustomEvent(key, request["member_id"], request["name"], at, request.get("properties") or {})
    if operation.kind == "redeem":
        member, points, paid = request["member_id"], -int(request["points"]), request.get("purchase_id")
        return Redemption(key, member, points, at, _text(request.get("reason")), paid)
    if operation.kind == "adjust":
        member, points = request["member_id"], int(request["points"])
        return Adjustment(key, member, points, at, _text(request.get("reason")), _text(request.get("actor")))
    if operation.kind == "opening_balance":
        expires, vests = request.get("expires_at"), request.get("vests_at")
        return OpeningBalance(
            key,
            request["member_id"],
            int(request["points"]),
            at,
            None if expires is None else datetime.fromisoformat(expires),
            None if vests is None else datetime.fromisoformat(vests),
        )
    if operation.kind == "redeem_reward":
        member, reward, paid = request["member_id"], request["reward_id"], request.get("purchase_id")
        voucher = uow.voucher(operation.result["code"])
        assert voucher is not None  # vouchers are never deleted
        # A use wrote no entry: it travels with the reward (see loyalty.history_rewards).
        used = voucher.status is VoucherStatus.USED
        used_at, used_for = (voucher.ended_at, voucher.used_for) if used else (None, None)
        return RewardBought(key, member, at, reward, voucher.code, paid, used_at, used_for)
    if operation.kind == "transfer":
        sender, to, points = request["from_member"], request["to_member"], int(request["points"])
        return PointsSent(key, sender, at, to, points, _text(request.get("reason")))
    if operation.kind == "member_merge":
        survivor, absorbed = request["survivor"], request["absorbed"]
        return MembersMerged(key, survivor, at, absorbed, _text(request.get("reason")))
    if operation.kind == "void_voucher":
        voided = uow.voucher(request["code"])
        assert voided is not None  # vouchers are never deleted
        return VoucherVoided(key, voided.member_id, at, voided.code)
    if operation.kind == "hold":
        return _held(uow, operation)
    if operation.kind == "return":
        sold = uow.operation(request["purchase_id"])
        assert sold is not None  # a return is recorded against a recorded purchase
        lines = request["lines"]
        returned = None if lines is None else [Returned(x["sku"], _quantity(x["quantity"])) for x in lines]
        return SaleReturn(sold.request["member_id"], Return(key, request["purchase_id"], at, returned))
    return None


def _held(uow: UnitOfWork, operation: Operation) -> HeldPoints | None:
    """A hold as it stands now: open, or what of it was captured; ``None`` for one released or
    expired, whose points went back to the very lots they came from."""
    held = uow.hold(operation.key)
    assert held is not None  # holds are never deleted
    if held.status is HoldStatus.OPEN or held.status is HoldStatus.CAPTURED:
        captured = held.captured if held.status is HoldStatus.CAPTURED else None
        # A capture that gave points back has a place of its own (its give-back): see _capture.
        later = held.ended_at if captured is not None and captured < held.points else None
        member, expires = held.member_id, held.expires_at
        return HeldPoints(held.id, member, held.held_at, held.points, expires, captured, later)
    return None


def _capture(uow: UnitOfWork, hold_id: str) -> HoldCaptured | None:
    """The capture whose give-back (a ``release`` entry under the hold's id) is read, if it is
    one: a hold captured for less than it held, its ``held`` record saying it is captured there."""
    held = uow.hold(hold_id)
    if held is None or held.status is not HoldStatus.CAPTURED or held.ended_at is None:
        return None
    if held.captured >= held.points:
        return None
    made = HeldPoints(held.id, held.member_id, held.held_at, held.points, held.expires_at, held.captured)
    return HoldCaptured(made.capture_id, held.member_id, held.ended_at, held.id, held.captured)


def _enrollments(uow: UnitOfWork, *, after: str, page: int) -> tuple[list[str], list[Enrollment]]:
    ids = uow.member_ids(after=after, limit=page)
    return ids, [_enrollment(uow, member_id) for member_id in ids]


#: A read of the members after ``after``, ``page`` of them: their ids and their records.
_Members = Callable[..., tuple[list[str], Sequence[Event]]]


def _referrals(uow: UnitOfWork, *, after: str, page: int) -> tuple[list[str], list[Referred]]:
    """The referrals of the members after ``after``: each referee and the code it was referred with."""
    ids = uow.member_ids(after=after, limit=page)
    found = [(member_id, uow.referral(member_id), uow.member(member_id)) for member_id in ids]
    return ids, [
        Referred(f"REF-{member_id}", member_id, member.enrolled_at, referral.code)
        for member_id, referral, member in found
        if referral is not None and member is not None
    ]


#: Where a record goes among the others: when its command was recorded, then its own time (a
#: store whose clock stood still while back-dated commands came in has them all recorded at once).
_Place = tuple[datetime, datetime]

#: A status change read beside the feed: its place by the clock, the record, the ``seq`` after
#: which it goes in the ledger's commit order (``None``: written by an earlier release), and
#: whether it took its member from active (or erased it): a purchase of that member that wrote
#: no entry after the same ``seq`` goes before it, see :func:`_change_first`.
_Status = tuple[_Place, StatusChanged, int | None, bool]


def _statuses(uow: UnitOfWork, *, after: int, page: int) -> tuple[int, int, list[_Status]]:
    """The status changes among the outbox events after ``after`` (events read, last seq, each
    change with its place and the ledger's last entry then): a change by hand or an erasure, not
    a merge's closing of the member it absorbed (its ``merge`` record closes it)."""
    events = uow.events(after=after, limit=page)
    found: list[_Status] = []
    for event in events:
        member, at, key, data = event.member_id, event.occurred_at, event.source_id, event.data
        if event.kind is EventKind.MEMBER_ERASED:
            change, from_active = StatusChanged(key, member, at, "erased", ERASED, ERASED), True
        elif event.kind is EventKind.MEMBER_STATUS_CHANGED:
            operation = uow.operation(key)
            if operation is None or operation.kind != "member_status":
                continue
            change = StatusChanged(
                key, member, at, data["new"], _text(data.get("reason")), _text(data.get("actor"))
            )
            from_active = data.get("old") == "active"
        else:
            continue
        bound = data.get("ledger_seq")
        found.append(((event.recorded_at, at), change, None if bound is None else int(bound), from_active))
    return len(events), events[-1].seq if events else after, found


def _status_changes(ctx: Context, page: int) -> Iterator[_Status]:
    """The status changes in commit order, each with the ``seq`` after which it goes: the most
    of the ledger's last entry when it committed (``ledger_seq``) and of every change's before.

    That number places the change among the entries whatever the clocks said: the change held
    its member's lock, so the member's entries that committed before are at or below it and
    those written after it drew their numbers after it committed, above it. Another member's
    command that reads its status without its lock (a referee's purchase paying its referrer)
    holds the member first, which the change waits for or waits for
    (:func:`loyalty.service.locks.lock_status`), and draws its entries' numbers after the hold:
    so it is placed after a change it saw and before one it did not. Where
    writers overlap (PostgreSQL), a change committed after another may have read a lower
    number; the most so far keeps the changes in commit order for one walk of the feed, and
    moves none past an entry of its member, drawn after it committed, so above every number
    read before."""
    seq, most = 0, 0
    while True:
        read, seq, found = ctx.runner.read(functools.partial(_statuses, after=seq, page=page))
        for place, change, bound, from_active in found:
            if bound is not None:
                most = max(most, bound)
            yield place, change, None if bound is None else most, from_active
        if read < page:
            return


def _commands(
    uow: UnitOfWork, *, after: int, page: int, seen: OrderedDict[str, None]
) -> tuple[int, int, list[tuple[str, str, Event | None, datetime, int]]]:
    """The commands of the entries after ``after`` not in ``seen``: (entries read, last seq, each
    command's id, kind, record, and its first entry's time and seq). ``seen`` is only read: the
    read may be run again after a transient failure, and must then find what it found the first
    time."""
    entries = uow.entries(after=after, limit=page)
    commands: list[tuple[str, str, Event | None, datetime, int]] = []
    here: set[str] = set()
    for entry in entries:
        key = entry.source_id
        if entry.kind is EntryKind.RELEASE:
            capture = _capture(uow, key)
            if capture is not None:
                commands.append((capture.id, "capture", capture, entry.recorded_at, entry.seq))
                continue
        if key in seen or key in here:
            continue
        operation = uow.operation(key)
        if operation is not None and operation.kind == "hold" and entry.kind is not EntryKind.HOLD:
            # The points a hold gives back (released, expired, the rest of a capture) are written
            # under its id when it ends: its record was written where it was made, and a hold
            # ending past the ids remembered must not be written again.
            continue
        here.add(key)
        if operation is None:  # maintenance's own entries (expiry, re-dating): no command
            continue
        record = record_of_operation(uow, operation)
        commands.append((key, operation.kind, record, entry.recorded_at, entry.seq))
    return len(entries), entries[-1].seq if entries else after, commands


def export_history(ctx: Context, *, page: int, export: HistoryExport | None = None) -> Iterator[Event]:
    """Every member's enrollment, by member id, then every command that wrote an entry, in
    commit order, with the status changes and the purchases that wrote none in their places (see
    :meth:`loyalty.Engine.export_history`); ``export`` counts them."""
    if isinstance(page, bool) or not isinstance(page, int) or not 0 < page <= MAX_PAGE:
        raise InvalidInput("page", f"must be an int from 1 to {MAX_PAGE}, got {page!r}")
    counts = HistoryExport() if export is None else export
    # The enrollments first, then the referrals: a referee's referrer may come after it by id.
    readers: tuple[_Members, ...] = (_enrollments, _referrals)
    for members in readers:
        member = ""
        while True:
            ids, found = ctx.runner.read(functools.partial(members, after=member, page=page))
            for each in found:
                counts.written[TYPE_OF[type(each)]] += 1
                yield each
            if len(ids) < page:
                break
            member = ids[-1]
    seq, seen = 0, OrderedDict[str, None]()
    # The purchases that earned nothing written ahead of their place, before a command naming
    # them (see _named_ahead), to be passed over there: as many as a clock's skew holds.
    early: set[str] = set()
    # Status changes and purchases that earned nothing wrote no entry: each goes before the
    # first command whose entries follow its place in the feed (one of an earlier release, by
    # its clock: before the first command recorded after it).
    changes, purchases = _status_changes(ctx, page), purchases_without_entry(ctx, page)
    status, sale = next(changes, None), next(purchases, None)
    while True:
        read, seq, commands = ctx.runner.read(functools.partial(_commands, after=seq, page=page, seen=seen))
        for key, kind, record, recorded_at, first in commands:
            seen[key] = None
            if len(seen) > _SEEN:
                seen.popitem(last=False)
            if record is None:
                counts.skipped[kind] += 1
                continue
            while True:
                due = _due(status, sale, (recorded_at, record.at), first)
                if due is None:
                    break
                if due is sale:
                    if sale[1].id not in early:
                        counts.written["purchase"] += 1
                        yield sale[1]
                    early.discard(sale[1].id)
                    sale = next(purchases, None)
                else:
                    assert status is not None  # due
                    counts.written["status"] += 1
                    yield status[1]
                    status = next(changes, None)
            for named in _named_ahead(ctx, record, sale, seen, early):
                early.add(named.id)
                counts.written["purchase"] += 1
                yield named
            counts.written[TYPE_OF[type(record)]] += 1
            yield record
        if read < page:
            break
    # The rest, in the order of their places (for the changes, commit order).
    while status is not None or sale is not None:
        if sale is None or (status is not None and _change_first(status, sale)):
            assert status is not None
            counts.written["status"] += 1
            yield status[1]
            status = next(changes, None)
        else:
            if sale[1].id not in early:
                counts.written["purchase"] += 1
                yield sale[1]
            sale = next(purchases, None)


def _due(status: _Status | None, sale: Aside | None, place: _Place, seq: int) -> _Status | Aside | None:
    """Which of the next status change and the next purchase without an entry goes before the
    command whose first entry is ``seq``, recorded at ``place``, if either does (both: see
    :func:`_change_first`). Each goes once the feed is past its ``seq`` (an earlier release's,
    by its place)."""
    change = None
    if status is not None and (status[0] < place if status[2] is None else status[2] < seq):
        change = status
    bought = None
    if sale is not None and (sale[0] < place if sale[2] is None else sale[2] < seq):
        bought = sale
    if change is None or bought is None:
        return change if bought is None else bought
    return change if _change_first(change, bought) else bought


def _change_first(change: _Status, sale: Aside) -> bool:
    """Whether the status change goes before the purchase without an entry: by the ``seq`` each
    goes after, and where both go after the same one (nothing written between them: a clock
    that stood still cannot tell them apart either), as the purchase could have been made, its
    member active: after the changes in commit order up to one that took its own member from
    active (or erased it), before that one. Of those changes a purchase made while active came
    before one of them, or after the last, which left the member active: so it goes where its
    member was active, whatever the clocks said. Another member's change does not stop it (a
    purchase that earned nothing decided no referral bonus on its referrer's status): it would
    hold the purchase before its own member's reinstatement. One of an earlier release (no
    ``seq``) goes by its clock (:func:`_place`)."""
    if change[2] is None or sale[2] is None:
        return _place(change[:2]) < _place(sale[:2])
    if change[2] != sale[2]:
        return change[2] < sale[2]
    return not (change[3] and change[1].member_id == sale[1].member_id)


def _named(record: Event) -> tuple[str, ...]:
    """The purchases ``record`` names, which the import needs recorded before it."""
    if isinstance(record, Redemption):
        named: tuple[str | None, ...] = (record.purchase_id,)
    elif isinstance(record, RewardBought):
        named = (record.purchase_id, record.used_for)
    elif isinstance(record, SaleReturn):
        named = (record.purchase_id,)
    else:
        return ()
    return tuple(dict.fromkeys(key for key in named if key is not None))


def _named_ahead(
    ctx: Context,
    record: Event,
    head: Aside | None,
    seen: OrderedDict[str, None],
    early: set[str],
) -> list[Sale]:
    """The purchases that earned nothing which ``record`` names and which are still to come
    beside the feed, to be written before it.

    Such a purchase goes after the ledger's last entry when it was recorded, and the command
    naming it drew its entries after that: but the purchases are read in the order of their
    clock, and one waits behind those listed before it (recorded at one instant, a clock that
    stood still, or by a server whose clock is behind the others'), and one recorded by an
    earlier release is placed by its clock. The command could then come first, and the import
    refuses a command naming a purchase it does not have. A purchase that wrote an entry came in the
    feed, before every command after it; one still to come beside it is placed at or after the
    next record there (``head``)."""
    named = [key for key in _named(record) if key not in seen and key not in early]
    if not named or head is None:
        return []
    return ctx.runner.read(functools.partial(_ahead, named=named, head=_head(head)))


def _ahead(uow: UnitOfWork, *, named: list[str], head: tuple[tuple[_Place, int], str]) -> list[Sale]:
    found: list[Sale] = []
    for key in named:
        operation = uow.operation(key)
        if operation is None or operation.kind != "purchase":
            continue
        sale = Sale(codec.purchase_from_request(key, operation.request))
        if (((operation.recorded_at, sale.at), 1), key) < head:
            continue  # written already, beside the feed or in it
        if _without_entry(uow, operation):
            found.append(sale)
    return found


#: How many purchases are read a time to find whether one earned nothing: the ones of its place.
_TIES = 100


def _without_entry(uow: UnitOfWork, operation: Operation) -> bool:
    """Whether the purchase ``operation`` is among the store's purchases that wrote no entry:
    the listing is read from just before its place (the place with the least key) to it."""
    mine = order(operation)
    after = attrs.evolve(operation, key="")
    while True:
        listed = uow.purchases_without_entry(after=after, limit=_TIES)
        for each in listed:
            if order(each) >= mine:
                return each.key == operation.key
        if len(listed) < _TIES:
            return False
        after = listed[-1]


def _head(aside: Aside) -> tuple[tuple[_Place, int], str]:
    """Where the next purchase beside the feed is in the listing, its id breaking ties."""
    return _place(aside[:2]), aside[1].id


def _place(aside: tuple[_Place, Event]) -> tuple[_Place, int]:
    """Where a record read beside the feed goes, and among those of one place (a clock that
    stood still): a purchase was made while its member was active, so after a reinstatement or
    a reopening and before a suspension, a closing or an erasure."""
    record = aside[1]
    if isinstance(record, StatusChanged):
        return aside[0], 0 if record.status == "active" else 2
    return aside[0], 1
