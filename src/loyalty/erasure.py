"""Erasure on request (GDPR art. 17): what the store keeps about a member, with the personal
data taken out, and the ledger's figures and chain left as they were.

:func:`plan_erasure` is pure: given the member, its entries, the idempotency records of the
commands about it and its outbox events, it returns the :class:`Erasure` a store writes, split by
:func:`loyalty.erasure_parts.split` into the member's own part
(:meth:`loyalty.store.ErasureRole.erase_member`) and each other member's
(:meth:`loyalty.store.ErasureRole.erase_part`):

- the member's row keeps its id, enrollment time and balance; its birthday, the time it
  changed and its attributes go, and its status becomes ``erased``;
- every card and key of the member is removed (the store deletes them: a key is its value);
- each entry whose text the caller wrote (the reason of a redemption, correction, transfer,
  merge or tier assignment, and any actor) reads :data:`ERASED` instead, and keeps the
  :func:`~loyalty.chains.text_digest` of what it said, which the chain is verified with;
- each record of the commands about the member (:data:`MEMBER_FIELDS`) loses the personal
  fields of its request and result (:data:`RECORD_FIELDS`, set to ``None``, and any free-form
  map nested deeper: a line's labels) and is marked ``erased``, so a retry under its key is
  refused with :class:`~loyalty.errors.MemberErased`; a purchase keeps its member, time, lines
  and amount, which the period figures read;
- an entry a record keeps in its result (a transfer's or merge's, a purchase's) reads as the
  entry itself does once erased;
- each of the member's events, and each merge into it, loses the personal fields of its data
  (:data:`EVENT_FIELDS`: a merge's lists the keys it carried to the member; a tier move's
  reason, which names an assigned tier's actor and reason);
- the other member of a transfer or merge with the member (a :class:`Counterpart`) keeps that
  command's entries with their text erased (and its digest kept), and its event without the
  free text: staff may have typed the member's personal data in the command's reason.

Given a ``pseudonym`` (:func:`loyalty.pseudonyms.pseudonym`), the member id is replaced by it
wherever a field holds it as a member id (:func:`loyalty.pseudonyms.renamed`), and nowhere
else: in every record and event that names the member (the records and events ``mentioning``
it: a referrer's reward naming its referee, the other side of a transfer), in the ids the
engine made from it (:data:`Erasure.sources`), in the reasons of other members' entries the
engine wrote it into (a referral bonus's, ``named_by``) and, by the store, in every column and
tally key that holds a member id. A command's id the caller chose (``source_id``) is not
erased: it is the key its rows are found by, so it must not be personal (see docs/erasure.md).

>>> from datetime import datetime, timezone, date
>>> from loyalty.ledger import Entry, EntryKind
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> member = Member("M1", t, date(1980, 5, 17), {"email": "ann@example.com"})
>>> entry = Entry(1, "M1", EntryKind.ADJUST, 5, 5, t, t, "A1", "goodwill for Ann", "bob")
>>> request = {"member_id": "M1", "attributes": {"email": "ann@example.com"}}
>>> record = Record("U1", "member_update", request, {})
>>> plan = plan_erasure(member, [entry], [record], [], key="E1")
>>> plan.member.birthday, dict(plan.member.attributes), plan.member.status.value
(None, {}, 'erased')
>>> plan.texts[0].reason, plan.texts[0].actor
('erased', 'erased')
>>> plan.records[0].request
{'member_id': 'M1', 'attributes': None, 'erased': 'E1', 'erased_member': 'M1'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from loyalty.chains import text_digest
from loyalty.ledger import CALLER_TEXT, ERASED_TEXT, Entry, EntryKind
from loyalty.members import Member, MemberStatus
from loyalty.outbox import DomainEvent, EventKind
from loyalty.pseudonyms import FREE_FORM_FIELDS, mentions, renamed, renamed_reason, renamed_source

__all__ = [
    "ERASED",
    "EVENT_FIELDS",
    "MEMBER_FIELDS",
    "RECORD_FIELDS",
    "Counterpart",
    "Erased",
    "ErasedEvent",
    "ErasedText",
    "Erasure",
    "Record",
    "erased_by",
    "erased_member",
    "erased_text",
    "names",
    "partners",
    "plan_erasure",
]

#: What an erased entry's reason and actor read.
ERASED = ERASED_TEXT

#: The fields of a command's request or result (at their top level) that may hold personal data:
#: a member's details (``member`` is the member a purchase was evaluated with), keys and cards
#: (``value`` and ``replaced_by`` are an identifier's), an event's properties and free text.
RECORD_FIELDS = frozenset(
    {
        "actor",
        "attributes",
        "birthday",
        "birthday_changed_at",
        "identifiers",
        "key",
        "keys",
        "member",
        "new_key",
        "old_key",
        "properties",
        "reason",
        "replaced_by",
        "value",
    }
)

#: The fields of a command's request that name the member it is about: a record is the member's
#: if one of them does (a transfer's and a merge's name two members, each of whom it is about).
MEMBER_FIELDS = ("member_id", "from_member", "to_member", "survivor", "absorbed")

#: The fields of an event's data that may hold personal data, by kind: the keys of identifier
#: events and the free text of status changes, transfers and tier moves (an assigned tier's
#: reason reads "assigned by <actor> until <date>: <reason>", both typed by the caller).
EVENT_FIELDS: Mapping[EventKind, frozenset[str]] = {
    EventKind.TIER_CHANGED: frozenset({"reason"}),
    EventKind.IDENTIFIER_ADDED: frozenset({"key"}),
    EventKind.IDENTIFIER_REPLACED: frozenset({"old", "new"}),
    EventKind.IDENTIFIER_REMOVED: frozenset({"key"}),
    EventKind.MEMBER_STATUS_CHANGED: frozenset({"reason", "actor"}),
    EventKind.POINTS_TRANSFERRED: frozenset({"reason"}),
    EventKind.MEMBER_MERGED: frozenset({"reason", "keys"}),
}

# The entries whose reason the caller wrote (the others say what the engine did).
_CALLER_TEXT = CALLER_TEXT
# The commands whose entries and event the other member shares, by the kind of their record (the
# sender's, whose key is the entries' source id; the receiver's part is under that key too).
_SHARED = frozenset({"transfer", "member_merge"})
# The entries of such a command that repeat its reason (not a tier rise it caused, say).
_SHARED_ENTRIES = frozenset({EntryKind.TRANSFER, EntryKind.MERGE})
# The fields of an entry's form (:func:`loyalty.codec.unstructure`) a record's result is told by.
_ENTRY_FORM = frozenset({"seq", "member_id", "kind", "source_id", "reason", "actor"})
# The other member's events of such a command that repeat its reason (a transfer's, a merge's
# and the absorbed member's closing): their reason goes, the rest is the engine's (an actor
# ``merge``) or the other member's own (the keys a merge carried to the survivor).
_SHARED_EVENTS = frozenset(
    {EventKind.POINTS_TRANSFERRED, EventKind.MEMBER_MERGED, EventKind.MEMBER_STATUS_CHANGED}
)
_FREE_TEXT = frozenset({"reason"})
# Where a record keeps the erasure that scrubbed it, and the member it erased.
_MARK, _MARKED = "erased", "erased_member"


@attrs.frozen
class Erased:
    """What :meth:`loyalty.Engine.erase` did: the member erased at ``erased_at`` (the engine's
    time), how many entries' texts, command records, outbox events and keys it rewrote or
    removed, and the ``pseudonym`` the store keeps the member under from now on (its id, as the
    caller named it, is ``member_id``: the store keeps it nowhere)."""

    member_id: str
    erased_at: datetime
    entries: int
    records: int
    events: int
    identifiers: int
    pseudonym: str


@attrs.frozen
class Record:
    """A command's idempotency record as the store keeps it: its key, kind, request and result."""

    key: str
    kind: str
    request: Mapping[str, Any]
    result: Mapping[str, Any]


