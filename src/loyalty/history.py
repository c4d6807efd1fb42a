"""A program's history as JSON Lines: what happened at the tills and to the members, in order.

One JSON object a line, each a record of one of these types: ``enrollment``,
``purchase``, ``return``, ``redemption``, ``adjustment``, ``event`` (a custom
event such as ``survey_completed``), ``opening_balance`` (points a member
brings from a former program, see below), ``voucher`` (one it bought and has
yet to use), ``hold`` (points a till has reserved and not yet captured),
``reward`` (a reward bought with points) and ``voucher_void`` (its voucher voided,
:mod:`loyalty.history_rewards`),
``transfer`` (points sent to another member), ``merge`` (two members found to be
one, :mod:`loyalty.history_transfers`), ``referral`` (who referred a member enrolled
earlier in the file) and ``status`` (a member's status changed, :mod:`loyalty.history_members`),
``held`` (a hold a till made, and what of it was captured) and ``capture`` (where a hold
captured for less gave the rest back, :mod:`loyalty.history_vouchers`).
:func:`read` reads them lazily, one line at a time, so a file of any length is
read in the memory of one line; :func:`write` writes them. :mod:`loyalty.simulation`
writes its synthetic traffic in this format and :mod:`loyalty.whatif` replays it
under two programs.

>>> lines = [
...     '{"type": "enrollment", "id": "ENR-M1", "member_id": "M1", "at": "2024-03-01T09:00:00+01:00"}',
...     '{"type": "purchase", "id": "T1-1", "member_id": "M1", "at": "2024-03-01T09:30:00+01:00",'
...     ' "currency": "EUR", "lines": [{"sku": "cake", "quantity": 3, "unit_price": "4.15"}]}',
...     "",
...     '{"type": "return", "id": "T1-2", "member_id": "M1", "at": "2024-03-02T10:00:00+01:00",'
...     ' "purchase_id": "T1-1", "lines": [{"sku": "cake", "quantity": 1}]}',
... ]
>>> [(number, type(record).__name__, record.id) for number, record in numbered(lines)]
[(1, 'Enrollment', 'ENR-M1'), (2, 'Sale', 'T1-1'), (4, 'SaleReturn', 'T1-2')]
>>> list(read(['{"type": "redemption", "id": "T1-3", "member_id": "M1", "at": "2024-03-02"}']))
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: line 1: at: needs a UTC offset: '2024-03-02'

The records
-----------
Money is a decimal string (never a JSON number), quantities are integers (or
decimal strings for weighed goods), and every ``at`` is an ISO 8601 timestamp
with its UTC offset (the zone's name is not kept: an Amsterdam time comes back
with a fixed ``+01:00`` or ``+02:00`` offset, the same instant)::

    {"type": "enrollment", "id": "ENR-M00042", "member_id": "M00042",
     "at": "2023-05-02T16:40:11+02:00", "birthday": "1981-02-28",
     "attributes": {"segment": "student"}}
    {"type": "purchase", "id": "S03-T2-000123", "member_id": "M00042",
     "at": "2024-03-05T14:03:22+01:00", "currency": "EUR",
     "store_id": "S03", "terminal_id": "S03-T2",
     "lines": [{"sku": "P0117", "category": "bakery", "quantity": 2, "unit_price": "1.29"}],
     "total": "2.58"}
    {"type": "return", "id": "S03-T1-000130", "member_id": "M00042",
     "at": "2024-03-09T10:12:00+01:00", "purchase_id": "S03-T2-000123",
     "lines": [{"sku": "P0117", "quantity": 1}]}
    {"type": "redemption", "id": "S03-T2-000122", "member_id": "M00042",
     "at": "2024-03-05T14:02:51+01:00", "points": 250}
    {"type": "redemption", "id": "S03-T2-000124", "member_id": "M00042",
     "at": "2024-03-05T14:03:40+01:00", "points": 100, "reason": "coffee",
     "purchase_id": "S03-T2-000123"}
    {"type": "adjustment", "id": "ADJ-7", "member_id": "M00042",
     "at": "2024-03-06T09:00:00+01:00", "points": -40, "reason": "double scan", "actor": "staff-3"}
    {"type": "event", "id": "SRV-991", "member_id": "M00042",
     "at": "2024-03-07T19:20:00+01:00", "name": "survey_completed", "properties": {"survey": "spring"}}

``birthday``, ``attributes``, ``category``, ``store_id``, ``terminal_id`` and
``properties`` may be ``null`` or left out. A redemption may say what it was for
(``reason``, ``"redemption"`` if left out) and name the purchase its points paid
for (``purchase_id``), as :meth:`~loyalty.Engine.redeem` takes them. A purchase may name its ``channel``
(``"online"``...), and a line its ``labels`` (an object of strings), ``discount``
and ``tax`` (decimal strings), as :class:`~loyalty.Line` takes them
(:mod:`loyalty.history_baskets`): rules that read them earn on them when the
history is imported or replayed. ``total`` is written for people and
other tools; on reading it is checked against the lines, never trusted instead
of them. A return names the purchase (``purchase_id``) and the units brought
back, by SKU (other keys of its lines, such as a ``unit_price``, are ignored);
``"lines": null`` or no ``lines`` voids what is left of the purchase, as
:meth:`~loyalty.Engine.record_return` does. ``member_id`` of a return is the
purchase's member. Attribute and property values are strings, integers or
booleans. Keys a record does not use are ignored.

Migrating members
-----------------
A chain moving onto the engine brings its members with their cards and their
points. An enrollment may list the member's ``identifiers`` (``kind:value``
keys, as :meth:`~loyalty.Engine.enroll` takes them), and an ``opening_balance``
gives the member the points it had, each lot with the date it was earned
(``at``) and the date it expires (``expires_at``, ``null`` for never), and for
points still pending the date they can be spent from (``vests_at``), as
:meth:`~loyalty.Engine.add_opening_balance` writes them (:mod:`loyalty.history_members`).
An enrollment may also name the member's referrer (``referred_by``, its referral
code) and where that referral stands (``referral_state``), the member's own code (``referral_code``), its
``status``, its ``tier`` state, its ``tallies`` and say that its sign-up bonus was
paid already (``"bonus_paid": true``: it is in the opening balances, not paid again).
A ``voucher`` record carries a voucher the member bought and has not used
(:mod:`loyalty.history_vouchers`)::

    {"type": "enrollment", "id": "ENR-M00042", "member_id": "M00042",
     "at": "2019-05-02T16:40:11+02:00", "identifiers": ["card:6001234", "email:ann@example.com"]}
    {"type": "opening_balance", "id": "OPEN-M00042-1", "member_id": "M00042",
     "at": "2023-11-20T10:00:00+01:00", "points": 420, "expires_at": "2024-11-20T10:00:00+01:00"}

>>> opening = parse(1, '{"type": "opening_balance", "id": "OB-1", "member_id": "M1", '
...     '"at": "2023-11-20T10:00:00+01:00", "points": 420, "expires_at": "2024-11-20T10:00:00+01:00"}')
>>> opening.points, opening.expires_at.isoformat()
(420, '2024-11-20T10:00:00+01:00')
>>> parse(2, '{"type": "enrollment", "id": "E", "member_id": "M1", "at": "2019-05-02T16:40:11+02:00",'
...     ' "identifiers": ["card:6001234"]}').identifiers
('card:6001234',)
>>> record_of(opening) == json.loads(next(write([opening])))
True

A malformed line raises :class:`~loyalty.InvalidInput` naming the line number
and key (``line 7: lines[1].quantity: must be positive``). Ids, points and times
are checked when the records reach an engine, as they would be from a till.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from loyalty.errors import LoyaltyError
from loyalty.history_baskets import CACHE, line_record, read_line
from loyalty.history_fields import Fields
from loyalty.history_json import json_of
from loyalty.history_members import (
    Enrollment,
    OpeningBalance,
    Referred,
    StatusChanged,
    enrollment_extras,
    frozen_values,
    opening_record,
    read_enrollment,
    read_opening,
    read_referral,
    read_status,
)
from loyalty.history_rewards import RewardBought, VoucherVoided, read_reward, reward_record
from loyalty.history_transfers import (
    MembersMerged,
    PointsSent,
    merge_record,
    read_merge,
    read_transfer,
    transfer_record,
)
from loyalty.history_vouchers import (
    HeldPoints,
    HoldCaptured,
    OpenHold,
    OpenVoucher,
    held_record,
    read_capture,
    read_held,
    read_hold,
    read_voucher,
    voucher_record,
)
from loyalty.members import AttributeValue
from loyalty.purchases import Line, Purchase
from loyalty.returns import Return, Returned

__all__ = [
    "TYPE_OF",
    "Adjustment",
    "CustomEvent",
    "Enrollment",
    "Event",
    "HeldPoints",
    "HoldCaptured",
    "MembersMerged",
    "OpenHold",
    "OpenVoucher",
    "OpeningBalance",
    "PointsSent",
    "Redemption",
    "Referred",
    "RewardBought",
    "Sale",
    "SaleReturn",
    "StatusChanged",
    "VoucherVoided",
    "numbered",
    "parse",
    "read",
    "record_of",
    "write",
]


@attrs.frozen
class Sale:
    """A purchase rung up at a till."""

    purchase: Purchase

    @property
    def id(self) -> str:
        return self.purchase.id

    @property
    def member_id(self) -> str:
        return self.purchase.member_id

    @property
    def at(self) -> datetime:
        return self.purchase.at

    @property
    def currency(self) -> str:
        return self.purchase.currency


@attrs.frozen
class Redemption:
    """A member spends points on a reward at a till, as :meth:`~loyalty.Engine.redeem` takes them:
    saying what for (``reason``) and, when the points paid for a recorded purchase of the
    member's, naming it (``purchase_id``: its return in full gives them back)."""

    id: str
    member_id: str
    points: int
    at: datetime
    reason: str = "redemption"
    purchase_id: str | None = None


