"""The pure decisions of offline allowances: the window, the limits, the shortfall, the reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from loyalty.errors import InvalidDatetime, InvalidId, InvalidPoints, LoyaltyError
from loyalty.offline import (
    Clawback,
    OfflineAllowance,
    OfflineUse,
    TerminalReport,
    check_grant,
    note,
    refusal,
    settle,
)

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
ALLOWANCE = OfflineAllowance("A1", "till-7", 100, 250, T0, T0 + timedelta(hours=8), "ops")


@pytest.mark.parametrize("at", [T0, T0 + timedelta(hours=8)])
def test_the_window_includes_both_ends(at: datetime) -> None:
    assert refusal(ALLOWANCE, points=100, member_used=0, total_used=150, at=at) is None


@pytest.mark.parametrize(
    ("at", "start"),
    [(T0 - timedelta(microseconds=1), "at: "), (T0 + timedelta(hours=8, microseconds=1), "at: ")],
)
def test_a_redemption_outside_the_window_is_beyond_the_allowance(at: datetime, start: str) -> None:
    reason = refusal(ALLOWANCE, points=1, member_used=0, total_used=0, at=at)
    assert reason is not None and reason.startswith(start) and "outside the allowance" in reason


def test_per_member_and_total_are_limits_reached_not_passed() -> None:
    assert refusal(ALLOWANCE, points=40, member_used=60, total_used=0, at=T0) is None
    assert refusal(ALLOWANCE, points=41, member_used=60, total_used=0, at=T0) == (
        "per_member: 60 of 100 points used for this member, 41 more requested"
    )
    assert refusal(ALLOWANCE, points=50, member_used=0, total_used=200, at=T0) is None
    assert refusal(ALLOWANCE, points=51, member_used=0, total_used=200, at=T0) == (
        "total: 200 of 250 points used at the terminal, 51 more requested"
    )


@pytest.mark.parametrize(
    ("policy", "available", "split"),
    [
        (Clawback.CLAMP, 30, (30, 0, 0, 20)),
        (Clawback.FUTURE, 30, (30, 0, 20, 0)),
        (Clawback.NEGATIVE, 30, (50, 20, 0, 0)),
        # A balance already below zero (an earlier debt) covers nothing.
        (Clawback.CLAMP, -10, (0, 0, 0, 50)),
        (Clawback.NEGATIVE, -10, (50, 50, 0, 0)),
        (Clawback.FUTURE, 80, (50, 0, 0, 0)),
    ],
)
def test_the_shortfall_is_settled_by_the_clawback(
    policy: Clawback, available: int, split: tuple[int, int, int, int]
) -> None:
    clawed = settle(policy, points=50, available=available)
    assert (clawed.taken, clawed.debt, clawed.owed, clawed.uncollected) == split


def test_the_reason_says_offline_where_and_what_the_shortfall_became() -> None:
    where = "offline at terminal till-7 under allowance A1"
    assert note("till-7", "A1", 50, settle(Clawback.CLAMP, points=50, available=50)) == where
    assert note("till-7", "A1", 50, settle(Clawback.CLAMP, points=50, available=30)) == (
        f"{where}: 30 of 50 points taken, 20 not collected"
    )
    assert note("till-7", "A1", 50, settle(Clawback.FUTURE, points=50, available=30)) == (
        f"{where}: 30 of 50 points taken, 20 owed"
    )
    assert note("till-7", "A1", 50, settle(Clawback.NEGATIVE, points=50, available=30)) == (
        f"{where}: 20 of 50 points beyond the balance, left as a debt"
    )


def test_a_good_allowance_passes_and_may_give_one_member_all_of_it() -> None:
    assert check_grant(ALLOWANCE) is ALLOWANCE
    whole = attrs.evolve(ALLOWANCE, per_member=250, until=T0 + timedelta(microseconds=1))
    assert check_grant(whole) is whole
    longest = attrs.evolve(ALLOWANCE, until=T0 + timedelta(hours=720))
    assert check_grant(longest) is longest


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"per_member": -1}, InvalidPoints, "per_member"),
        ({"per_member": True}, InvalidPoints, "per_member"),
        ({"total": 2**63}, InvalidPoints, "total"),
        ({"per_member": 251}, InvalidPoints, "per_member"),
        ({"opened_at": datetime(2024, 3, 1)}, InvalidDatetime, "at"),
        ({"until": datetime(2024, 3, 2)}, InvalidDatetime, "until"),
        ({"until": T0 - timedelta(seconds=1)}, InvalidDatetime, "until"),
        ({"until": T0 + timedelta(hours=720, microseconds=1)}, InvalidDatetime, "until"),
        (
            {"until": T0 + timedelta(days=3650), "per_member": 10**15, "total": 10**15},
            InvalidDatetime,
            "until",
        ),
        ({"id": " "}, InvalidId, "id"),
        ({"terminal_id": "a\nb"}, InvalidId, "terminal_id"),
        ({"actor": None}, InvalidId, "actor"),
    ],
)
def test_a_bad_allowance_is_refused_naming_its_field(
    change: dict[str, Any], error: type[LoyaltyError], field: str
) -> None:
    with pytest.raises(error) as info:
        check_grant(attrs.evolve(ALLOWANCE, **change))
    assert info.value.field == field


def test_a_bad_allowance_says_what_is_wrong_with_it() -> None:
    with pytest.raises(InvalidPoints) as over:
        check_grant(attrs.evolve(ALLOWANCE, per_member=251))
    assert str(over.value) == "per_member: must not exceed total (250), got 251"
    with pytest.raises(InvalidDatetime) as early:
        check_grant(attrs.evolve(ALLOWANCE, until=T0))
    assert str(early.value) == (
        "until: must be after at (2024-03-01T09:30:00+00:00), got 2024-03-01T09:30:00+00:00"
    )
    with pytest.raises(InvalidDatetime) as late:
        check_grant(attrs.evolve(ALLOWANCE, until=T0 + timedelta(days=31)))
    assert str(late.value) == (
        "until: must be at most 720 hours (30 days) after at (2024-03-01T09:30:00+00:00),"
        " got 2024-04-01T09:30:00+00:00"
    )


def test_a_terminal_report_adds_up_its_members() -> None:
    uses = (OfflineUse("A1", "M1", 2, 90, 30, 1), OfflineUse("A1", "M2", 1, 60, 10, 2))
    report = TerminalReport(ALLOWANCE, uses)
    assert (report.used, report.left, report.shortfall, report.declined) == (150, 100, 40, 3)
    assert uses[0] + uses[1] == OfflineUse("A1", "M1", 3, 150, 40, 3)
    assert TerminalReport.from_dict(report.to_dict()) == report