@attrs.frozen
class ErasedText:
    """An entry's text after erasure, with the text digest of what it said before (``kept``)."""

    seq: int
    reason: str
    actor: str | None
    kept: bytes


@attrs.frozen
class ErasedEvent:
    """An outbox event's data after erasure."""

    seq: int
    data: Mapping[str, Any]


@attrs.frozen
class Counterpart:
    """The other member of a transfer or merge with the erased member: the texts of its entries
    of those commands and the data of its events of them, after erasure."""

    member_id: str
    texts: tuple[ErasedText, ...]
    events: tuple[ErasedEvent, ...]


@attrs.frozen
class Erasure:
    """What an erasure writes: the member's row, the entries' text, the records and events, and
    the other members' texts and events of the transfers and merges with it; then the member's
    new id, its ``pseudonym`` (``None``: it keeps its id), with the records it only renames
    (``renamed``: erased before, or another member's naming it), the events of others that
    name it (``mentions``) and the ids the engine made from its id, each with its new form
    (``sources``: of its entries, its events and the keys of its records)."""

    member: Member
    texts: tuple[ErasedText, ...]
    records: tuple[Record, ...]
    events: tuple[ErasedEvent, ...]
    counterparts: tuple[Counterpart, ...] = ()
    pseudonym: str | None = None
    renamed: tuple[Record, ...] = ()
    mentions: tuple[ErasedEvent, ...] = ()
    sources: tuple[tuple[str, str], ...] = ()


