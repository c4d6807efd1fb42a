"""Identifiers: keys in normal form, and the decisions on giving, replacing, removing and finding them."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from loyalty import Program
from loyalty.errors import ConfigError, IdentifierReplaced, IdentifierTaken, InvalidInput, UnknownIdentifier
from loyalty.identifiers import (
    Identifier,
    IdentifierKind,
    Identifiers,
    IdentifierStatus,
    LostCard,
    key_text,
    member_of,
    parse_key,
    plan_add,
    plan_remove,
    plan_replace,
)

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
CARD, PHONE, EMAIL, OTHER = IdentifierKind


@pytest.mark.parametrize(
    ("key", "normal"),
    [
        ("card:1234-5678 ab", "card:12345678AB"),
        ("CARD: 0042 ", "card:0042"),
        ("phone:+44 (20) 7946-0958", "phone:+442079460958"),
        ("phone:020.7946.0958", "phone:02079460958"),
        ("email:  Ann.Lee@Example.COM ", "email:ann.lee@example.com"),
        ("other: Badge 7 ", "other:Badge 7"),
        ("other:a:b", "other:a:b"),
    ],
)
def test_keys_are_read_in_their_normal_form(key: str, normal: str) -> None:
    assert key_text(*parse_key(key)) == normal


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("loyalty:42", "the kind must be one of 'card', 'phone', 'email', 'other', got 'loyalty'"),
        ("12345678", "must be kind:value"),
        ("card:  ", "the card after the colon must not be empty"),
        ("card:12_34", "a card number is letters and digits"),
        ("card:12\n34", "must not contain control characters"),
        ("phone:12-345", "at least 6 digits"),
        ("phone:call me", "a phone number is digits"),
        ("phone:12+3456789", "a phone number is digits"),
        ("email:ann.example.com", "one @ and a dot in its domain"),
        ("email:ann@@example.com", "one @ and a dot in its domain"),
        ("email:ann@localhost", "one @ and a dot in its domain"),
        ("email:@example.com", "one @ and a dot in its domain"),
        ("email:a nn@example.com", "one @ and a dot in its domain"),
        ("other:" + "x" * 255, "at most 254 characters"),
    ],
)
def test_bad_keys_are_refused_naming_the_field(key: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_key(key, "identifiers[1]")
    assert caught.value.field == "identifiers[1]"


def test_a_key_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(InvalidInput, match="key: must be a string kind:value, not int"):
        parse_key(42)


def test_an_identifier_holds_its_value_in_normal_form_and_round_trips_as_json() -> None:
    card = Identifier(CARD, "1234", "M1", T, IdentifierStatus.REPLACED, "card:5678")
    assert card.key == "card:1234"
    assert Identifier.from_dict(card.to_dict()) == card
    with pytest.raises(InvalidInput, match="value: must be in normal form"):
        Identifier(CARD, "12-34", "M1", T)


def test_adding_a_key_new_removed_own_taken_or_replaced() -> None:
    assert plan_add(None, "M1", CARD, "1234", T) == Identifier(CARD, "1234", "M1", T)
    removed = Identifier(CARD, "1234", "M2", T, IdentifierStatus.REMOVED)
    assert plan_add(removed, "M1", CARD, "1234", T) == Identifier(CARD, "1234", "M1", T)
    own = Identifier(CARD, "1234", "M1", T)
    assert plan_add(own, "M1", CARD, "1234", T) is None
    with pytest.raises(IdentifierTaken, match="key: card:1234 is another member's"):
        plan_add(own, "M2", CARD, "1234", T)
    replaced = attrs.evolve(own, status=IdentifierStatus.REPLACED, replaced_by="card:5678")
    with pytest.raises(IdentifierReplaced, match="identifiers\\[0\\]: card:1234 was replaced"):
        plan_add(replaced, "M1", CARD, "1234", T, "identifiers[0]")


def test_replacing_a_card_retires_the_old_one_naming_the_new() -> None:
    old = Identifier(CARD, "1234", "M1", T)
    retired, added = plan_replace(old, None, "M1", (CARD, "1234"), (CARD, "5678"), T)
    assert retired == attrs.evolve(old, status=IdentifierStatus.REPLACED, replaced_by="card:5678")
    assert added == Identifier(CARD, "5678", "M1", T)


@pytest.mark.parametrize(
    ("old_key", "new_key", "new", "error", "field"),
    [
        ((PHONE, "+1234567"), (CARD, "5678"), None, InvalidInput, "old_key"),
        ((CARD, "1234"), (EMAIL, "a@b.c"), None, InvalidInput, "new_key"),
        ((CARD, "1234"), (CARD, "1234"), None, InvalidInput, "new_key"),
        ((CARD, "9999"), (CARD, "5678"), None, UnknownIdentifier, "old_key"),
        ((CARD, "1234"), (CARD, "5678"), Identifier(CARD, "5678", "M2", T), IdentifierTaken, "new_key"),
        ((CARD, "1234"), (CARD, "5678"), Identifier(CARD, "5678", "M1", T), InvalidInput, "new_key"),
    ],
)
def test_a_replacement_is_refused_naming_the_key_at_fault(
    old_key: tuple[IdentifierKind, str],
    new_key: tuple[IdentifierKind, str],
    new: Identifier | None,
    error: type[Exception],
    field: str,
) -> None:
    old = Identifier(CARD, "1234", "M1", T) if old_key == (CARD, "1234") else None
    with pytest.raises(error) as caught:
        plan_replace(old, new, "M1", old_key, new_key, T)
    assert getattr(caught.value, "field", None) == field


def test_removing_a_key_needs_it_to_be_the_members_and_active() -> None:
    own = Identifier(EMAIL, "a@b.co", "M1", T)
    assert plan_remove(own, "M1", EMAIL, "a@b.co").status is IdentifierStatus.REMOVED
    for found, member in (
        (own, "M2"),
        (None, "M1"),
        (attrs.evolve(own, status=IdentifierStatus.REMOVED), "M1"),
    ):
        with pytest.raises(UnknownIdentifier, match=r"key: member .* has no email:a@b\.co"):
            plan_remove(found, member, EMAIL, "a@b.co")


def test_a_replaced_card_is_refused_or_redirected_as_the_program_says() -> None:
    replaced = Identifier(CARD, "1234", "M1", T, IdentifierStatus.REPLACED, "card:5678")
    assert member_of(replaced, Identifiers(lost_card=LostCard.REDIRECT), "card:1234") == "M1"
    with pytest.raises(IdentifierReplaced) as caught:
        member_of(replaced, Identifiers(), "card:1234")
    assert caught.value.field == "key"
    assert member_of(Identifier(OTHER, "x", "M2", T), Identifiers(), "other:x") == "M2"
    for gone in (None, attrs.evolve(replaced, status=IdentifierStatus.REMOVED)):
        with pytest.raises(UnknownIdentifier, match="key: no member has card:1234"):
            member_of(gone, Identifiers(lost_card=LostCard.REDIRECT), "card:1234")


def test_the_lost_card_option_is_read_checked_by_path_and_round_tripped() -> None:
    program = Program.from_toml('name = "Club"\ncurrency = "EUR"\n[identifiers]\nlost_card = "redirect"\n')
    assert program.identifiers.lost_card is LostCard.REDIRECT
    assert program.to_dict()["identifiers"] == {"lost_card": "redirect"}
    assert Program.from_dict(program.to_dict()) == program
    assert "identifiers" not in Program("Club", "EUR").to_dict()
    with pytest.raises(ConfigError) as caught:
        Program.from_dict(
            {"name": "Club", "currency": "EUR", "identifiers": {"lost_card": "forward", "x": 1}}
        )
    assert caught.value.problems == (
        ("identifiers.lost_card", "must be one of 'refuse', 'redirect', got 'forward'"),
        ("identifiers.x", "unknown key"),
    )