@attrs.frozen
class SaleReturn:
    """Goods of ``member_id``'s purchase brought back (``returned.lines`` ``None``: a void)."""

    member_id: str
    returned: Return

    @property
    def id(self) -> str:
        return self.returned.id

    @property
    def at(self) -> datetime:
        return self.returned.at

    @property
    def purchase_id(self) -> str:
        return self.returned.purchase_id


@attrs.frozen
class Adjustment:
    """A staff correction of ``points`` (positive or negative), saying why and who."""

    id: str
    member_id: str
    points: int
    at: datetime
    reason: str
    actor: str


@attrs.frozen
class CustomEvent:
    """Something the member did that event rules may reward (``survey_completed``)."""

    id: str
    member_id: str
    name: str
    at: datetime
    properties: Mapping[str, AttributeValue] = attrs.field(factory=dict, converter=frozen_values, hash=False)


Event = (
    Enrollment
    | Sale
    | Redemption
    | SaleReturn
    | Adjustment
    | CustomEvent
    | OpeningBalance
    | OpenVoucher
    | OpenHold
    | RewardBought
    | PointsSent
    | MembersMerged
    | Referred
    | HeldPoints
    | VoucherVoided
    | StatusChanged
    | HoldCaptured
)


#: Each record class's ``type`` in a file.
TYPE_OF: Mapping[type, str] = MappingProxyType(
    {
        Enrollment: "enrollment",
        Sale: "purchase",
        SaleReturn: "return",
        Redemption: "redemption",
        Adjustment: "adjustment",
        CustomEvent: "event",
        OpeningBalance: "opening_balance",
        OpenVoucher: "voucher",
        OpenHold: "hold",
        RewardBought: "reward",
        VoucherVoided: "voucher_void",
        PointsSent: "transfer",
        MembersMerged: "merge",
        Referred: "referral",
        HeldPoints: "held",
        StatusChanged: "status",
        HoldCaptured: "capture",
    }
)

