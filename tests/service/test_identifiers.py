"""Members' cards and keys: given, replaced, removed, found; refused input writes nothing; retries
replay; each change is an outbox event. On every adapter."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import attrs
import pytest

from loyalty import (
    Engine,
    EventKind,
    IdempotencyConflict,
    Identifier,
    IdentifierKind,
    IdentifierReplaced,
    IdentifierStatus,
    IdentifierTaken,
    InvalidInput,
    LoyaltyError,
    MemberAlreadyEnrolled,
    MemberNotActive,
    UnknownIdentifier,
    UnknownMember,
)
from loyalty.identifiers import Identifiers, LostCard
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import PROGRAM, T0

CARD = IdentifierKind.CARD


def club(store: Store, lost_card: str = "refuse") -> Engine:
    program = attrs.evolve(PROGRAM, identifiers=Identifiers(lost_card=LostCard(lost_card)))
    engine = Engine(program, store, clock=lambda: T0)
    engine.enroll("M1", at=T0, identifiers=["card:1111-2222", "email:Ann@Example.com"])
    engine.enroll("M2", at=T0)
    return engine


def test_keys_given_at_enrollment_and_after_find_their_member_in_any_spelling(any_store: Store) -> None:
    engine = club(any_store)
    phone = engine.add_identifier("M2", "phone:+44 20 7946 0958", id="K1", at=T0)
    assert phone == Identifier(IdentifierKind.PHONE, "+442079460958", "M2", T0)
    assert engine.find_member("card:11112222").id == "M1"
    assert engine.find_member("EMAIL: ann@example.COM ").id == "M1"
    assert engine.find_member("phone:+442079460958").id == "M2"
    assert [i.key for i in engine.identifiers("M1")] == ["card:11112222", "email:ann@example.com"]
    events = [(e.kind, e.member_id, dict(e.data), e.source_id) for e in engine.events()]
    assert events == [
        (EventKind.IDENTIFIER_ADDED, "M1", {"key": "card:11112222"}, "enrolled"),
        (EventKind.IDENTIFIER_ADDED, "M1", {"key": "email:ann@example.com"}, "enrolled"),
        (EventKind.IDENTIFIER_ADDED, "M2", {"key": "phone:+442079460958"}, "K1"),
    ]
    with pytest.raises(UnknownIdentifier) as info:
        engine.find_member("card:9999")
    assert info.value.field == "key" and isinstance(info.value, UnknownMember)
    with pytest.raises(UnknownMember):
        engine.identifiers("nobody")


def test_a_retry_replays_a_reused_id_conflicts_and_the_members_own_key_is_returned(any_store: Store) -> None:
    engine = club(any_store)
    first = engine.add_identifier("M2", "card:3333", id="K1", at=T0)
    assert engine.add_identifier("M2", "card:33-33", id="K1", at=T0) == first  # same key, other spelling
    with pytest.raises(IdempotencyConflict) as info:
        engine.add_identifier("M2", "card:4444", id="K1", at=T0)
    assert info.value.field == "key"
    # The key again under another id: the member has it; returned as it stands, no new event.
    assert engine.add_identifier("M2", "card:3333", id="K2", at=T0) == first
    assert engine.add_identifier("M2", "card:3333", id="K2", at=T0) == first
    assert [e.source_id for e in engine.events() if e.member_id == "M2"] == ["K1"]
    # The enrollment again, with its keys (or some of them), is a retry.
    assert engine.enroll("M1", at=T0, identifiers=["email:ann@example.com"]).id == "M1"


def refusals(engine: Engine) -> list[tuple[Callable[[], object], type[LoyaltyError], str]]:
    replace, remove = (
        partial(write, id="X1", at=T0) for write in (engine.replace_card, engine.remove_identifier)
    )
    enroll = partial(engine.enroll, "M3", at=T0)
    return [
        (lambda: engine.add_identifier("M2", "card:1111 2222", id="X1", at=T0), IdentifierTaken, "key"),
        (lambda: engine.add_identifier("M2", "loyalty:42", id="X1", at=T0), InvalidInput, "key"),
        (lambda: engine.add_identifier("M2", "email:ann", id="X1", at=T0), InvalidInput, "key"),
        (lambda: engine.add_identifier("M 2\n", "card:x", id="X1", at=T0), InvalidInput, "member_id"),
        (lambda: engine.remove_identifier("M2", "card:x", id="", at=T0), InvalidInput, "id"),
        (lambda: engine.enroll("M3", at=T0, identifiers="card:55"), InvalidInput, "identifiers"),
        (lambda: engine.add_identifier("nobody", "card:5", id="X1", at=T0), UnknownMember, "member_id"),
        (lambda: replace("M2", "card:1111-2222", "card:5"), UnknownIdentifier, "old_key"),
        (lambda: replace("M1", "card:11112222", "card:11112222"), InvalidInput, "new_key"),
        (lambda: replace("M1", "email:ann@example.com", "card:5"), InvalidInput, "old_key"),
        (lambda: remove("M2", "email:ann@example.com"), UnknownIdentifier, "key"),
        (lambda: enroll(identifiers=["card:5", "email:ANN@example.com"]), IdentifierTaken, "identifiers[1]"),
        (lambda: enroll(identifiers=["card:55", "card:5-5"]), InvalidInput, "identifiers[1]"),
        (lambda: engine.enroll("M1", at=T0, identifiers=["card:5"]), MemberAlreadyEnrolled, "identifiers"),
    ]


def test_refused_input_names_the_field_and_writes_nothing(any_store: Store) -> None:
    engine = club(any_store)
    engine.add_identifier("M1", "card:8888", id="K1", at=T0)
    engine.replace_card("M1", "card:8888", "card:7777", id="R1", at=T0)
    before = snapshot(any_store, ["M1", "M2", "M3"], ["X1"])
    events = engine.events()
    replace = partial(engine.replace_card, "M1", id="X1", at=T0)
    table: list[tuple[Callable[[], object], type[LoyaltyError], str]] = [
        *refusals(engine),
        (lambda: engine.add_identifier("M2", "card:8888", id="X1", at=T0), IdentifierReplaced, "key"),
        (lambda: replace("card:8888", "card:5"), UnknownIdentifier, "old_key"),
        (lambda: replace("card:7777", "card:8888"), IdentifierReplaced, "new_key"),
    ]
    for refused, error, field in table:
        with pytest.raises(error) as info:
            refused()
        assert info.value.field == field, (info.value, field)
    assert snapshot(any_store, ["M1", "M2", "M3"], ["X1"]) == before
    assert engine.events() == events
    with pytest.raises(UnknownIdentifier):
        engine.find_member("card:5")


@pytest.mark.parametrize("lost_card", ["refuse", "redirect"])
def test_a_replaced_card_is_refused_or_redirected_as_the_program_says(
    any_store: Store, lost_card: str
) -> None:
    engine = club(any_store, lost_card)
    new = engine.replace_card("M1", "card:1111-2222", "card:3333-4444", id="R1", at=T0)
    assert new == Identifier(CARD, "33334444", "M1", T0)
    assert engine.replace_card("M1", "card:11112222", "card:33334444", id="R1", at=T0) == new  # a retry
    assert engine.find_member("card:33334444").id == "M1"
    if lost_card == "refuse":
        with pytest.raises(IdentifierReplaced) as info:
            engine.find_member("card:1111-2222")
        assert info.value.field == "key"
    else:
        assert engine.find_member("card:1111-2222").id == "M1"
    old = engine.identifiers("M1")[0]
    assert (old.status, old.replaced_by) == (IdentifierStatus.REPLACED, "card:33334444")
    last = engine.events()[-1]
    assert (last.kind, dict(last.data)) == (
        EventKind.IDENTIFIER_REPLACED,
        {"old": "card:11112222", "new": "card:33334444"},
    )


def test_a_removed_key_finds_no_one_and_may_be_given_again(any_store: Store) -> None:
    engine = club(any_store)
    removed = engine.remove_identifier("M1", "email:ann@example.com", id="D1", at=T0)
    assert removed.status is IdentifierStatus.REMOVED
    assert engine.remove_identifier("M1", "email:ann@example.com", id="D1", at=T0) == removed
    with pytest.raises(UnknownIdentifier):
        engine.find_member("email:ann@example.com")
    engine.add_identifier("M2", "email:ann@example.com", id="K1", at=T0)
    assert engine.find_member("email:ann@example.com").id == "M2"
    assert [i.key for i in engine.identifiers("M1")] == ["card:11112222"]
    assert engine.events()[-2].kind is EventKind.IDENTIFIER_REMOVED


def test_a_closed_member_gains_no_keys_and_a_suspended_one_is_still_found(any_store: Store) -> None:
    engine = club(any_store)
    engine.change_status("M2", "suspended", id="S1", at=T0, reason="review", actor="crm")
    engine.add_identifier("M2", "card:5555", id="K1", at=T0)
    assert engine.find_member("card:5555").id == "M2"
    engine.change_status("M1", "closed", id="S2", at=T0, reason="asked", actor="crm")
    before = snapshot(any_store, ["M1"], ["K2", "R1"])
    closed: list[Callable[[], object]] = [
        lambda: engine.add_identifier("M1", "card:6666", id="K2", at=T0),
        lambda: engine.replace_card("M1", "card:11112222", "card:6666", id="R1", at=T0),
    ]
    for refused in closed:
        with pytest.raises(MemberNotActive) as info:
            refused()
        assert (info.value.field, info.value.status) == ("member_id", "closed")
    assert snapshot(any_store, ["M1"], ["K2", "R1"]) == before
    assert engine.find_member("card:11112222").status.value == "closed"
    engine.remove_identifier("M1", "card:11112222", id="D1", at=T0)  # whatever the status