def erased_by(request: Mapping[str, Any]) -> str | None:
    """The id of the erasure that scrubbed a record's request, or ``None`` for a record as kept.

    >>> erased_by({"member_id": "M1", "erased": "E1"}), erased_by({"member_id": "M1"})
    ('E1', None)
    """
    mark = request.get(_MARK)
    return mark if isinstance(mark, str) else None


def erased_member(request: Mapping[str, Any]) -> str:
    """The member whose erasure scrubbed a record's request (see :func:`erased_by`).

    >>> erased_member({"from_member": "M2", "to_member": "M1", "erased": "E1", "erased_member": "M1"})
    'M1'
    """
    return str(request.get(_MARKED))


def names(request: Mapping[str, Any], member_id: str) -> bool:
    """Whether a command's request is about ``member_id`` (one of :data:`MEMBER_FIELDS`).

    >>> names({"from_member": "M2", "to_member": "M1"}, "M1"), names({"member_id": "M2"}, "M1")
    (True, False)
    """
    return any(request.get(field) == member_id for field in MEMBER_FIELDS)


def partners(records: Iterable[Record], member_id: str) -> dict[str, frozenset[str]]:
    """The other members of the transfers and merges among the member's ``records`` (erased
    ones too), each with the ids of those commands, which their entries and events carry.

    >>> sent = Record("X1", "transfer", {"from_member": "M1", "to_member": "M2"}, {})
    >>> merged = Record("X2", "member_merge", {"survivor": "M3", "absorbed": "M1"}, {})
    >>> partners([sent, merged], "M1")
    {'M2': frozenset({'X1'}), 'M3': frozenset({'X2'})}
    """
    found: dict[str, set[str]] = {}
    for record in records:
        if record.kind not in _SHARED:
            continue
        for field in MEMBER_FIELDS:
            other = record.request.get(field)
            if isinstance(other, str) and other != member_id:
                found.setdefault(other, set()).add(record.key)
    return {other: frozenset(keys) for other, keys in sorted(found.items())}


