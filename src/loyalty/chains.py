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
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

import attrs

from loyalty.checks import check_id
from loyalty.errors import InvalidInput
from loyalty.ledger import CALLER_TEXT, ERASED_TEXT, Entry, Posting
from loyalty.pseudonyms import PREFIX, pseudonym

__all__ = [
    "GENESIS",
    "LINK_SIZE",
    "Break",
    "ChainReport",
    "Head",
    "Link",
    "Verifier",
    "check_heads",
    "content_digest",
    "heads_digest",
    "link",
    "link_of",
    "read_heads",
    "text_digest",
    "write_heads",
]

#: Bytes of a link: half a SHA-256, plenty against accidental and forged collisions alike
#: for a chain whose hash is public anyway (see docs/audit.md).
LINK_SIZE = 16
#: The link "before" a member's first entry.
GENESIS = bytes(LINK_SIZE)
#: A member's last seq, link and balance before its first entry.
_START = (0, GENESIS, 0)
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


def _erased_form(entry: Entry) -> bool:
    """Whether the entry's text reads as an erasure leaves it, so its kept digest stands for it:
    any actor :data:`ERASED_TEXT`, and a reason the caller wrote (:data:`CALLER_TEXT`) too. A
    reason the engine wrote is kept by an erasure, so the digest is needed only where the
    erasure rewrote the actor, or made a referral bonus's reason name the erased member by its
    pseudonym; any other such text is hashed as it reads."""
    if entry.actor is not None and entry.actor != ERASED_TEXT:
        return False
    if entry.kind in CALLER_TEXT:
        return entry.reason == ERASED_TEXT
    referral = any(rule.startswith("referral:") for rule in entry.rules)
    return entry.actor == ERASED_TEXT or (referral and PREFIX in entry.reason)


@attrs.frozen
class Link:
    """An entry as a store keeps it for verification: with its stored link (``None`` if missing)
    and, for an entry whose text an erasure rewrote, the :func:`text_digest` it kept (``text``)."""

    entry: Entry
    link: bytes | None
    text: bytes | None = None


@attrs.frozen
class Head:
    """A member's chain head as its row keeps it: its last entry's ``seq`` (0: none) and link,
    and the balance the row keeps beside them (``None``: not known, as in an exported head)."""

    member_id: str
    seq: int
    link: bytes
    balance: int | None = None


@attrs.frozen
class Break:
    """A broken link: ``problem`` is ``"link"`` (entry ``seq``'s stored link is not the hash of the
    link before it and its content: it, or an entry before it, was edited, removed or inserted),
    ``"head"`` (the member's head, ``seq`` as its row says, is not its last entry's link),
    ``"balance"`` (the member row's balance is not the ``balance_after`` of its last entry,
    ``seq``: 0 for none) or ``"exported"`` (a head exported before, member and ``seq`` as the
    export names them, is no longer in the member's chain: :func:`read_heads`)."""

    member_id: str
    seq: int
    problem: str


