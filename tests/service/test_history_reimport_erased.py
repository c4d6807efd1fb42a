"""Review (helper 7) of 779f0a5: an export holding an erased member (its ``status: erased``
record, carried by membership.carry_erasure) must import twice as the docs promise ("Running a
file twice writes nothing new", docs/import-export.md): the second run stops at the erased
member's enrollment with MemberErased."""

from __future__ import annotations

from loyalty import Engine, history, open_store
from loyalty.testing.clock import ManualClock
from tests.service.test_history_export_moves import NOW, PROGRAM, T0, _at, _sale


def test_a_history_with_an_erased_member_imports_twice() -> None:
    clock = ManualClock(T0)
    source = Engine(PROGRAM, open_store("memory://"), clock=clock)
    source.enroll("M1", at=T0)
    clock.catch_up(_at(1))
    source.record_purchase(_sale("P1", "M1", 1, 1))
    source.erase("M1", id="E1", at=clock.catch_up(_at(2)), reason="GDPR", actor="dpo")
    lines = list(history.write(source.export_history()))
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    assert not target.import_events(lines).rejected

    again = target.import_events(lines)

    assert again.stopped is None, again.stopped
    assert not again.applied and not again.rejected
