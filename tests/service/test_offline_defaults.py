"""Grants that leave their figures to the program's ``offline`` table, on every adapter: the version
in force at the grant's ``at`` supplies them, a grant's own figures override them, a retry sends
what the original sent, and a program without the table refuses a grant that leaves one out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty import Engine, IdempotencyConflict, InvalidDatetime, InvalidPoints, Program, UnknownTerminal
from loyalty.errors import ConfigError
from loyalty.offline import OfflineAllowance, OfflineTerms
from loyalty.store import Store
from tests.service.helpers import T0, sale

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TERMS = OfflineTerms(per_member=300, total=1500, hours=12)
PLAIN = Program("Club", "EUR", version="plain")
OFFLINE = Program("Club", "EUR", version="offline", effective_from=T0 + DAY, offline=TERMS)


def engine(store: Store, *versions: Program) -> Engine:
    return Engine(versions if len(versions) > 1 else versions[0], store, clock=lambda: T0 + 3 * DAY)


def stores(running: Engine) -> None:
    """Store the engine's versions, as its first purchase does."""
    running.enroll("M1", at=T0)
    running.record_purchase(sale("P1"))


def test_a_grant_leaving_every_figure_out_takes_the_programs(any_store: Store) -> None:
    allowance = engine(any_store, PLAIN, OFFLINE).grant_offline_allowance(
        "till-7", id="A1", at=T0 + 2 * DAY, actor="ops"
    )
    assert allowance == OfflineAllowance(
        "A1", "till-7", 300, 1500, T0 + 2 * DAY, T0 + 2 * DAY + 12 * HOUR, "ops"
    )
    assert engine(any_store, PLAIN, OFFLINE).offline_report("till-7")[0].allowance == allowance


def test_a_grants_own_figures_override_the_programs(any_store: Store) -> None:
    running = engine(any_store, PLAIN, OFFLINE)
    at = T0 + 2 * DAY
    mixed = running.grant_offline_allowance(
        "till-7", id="A1", at=at, per_member=50, until=at + HOUR, actor="ops"
    )
    assert (mixed.per_member, mixed.total, mixed.until) == (50, 1500, at + HOUR)
    # Checked against the figures the program fills in: a per_member above its total is refused.
    with pytest.raises(InvalidPoints) as above:
        running.grant_offline_allowance("till-8", id="A2", at=at, per_member=2000, actor="ops")
    assert above.value.field == "per_member"
    with pytest.raises(UnknownTerminal):
        running.offline_report("till-8")


def test_the_version_in_force_at_the_grants_at_decides(any_store: Store) -> None:
    running = engine(any_store, PLAIN, OFFLINE)
    with pytest.raises(InvalidPoints) as missing:
        running.grant_offline_allowance("till-7", id="A1", at=T0 + HOUR, actor="ops")
    assert missing.value.field == "per_member"
    assert "version 'plain'" in missing.value.message
    with pytest.raises(InvalidDatetime) as no_until:
        running.grant_offline_allowance("till-7", id="A1", at=T0 + HOUR, per_member=5, total=9, actor="ops")
    assert no_until.value.field == "until"
    with pytest.raises(UnknownTerminal):
        running.offline_report("till-7")
    assert running.grant_offline_allowance("till-7", id="A1", at=T0 + DAY, actor="ops").total == 1500


def test_a_later_engine_learns_the_terms_of_a_version_from_the_store(any_store: Store) -> None:
    stores(engine(any_store, PLAIN, OFFLINE))
    later = engine(any_store, PLAIN)  # runs the plain version only: the other is the store's
    assert later.grant_offline_allowance("till-8", id="A2", at=T0 + 2 * DAY, actor="ops").per_member == 300


def test_a_version_given_offline_terms_is_a_changed_version(any_store: Store) -> None:
    stores(engine(any_store, PLAIN))
    changed = Program("Club", "EUR", version="plain", offline=TERMS)
    with pytest.raises(ConfigError) as info:
        engine(any_store, changed).record_purchase(sale("P2"))
    assert [path for path, _ in info.value.problems] == ["version"]


