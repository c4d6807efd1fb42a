"""loyalty.chains beyond the links: each member row's balance against its last entry, the heads
exported to a file (its lines and digest), and an exported head found again in its chain."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

import attrs
import pytest

from loyalty.chains import (
    GENESIS,
    Break,
    ChainReport,
    Head,
    Link,
    Verifier,
    check_heads,
    heads_digest,
    link_of,
    read_heads,
    write_heads,
)
from loyalty.errors import InvalidInput
from loyalty.ledger import Entry, EntryKind
from loyalty.pseudonyms import pseudonym

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
SECRET = bytes(range(32))


def _entry(seq: int, member: str, points: int, balance: int) -> Entry:
    return Entry(seq, member, EntryKind.ADJUST, points, balance, T0, T0, f"A{seq}", "goodwill", "ops")


def _ledger(*entries: Entry) -> list[Link]:
    """The entries with their links, each member's chained to its own entry before."""
    before: dict[str, bytes] = {}
    links = []
    for entry in entries:
        before[entry.member_id] = link_of(before.get(entry.member_id, GENESIS), entry)
        links.append(Link(entry, before[entry.member_id]))
    return links


LEDGER = _ledger(_entry(1, "M1", 40, 40), _entry(2, "M2", 7, 7), _entry(3, "M1", -25, 15))


def _heads(links: list[Link]) -> list[Head]:
    last = {found.entry.member_id: found for found in links}
    return [
        Head(member, found.entry.seq, found.link or b"", found.entry.balance_after)
        for member, found in sorted(last.items())
    ]


def _report(
    links: list[Link], heads: list[Head], exported: list[Head] | None = None, secret: bytes | None = None
) -> ChainReport:
    verifier = Verifier(exported or [], secret=secret)
    verifier.check(links)
    return verifier.report(heads)


def test_a_member_row_whose_balance_is_not_its_last_entrys_is_a_break() -> None:
    heads = _heads(LEDGER)
    assert _report(LEDGER, heads).ok
    # The last redemption removed, the row's head moved back to the entry before: only the
    # balance left as it was tells.
    cut = [LEDGER[0], LEDGER[1]]
    moved = [attrs.evolve(heads[0], seq=1, link=LEDGER[0].link or b""), heads[1]]
    assert _report(cut, moved).breaks == (Break("M1", 1, "balance"),)
    # A head that does not say its balance (an adapter's own, an export) is not checked so.
    assert _report(cut, [attrs.evolve(moved[0], balance=None), heads[1]]).ok
    # A member without an entry has a balance of 0.
    assert _report([], [Head("M3", 0, GENESIS, 5)]).breaks == (Break("M3", 0, "balance"),)


def test_an_exported_head_still_in_its_chain_passes_and_is_counted() -> None:
    heads = _heads(LEDGER)
    exported = [attrs.evolve(head, balance=None) for head in heads] + [Head("M9", 0, GENESIS)]
    report = _report(LEDGER, heads, exported)
    assert (report.ok, report.exported) == (True, 2)  # M9 had no entry: nothing to find
    # Entries written after the export leave the exported heads where they were.
    later = _ledger(*(found.entry for found in LEDGER), _entry(4, "M2", 1, 8))
    assert _report(later, _heads(later), exported).ok


def test_an_exported_head_cut_off_rewritten_or_moved_to_another_member_is_a_break() -> None:
    heads = _heads(LEDGER)
    exported = [attrs.evolve(head, balance=None) for head in heads]
    # Cut short: entry 3 gone, and the row's head and balance put back on entry 1.
    cut = [LEDGER[0], LEDGER[1]]
    moved = [Head("M1", 1, LEDGER[0].link or b"", 40), heads[1]]
    assert _report(cut, moved).ok
    assert _report(cut, moved, exported).breaks == (Break("M1", 3, "exported"),)
    # Rewritten, every link after the change recomputed: the chain verifies, the export does not.
    rewritten = _ledger(
        LEDGER[0].entry, LEDGER[1].entry, attrs.evolve(LEDGER[2].entry, points=-5, balance_after=35)
    )
    assert _report(rewritten, _heads(rewritten)).ok
    assert _report(rewritten, _heads(rewritten), exported).breaks == (Break("M1", 3, "exported"),)
    # Two members' histories swapped with their heads and balances.
    other = {"M1": "M2", "M2": "M1"}
    swapped = [Link(attrs.evolve(f.entry, member_id=other[f.entry.member_id]), f.link) for f in LEDGER]
    assert _report(swapped, _heads(swapped)).ok
    assert set(_report(swapped, _heads(swapped), exported).breaks) == {
        Break("M1", 3, "exported"),
        Break("M2", 2, "exported"),
    }


