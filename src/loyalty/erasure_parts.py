"""An erasure written one member at a time: what other members' rows say of the erased member is
rewritten in parts, one per other member, each under that member's lock (docs/scaling.md).

The erasure's first part (:func:`split`) keeps, of the :class:`~loyalty.erasure.Erasure`
:func:`~loyalty.erasure.plan_erasure` decided, what is the member's own (its row, entries, events,
tallies) and the records of ``operations``; of every other member's rows it keeps only *which*
rows to rewrite, by ``seq`` (:class:`Part`), in a record under the erasure's id and
:data:`OTHERS`. The record names the other members and the pseudonym, never the erased member's
id: a part reads its rows again and renames, where a field holds a member id (or the engine wrote
one into a reason), the value whose keyed hash is the pseudonym (:func:`plan_part`). So no record
keeps the id, and a part written after another erasure (of the same other member, say) still finds
what to rename, and nothing else.

>>> from datetime import datetime, timezone
>>> from loyalty.ledger import Entry, EntryKind
>>> from loyalty.pseudonyms import pseudonym
>>> secret, t = bytes(32), datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> hidden = pseudonym(secret, "M1")
>>> reason, rules = "referral bonus: M1 made a first purchase", ("referral:referrer",)
>>> bonus = Entry(4, "M2", EntryKind.EARN, 5, 5, t, t, "P1", reason, None, rules)
>>> part = Part("M2", rename=(4,))
>>> texts, events, referral = plan_part(part, [bonus], [], None, secret=secret, hidden=hidden)
>>> texts[0].reason == f"referral bonus: {hidden} made a first purchase", events, referral
(True, (), None)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from loyalty.chains import text_digest
from loyalty.erasure import ERASED, EVENT_FIELDS, ErasedEvent, ErasedText, Erasure, erased_text
from loyalty.ledger import Entry
from loyalty.outbox import DomainEvent
from loyalty.pseudonyms import (
    MADE_REASONS,
    TALLY_FAMILIES,
    merged_referrer,
    pseudonym,
    renamed,
    renamed_reason,
    renamed_referral_reason,
)
from loyalty.referrals import Referral

__all__ = [
    "BY_PSEUDONYM_KIND",
    "DONE_KIND",
    "KIND",
    "OTHERS",
    "PART_KIND",
    "Part",
    "by_pseudonym_key",
    "hashed_id",
    "part_key",
    "plan_part",
    "split",
]

#: What the erasure's record of the other members' parts adds to the erasure's id (a control
#: character, which no caller's id may hold: :func:`loyalty.checks.check_id`).
OTHERS = "\x1fothers"
#: The kinds of the records: the parts to write (with the first part), each part's, and the last
#: (under the key and :data:`loyalty.transfers.RECEIVED`) saying every part is written.
KIND, PART_KIND, DONE_KIND = "member_erasure_others", "member_erasure_other", "member_erasure_others_done"
#: The kind of the record, under :func:`by_pseudonym_key`, naming the erasure whose parts include a
#: referee's referral naming the erased member: how a referee finds the part it is owed.
BY_PSEUDONYM_KIND = "member_erasure_referees"
# The other members' event fields a shared command's event repeats its free text in.
_FREE_TEXT = frozenset({"reason"})


def part_key(key: str, index: int) -> str:
    """The key of the ``index``-th part's record of the erasure ``key``.

    >>> part_key("E1", 0)
    'E1\\x1fothers\\x1f0'
    """
    return f"{key}{OTHERS}\x1f{index}"


def by_pseudonym_key(hidden: str) -> str:
    """The key of the record naming the erasure of the member now named ``hidden`` (its
    pseudonym), kept when a referee's referral names that member: a referee whose row still names
    the referrer's id finds it by the id's keyed hash, one probe by key, however many erasures are
    unfinished (a control character, so no caller's id takes the key).

    >>> by_pseudonym_key("erased-abc")
    '\\x1ferasure\\x1ferased-abc'
    """
    return f"\x1ferasure\x1f{hidden}"


@attrs.frozen
class Part:
    """Which of another member's rows an erasure rewrites: the entries whose text it erases
    (``erase``: a transfer's or merge's with the erased member), those whose reason the engine wrote
    the erased member's id into (``rename``: a referral bonus), the events (``seq`` and the fields
    it clears: a shared command's free text, the keys a merge into the erased member carried; then
    renamed) and whether its referral names the erased member as referrer (``referral``)."""

    member_id: str
    erase: tuple[int, ...] = ()
    rename: tuple[int, ...] = ()
    events: tuple[tuple[int, tuple[str, ...]], ...] = ()
    referral: bool = False

    def form(self) -> dict[str, Any]:
        """The part as its record keeps it (JSON)."""
        return {
            "member_id": self.member_id,
            "erase": list(self.erase),
            "rename": list(self.rename),
            "events": [[seq, list(fields)] for seq, fields in self.events],
            "referral": self.referral,
        }

    @classmethod
    def of(cls, form: Mapping[str, Any]) -> Part:
        """The part its record keeps (:meth:`form`)."""
        events = tuple((int(seq), tuple(fields)) for seq, fields in form["events"])
        return cls(
            form["member_id"], tuple(form["erase"]), tuple(form["rename"]), events, bool(form["referral"])
        )


def split(
    erasure: Erasure, events: Iterable[DomainEvent], referees: Iterable[str]
) -> tuple[Erasure, tuple[Part, ...]]:
    """The first part of ``erasure`` (the member's own rows and the records), and what each other
    member's part rewrites, by member id. ``events`` are the events the erasure was planned from
    (whose member each event is), ``referees`` the members whose referral names the erased member
    as referrer."""
    member_id = erasure.member.id
    kinds = {event.seq: event for event in events}
    erase: dict[str, set[int]] = {}
    rename: dict[str, set[int]] = {}
    clears: dict[str, dict[int, frozenset[str]]] = {}

    def clear(seq: int, fields: frozenset[str]) -> None:
        owner = kinds[seq].member_id
        held = clears.setdefault(owner, {})
        held[seq] = held.get(seq, frozenset()) | fields

    for other in erasure.counterparts:
        for text in other.texts:
            # A shared command's entry reads ERASED; a referral bonus names the pseudonym instead.
            (erase if text.reason == ERASED else rename).setdefault(other.member_id, set()).add(text.seq)
        for event in other.events:
            clear(event.seq, _FREE_TEXT)
    own = tuple(event for event in erasure.events if kinds[event.seq].member_id == member_id)
    for event in erasure.events:
        if kinds[event.seq].member_id != member_id:  # a merge into it: the absorbed member's event
            clear(event.seq, EVENT_FIELDS[kinds[event.seq].kind])
    named = tuple(event for event in erasure.mentions if kinds[event.seq].member_id == member_id)
    for event in erasure.mentions:
        if kinds[event.seq].member_id != member_id:
            clear(event.seq, frozenset())
    referring = set(referees) - {member_id}
    members = sorted(set(erase) | set(rename) | set(clears) | referring)
    parts = tuple(
        Part(
            other,
            tuple(sorted(erase.get(other, ()))),
            tuple(sorted(rename.get(other, ()))),
            tuple((seq, tuple(sorted(fields))) for seq, fields in sorted(clears.get(other, {}).items())),
            other in referring,
        )
        for other in members
    )
    return attrs.evolve(erasure, counterparts=(), events=own, mentions=named), parts


def plan_part(
    part: Part,
    entries: Iterable[Entry],
    events: Iterable[DomainEvent],
    referral: Referral | None,
    *,
    secret: bytes,
    hidden: str,
) -> tuple[tuple[ErasedText, ...], tuple[ErasedEvent, ...], Referral | None]:
    """What a part writes, from the other member's rows as they are now: its listed entries' texts
    (each keeping the digest of what it said), its listed events' data and its referral (``None``:
    unchanged), with each member id whose :func:`~loyalty.pseudonyms.pseudonym` under ``secret`` is
    ``hidden`` renamed to ``hidden``. What names no such id (written again, or erased since) is left."""
    by_seq = {entry.seq: entry for entry in entries}
    texts = [erased_text(by_seq[seq]) for seq in part.erase if seq in by_seq]
    for seq in part.rename:
        entry = by_seq.get(seq)
        if entry is None:
            continue
        for old in _reason_ids(entry.reason):
            if pseudonym(secret, old) == hidden:
                reason = renamed_reason(entry.reason, entry.rules, old, hidden)
                if reason != entry.reason:
                    texts.append(ErasedText(seq, reason, entry.actor, text_digest(entry)))
    clearing = dict(part.events)
    written = []
    for event in events:
        fields = clearing.get(event.seq)
        if fields is None:
            continue
        data = {name: None if name in fields else value for name, value in event.data.items()}
        found = hashed_id(data, secret, hidden)
        if found is not None:
            data = renamed(data, found, hidden)
        if data != dict(event.data):
            written.append(ErasedEvent(event.seq, data))
    moved = None
    if part.referral and referral is not None and pseudonym(secret, referral.referrer) == hidden:
        told = renamed_referral_reason(referral.reason, referral.referrer, hidden)
        moved = attrs.evolve(referral, referrer=hidden, reason=told)
    return tuple(sorted(texts, key=lambda text: text.seq)), tuple(written), moved


def hashed_id(value: Any, secret: bytes, hidden: str) -> str | None:
    """The string in a JSON-like ``value`` (a string, a key, the member of a tally key or of a
    reason the engine wrote) whose pseudonym under ``secret`` is ``hidden``, or ``None``.

    >>> secret = bytes(32)
    >>> hashed_id({"to_member": "M1", "taken": [{"source": "seen|M1"}]}, secret, pseudonym(secret, "M1"))
    'M1'
    """
    for found in _strings(value):
        for candidate in (found, *_tally_ids(found), *_reason_ids(found)):
            if pseudonym(secret, candidate) == hidden:
                return candidate
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from _strings(name)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _tally_ids(key: str) -> Iterator[str]:
    parts = TALLY_FAMILIES.get(key.partition("|")[0])
    if parts is not None:
        head = key.split("|", parts)
        if len(head) > parts:
            yield head[-1]


def _reason_ids(reason: str) -> Iterator[str]:
    """The member ids the engine may have written into ``reason`` (:data:`MADE_REASONS`, a
    referral rejected as its referrer was merged into its referee)."""
    forms = [*MADE_REASONS.values(), tuple(merged_referrer("\x00").split("\x00"))]
    for before, after in forms:
        if reason.startswith(before) and reason.endswith(after) and len(reason) > len(before) + len(after):
            yield reason[len(before) : len(reason) - len(after)]
