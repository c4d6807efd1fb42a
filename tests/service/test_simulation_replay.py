"""A generated workload replays through a default engine without a single decline."""

from __future__ import annotations

from datetime import UTC, datetime

from loyalty import Engine, Program, open_store
from loyalty.simulation import Enrollment, Sale, generate


def test_replay_through_a_default_engine_never_declines() -> None:
    workload = generate(members=15, purchases=600, seed=2)
    clock_now = [datetime(2000, 1, 1, tzinfo=UTC)]
    engine = Engine(Program("Club", "EUR"), open_store("memory://"), clock=lambda: clock_now[0])
    for event in workload.events:
        clock_now[0] = event.at
        if isinstance(event, Enrollment):
            engine.enroll(event.member_id, at=event.at, birthday=event.birthday)
        elif isinstance(event, Sale):
            engine.record_purchase(event.purchase)
        else:
            engine.redeem(event.member_id, event.points, id=event.id, at=event.at)
    assert workload.redemptions
    assert all(engine.balance(e.member_id).available >= 0 for e in workload.enrollments)