def test_an_exported_head_of_a_member_erased_since_is_found_under_its_pseudonym() -> None:
    hidden = pseudonym(SECRET, "M1")
    erased = [
        Link(attrs.evolve(f.entry, member_id=hidden), f.link) if f.entry.member_id == "M1" else f
        for f in LEDGER
    ]
    exported = [Head("M1", 3, LEDGER[2].link or b""), Head("M2", 2, LEDGER[1].link or b"")]
    assert _report(erased, _heads(erased), exported, SECRET).ok
    # Without the store's secret, or under another member's pseudonym, it is not found.
    assert _report(erased, _heads(erased), exported).breaks == (Break("M1", 3, "exported"),)
    other = [Head("M2", 3, LEDGER[2].link or b"")]
    assert _report(erased, _heads(erased), other, SECRET).breaks == (Break("M2", 3, "exported"),)


def test_heads_written_are_read_back_once_their_digest_agrees() -> None:
    heads = [Head("M1", 3, LEDGER[2].link or b"", 15), Head('Ann "Lee"', 0, GENESIS, 0)]
    out = io.StringIO()
    digest = write_heads(heads, out)
    lines = out.getvalue().splitlines(keepends=True)
    assert json.loads(lines[0]) == {"member_id": "M1", "seq": 3, "link": (LEDGER[2].link or b"").hex()}
    assert json.loads(lines[-1]) == {"heads": 2, "digest": digest}
    assert digest == heads_digest(heads).hex()
    assert read_heads(lines) == [attrs.evolve(head, balance=None) for head in heads]
    assert read_heads([*lines, "\n"]) == read_heads(lines)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda lines: lines[:-1], "no digest line after 2 line(s): the file was cut short"),
        (lambda lines: lines[1:], "the digest line does not match the 1 head(s) above it"),
        (
            lambda lines: [lines[0].replace('"seq": 3', '"seq": 2'), *lines[1:]],
            "the digest line does not match",
        ),
        (lambda lines: [*lines, lines[0]], "line 4: a head after the digest line"),
        (lambda lines: ["{", *lines], "line 1: not JSON"),
        (lambda lines: ["[" * 100_000 + "]" * 100_000, *lines], "line 1: not JSON (nested too deeply)"),
        (lambda lines: ['{"member_id": "M1"}\n', *lines], "line 1: neither a head nor the digest line"),
        (
            lambda lines: [lines[0].replace('"seq": 3', '"seq": "3"'), *lines[1:]],
            "line 1: a head needs",
        ),
    ],
)
def test_a_heads_file_changed_or_cut_short_is_refused(
    change: Callable[[list[str]], list[str]], message: str
) -> None:
    out = io.StringIO()
    write_heads([Head("M1", 3, LEDGER[2].link or b""), Head("M2", 2, LEDGER[1].link or b"")], out)
    with pytest.raises(InvalidInput) as refused:
        read_heads(change(out.getvalue().splitlines(keepends=True)), "--heads")
    assert refused.value.field == "--heads"
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("heads", "field"),
    [
        ("M1", "heads"),
        ([("M1", 1, GENESIS)], "heads[0]"),
        ([Head("", 1, GENESIS)], "heads[0].member_id"),
        ([Head("M1", -1, GENESIS)], "heads[0].seq"),
        ([Head("M1", True, GENESIS)], "heads[0].seq"),
        ([Head("M1", 1, b"short")], "heads[0].link"),
        ([Head("M1", 1, GENESIS), Head("M2", 1, GENESIS)], "heads[1].seq"),
    ],
)
def test_a_bad_exported_head_is_refused_naming_it(heads: object, field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_heads(heads)  # type: ignore[arg-type]
    assert refused.value.field == field
    assert check_heads([Head("M1", 0, GENESIS), Head("M2", 0, GENESIS)])  # many heads of no entry
