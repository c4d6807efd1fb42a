"""An erasure's parts for other members (loyalty.erasure_parts): which rows the first part lists,
with no original id, and what a part renames, found by the keyed hash alone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from loyalty.erasure import ERASED, Counterpart, ErasedEvent, ErasedText, Erasure
from loyalty.erasure_parts import Part, hashed_id, plan_part, split
from loyalty.ledger import Entry, EntryKind
from loyalty.members import Member
from loyalty.outbox import DomainEvent, EventKind
from loyalty.pseudonyms import merged_referrer, pseudonym
from loyalty.referrals import Referral

T = datetime(2024, 3, 1, tzinfo=UTC)
SECRET = bytes(range(32))
HIDDEN = pseudonym(SECRET, "M1")


def _event(
    seq: int, member: str, data: Mapping[str, object], kind: EventKind = EventKind.POINTS_TRANSFERRED
) -> DomainEvent:
    return DomainEvent(seq, kind, member, T, T, f"S{seq}", data)


def test_the_first_part_keeps_its_own_rows_and_lists_the_others_by_seq_without_the_id() -> None:
    events = [
        _event(1, "M1", {"reason": "x"}),
        _event(2, "M3", {"survivor": "M1", "keys": ["card:1"], "reason": "same"}, EventKind.MEMBER_MERGED),
        _event(3, "M2", {"reason": "for M1", "from_member": "M1"}),
        _event(4, "M4", {"referrer": "M1"}),
    ]
    erasure = Erasure(
        Member("M1", T),
        (),
        (),
        (ErasedEvent(1, {"reason": None}), ErasedEvent(2, {"survivor": HIDDEN, "keys": None})),
        counterparts=(
            Counterpart("M2", (ErasedText(7, ERASED, None, b"d"),), (ErasedEvent(3, {}),)),
            Counterpart(
                "M5", (ErasedText(9, f"referral bonus: {HIDDEN} made a first purchase", None, b"d"),), ()
            ),
        ),
        pseudonym=HIDDEN,
        mentions=(ErasedEvent(4, {"referrer": HIDDEN}),),
    )
    own, parts = split(erasure, events, ["M6", "M1"])
    assert own.counterparts == () and [e.seq for e in own.events] == [1] and own.mentions == ()
    assert parts == (
        Part("M2", erase=(7,), events=((3, ("reason",)),)),
        Part("M3", events=((2, ("keys", "reason")),)),
        Part("M4", events=((4, ()),)),
        Part("M5", rename=(9,)),
        Part("M6", referral=True),
    )
    forms = [part.form() for part in parts]
    assert [Part.of(form) for form in forms] == list(parts)
    assert "'M1'" not in repr(forms)


def test_a_part_renames_the_id_whose_hash_is_the_pseudonym_and_nothing_else() -> None:
    data = {
        "to_member": "M1",
        "sku": "M1",
        "taken": [{"source": "seen|M1"}],
        "from_member": "M9",
        "reason": "x",
    }
    rules = ("referral:referee",)
    bonus = Entry(
        5, "M2", EntryKind.EARN, 5, 5, T, T, "P1", "referral bonus: welcome, referred by M1", None, rules
    )
    shared = Entry(6, "M2", EntryKind.TRANSFER, 3, 8, T, T, "T1", "for Zelda", "clerk")
    referral = Referral("M2", "M1", "CODE", T, reason=merged_referrer("M1"))
    part = Part("M2", erase=(6,), rename=(5,), events=((3, ("reason",)),), referral=True)
    texts, events, moved = plan_part(
        part, [bonus, shared], [_event(3, "M2", data)], referral, secret=SECRET, hidden=HIDDEN
    )
    assert [(t.seq, t.reason, t.actor) for t in texts] == [
        (5, f"referral bonus: welcome, referred by {HIDDEN}", None),
        (6, ERASED, ERASED),
    ]
    assert events == (
        ErasedEvent(
            3,
            {
                "to_member": HIDDEN,
                "sku": "M1",
                "taken": [{"source": f"seen|{HIDDEN}"}],
                "from_member": "M9",
                "reason": None,
            },
        ),
    )
    assert moved is not None and (moved.referrer, moved.reason) == (HIDDEN, merged_referrer(HIDDEN))
    # Written again (a retry, after the other member's own erasure): nothing more to rename.
    renamed = Entry(5, "M2", EntryKind.EARN, 5, 5, T, T, "P1", texts[0].reason, None, rules)
    again = plan_part(
        part, [renamed], [_event(3, "M2", dict(events[0].data))], moved, secret=SECRET, hidden=HIDDEN
    )
    assert again == ((), (), None)


def test_no_string_is_taken_for_the_id_unless_its_hash_is_the_pseudonym() -> None:
    assert (
        hashed_id(
            {"to_member": "M2", "keys": ["M1x"], "note": "referral bonus: M2 made a first purchase"},
            SECRET,
            HIDDEN,
        )
        is None
    )
    assert hashed_id({"a": [{"b": "its referrer M1 was merged into it"}]}, SECRET, HIDDEN) == "M1"
    assert hashed_id("cap|coffee|2024-03|M1", SECRET, HIDDEN) == "M1"
