"""loyalty.chains: what an entry's link covers, the erasure hook, and what the verifier reports."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import attrs
import pytest

from loyalty.chains import (
    GENESIS,
    Break,
    Head,
    Link,
    Verifier,
    content_digest,
    link,
    link_of,
    text_digest,
)
from loyalty.ledger import Entry, EntryKind

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
ENTRY = Entry(
    7, "M1", EntryKind.EARN, 40, 55, T0, T0, "T1-1", "purchase", "till-3", ("spend", "bonus"), "v2",
    vests_at=T0 + timedelta(days=14), expires_at=T0 + timedelta(days=365), rolling=True,
)  # fmt: skip


def test_a_link_is_the_truncated_sha256_of_the_link_before_the_numbers_and_the_content() -> None:
    digest = content_digest(ENTRY)
    data = GENESIS + (7).to_bytes(8, "big") + (55).to_bytes(8, "big") + digest
    assert link_of(GENESIS, ENTRY) == link(GENESIS, 7, 55, digest) == hashlib.sha256(data).digest()[:16]
    assert link(GENESIS, 1, -3, digest)[:4] != link(GENESIS, 1, 3, digest)[:4]  # negative balances too


@pytest.mark.parametrize(
    "change",
    [
        {"seq": 8},
        {"balance_after": 56},
        {"kind": EntryKind.ADJUST},
        {"points": 41},
        {"occurred_at": T0 + timedelta(microseconds=1)},
        {"occurred_at": T0.astimezone(timezone(timedelta(hours=1)))},  # same instant, another offset
        {"recorded_at": T0 - timedelta(seconds=1)},
        {"source_id": "T1-2"},
        {"reason": "purchase!"},
        {"actor": None},
        {"rules": ("bonus", "spend")},
        {"program_version": "v3"},
        {"vests_at": None},
        {"expires_at": T0 + timedelta(days=366)},
        {"draws": ((3, -5),)},
        {"rolling": False},
        {"redates": ((3, None),)},
    ],
)
def test_every_field_but_the_member_changes_the_link(change: dict[str, object]) -> None:
    assert link_of(GENESIS, attrs.evolve(ENTRY, **change)) != link_of(GENESIS, ENTRY)  # type: ignore[arg-type]


def test_the_member_and_the_zone_s_name_are_in_no_hash() -> None:
    amsterdam = T0.astimezone(ZoneInfo("Europe/Amsterdam"))
    fixed = T0.astimezone(timezone(timedelta(hours=1)))
    same = attrs.evolve(ENTRY, member_id="pseudonym-1", occurred_at=amsterdam, recorded_at=amsterdam)
    other = attrs.evolve(ENTRY, occurred_at=fixed, recorded_at=fixed)
    assert link_of(GENESIS, same) == link_of(GENESIS, other)


def test_pseudonymised_text_verifies_with_the_text_digest_kept_by_an_erasure() -> None:
    kept = text_digest(ENTRY)
    erased = attrs.evolve(ENTRY, source_id="erased-1", reason="erased", actor=None)
    assert link_of(GENESIS, erased) != link_of(GENESIS, ENTRY)
    assert link_of(GENESIS, erased, text=kept) == link_of(GENESIS, ENTRY)


def _chain(*entries: Entry) -> list[Link]:
    links, before = [], GENESIS
    for entry in entries:
        before = link_of(before, entry)
        links.append(Link(entry, before))
    return links


def test_the_verifier_checks_each_link_against_the_one_stored_before_it_and_every_head() -> None:
    first = attrs.evolve(ENTRY, seq=1, balance_after=40)
    second = attrs.evolve(ENTRY, seq=2, points=-10, balance_after=30)
    third = attrs.evolve(ENTRY, seq=3, points=5, balance_after=35)
    other = attrs.evolve(ENTRY, seq=4, member_id="M2", balance_after=40)
    links = _chain(first, second, third)
    heads = [
        Head("M1", 3, links[-1].link or b""),
        Head("M2", 4, _chain(other)[0].link or b""),
        Head("M3", 0, GENESIS),
    ]
    verifier = Verifier()
    verifier.check([*links, *_chain(other)])
    report = verifier.report(heads)
    assert (report.ok, report.entries, report.members, report.breaks) == (True, 4, 3, ())
    # One edited entry is one break, not one for every entry after it.
    edited = Verifier()
    edited.check([links[0], Link(attrs.evolve(second, reason="x"), links[1].link), links[2]])
    assert edited.report(heads[:1]).breaks == (Break("M1", 2, "link"),)
    # A link missing from the store, and a chain whose member has no row.
    missing = Verifier()
    missing.check([links[0], Link(second, None), links[2], *_chain(other)])
    assert missing.report(heads[:1]).breaks == (Break("M1", 2, "link"), Break("M2", 4, "head"))


def test_the_digests_are_of_the_documented_layout_whatever_the_entry_holds() -> None:
    # Numbers and kinds in ASCII between "|", instants as microseconds and offsets, draws and
    # re-dates as "lot:value" joined by ";"; each text as its length and itself, "-" for none.
    t = datetime(2024, 3, 1, 9, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    utc = T0 + timedelta(microseconds=5)
    micros = micros_of(t)
    plain = Entry(3, "M1", EntryKind.EARN, 12, 12, t, utc, "S1-T1-1", "purchase", None, ("base",), None)
    text = b"7:S1-T1-1|8:purchase|-|4:base|-"
    body = f"earn|12|{micros}|3600|{micros_of(utc)}|0|None|None||0||".encode()
    assert text_digest(plain) == hashlib.sha256(text).digest()
    assert content_digest(plain) == hashlib.sha256(body + hashlib.sha256(text).digest()).digest()
    drawn = attrs.evolve(
        plain, kind=EntryKind.REDEEM, points=-6, actor="tïll|2", rules=(), program_version="v2",
        vests_at=utc, expires_at=utc, draws=((1, -5), (2, -1)), rolling=True, redates=((1, None), (2, utc)),
    )  # fmt: skip
    text = "7:S1-T1-1|8:purchase|6:tïll|2|0:|2:v2".encode()
    stamp = micros_of(utc)
    body = f"redeem|-6|{micros}|3600|{stamp}|0|{stamp}|{stamp}|1:-5;2:-1|1|1:None;2:{stamp}|".encode()
    assert text_digest(drawn) == hashlib.sha256(text).digest()
    assert content_digest(drawn) == hashlib.sha256(body + hashlib.sha256(text).digest()).digest()


def micros_of(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
