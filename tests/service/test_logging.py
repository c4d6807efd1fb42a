"""What the engine logs: retries, declines, maintenance runs and each command, and never a member's data."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest

from loyalty import (
    ConcurrencyError,
    Engine,
    Expiry,
    ExpiryPolicy,
    IdempotencyConflict,
    InsufficientPoints,
    MemberAlreadyEnrolled,
    Program,
    Referrals,
    Return,
    UnknownMember,
)
from loyalty.service.idempotency import Command
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from tests.service.helpers import PROGRAM, T0, FlakyStore, sale


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, int, str]]:
    """Every record of the ``loyalty`` loggers as (logger, level, message)."""
    return [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("loyalty")]


def test_the_library_adds_a_null_handler_and_configures_nothing_else() -> None:
    root = logging.getLogger("loyalty")
    assert [type(handler) for handler in root.handlers] == [logging.NullHandler]
    assert (root.level, root.propagate) == (logging.NOTSET, True)
    assert logging.getLogger("loyalty.service.running").handlers == []


def test_a_lost_race_is_retried_at_info_with_the_attempt_and_the_error_class(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    Engine(PROGRAM, store).enroll("M1", at=T0)
    engine = Engine(PROGRAM, FlakyStore(store, failures=2), clock=lambda: T0)
    caplog.set_level(logging.INFO, logger="loyalty")
    assert engine.record_purchase(sale("P1", "7.00")).points == 7
    assert lines(caplog) == [
        (
            "loyalty.service.running",
            logging.INFO,
            f"retrying purchase 'P1': attempt {n} of 10 failed: TransientStorageError",
        )
        for n in (1, 2)
    ]


def test_giving_up_after_the_last_attempt_is_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    Engine(PROGRAM, store).enroll("M1", at=T0)
    engine = Engine(PROGRAM, FlakyStore(store, failures=100), clock=lambda: T0, max_attempts=3)
    caplog.set_level(logging.INFO, logger="loyalty")
    with pytest.raises(ConcurrencyError):
        engine.redeem("M1", 5, id="R1", at=T0)
    assert [(level, message) for _, level, message in lines(caplog)] == [
        (logging.INFO, "retrying redeem 'R1': attempt 1 of 3 failed: TransientStorageError"),
        (logging.INFO, "retrying redeem 'R1': attempt 2 of 3 failed: TransientStorageError"),
        (logging.WARNING, "gave up on redeem 'R1' after 3 attempts: TransientStorageError"),
    ]


def test_a_decline_is_logged_at_info_with_its_figures_and_its_replay_at_debug(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    engine.record_purchase(sale("P1", "8.00"))
    caplog.set_level(logging.DEBUG, logger="loyalty")
    with pytest.raises(InsufficientPoints):
        engine.redeem("M1", 10, id="R1", at=T0)
    with pytest.raises(InsufficientPoints):
        engine.hold("M1", 9, id="H1", at=T0, ttl=timedelta(minutes=5))
    with pytest.raises(InsufficientPoints):
        engine.redeem("M1", 10, id="R1", at=T0)  # the till's retry: declined alike, not logged as new
    commands = "loyalty.service.idempotency"
    assert lines(caplog) == [
        (commands, logging.INFO, "redeem 'R1' declined: 10 points requested, 8 available"),
        (commands, logging.INFO, "hold 'H1' declined: 9 points requested, 8 available"),
        (commands, logging.DEBUG, "redeem 'R1': replayed, declined"),
    ]


def test_each_command_is_logged_at_debug_with_its_kind_id_and_outcome(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="loyalty")
    engine.enroll("M2", at=T0)
    engine.enroll("M2", at=T0)
    engine.record_purchase(sale("P1", "30.00"))
    engine.record_purchase(sale("P1", "30.00"))
    with pytest.raises(UnknownMember):
        engine.record_purchase(sale("P2", "5.00", member="nobody"))
    with pytest.raises(IdempotencyConflict):
        engine.record_purchase(sale("P1", "31.00"))
    engine.redeem("M1", 5, id="R1", at=T0)
    engine.hold("M1", 10, id="H1", at=T0, ttl=timedelta(minutes=5))
    engine.capture("H1", id="C1", at=T0, points=4)
    engine.hold("M1", 3, id="H2", at=T0, ttl=timedelta(minutes=5))
    engine.release("H2", at=T0)
    engine.release("H2", at=T0)
    engine.update_member("M1", id="U1", at=T0, attributes={"segment": "student"})
    engine.record_event("M1", "survey_completed", id="E1", at=T0)
    engine.record_return(Return("V1", "P1", T0))
    engine.referral_code("M1")
    engine.referral_code("M1")
    assert [(level, message) for _, level, message in lines(caplog)] == [
        (logging.DEBUG, message)
        for message in (
            "enroll: recorded",
            "enroll: replayed",
            "purchase 'P1': recorded",
            "purchase 'P1': replayed",
            "purchase 'P2': raised UnknownMember",
            "purchase 'P1': raised IdempotencyConflict",
            "redeem 'R1': recorded",
            "hold 'H1': recorded",
            "capture 'C1': recorded",
            "hold 'H2': recorded",
            "release 'H2': released",
            "release 'H2': already released",
            "member_update 'U1': recorded",
            "event 'E1': recorded",
            "return 'V1': recorded",
            "referral_code: recorded",
            "referral_code: replayed",
        )
    ]


def test_a_command_is_not_named_when_debug_is_off(
    engine: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    named: list[str] = []

    def name(command: Command) -> str:
        named.append(command.key)
        return f"{command.kind} {command.key!r}"

    monkeypatch.setattr(Command, "__str__", name)
    caplog.set_level(logging.INFO, logger="loyalty")
    engine.record_purchase(sale("P1", "30.00"))
    engine.redeem("M1", 5, id="R1", at=T0)
    assert named == []  # no string built for a line nobody reads
    caplog.set_level(logging.DEBUG, logger="loyalty")
    engine.record_purchase(sale("P2", "30.00"))
    assert set(named) == {"P2"}  # (made by each handler that formats the line)


def test_a_maintenance_run_is_logged_at_info_with_its_counts_and_duration(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    program = Program("Club", "EUR", expiry=Expiry(ExpiryPolicy.LIFETIME, days=1))
    engine = Engine(program, store, clock=clock)
    for member in ("M1", "M2"):
        engine.enroll(member, at=T0)
        engine.record_purchase(sale(f"P-{member}", "12.00", member=member))
    engine.hold("M1", 5, id="H1", at=T0, ttl=timedelta(hours=1))
    clock.advance(days=2)
    caplog.set_level(logging.INFO, logger="loyalty")
    done = engine.run_due()
    assert (done.expired_lots, done.expired_points, done.expired_holds, done.members) == (2, 24, 1, 2)
    ((name, level, message),) = lines(caplog)
    assert (name, level) == ("loyalty.service.maintenance", logging.INFO)
    head, _, took = message.rpartition(", in ")
    assert head == (
        f"run_due at {clock.now.isoformat()}: 2 lots expired (24 points) of 2 members, "
        "1 holds expired (5 points back), 0 tier reviews (0 tier changes), 0 lots re-dated, 0 reminders, "
        "0 vouchers expired, 0 transfers finished, 0 referral bonuses paid, 0 merges finished, "
        "0 erasures finished"
    )
    assert took.endswith(" s") and float(took[:-2]) >= 0


def test_an_announcement_of_members_at_risk_is_logged_at_info(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock(T0)
    engine = Engine(PROGRAM, store, clock=clock)
    engine.enroll("M1", at=T0)
    for week in range(5):
        engine.record_purchase(sale(f"P{week}", at=clock.catch_up(T0 + timedelta(weeks=week))))
    clock.now = T0 + timedelta(weeks=12)
    caplog.set_level(logging.INFO, logger="loyalty")
    assert engine.announce_at_risk() == 1
    ((name, level, message),) = lines(caplog)
    assert (name, level) == ("loyalty.service.retention", logging.INFO)
    assert message.startswith("announce_at_risk: 1 member_at_risk events written for 1 members at risk, in ")


# Values no log line may carry: a card number, a birthday, a name, an e-mail address.
CARD, FRIEND = "CARD-7731-0042", "CARD-7731-0099"
BIRTHDAY = date(1987, 6, 5)
SECRETS = (CARD, FRIEND, "1987-06-05", "1987", "Ada Lovelace", "ada@example.org", "Bletchley")


def test_no_record_at_any_level_carries_a_member_id_birthday_or_attribute(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="loyalty")
    clock = ManualClock(T0)
    program = Program(
        "Club", "EUR", expiry=Expiry(ExpiryPolicy.LIFETIME, days=30), referrals=Referrals(referrer_points=5)
    )
    engine = Engine(program, FlakyStore(store, failures=1), clock=clock)
    attributes = {"name": "Ada Lovelace", "email": "ada@example.org", "town": "Bletchley"}
    engine.enroll(CARD, at=T0, birthday=BIRTHDAY, attributes=attributes)
    code = engine.referral_code(CARD)
    engine.enroll(FRIEND, at=T0, birthday=BIRTHDAY, attributes=attributes, referred_by=code)
    engine.enroll(FRIEND, at=T0, birthday=BIRTHDAY, attributes=attributes, referred_by=code)
    engine.record_purchase(sale("T1", "40.00", member=CARD))
    engine.record_purchase(sale("T2", "25.00", member=FRIEND))
    engine.record_purchase(sale("T2", "25.00", member=FRIEND))
    engine.update_member(CARD, id="U1", at=T0, birthday=date(1987, 6, 6), attributes={"town": "Bletchley"})
    # Refusals whose messages name the member, its birthday or its attributes: only their class is logged.
    with pytest.raises(MemberAlreadyEnrolled):
        engine.enroll(CARD, at=T0, birthday=date(1987, 6, 6), attributes=attributes)
    with pytest.raises(InsufficientPoints):
        engine.redeem(CARD, 5_000, id="R1", at=T0)
    with pytest.raises(IdempotencyConflict):
        engine.redeem(FRIEND, 1, id="T1", at=T0)
    with pytest.raises(UnknownMember):
        engine.record_purchase(sale("T3", "1.00", member=f"{CARD}-X"))
    engine.hold(CARD, 10, id="H1", at=T0, ttl=timedelta(minutes=5))
    engine.capture("H1", id="C1", at=T0)
    engine.adjust(FRIEND, 3, id="A1", at=T0, reason=f"goodwill for {CARD}", actor="staff-1")
    engine.record_return(Return("V1", "T2", T0))
    clock.advance(days=200)
    engine.run_due()
    engine.announce_at_risk()
    with pytest.raises(ConcurrencyError):
        Engine(program, FlakyStore(store, failures=10), max_attempts=2).redeem(CARD, 1, id="R9", at=T0)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    seen = [formatter.format(record) for record in caplog.records]
    assert len(seen) >= 20 and any("retrying" in line for line in seen)  # every kind of line was made
    assert {level for _, level, _ in lines(caplog)} == {logging.DEBUG, logging.INFO, logging.WARNING}
    for line in seen:
        for secret in (*SECRETS, code):
            assert secret not in line, line