# -- writing ----------------------------------------------------------------------------------


def _quantity(value: int | Decimal) -> int | str:
    return value if isinstance(value, int) else str(value)


def record_of(event: Event) -> dict[str, Any]:
    """The JSON object of one record (what :func:`write` writes on its line)."""
    head: dict[str, Any] = {
        "type": "",
        "id": event.id,
        "member_id": event.member_id,
        "at": event.at.isoformat(),
    }
    # Most of a history is purchases: theirs is the first test.
    if isinstance(event, Sale):
        purchase = event.purchase
        sale = {
            "type": "purchase",
            "currency": purchase.currency,
            "store_id": purchase.store_id,
            "terminal_id": purchase.terminal_id,
            "lines": [line_record(line) for line in purchase.lines],
            "total": str(purchase.total.amount),
        }
        # Only when there is one, as most sales have none: a file without it reads as before.
        return head | sale | ({} if purchase.channel is None else {"channel": purchase.channel})
    if isinstance(event, Enrollment):
        head["type"] = "enrollment"
        head["birthday"] = None if event.birthday is None else event.birthday.isoformat()
        head |= {"attributes": dict(event.attributes)} if event.attributes else {}
        return head | enrollment_extras(event)
    if isinstance(event, OpeningBalance):
        return head | opening_record(event)
    if isinstance(event, OpenVoucher | OpenHold):
        return head | voucher_record(event)
    if isinstance(event, RewardBought):
        return head | reward_record(event)
    if isinstance(event, PointsSent):
        return head | transfer_record(event)
    if isinstance(event, MembersMerged):
        return head | merge_record(event)
    if isinstance(event, VoucherVoided):
        return head | {"type": "voucher_void", "code": event.code}
    if isinstance(event, HeldPoints):
        return head | held_record(event)
    if isinstance(event, HoldCaptured):
        return head | {"type": "capture", "hold_id": event.hold_id, "points": event.points}
    if isinstance(event, StatusChanged):
        return head | {"type": "status", "status": event.status, "reason": event.reason, "actor": event.actor}
    if isinstance(event, Redemption):
        # Each only when it says something: a file without them reads as before.
        reason = {} if event.reason == "redemption" else {"reason": event.reason}
        paid = {} if event.purchase_id is None else {"purchase_id": event.purchase_id}
        return head | {"type": "redemption", "points": event.points} | reason | paid
    if isinstance(event, Adjustment):
        return head | {
            "type": "adjustment",
            "points": event.points,
            "reason": event.reason,
            "actor": event.actor,
        }
    if isinstance(event, CustomEvent):
        body: dict[str, Any] = {"type": "event", "name": event.name}
        return head | body | ({"properties": dict(event.properties)} if event.properties else {})
    if isinstance(event, SaleReturn):
        lines = event.returned.lines
        returned = (
            None if lines is None else [{"sku": x.sku, "quantity": _quantity(x.quantity)} for x in lines]
        )
        return head | {"type": "return", "purchase_id": event.purchase_id, "lines": returned}
    return head | {"type": "referral", "referred_by": event.referred_by}