@attrs.frozen
class ChainReport:
    """What :meth:`loyalty.Engine.verify` found: entries and members checked, and every break."""

    entries: int
    members: int
    breaks: tuple[Break, ...]
    #: Exported heads checked (those of a member with an entry then: ``seq`` above 0).
    exported: int = 0
    #: Every member's head as the check read it, in member id order, when asked for
    #: (``Engine.verify(keep_heads=True)``): the heads of exactly the chains checked, to export.
    heads: tuple[Head, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every chain verified."""
        return not self.breaks


class Verifier:
    """Checks entries fed in ``seq`` order (:meth:`check`, a page at a time), then the heads
    (:meth:`report`). Time linear in the ledger; memory one link and balance per member, and
    the exported heads.

    ``exported``: heads exported before (:meth:`loyalty.Engine.heads`), each of which must still
    be in its member's chain: the entry of its ``seq`` is there, of its member, with its link.
    Under ``secret`` (the store's, :func:`loyalty.pseudonyms.pseudonym`), a head exported
    before its member was erased names the id the erasure replaced: the entry's member is then
    the id's pseudonym, and the link unchanged (an erasure keeps what the hash covered).
    """

    def __init__(self, exported: Iterable[Head] = (), *, secret: bytes | None = None) -> None:
        # Per member: its last entry's seq, stored link and balance after.
        self._last: dict[str, tuple[int, bytes, int]] = {}
        self._breaks: list[Break] = []
        self.entries = 0
        # A head of a member with no entry then is the chain's start: nothing to find.
        self._exported = {head.seq: head for head in exported if head.seq}
        self._checked = len(self._exported)
        self._secret = secret

    def check(self, links: Iterable[Link]) -> None:
        """Check the next entries, in ``seq`` order."""
        last, breaks, exported = self._last, self._breaks, self._exported
        for found in links:
            entry = found.entry
            member = entry.member_id
            before = last.get(member, _START)[1]
            # A kept digest stands for the text an erasure rewrote, so only for a text in the form
            # an erasure leaves: any other is hashed as it reads (a row added to kept_texts made an
            # entry's reason and actor editable unnoticed).
            kept = found.text if found.text is not None and _erased_form(entry) else None
            expected = link_of(before, entry, text=kept)
            if found.link != expected:
                breaks.append(Break(member, entry.seq, "link"))
            # Each link checked against the one stored before it: one altered entry is one break.
            stored = expected if found.link is None else found.link
            last[member] = (entry.seq, stored, entry.balance_after)
            if exported and entry.seq in exported:
                head = exported.pop(entry.seq)
                if head.link != found.link or not self._same(head.member_id, member):
                    breaks.append(Break(head.member_id, head.seq, "exported"))
            self.entries += 1

    def _same(self, exported: str, member: str) -> bool:
        """Whether an exported head's member is the entry's: the same id, or erased since."""
        if exported == member:
            return True
        secret = self._secret
        return secret is not None and member.startswith(PREFIX) and pseudonym(secret, exported) == member

    def report(self, heads: Iterable[Head], *, keep_heads: bool = False) -> ChainReport:
        """The report, once every entry was checked, given every member's head (once: it uses up
        what :meth:`check` kept); with ``keep_heads``, those heads in it too."""
        last = self._last
        breaks = list(self._breaks)
        members = 0
        kept: list[Head] = []
        for head in heads:
            members += 1
            if keep_heads:
                kept.append(head)
            seq, link, balance = last.pop(head.member_id, _START)
            if (seq, link) != (head.seq, head.link):
                breaks.append(Break(head.member_id, head.seq, "head"))
            if head.balance is not None and head.balance != balance:
                breaks.append(Break(head.member_id, seq, "balance"))
        # Entries of a member with no row (a row removed): their chain has no head.
        breaks += (Break(member, seq, "head") for member, (seq, *_) in sorted(last.items()))
        # Exported heads whose entry is gone.
        breaks += (Break(head.member_id, seq, "exported") for seq, head in sorted(self._exported.items()))
        return ChainReport(self.entries, members, tuple(breaks), self._checked, tuple(kept))


def check_heads(heads: Iterable[Head], field: str = "heads") -> list[Head]:
    """Exported heads as :meth:`loyalty.Engine.verify` takes them, else
    :class:`~loyalty.errors.InvalidInput` naming the one at fault (``heads[2].seq``): a member
    id, a ``seq`` of 0 or more, a link of :data:`LINK_SIZE` bytes, no two of one ``seq`` above 0
    (an entry is one member's)."""
    if isinstance(heads, str | bytes) or not isinstance(heads, Iterable):
        raise InvalidInput(field, f"must be an iterable of Head, got {type(heads).__name__}")
    checked: list[Head] = []
    seen: set[int] = set()
    for i, head in enumerate(heads):
        at = f"{field}[{i}]"
        if not isinstance(head, Head):
            raise InvalidInput(at, f"must be a Head, got {type(head).__name__}")
        check_id(f"{at}.member_id", head.member_id)
        seq = head.seq
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63:
            raise InvalidInput(f"{at}.seq", f"must be an int from 0 to 2**63 - 1, got {seq!r}")
        if not isinstance(head.link, bytes) or len(head.link) != LINK_SIZE:
            raise InvalidInput(f"{at}.link", f"must be {LINK_SIZE} bytes, got {head.link!r}")
        if seq and seq in seen:
            raise InvalidInput(f"{at}.seq", f"entry {seq} is named by another head before it")
        seen.add(seq)
        checked.append(head)
    return checked


def heads_digest(heads: Iterable[Head]) -> bytes:
    """SHA-256 over the heads in order, each as its member id (length and itself), ``seq`` and
    link in hex, one line each: the one value to keep where the database's writers cannot reach
    (:func:`write_heads` ends its file with it)."""
    digest = hashlib.sha256()
    for head in heads:
        digest.update(
            f"{_text(head.member_id)}|{head.seq}|{head.link.hex()}\n".encode("utf-8", "surrogatepass")
        )
    return digest.digest()


def write_heads(heads: Iterable[Head], out: TextIO) -> str:
    """Write heads as JSON lines, ``{"member_id": ..., "seq": N, "link": "<hex>"}`` each, then
    ``{"heads": N, "digest": "<hex>"}`` (:func:`heads_digest`); return the digest in hex."""
    written: list[Head] = []
    for head in heads:
        out.write(json.dumps({"member_id": head.member_id, "seq": head.seq, "link": head.link.hex()}) + "\n")
        written.append(head)
    digest = heads_digest(written).hex()
    out.write(json.dumps({"heads": len(written), "digest": digest}) + "\n")
    return digest


def read_heads(lines: Iterable[str], field: str = "heads") -> list[Head]:
    """The heads :func:`write_heads` wrote, once its last line's count and digest agree with
    them; else :class:`~loyalty.errors.InvalidInput` naming ``field`` and the line at fault (a
    file changed, cut short or not of heads)."""
    heads: list[Head] = []
    closing: dict[str, Any] | None = None
    number = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if closing is not None:
            raise InvalidInput(field, f"line {number}: a head after the digest line")
        try:
            value = json.loads(line)
        except ValueError as bad:
            raise InvalidInput(field, f"line {number}: not JSON ({bad})") from None
        except RecursionError:
            raise InvalidInput(field, f"line {number}: not JSON (nested too deeply)") from None
        if isinstance(value, dict) and value.keys() == {"heads", "digest"}:
            closing = value
        elif isinstance(value, dict) and value.keys() == {"member_id", "seq", "link"}:
            heads.append(_head(value, field, number))
        else:
            raise InvalidInput(
                field, f"line {number}: neither a head nor the digest line: {line.strip()[:80]!r}"
            )
    if closing is None:
        raise InvalidInput(field, f"no digest line after {number} line(s): the file was cut short")
    if closing["heads"] != len(heads) or closing["digest"] != heads_digest(heads).hex():
        raise InvalidInput(field, f"the digest line does not match the {len(heads)} head(s) above it")
    return check_heads(heads, field)


def _head(value: dict[str, Any], field: str, number: int) -> Head:
    member, seq, link = value["member_id"], value["seq"], value["link"]
    try:
        raw = bytes.fromhex(link) if isinstance(link, str) else None
    except ValueError:
        raw = None
    if not isinstance(member, str) or isinstance(seq, bool) or not isinstance(seq, int) or raw is None:
        raise InvalidInput(field, f"line {number}: a head needs a string, an int and a hex link")
    return Head(member, seq, raw)
