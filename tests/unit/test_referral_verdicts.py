"""Whether a referee's first purchase qualifies, and what each side earns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from loyalty.members import Member
from loyalty.referrals import Referrals, first_purchase_verdict, identity_clash, shares
from loyalty.rules import Period

T = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)  # a month with no change of clocks
ZONE = ZoneInfo("Europe/Amsterdam")
REFEREE = Member("M2", T, attributes={"phone": "0612"})
REFERRER = Member("M1", T - timedelta(days=300), attributes={"phone": "0699"})


def verdict(terms: Referrals, amount: str = "50", at: datetime = T, rewarded: int = 0) -> str | None:
    return first_purchase_verdict(terms, REFEREE, REFERRER, Decimal(amount), at, ZONE, rewarded)


def test_a_purchase_meeting_every_term_qualifies() -> None:
    terms = Referrals(referrer_points=50, min_spend=Decimal(20), within_days=30, cap=3, cap_period="month")
    assert verdict(terms) is None


def test_a_purchase_below_the_minimum_is_refused_with_the_figures() -> None:
    assert verdict(Referrals(referrer_points=50, min_spend=Decimal(20)), "19.99") == (
        "first purchase of 19.99 is below the minimum of 20"
    )


def test_a_purchase_too_long_after_enrolling_is_refused() -> None:
    terms = Referrals(referrer_points=50, within_days=30)
    assert verdict(terms, at=T + timedelta(days=30)) is None
    assert verdict(terms, at=T + timedelta(days=30, seconds=1)) == (
        "first purchase more than 30 days after enrolling"
    )


def test_the_referrers_cap_for_the_period_refuses_one_more() -> None:
    terms = Referrals(referrer_points=50, cap=3, cap_period=Period.MONTH)
    assert verdict(terms, rewarded=2) is None
    assert verdict(terms, rewarded=3) == "the referrer already has 3 rewarded referrals this month"


def test_the_same_person_by_identity_clashes_type_and_all() -> None:
    terms = Referrals(referrer_points=50, identity="phone")
    twin = Member("M3", T, attributes={"phone": "0699"})
    assert identity_clash(terms, twin, REFERRER) == "same phone as the referrer"
    assert identity_clash(terms, REFEREE, REFERRER) is None
    assert (
        identity_clash(
            terms, Member("M4", T, attributes={"phone": 699}), Member("M5", T, attributes={"phone": "699"})
        )
        is None
    )
    assert identity_clash(terms, Member("M6", T), Member("M7", T)) is None  # unknown identities
    assert identity_clash(None, twin, REFERRER) is None


def test_shares_are_fixed_points_or_a_share_rounded_down_to_whole_points() -> None:
    terms = Referrals(referrer_share=Decimal("0.1"), referee_points=5)
    assert shares(terms, 125) == {"referee": 5, "referrer": 12}
    assert shares(terms, 129) == {"referee": 5, "referrer": 12}
