"""Opening balances keep the dates a former program gave the points."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty import Engine, EntryKind, InvalidInput, MemberNotActive, Program
from loyalty.store import Store
from loyalty.testing.clock import ManualClock
from tests.service.helpers import T0


def test_an_opening_balance_keeps_its_own_dates_whatever_the_program_says(engine: Engine) -> None:
    earned, expires = T0 - timedelta(days=300), T0 + timedelta(days=65)
    entry = engine.add_opening_balance("M1", 420, id="OB-1", at=earned, expires_at=expires)
    assert (entry.kind.value, entry.reason, entry.occurred_at) == ("adjust", "opening balance", earned)
    [lot] = engine.lots("M1")
    assert (lot.points, lot.earned_at, lot.expires_at) == (420, earned, expires)
    # The same id again is a retry: the entry as it was, nothing more.
    assert engine.add_opening_balance("M1", 420, id="OB-1", at=earned, expires_at=expires) == entry
    assert engine.balance("M1").available == 420


def test_an_opening_balance_expiring_before_it_was_earned_is_refused(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as refused:
        engine.add_opening_balance("M1", 5, id="OB-2", at=T0, expires_at=T0 - timedelta(days=1))
    assert refused.value.field == "expires_at"
    engine.change_status("M1", "closed", id="C1", at=T0, reason="left", actor="staff-1")
    with pytest.raises(MemberNotActive):
        engine.add_opening_balance("M1", 5, id="OB-3", at=T0, expires_at=None)
    assert engine.history("M1") == []


def test_an_opening_balances_dates_are_kept_in_utc_whatever_zone_they_come_in(any_store: Store) -> None:
    # As every adapter keeps lot dates: the expiry entry that ends the points is dated in UTC too,
    # and the chain digests the same bytes on every adapter (the memory store kept +05:30).
    clock = ManualClock(T0)
    engine = Engine(Program("Club", "EUR"), any_store, clock=clock)
    engine.enroll("M1", at=T0)
    kolkata = ZoneInfo("Asia/Kolkata")
    expires, vests = (
        (T0 + timedelta(days=30)).astimezone(kolkata),
        (T0 + timedelta(days=1)).astimezone(kolkata),
    )
    engine.add_opening_balance("M1", 300, id="OB-1", at=T0, expires_at=expires, vests_at=vests)
    [lot] = engine.lots("M1")
    assert (lot.expires_at, lot.vests_at) == (expires, vests)
    assert lot.expires_at is not None and lot.vests_at is not None
    assert lot.expires_at.utcoffset() == lot.vests_at.utcoffset() == timedelta(0)
    clock.advance(timedelta(days=40))
    engine.run_due()
    gone = engine.history("M1")[-1]
    assert (gone.kind, gone.points, gone.occurred_at, gone.occurred_at.utcoffset()) == (
        EntryKind.EXPIRE,
        -300,
        expires,
        timedelta(0),
    )
    assert engine.verify().ok