def write(events: Iterable[Event]) -> Iterator[str]:
    """``events`` as JSON Lines, one ``"\\n"``-terminated string each: ``fp.writelines(write(events))``."""
    for event in events:
        yield json.dumps(record_of(event), ensure_ascii=False, separators=(",", ":")) + "\n"


# -- reading ----------------------------------------------------------------------------------


def _purchase(record: Fields, event_id: str, member_id: str, at: datetime) -> Purchase:
    lines = [read_line(record.number, i, item) for i, item in enumerate(record.items("lines") or ())]
    currency, store = record.text("currency"), record.optional_text("store_id")
    till, channel = record.optional_text("terminal_id"), record.optional_text("channel")
    return _checked_purchase(record, event_id, member_id, at, lines, currency, (store, till, channel))


def _checked_purchase(
    record: Fields,
    event_id: str,
    member_id: str,
    at: datetime,
    lines: list[Line],
    currency: str,
    where: tuple[str | None, str | None, str | None],
) -> Purchase:
    """The purchase of these fields of ``record`` (``where``: its store, till and channel), its
    ``total`` (if written) checked against its lines."""
    try:
        purchase = Purchase(event_id, member_id, at, lines, currency, *where)
    except LoyaltyError as exc:
        raise record.error(exc.field or "", exc.message) from exc
    if record.data.get("total") is not None:
        total, computed = record.decimal("total"), purchase.total.amount
        if total != computed:
            raise record.error("total", f"{total} does not match the lines, which add up to {computed}")
    return purchase


def _sale(number: int, data: dict[str, Any], utc: bool) -> Sale | None:
    """The sale of purchase record ``data`` whose keys all hold values of the right JSON types and
    whose ``at`` reads, else ``None``: :func:`_event` then reads it key by key and names what is
    wrong. Most of a history is purchases, and this way reads each of their keys once."""
    get = data.get
    event_id, member_id, text, currency = get("id"), get("member_id"), get("at"), get("currency")
    items, store, till, total = get("lines"), get("store_id"), get("terminal_id"), get("total")
    channel = get("channel")
    if not (
        type(event_id) is str
        and type(member_id) is str
        and type(text) is str
        and type(currency) is str
        and type(items) is list
        and (store is None or type(store) is str)
        and (till is None or type(till) is str)
        and (channel is None or type(channel) is str)
        and (total is None or type(total) is str)
    ):
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if at.tzinfo is None or at.utcoffset() is None:
        return None
    if utc:
        at = at.astimezone(UTC)
    lines = []
    for i, item in enumerate(items):
        line = None
        # read_line's look-up of a plain line (cache_key), without the calls. A plain line's
        # key is found only for an item with a sku, a quantity and a unit price: with three keys,
        # or four and the fourth a category, the item has no other (a discount, a tax, labels).
        size = len(item) if type(item) is dict else 0
        if size == 3 or (size == 4 and "category" in item):
            quantity = item.get("quantity")
            if type(quantity) is int or type(quantity) is str:
                key = (item.get("sku"), quantity, item.get("unit_price"), item.get("category"))
                try:
                    line = CACHE.get(key)
                except TypeError:  # an array or object among them, which read_line names
                    line = None
        lines.append(read_line(number, i, item) if line is None else line)
    try:
        purchase = Purchase(event_id, member_id, at, lines, currency, store, till, channel)
        if total is None or Decimal(total) == purchase.total.amount:
            return Sale(purchase)
    except (LoyaltyError, ArithmeticError):
        pass
    # Something is wrong with the purchase or its total: this raises, naming it.
    record = Fields(number, data, utc=utc)
    return Sale(_checked_purchase(record, event_id, member_id, at, lines, currency, (store, till, channel)))