def _scrub(data: Mapping[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    return {name: None if name in fields else value for name, value in data.items()}


def _without_free_forms(value: Any) -> Any:
    """``value`` (a record of the member's own: its request or result) without the caller's
    free-form maps nested in it (:data:`~loyalty.pseudonyms.FREE_FORM_FIELDS`: a purchase line's
    ``labels``), which may hold anything personal, the member's id too: the line then reads as
    one without labels, as the codec writes it. The top-level ones are ``None`` already
    (:data:`RECORD_FIELDS`); another member's records keep theirs (they are its data)."""
    if isinstance(value, Mapping):
        return {
            name: _without_free_forms(item)
            for name, item in value.items()
            if not (name in FREE_FORM_FIELDS and isinstance(item, Mapping))
        }
    if isinstance(value, list | tuple):
        return [_without_free_forms(item) for item in value]
    return value


def _own(record: Record) -> tuple[dict[str, Any], dict[str, Any]]:
    """A record of the member's own with its personal fields out (:data:`RECORD_FIELDS`, and any
    free-form map nested in it), every entry in its result read as the entry once erased, and
    every row of a receipt in it without its detail (:func:`_without_details`)."""
    request = _without_free_forms(_scrub(record.request, RECORD_FIELDS))
    return request, _without_details(_without_free_forms(_entries_in(_scrub(record.result, RECORD_FIELDS))))


# The fields of a receipt's breakdown row (:func:`loyalty.codec.receipt_result`).
_ROW = frozenset({"rule", "name", "points", "detail", "line"})


def _without_details(value: Any) -> Any:
    """``value`` (a record's result) with the ``detail`` of every receipt row in it ``None``: a
    rule's detail may be made of the member's data (a birthday bonus's names the birthday, as
    ``birthday 2024-07-09``), and nothing reads an erased member's receipt again (a retry of it
    is refused; the figures by rule read the entries). The row's rule and points stay."""
    if isinstance(value, Mapping):
        if value.keys() == _ROW:
            return {**value, "detail": None}
        return {name: _without_details(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_details(item) for item in value]
    return value


def _erased_text(kind: EntryKind, reason: str, actor: str | None) -> tuple[str, str | None]:
    return (ERASED if kind in _CALLER_TEXT else reason), (None if actor is None else ERASED)


def _text(entry: Entry) -> ErasedText:
    reason, actor = _erased_text(entry.kind, entry.reason, entry.actor)
    return ErasedText(entry.seq, reason, actor, text_digest(entry))


def erased_text(entry: Entry) -> ErasedText:
    """The entry's text once erased (its caller's text ``erased``, any actor ``erased``), with the
    digest of what it says now (a store keeps the first one it was given)."""
    return _text(entry)


def _entries_in(value: Any) -> Any:
    """``value`` (a record's result) with every entry's form in it read as the entry once erased."""
    if isinstance(value, Mapping):
        if value.keys() >= _ENTRY_FORM:
            reason, actor = _erased_text(EntryKind(value["kind"]), value["reason"], value["actor"])
            return {**value, "reason": reason, "actor": actor}
        return {name: _entries_in(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_entries_in(item) for item in value]
    return value


def _counterpart(
    member_id: str, keys: frozenset[str], entries: Iterable[Entry], events: Iterable[DomainEvent]
) -> Counterpart:
    """What the erasure rewrites of ``member_id``, the other member of the commands ``keys``."""
    texts = tuple(
        _text(entry) for entry in entries if entry.source_id in keys and entry.kind in _SHARED_ENTRIES
    )
    scrubbed = tuple(
        ErasedEvent(event.seq, _scrub(event.data, _FREE_TEXT))
        for event in events
        if event.member_id == member_id and event.source_id in keys and event.kind in _SHARED_EVENTS
    )
    return Counterpart(member_id, texts, scrubbed)


def plan_erasure(
    member: Member,
    entries: Iterable[Entry],
    records: Iterable[Record],
    events: Iterable[DomainEvent],
    *,
    key: str,
    others: Mapping[str, tuple[Iterable[Entry], Iterable[DomainEvent]]] | None = None,
    pseudonym: str | None = None,
    mentioning: tuple[Iterable[Record], Iterable[DomainEvent]] = ((), ()),
    named_by: Iterable[Entry] = (),
) -> Erasure:
    """The erasure of ``member`` (see the module's notes), by the erasure whose id is ``key``.

    ``entries`` are the member's, ``records`` those of the commands about it (an erased one is
    left as it is) and ``events`` its outbox events and the merges into it. ``others`` holds the
    entries and events of each of the member's :func:`partners` (those of the commands shared
    with the member are rewritten, the member's own events aside).

    With a ``pseudonym``, each of those records and events names the member by it instead, and
    so do the records and events ``mentioning`` the member (those a store finds with the id in
    them: :meth:`loyalty.store.ErasureRole.mentioning`), which are otherwise left as they are;
    the entries ``named_by`` (entries that may name it: those whose reason the engine wrote the
    id into, :meth:`loyalty.store.ErasureRole.naming`), other members', read the pseudonym
    instead where the engine wrote the id (their text
    digest kept, as a :class:`Counterpart`'s); and each id the engine made from the member id
    (of its ``entries``, its own ``events`` and ``records``) is listed in ``sources``."""
    entries = list(entries)
    records = list(records)
    events = list(events)
    new = member.id if pseudonym is None else pseudonym

    def rename(value: Any) -> Any:
        return value if new == member.id else renamed(value, member.id, new)

    erased = attrs.evolve(
        member, birthday=None, attributes={}, birthday_changed_at=None, status=MemberStatus.ERASED
    )
    texts = tuple(_text(entry) for entry in entries)
    kept = tuple(
        Record(record.key, record.kind, rename(request | {_MARK: key, _MARKED: member.id}), rename(result))
        for record in records
        if erased_by(record.request) is None
        for request, result in [_own(record)]
    )
    scrubbed = tuple(
        ErasedEvent(event.seq, rename(_scrub(event.data, EVENT_FIELDS[event.kind])))
        for event in events
        if event.kind in EVENT_FIELDS
    )
    own = {event.seq for event in events}
    shared = partners(records, member.id)
    counterparts = tuple(
        attrs.evolve(part, events=tuple(ErasedEvent(e.seq, rename(e.data)) for e in part.events))
        for part in (
            _counterpart(other, shared[other], found, (event for event in happened if event.seq not in own))
            for other, (found, happened) in sorted((others or {}).items())
            if other in shared
        )
    )
    if new == member.id:
        return Erasure(erased, texts, kept, scrubbed, counterparts)
    done = {record.key for record in kept}
    only_renamed: dict[str, Record] = {}
    # The member's own records erased before (by a version before pseudonyms, or by the erasure
    # of the other member of a transfer or merge) lose their nested free-form maps now too; they
    # come last, and win over the same record found among those mentioning the member.
    found = [(record, False) for record in mentioning[0]] + [(record, True) for record in records]
    for record, mine in found:
        if record.key in done:
            continue
        request, result = record.request, record.result
        if mine:
            request, result = _without_free_forms(request), _without_free_forms(result)
        if (request, result) != (record.request, record.result) or mentions([request, result], member.id):
            only_renamed[record.key] = Record(record.key, record.kind, rename(request), rename(result))
    written = {event.seq for event in scrubbed} | {e.seq for part in counterparts for e in part.events}
    named_in = {
        event.seq: ErasedEvent(event.seq, rename(event.data))
        for event in mentioning[1]
        if event.seq not in written and mentions(event.data, member.id)
    }
    made = [entry.source_id for entry in entries]
    made += [event.source_id for event in events if event.member_id == member.id]
    made += [record.key for record in records]
    sources = {source: renamed_source(source, member.id, new) for source in made}
    return Erasure(
        erased,
        texts,
        kept,
        scrubbed,
        (*counterparts, *_named_by(named_by, member.id, new)),
        pseudonym=new,
        renamed=tuple(record for _, record in sorted(only_renamed.items())),
        mentions=tuple(event for _, event in sorted(named_in.items())),
        sources=tuple(sorted((old, made) for old, made in sources.items() if made != old)),
    )


def _named_by(entries: Iterable[Entry], old: str, new: str) -> list[Counterpart]:
    """Other members' entries whose reason the engine wrote member id ``old`` into, each reading
    ``new`` instead (its text digest kept), by member."""
    texts: dict[str, list[ErasedText]] = {}
    for entry in entries:
        reason = renamed_reason(entry.reason, entry.rules, old, new)
        if entry.member_id != old and reason != entry.reason:
            texts.setdefault(entry.member_id, []).append(
                ErasedText(entry.seq, reason, entry.actor, text_digest(entry))
            )
    return [Counterpart(member_id, tuple(found), ()) for member_id, found in sorted(texts.items())]
