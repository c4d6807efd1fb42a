"""Enrollments in an import: referrals by code, a member's own code, and sign-up bonuses paid once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalty import Engine, MemberStatus, UnknownMember
from loyalty.config import program_from_dict
from loyalty.referrals import ReferralState
from loyalty.service.importing import Rejected
from loyalty.store import Store

#: A sign-up bonus of 25 points (an event rule for ``enrolled``).
PROGRAM = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "rules": [{"kind": "event", "id": "signup", "event": "enrolled", "points": 25}],
    }
)
NOW = datetime(2024, 4, 20, tzinfo=UTC)
ENROLL = (
    '{{"type": "enrollment", "id": "ENR-{m}", "member_id": "{m}", "at": "2024-03-01T09:00:00+01:00"{more}}}'
)
OPENING = (
    '{{"type": "opening_balance", "id": "OPEN-{m}", "member_id": "{m}", "at": "2024-03-01T09:00:00+01:00",'
    ' "points": {p}, "expires_at": null}}'
)


def _engine(store: Store) -> Engine:
    return Engine(PROGRAM, store, clock=lambda: NOW)


def test_an_enrollment_whose_bonus_was_paid_imports_without_paying_it_again(any_store: Store) -> None:
    engine = _engine(any_store)
    lines = [
        ENROLL.format(m="M1", more=', "bonus_paid": true'),
        OPENING.format(m="M1", p=25),  # the bonus, paid by the former system
        ENROLL.format(m="M2", more=""),  # a file of old: the bonus is paid on import
    ]
    summary = engine.import_events(lines)
    assert summary.applied == {"enrollment": 2, "opening_balance": 1}
    assert engine.balance("M1").available == 25
    assert engine.balance("M2").available == 25
    assert [e.reason for e in engine.history("M1")] == ["opening balance"]


def test_an_imported_enrollment_is_attributed_to_the_referrer_whose_code_it_names(any_store: Store) -> None:
    engine = _engine(any_store)
    lines = [
        ENROLL.format(m="M1", more=', "referral_code": "ann-2024"'),
        ENROLL.format(m="M2", more=', "referred_by": "ANN2024"'),
    ]
    assert engine.import_events(lines).applied == {"enrollment": 2}
    assert engine.referral_code("M1") == "ANN2024"
    referral = engine.referrals("M2").referred_by
    assert referral is not None and (referral.referrer, referral.code) == ("M1", "ANN2024")
    # The file again is a retry of itself: nothing new, the same attribution.
    assert engine.import_events(lines).already == {"enrollment": 2}


def test_an_enrollment_with_an_unknown_or_malformed_referral_code_is_rejected_with_its_line(
    any_store: Store,
) -> None:
    engine = _engine(any_store)
    rejects: list[Rejected] = []
    lines = [
        ENROLL.format(m="M1", more=', "referred_by": "NOBODY1"'),
        ENROLL.format(m="M2", more=', "referred_by": "#!"'),
        ENROLL.format(m="M3", more=', "referred_by": 7'),
        ENROLL.format(m="M4", more=', "bonus_paid": "yes"'),
        ENROLL.format(m="M5", more=', "referral_code": "BOB2024"'),
        ENROLL.format(m="M6", more=', "referral_code": "bob-2024"'),  # M5's
        ENROLL.format(m="M7", more=', "referral_code": "?"'),
    ]
    summary = engine.import_events(lines, on_error="skip", on_reject=rejects.append)
    assert [(r.line, r.field, r.error) for r in rejects] == [
        (1, "referred_by", "UnknownReferralCode"),
        (2, "referred_by", "InvalidInput"),
        (3, "referred_by", "InvalidInput"),
        (4, "bonus_paid", "InvalidInput"),
        (6, "referral_code", "ReferralCodeTaken"),
        (7, "referral_code", "InvalidInput"),
    ]
    assert rejects[0].reason == "no member has the referral code 'NOBODY1'"
    assert summary.rejected == {"enrollment": 6} and summary.applied == {"enrollment": 1}
    for member in ("M1", "M2", "M3", "M4", "M6", "M7"):
        with pytest.raises(UnknownMember):
            engine.member(member)


def test_an_imported_referral_decided_elsewhere_keeps_its_state(any_store: Store) -> None:
    engine = _engine(any_store)
    lines = [
        ENROLL.format(m="M1", more=', "referral_code": "ANN2024"'),
        ENROLL.format(m="M2", more=', "referred_by": "ANN2024", "referral_state": "rewarded"'),
        ENROLL.format(m="M3", more=', "referred_by": "ANN2024", "referral_state": "qualified"'),
        ENROLL.format(m="M4", more=', "referred_by": "ANN2024"'),
    ]
    engine.import_events(lines)
    states = [engine.referrals(m).referred_by for m in ("M2", "M3", "M4")]
    assert [r.state if r else None for r in states] == [
        ReferralState.REWARDED,
        ReferralState.REWARDED,  # its bonuses were paid there
        ReferralState.PENDING,
    ]


def test_an_imported_member_keeps_its_status_and_a_closed_one_its_points(any_store: Store) -> None:
    engine = _engine(any_store)
    lines = [
        ENROLL.format(m="M1", more=', "status": "closed", "bonus_paid": true'),
        OPENING.format(m="M1", p=40),
        ENROLL.format(m="M2", more=', "status": "suspended"'),  # can earn no sign-up bonus
    ]
    assert engine.import_events(lines).applied == {"enrollment": 2, "opening_balance": 1}
    assert engine.member("M1").status is MemberStatus.CLOSED
    assert engine.balance("M1").available == 40
    assert engine.member("M2").status is MemberStatus.SUSPENDED
    assert engine.balance("M2").available == 0


def test_an_enrollment_with_a_bad_status_or_referral_state_is_rejected_with_its_line(
    any_store: Store,
) -> None:
    engine = _engine(any_store)
    rejects: list[Rejected] = []
    lines = [
        ENROLL.format(m="M1", more=', "status": "erased"'),
        ENROLL.format(m="M2", more=', "status": "gone"'),
        ENROLL.format(m="M3", more=', "referral_state": "rewarded"'),  # no referral to be in it
        ENROLL.format(m="M4", more=', "referral_code": "ANN2024"'),
        ENROLL.format(m="M5", more=', "referred_by": "ANN2024", "referral_state": "paid"'),
    ]
    summary = engine.import_events(lines, on_error="skip", on_reject=rejects.append)
    assert [(r.line, r.field) for r in rejects] == [
        (1, "status"),
        (2, "status"),
        (3, "referral_state"),
        (5, "referral_state"),
    ]
    assert summary.applied == {"enrollment": 1}
    assert engine.referrals("M4").referred == []


#: Silver by balance, with an entry bonus of 10 points the first time a member reaches it.
TIERED = program_from_dict(
    {
        "name": "Club",
        "currency": "EUR",
        "tiers": {
            "metric": "balance",
            "levels": [
                {"id": "member", "name": "Member"},
                {"id": "silver", "name": "Silver", "threshold": "40", "bonus": 10},
            ],
        },
    }
)
TIER = '"tier": {{"tier": "{t}", "earned": "{t}", "since": "2024-03-05T00:00:00+00:00", "reached": {r}}}'


def test_an_imported_tier_state_keeps_the_tiers_reached_so_no_entry_bonus_is_paid_again(
    any_store: Store,
) -> None:
    engine = Engine(TIERED, any_store, clock=lambda: NOW)
    reached = TIER.format(t="silver", r='["member", "silver"]')
    lines = [
        ENROLL.format(m="M1", more=f", {reached}, " + '"bonus_paid": true'),
        OPENING.format(m="M1", p=50),  # the silver entry bonus among them
        ENROLL.format(m="M2", more=""),  # no tier state: silver is reached here, and paid
        OPENING.format(m="M2", p=50),
    ]
    assert engine.import_events(lines).rejected == {}
    assert (engine.tier("M1").tier.id, engine.balance("M1").available) == ("silver", 50)
    assert engine.tier("M1").since == datetime(2024, 3, 5, tzinfo=UTC)
    assert (engine.tier("M2").tier.id, engine.balance("M2").available) == ("silver", 60)


def test_an_enrollment_with_a_tier_state_the_program_cannot_hold_is_rejected(any_store: Store) -> None:
    engine = Engine(TIERED, any_store, clock=lambda: NOW)
    rejects: list[Rejected] = []
    lines = [
        ENROLL.format(m="M1", more=", " + TIER.format(t="gold", r='["member"]')),
        ENROLL.format(m="M2", more=", " + TIER.format(t="silver", r='"silver"')),
        ENROLL.format(m="M3", more=', "tier": "silver"'),
    ]
    summary = engine.import_events(lines, on_error="skip", on_reject=rejects.append)
    assert [(r.line, r.field) for r in rejects] == [(1, "tier"), (2, "tier"), (3, "tier")]
    assert rejects[0].reason == "the program has no tier 'gold'"
    assert not summary.applied


def test_an_enrollment_with_tallies_not_the_members_own_is_rejected(any_store: Store) -> None:
    engine = _engine(any_store)
    rejects: list[Rejected] = []
    lines = [
        ENROLL.format(m="M1", more=', "tallies": {"budget|launch": {"count": 1, "points": "500"}}'),
        ENROLL.format(m="M2", more=', "tallies": {"visits": {"count": "1"}}'),
        ENROLL.format(m="M3", more=', "tallies": {"visits": 3}'),
        ENROLL.format(m="M4", more=', "tallies": {"visits": {"count": 3}}'),
    ]
    summary = engine.import_events(lines, on_error="skip", on_reject=rejects.append)
    assert [(r.line, r.field) for r in rejects] == [
        (1, "tallies.budget|launch"),
        (2, "tallies.visits"),
        (3, "tallies.visits"),
    ]
    assert summary.applied == {"enrollment": 1}
