"""The pseudonym an erasure gives a member id, and the renaming of it (loyalty.pseudonyms), and
the erasure's plan with a pseudonym (loyalty.erasure.plan_erasure)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from loyalty.chains import text_digest
from loyalty.earning_keys import carry_key, redeemed_key, visits_key
from loyalty.erasure import Record, erased_member, plan_erasure
from loyalty.habits import at_risk_key, seen_key, spent_key
from loyalty.ledger import Entry, EntryKind
from loyalty.members import Member
from loyalty.outbox import DomainEvent, EventKind
from loyalty.pseudonyms import (
    PREFIX,
    SECRET_BYTES,
    TALLY_FAMILIES,
    mentions,
    pseudonym,
    renamed,
    renamed_referral_reason,
    renamed_source,
    renamed_tally,
    secret_from,
    secret_points,
)
from loyalty.redemption import day_key
from loyalty.referrals import cap_key
from loyalty.returns import debt_key, owed_key
from loyalty.tiers import Metric, metric_key

T = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
SECRET = bytes(range(SECRET_BYTES))


def test_a_pseudonym_is_the_same_for_the_same_id_and_secret_and_says_nothing_of_the_id() -> None:
    phone = "+31612345678"
    name = pseudonym(SECRET, phone)
    assert name == pseudonym(SECRET, phone)
    assert name != pseudonym(SECRET, "+31612345679")
    assert name != pseudonym(bytes(SECRET_BYTES), phone)  # another store's secret
    assert name.startswith(PREFIX) and len(name) == len(PREFIX) + 26 and "3161" not in name
    # A lone surrogate (refused as an id, but never a crash here) hashes too.
    assert pseudonym(SECRET, "\ud800").startswith(PREFIX)


def test_the_secret_survives_its_form_as_a_tallys_points() -> None:
    for secret in (SECRET, bytes(SECRET_BYTES), b"\xff" * SECRET_BYTES):
        assert secret_from(secret_points(secret)) == secret
        assert secret_from(str(secret_points(secret))) == secret  # SQLite keeps points as text


# Every tally kept per member, made by the module that makes it, for member "X|M1" (whose id
# holds the separator) and "M1".
_KEYS: list[Callable[[str], str]] = [
    visits_key,
    carry_key,
    redeemed_key,
    seen_key,
    at_risk_key,
    debt_key,
    owed_key,
    lambda m: spent_key(m, "2024-03"),
    lambda m: day_key(m, date(2024, 3, 1)),
    lambda m: cap_key("2024-03", m),
    lambda m: metric_key(Metric.POINTS, m, "2024"),
    lambda m: f"cap|R1|2024-03|{m}",  # loyalty.earning_keys' own, for a rule
    lambda m: f"stamps|R1|{m}",
    lambda m: f"birthday|R1|2024|{m}",
    lambda m: f"events|R1|2024-03|{m}",
]


@pytest.mark.parametrize("make", _KEYS)
def test_every_tally_of_a_member_is_renamed_and_no_other_members(make: Callable[[str], str]) -> None:
    assert make("M1").partition("|")[0] in TALLY_FAMILIES
    assert renamed_tally(make("M1"), "M1", "P") == make("P")
    assert renamed_tally(make("X|M1"), "X|M1", "P") == make("P")
    # Member "M1"'s rename leaves member "X|M1"'s key, which ends alike, alone.
    assert renamed_tally(make("X|M1"), "M1", "P") is None


def test_a_tally_that_is_no_members_is_not_renamed() -> None:
    assert renamed_tally("taken|M1", "M1", "P") is None  # a purchase's, by its id (before schema 22)
    assert renamed_tally("budget|M1", "M1", "P") is None
    assert renamed_tally("visits|M10", "M1", "P") is None


def test_renaming_goes_by_the_fields_that_hold_member_ids_at_any_depth() -> None:
    value = {
        "member_id": "M1",
        "context": {"visits|M1": [1, "0"], "M1": 2},
        "runs": [["M1", 2]],
        "lines": [{"sku": "M1", "quantity": 1}],
        "bonus": {"referee": "M1", "referrer": "M2", "purchase_id": "M1"},
        "taken": [{"source": "seen|M1", "target": "seen|M2", "what": "M1"}],
        "referrals": ["M1", "M3"],
        "member": {"id": "M1", "enrolled_at": "2024-03-01", "attributes": {"card": "M1"}},
        "attributes": {"id": "M1"},
        "n": 1,
    }
    assert renamed(value, "M1", "P") == {
        "member_id": "P",
        "context": {"visits|P": [1, "0"], "M1": 2},
        "runs": [["M1", 2]],
        "lines": [{"sku": "M1", "quantity": 1}],
        "bonus": {"referee": "P", "referrer": "M2", "purchase_id": "M1"},
        "taken": [{"source": "seen|P", "target": "seen|M2", "what": "M1"}],
        "referrals": ["P", "M3"],
        "member": {"id": "P", "enrolled_at": "2024-03-01", "attributes": {"card": "M1"}},
        "attributes": {"id": "M1"},
        "n": 1,
    }
    assert mentions(value, "M1") and not mentions(value, "M4")
    # A SKU, a purchase id, a code, a note equal to the id: none of them holds a member id.
    assert not mentions({"sku": "M1", "purchase_id": "M1", "code": "M1", "note": ["M1"]}, "M1")


def test_an_entrys_form_has_its_made_source_and_referral_reason_renamed() -> None:
    entry = {"seq": 4, "member_id": "M1", "kind": "tier", "reason": "up", "rules": []}
    review = {**entry, "source_id": "tier-review:M1:2024-06-01T00:00:00+00:00"}
    assert renamed(review, "M1", "P")["source_id"] == "tier-review:P:2024-06-01T00:00:00+00:00"
    # Another member's entry keeps its source id; its referral bonus names the referee anew.
    bonus = {
        **entry,
        "member_id": "M2",
        "kind": "earn",
        "source_id": "tier-review:M1:2024-06-01T00:00:00+00:00",
    }
    bonus |= {"reason": "referral bonus: M1 made a first purchase", "rules": ["referral:referrer"]}
    assert renamed(bonus, "M1", "P") == {**bonus, "reason": "referral bonus: P made a first purchase"}
    typed = {**bonus, "rules": ["welcome"]}  # the same text from another rule: the caller's
    assert renamed(typed, "M1", "P") == typed


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("remind:M1:2024-06-01T00:00:00+00:00", "remind:P:2024-06-01T00:00:00+00:00"),
        ("tier-review:M1:2024-06-01T00:00:00+00:00", "tier-review:P:2024-06-01T00:00:00+00:00"),
        ("tier-balance:M1:2024-06-01T00:00:00+00:00", "tier-balance:P:2024-06-01T00:00:00+00:00"),
        ("at-risk:M1:2024-06-01T09:30:00+02:00", "at-risk:P:2024-06-01T09:30:00+02:00"),
        ("OPEN-M1-12", "OPEN-P-12"),
        # Not made from M1: another member's, the caller's own, or not an instant or lot after it.
        ("remind:M10:2024-06-01T00:00:00+00:00", "remind:M10:2024-06-01T00:00:00+00:00"),
        ("remind:M1:soon", "remind:M1:soon"),
        ("OPEN-M1-", "OPEN-M1-"),
        ("OPEN-M1-1x", "OPEN-M1-1x"),
        ("till-M1", "till-M1"),
        ("M1", "M1"),
    ],
)
def test_only_the_ids_the_engine_made_from_the_member_id_are_renamed(source: str, expected: str) -> None:
    assert renamed_source(source, "M1", "P") == expected


def test_a_member_id_holding_the_separators_is_renamed_whole() -> None:
    # A member id may hold ":" or "-": the id is matched whole, after its prefix.
    assert (
        renamed_source("remind:a:b:2024-06-01T00:00:00+00:00", "a:b", "P")
        == "remind:P:2024-06-01T00:00:00+00:00"
    )
    assert (
        renamed_source("remind:a:b:2024-06-01T00:00:00+00:00", "a", "P")
        == "remind:a:b:2024-06-01T00:00:00+00:00"
    )
    assert renamed_source("OPEN-1-2-3", "1-2", "P") == "OPEN-P-3"
    assert (
        renamed_referral_reason("its referrer M1 was merged into it", "M1", "P")
        == "its referrer P was merged into it"
    )
    assert (
        renamed_referral_reason("its referrer M10 was merged into it", "M1", "P")
        == "its referrer M10 was merged into it"
    )


def test_a_plan_with_a_pseudonym_names_the_member_by_it_in_every_record_and_event() -> None:
    ann = Member("M1", T, date(1980, 5, 17), {"email": "ann@example.com"})
    own = Record("U1", "member_update", {"member_id": "M1", "attributes": {"a": 1}}, {"id": "M1"})
    before = Record("K1", "identifier_add", {"member_id": "M1", "erased": "E0", "erased_member": "M1"}, {})
    referee = Record("X2", "referral_reward", {"member_id": "M2", "referee": "M1", "purchase_id": "M1"}, {})
    untouched = Record("X3", "purchase", {"member_id": "M3", "lines": [{"sku": "M1"}]}, {})
    sent = DomainEvent(4, EventKind.POINTS_TRANSFERRED, "M2", T, T, "X1", {"to_member": "M1", "points": 1})
    added = DomainEvent(5, EventKind.IDENTIFIER_ADDED, "M1", T, T, "K2", {"key": "card:1", "survivor": "M1"})
    plan = plan_erasure(
        ann,
        [],
        [before, own],
        [added],
        key="E1",
        pseudonym="P",
        mentioning=([before, own, referee, untouched], [added, sent]),
    )
    assert plan.pseudonym == "P" and plan.member.id == "M1"  # the store finds it by its id
    (scrubbed,) = plan.records
    assert scrubbed.request == {"member_id": "P", "attributes": None, "erased": "E1", "erased_member": "P"}
    assert erased_member(scrubbed.request) == "P" and scrubbed.result == {"id": "M1"}  # not a member's form
    assert [(r.key, dict(r.request)) for r in plan.renamed] == [
        ("K1", {"member_id": "P", "erased": "E0", "erased_member": "P"}),
        ("X2", {"member_id": "M2", "referee": "P", "purchase_id": "M1"}),
    ]
    assert [(e.seq, dict(e.data)) for e in plan.events] == [(5, {"key": None, "survivor": "P"})]
    assert [(e.seq, dict(e.data)) for e in plan.mentions] == [(4, {"to_member": "P", "points": 1})]


def test_a_plan_without_a_pseudonym_renames_nothing() -> None:
    ann = Member("M1", T)
    referee = Record("X2", "referral_reward", {"member_id": "M2", "referee": "M1"}, {})
    plan = plan_erasure(ann, [], [], [], key="E1", mentioning=([referee], []))
    assert (plan.pseudonym, plan.renamed, plan.mentions) == (None, (), ())


def test_a_plan_lists_the_ids_made_from_the_member_id_and_renames_referral_reasons_naming_it() -> None:
    ann = Member("M1", T)
    review = Entry(1, "M1", EntryKind.TIER, 0, 0, T, T, "tier-review:M1:2024-06-01T00:00:00+00:00", "down")
    bought = Entry(2, "M1", EntryKind.EARN, 5, 5, T, T, "OPEN-M1-1x", "purchase")  # the caller's id
    why = "referral bonus: M1 made a first purchase"
    bonus = Entry(3, "M2", EntryKind.EARN, 50, 50, T, T, "P1", why, rules=("referral:referrer",))
    typed = Entry(4, "M2", EntryKind.ADJUST, 1, 51, T, T, "A1", why, actor="clerk")  # staff's own text
    remind = DomainEvent(7, EventKind.POINTS_EXPIRING, "M1", T, T, "remind:M1:2024-09-01T00:00:00+00:00", {})
    other = DomainEvent(8, EventKind.POINTS_EXPIRING, "M2", T, T, "remind:M1:2024-09-01T00:00:00+00:00", {})
    opened = Record("OPEN-M1-3", "opening_balance", {"member_id": "M1"}, {})
    plan = plan_erasure(
        ann, [review, bought], [opened], [remind, other], key="E1", pseudonym="P", named_by=[bonus, typed]
    )
    assert plan.sources == (
        ("OPEN-M1-3", "OPEN-P-3"),
        ("remind:M1:2024-09-01T00:00:00+00:00", "remind:P:2024-09-01T00:00:00+00:00"),
        ("tier-review:M1:2024-06-01T00:00:00+00:00", "tier-review:P:2024-06-01T00:00:00+00:00"),
    )
    (part,) = plan.counterparts
    assert (part.member_id, part.events) == ("M2", ())
    assert [(t.seq, t.reason, t.actor, t.kept) for t in part.texts] == [
        (3, "referral bonus: P made a first purchase", None, text_digest(bonus))
    ]
