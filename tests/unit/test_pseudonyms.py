"""The pseudonym an erasure gives a member id, and the renaming of it (loyalty.pseudonyms), and
the erasure's plan with a pseudonym (loyalty.erasure.plan_erasure)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from loyalty.earning_keys import carry_key, redeemed_key, visits_key
from loyalty.erasure import Record, erased_member, plan_erasure
from loyalty.habits import at_risk_key, seen_key, spent_key
from loyalty.members import Member
from loyalty.outbox import DomainEvent, EventKind
from loyalty.pseudonyms import (
    PREFIX,
    SECRET_BYTES,
    TALLY_FAMILIES,
    mentions,
    pseudonym,
    renamed,
    renamed_tally,
    secret_from,
    secret_points,
)
from loyalty.redemption import day_key
from loyalty.referrals import cap_key
from loyalty.returns import debt_key, owed_key, taken_key
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
    assert renamed_tally(taken_key("M1"), "M1", "P") is None  # a purchase's, by its id
    assert renamed_tally("budget|M1", "M1", "P") is None
    assert renamed_tally("visits|M10", "M1", "P") is None


def test_renaming_reaches_keys_values_and_tally_keys_at_any_depth() -> None:
    value = {"member_id": "M1", "context": {"visits|M1": [1, "0"]}, "runs": [["M1", 2]], "n": 1}
    assert renamed(value, "M1", "P") == {
        "member_id": "P",
        "context": {"visits|P": [1, "0"]},
        "runs": [["P", 2]],
        "n": 1,
    }
    assert mentions(value, "M1") and not mentions(value, "M2") and not mentions({"code": "M10"}, "M1")


def test_a_plan_with_a_pseudonym_names_the_member_by_it_in_every_record_and_event() -> None:
    ann = Member("M1", T, date(1980, 5, 17), {"email": "ann@example.com"})
    own = Record("U1", "member_update", {"member_id": "M1", "attributes": {"a": 1}}, {"id": "M1"})
    before = Record("K1", "identifier_add", {"member_id": "M1", "erased": "E0", "erased_member": "M1"}, {})
    referee = Record("ENR-M2", "enrollment", {"member_id": "M2", "referred_by_member": "M1"}, {})
    untouched = Record("ENR-M3", "enrollment", {"member_id": "M3", "note": "M10"}, {})
    sent = DomainEvent(4, EventKind.POINTS_TRANSFERRED, "M2", T, T, "X1", {"to_member": "M1", "points": 1})
    added = DomainEvent(5, EventKind.IDENTIFIER_ADDED, "M1", T, T, "K2", {"key": "card:1", "member": "M1"})
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
    assert erased_member(scrubbed.request) == "P" and scrubbed.result == {"id": "P"}
    assert [(r.key, dict(r.request)) for r in plan.renamed] == [
        ("ENR-M2", {"member_id": "M2", "referred_by_member": "P"}),
        ("K1", {"member_id": "P", "erased": "E0", "erased_member": "P"}),
    ]
    assert [(e.seq, dict(e.data)) for e in plan.events] == [(5, {"key": None, "member": "P"})]
    assert [(e.seq, dict(e.data)) for e in plan.mentions] == [(4, {"to_member": "P", "points": 1})]


def test_a_plan_without_a_pseudonym_renames_nothing() -> None:
    ann = Member("M1", T)
    referee = Record("ENR-M2", "enrollment", {"member_id": "M2", "referred_by_member": "M1"}, {})
    plan = plan_erasure(ann, [], [], [], key="E1", mentioning=([referee], []))
    assert (plan.pseudonym, plan.renamed, plan.mentions) == (None, (), ())