def test_a_retry_sending_what_the_original_sent_returns_it_whatever_the_program_says_since(
    any_store: Store,
) -> None:
    at = T0 + 2 * DAY
    first = engine(any_store, PLAIN, OFFLINE).grant_offline_allowance(
        "till-7", id="A1", at=at, total=900, actor="ops"
    )
    # A later version with other terms: the retry still gets the allowance first granted.
    other = Program(
        "Club",
        "EUR",
        version="other",
        effective_from=T0 + 2 * DAY - HOUR,
        offline=OfflineTerms(per_member=5, total=5, hours=1),
    )
    retried = engine(any_store, PLAIN, OFFLINE, other)
    assert retried.grant_offline_allowance("till-7", id="A1", at=at, total=900, actor="ops") == first
    assert [report.allowance for report in retried.offline_report("till-7")] == [first]


@pytest.mark.parametrize(
    ("retry", "field"),
    [
        ({"total": 900, "per_member": 300}, "per_member"),  # the figure the program gave, now stated
        ({}, "total"),  # a figure stated, now left out
        ({"total": 900, "until": T0 + 2 * DAY + 12 * HOUR}, "until"),
    ],
)
def test_a_retry_stating_what_the_original_left_out_or_leaving_out_what_it_stated_conflicts(
    any_store: Store, retry: dict[str, object], field: str
) -> None:
    running = engine(any_store, PLAIN, OFFLINE)
    at = T0 + 2 * DAY
    running.grant_offline_allowance("till-7", id="A1", at=at, total=900, actor="ops")
    with pytest.raises(IdempotencyConflict) as info:
        running.grant_offline_allowance("till-7", id="A1", at=at, actor="ops", **retry)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_bad_grant_stating_every_figure_is_refused_before_a_retry_is_looked_for(any_store: Store) -> None:
    running = engine(any_store, PLAIN, OFFLINE)
    at = T0 + 2 * DAY
    running.grant_offline_allowance("till-7", id="A1", at=at, actor="ops")
    with pytest.raises(InvalidPoints) as info:
        running.grant_offline_allowance(
            "till-7", id="A1", at=at, per_member=10, total=5, until=at + HOUR, actor="ops"
        )
    assert info.value.field == "per_member"


def test_a_grants_own_window_is_at_most_the_720_hours_a_programs_may_be(any_store: Store) -> None:
    running = engine(any_store, PLAIN)
    at = T0 + 2 * DAY
    with pytest.raises(InvalidDatetime) as decade:
        running.grant_offline_allowance(
            "till-7", id="A1", at=at, per_member=10**15, total=10**15, until=at + 3650 * DAY, actor="ops"
        )
    assert decade.value.field == "until"
    assert "at most 720 hours" in decade.value.message
    with pytest.raises(UnknownTerminal):  # nothing written
        running.offline_report("till-7")
    longest = running.grant_offline_allowance(
        "till-7", id="A1", at=at, per_member=5, total=9, until=at + 720 * HOUR, actor="ops"
    )
    assert longest.until - longest.opened_at == 720 * HOUR


def test_the_programs_hours_are_elapsed_hours_across_a_dst_change(any_store: Store) -> None:
    amsterdam = ZoneInfo("Europe/Amsterdam")
    month = Program("Club", "EUR", offline=OfflineTerms(per_member=5, total=9, hours=720))
    # 30 days from before the clocks went back on 27 October 2024: one wall-clock hour more.
    at = datetime(2024, 10, 20, 12, tzinfo=amsterdam)
    running = Engine(month, any_store, clock=lambda: at)
    granted = running.grant_offline_allowance("till-7", id="A1", at=at, actor="ops")
    assert granted.until.astimezone(UTC) - at.astimezone(UTC) == 720 * HOUR
    assert granted.until.astimezone(amsterdam).hour == 11
