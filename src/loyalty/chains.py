"""Tamper evidence: every ledger entry's link hash, chained per member, and their verification.

Each entry's ``link`` is a 16-byte hash (SHA-256, truncated) of the link of the member's
entry before it (:data:`GENESIS` for the first), the entry's ``seq`` and ``balance_after``
(which the store assigns) and :func:`content_digest` of the rest of its content (which the
engine decides). A store keeps each entry's link beside it, and the member's *head* (the
``seq`` and link of its last entry) in the member's row, so an entry removed from the end is
missed too. A chain per member keeps a write to one member's rows (no global chain to lock).

The entry's text (source, reason, actor, rules, program version) enters through a digest of
its own, :func:`text_digest`: an erasure that pseudonymises the text keeps that digest
(:mod:`loyalty.erasure`), which the store gives back as :attr:`Link.text` and
:func:`content_digest` takes (``text=``), so the chain still verifies. The member id is in no
hash (see docs/audit.md).

>>> from datetime import datetime, timezone
>>> from loyalty.ledger import Entry, EntryKind
>>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
>>> e1 = Entry(1, "M1", EntryKind.EARN, 40, 40, t, t, "T1-1", "purchase")
>>> e2 = Entry(2, "M1", EntryKind.REDEEM, -25, 15, t, t, "T1-2", "redemption")
>>> first = link_of(GENESIS, e1)
>>> verifier = Verifier()
>>> verifier.check([Link(e1, first), Link(e2, link_of(first, e2))])
>>> verifier.report([Head("M1", 2, link_of(first, e2))]).ok
True
>>> verifier = Verifier()
>>> verifier.check([Link(e1, first), Link(e2, link_of(GENESIS, e2))])
>>> verifier.report([Head("M1", 2, link_of(first, e2))]).breaks
(Break(member_id='M1', seq=2, problem='link'), Break(member_id='M1', seq=2, problem='head'))
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

import attrs

from loyalty.ledger import Entry, Posting

__all__ = [
    "GENESIS",
    "LINK_SIZE",
    "Break",
    "ChainReport",
    "Head",
    "Link",
    "Verifier",
    "content_digest",
    "link",
    "link_of",
    "text_digest",
]

#: Bytes of a link: half a SHA-256, plenty against accidental and forged collisions alike
#: for a chain whose hash is public anyway (see docs/audit.md).
LINK_SIZE = 16
#: The link "before" a member's first entry.
GENESIS = bytes(LINK_SIZE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime | None) -> int | None:
    if at is None:
        return None
    # ``(at - _EPOCH) // timedelta(microseconds=1)``, exactly (a timedelta's seconds and
    # microseconds are never negative), in int arithmetic: the division of two timedeltas
    # converts both to microseconds and costs about four times as much, on every entry.
    since = at - _EPOCH
    return (since.days * 86_400 + since.seconds) * 1_000_000 + since.microseconds


def _offset(at: datetime) -> int:
    offset = at.utcoffset()
    # ``offset // timedelta(seconds=1)``, exactly: the floor drops the microseconds.
    return 0 if offset is None else offset.days * 86_400 + offset.seconds


def _text(text: str | None) -> str:
    # A text as its length and itself ("-" for none): no separator inside a text can fake one.
    return "-" if text is None else f"{len(text)}:{text}"


def text_digest(entry: Posting | Entry) -> bytes:
    """SHA-256 of the entry's text fields: what an erasure keeps when it pseudonymises them.

    >>> from datetime import datetime, timezone
    >>> from loyalty.ledger import Posting, EntryKind
    >>> t = datetime(2024, 3, 1, tzinfo=timezone.utc)
    >>> len(text_digest(Posting("M1", EntryKind.EARN, 5, t, t, "T1", "purchase")))
    32
    """
    rules = " ".join(entry.rules)  # rule ids hold no whitespace (loyalty.store.check_rules)
    source, reason = entry.source_id, entry.reason
    # The five texts by _text, "|" between them, written out: this is on every entry appended,
    # where a comprehension's frame and list cost more than the text (a source is never None,
    # a reason only once an erasure has rewritten it).
    text = (
        f"{len(source)}:{source}|{_text(reason) if reason is None else f'{len(reason)}:{reason}'}"
        f"|{_text(entry.actor)}|{len(rules)}:{rules}|{_text(entry.program_version)}"
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def content_digest(entry: Posting | Entry, *, text: bytes | None = None) -> bytes:
    """SHA-256 of what the engine decided about an entry: everything but its member, ``seq`` and
    ``balance_after``; its text through :func:`text_digest` (or ``text``, kept by an erasure).

    Instants count as their microsecond and their offset (what every adapter keeps); lot dates
    as their microsecond (adapters keep them in UTC). Every field but the text is a number, a
    kind's name or none, written in ASCII between fixed separators.
    """
    # (Most entries draw on no lot and re-date none: no generator made for them.)
    draws = ";".join(f"{lot}:{points}" for lot, points in entry.draws) if entry.draws else ""
    redates = ";".join(f"{lot}:{_micros(at)}" for lot, at in entry.redates) if entry.redates else ""
    vests, expires = entry.vests_at, entry.expires_at
    vests_micros = None if vests is None else _micros(vests)
    expires_micros = None if expires is None else _micros(expires)
    # (The kind's ``_value_``, the member's own attribute: ``.value`` is a property that runs
    # two Python calls.)
    body = (
        f"{entry.kind._value_}|{entry.points}|{_micros(entry.occurred_at)}|{_offset(entry.occurred_at)}"
        f"|{_micros(entry.recorded_at)}|{_offset(entry.recorded_at)}|{vests_micros}"
        f"|{expires_micros}|{draws}|{int(entry.rolling)}|{redates}|"
    )
    return hashlib.sha256(body.encode("ascii") + (text_digest(entry) if text is None else text)).digest()


def link(before: bytes, seq: int, balance_after: int, digest: bytes) -> bytes:
    """The link of entry ``seq`` leaving ``balance_after``, after the member's link ``before``:
    ``SHA-256(before ‖ seq ‖ balance_after ‖ digest)[:16]``, the numbers as 8-byte big-endian
    two's complement (PostgreSQL's ``int8send``, so it can compute the same in SQL)."""
    data = before + seq.to_bytes(8, "big", signed=True) + balance_after.to_bytes(8, "big", signed=True)
    return hashlib.sha256(data + digest).digest()[:LINK_SIZE]


def link_of(before: bytes, entry: Entry, *, text: bytes | None = None) -> bytes:
    """:func:`link` of a recorded entry."""
    return link(before, entry.seq, entry.balance_after, content_digest(entry, text=text))


@attrs.frozen
class Link:
    """An entry as a store keeps it for verification: with its stored link (``None`` if missing)
    and, for an entry whose text an erasure rewrote, the :func:`text_digest` it kept (``text``)."""

    entry: Entry
    link: bytes | None
    text: bytes | None = None


@attrs.frozen
class Head:
    """A member's chain head as its row keeps it: its last entry's ``seq`` (0: none) and link."""

    member_id: str
    seq: int
    link: bytes


@attrs.frozen
class Break:
    """A broken link: ``problem`` is ``"link"`` (entry ``seq``'s stored link is not the hash of the
    link before it and its content: it, or an entry before it, was edited, removed or inserted) or
    ``"head"`` (the member's head, ``seq`` as its row says, is not its last entry's link)."""

    member_id: str
    seq: int
    problem: str


@attrs.frozen
class ChainReport:
    """What :meth:`loyalty.Engine.verify` found: entries and members checked, and every break."""

    entries: int
    members: int
    breaks: tuple[Break, ...]

    @property
    def ok(self) -> bool:
        """Whether every chain verified."""
        return not self.breaks


class Verifier:
    """Checks entries fed in ``seq`` order (:meth:`check`, a page at a time), then the heads
    (:meth:`report`). Time linear in the ledger; memory one link per member."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[int, bytes]] = {}
        self._breaks: list[Break] = []
        self.entries = 0

    def check(self, links: Iterable[Link]) -> None:
        """Check the next entries, in ``seq`` order."""
        last, breaks = self._last, self._breaks
        for found in links:
            entry = found.entry
            member = entry.member_id
            before = last.get(member, (0, GENESIS))[1]
            expected = link_of(before, entry, text=found.text)
            if found.link != expected:
                breaks.append(Break(member, entry.seq, "link"))
            # Each link checked against the one stored before it: one altered entry is one break.
            last[member] = (entry.seq, expected if found.link is None else found.link)
            self.entries += 1

    def report(self, heads: Iterable[Head]) -> ChainReport:
        """The report, once every entry was checked, given every member's head (once: it uses up
        what :meth:`check` kept)."""
        last = self._last
        breaks = list(self._breaks)
        members = 0
        for head in heads:
            members += 1
            seen = last.pop(head.member_id, (0, GENESIS))
            if seen != (head.seq, head.link):
                breaks.append(Break(head.member_id, head.seq, "head"))
        # Entries of a member with no row (a row removed): their chain has no head.
        breaks += (Break(member, seq, "head") for member, (seq, _) in sorted(last.items()))
        return ChainReport(self.entries, members, tuple(breaks))