def _return(record: Fields, event_id: str, member_id: str, at: datetime) -> SaleReturn:
    purchase_id = record.text("purchase_id")
    items = record.items("lines", optional=True)
    lines = None
    if items is not None:
        lines = []
        for i, item in enumerate(items):
            fields = Fields(record.number, item, f"lines[{i}].")
            try:
                lines.append(Returned(fields.text("sku"), fields.quantity("quantity")))
            except LoyaltyError as exc:
                raise fields.error(exc.field or "", exc.message) from exc
    try:
        return SaleReturn(member_id, Return(event_id, purchase_id, at, lines))
    except LoyaltyError as exc:
        raise record.error(exc.field or "", exc.message) from exc


#: The record types, as a refusal of another names them.
_TYPES = (
    "enrollment, purchase, return, redemption, adjustment, event, opening_balance, voucher, hold,"
    " reward, voucher_void, transfer, merge, referral, held, capture or status"
)


def _event(record: Fields) -> Event:
    kind, event_id, member_id = record.text("type"), record.text("id"), record.text("member_id")
    at = record.instant("at")
    if kind == "purchase":
        return Sale(_purchase(record, event_id, member_id, at))
    if kind == "enrollment":
        return read_enrollment(record, event_id, member_id, at)
    if kind == "redemption":
        reason, paid = record.optional_text("reason"), record.optional_text("purchase_id")
        return Redemption(event_id, member_id, record.integer("points"), at, reason or "redemption", paid)
    if kind == "return":
        return _return(record, event_id, member_id, at)
    if kind == "adjustment":
        points, reason, actor = record.integer("points"), record.text("reason"), record.text("actor")
        return Adjustment(event_id, member_id, points, at, reason, actor)
    if kind == "event":
        return CustomEvent(event_id, member_id, record.text("name"), at, record.values("properties"))
    if kind == "opening_balance":
        return read_opening(record, event_id, member_id, at)
    if kind == "voucher":
        return read_voucher(record, event_id, member_id, at)
    if kind == "hold":
        return read_hold(record, event_id, member_id, at)
    if kind == "reward":
        return read_reward(record, event_id, member_id, at)
    if kind == "transfer":
        return read_transfer(record, event_id, member_id, at)
    if kind == "merge":
        return read_merge(record, event_id, member_id, at)
    if kind == "voucher_void":
        return VoucherVoided(event_id, member_id, at, record.text("code"))
    if kind == "held":
        return read_held(record, event_id, member_id, at)
    if kind == "referral":
        return read_referral(record, event_id, member_id, at)
    if kind == "status":
        return read_status(record, event_id, member_id, at)
    if kind == "capture":
        return read_capture(record, event_id, member_id, at)
    raise record.error("type", f"must be {_TYPES}, got {kind!r}")


def parse(number: int, text: str, *, utc: bool = False) -> Event | None:
    """The record on line ``number`` (counted from 1), or ``None`` for a blank line.

    ``utc=True`` gives every ``at`` in UTC, the same instant: times that share one ``tzinfo``
    compare and sort several times faster (a store adding up figures sorts its entries by them).
    """
    if not text.strip():
        return None
    data = json_of(number, text)
    if type(data) is dict and data.get("type") == "purchase":
        sale = _sale(number, data, utc)
        if sale is not None:
            return sale
    return _event(Fields(number, data, utc=utc))


def numbered(lines: Iterable[str]) -> Iterator[tuple[int, Event]]:
    """Each record of ``lines`` (a file, or any iterable of lines) with its line number, read as it
    is reached; blank lines are skipped (and counted)."""
    for number, text in enumerate(lines, start=1):
        event = parse(number, text)
        if event is not None:
            yield number, event


def read(lines: Iterable[str]) -> Iterator[Event]:
    """Each record of ``lines``, read as it is reached (see :func:`numbered`)."""
    for _, event in numbered(lines):
        yield event
