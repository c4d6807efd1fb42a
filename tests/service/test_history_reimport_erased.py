"""Review (helper 7) of 779f0a5: an export holding an erased member (its ``status: erased``
record, carried by membership.carry_erasure) must import twice as the docs promise ("Running a
file twice writes nothing new", docs/import-export.md): the second run stops at the erased
member's enrollment with MemberErased."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loyalty import Engine, history, open_store
from loyalty.errors import MemberErased
from loyalty.store import Store
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


def _erased_history() -> tuple[list[str], str]:
    """The history of a store whose M1, referred by M2 and owner of a referral code, was erased
        (its enrollment, referral and ``status: erased`` records name its pseudonym), and that id; M3
    has a referral code too."""
    clock = ManualClock(T0)
    source = Engine(PROGRAM, open_store("memory://"), clock=clock)
    source.enroll("M2", at=T0)
    source.enroll("M3", at=T0)
    source.referral_code("M3")
    source.enroll("M1", at=T0, referred_by=source.referral_code("M2"))
    source.referral_code("M1")
    clock.catch_up(_at(1))
    source.record_purchase(_sale("P1", "M1", 1, 1))
    source.record_purchase(_sale("P2", "M2", 1, 1))
    hidden = source.erase("M1", id="E1", at=clock.catch_up(_at(2)), reason="GDPR", actor="dpo").pseudonym
    clock.catch_up(_at(3))
    source.record_purchase(_sale("P3", "M2", 3, 1))
    return list(history.write(source.export_history())), hidden


def test_a_run_stopped_after_an_erased_members_status_resumes_on_every_adapter(any_store: Store) -> None:
    lines, hidden = _erased_history()
    erased_at = next(n for n, line in enumerate(lines) if '"status":"erased"' in line)
    target = Engine(PROGRAM, any_store, clock=lambda: NOW)
    first = target.import_events(lines[: erased_at + 1])
    assert first.stopped is None and target.member(hidden).status.value == "erased"

    resumed = target.import_events(lines)

    assert resumed.stopped is None, resumed.stopped
    assert resumed.applied == {"purchase": 1}
    assert resumed.total_already == erased_at + 1
    again = target.import_events(lines)
    assert again.stopped is None and not again.applied and again.total_already == len(lines)


@pytest.mark.parametrize(
    "change",
    [
        {"at": "2024-03-02T09:00:00+00:00"},
        {"birthday": "1980-05-17"},
        {"attributes": {"name": "Ann"}},
        {"identifiers": ["card:9"]},
        {"referred_by": "M3"},
        {"referral_code": "ZZZZ2222"},
    ],
)
def test_another_enrollment_of_an_imported_erased_member_is_still_refused(change: dict[str, Any]) -> None:
    lines, hidden = _erased_history()
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    assert target.import_events(lines).stopped is None
    before = list(history.write(target.export_history()))
    enrollment = json.loads(next(line for line in lines if '"enrollment"' in line and hidden in line))
    codes = {json.loads(line)["member_id"]: json.loads(line).get("referral_code") for line in lines}
    other = {**enrollment, **{k: codes.get(v, v) if k == "referred_by" else v for k, v in change.items()}}

    refused = target.import_events([json.dumps(other)])

    assert refused.stopped is not None and refused.stopped.error == "MemberErased", refused.stopped
    assert refused.stopped.field == "member_id"
    assert list(history.write(target.export_history())) == before
    with pytest.raises(MemberErased):
        target.enroll(hidden, at=T0)


def test_another_referral_of_an_imported_erased_member_is_still_refused() -> None:
    lines, hidden = _erased_history()
    target = Engine(PROGRAM, open_store("memory://"), clock=lambda: NOW)
    assert target.import_events(lines).stopped is None
    referral = json.loads(next(line for line in lines if '"referral"' in line and hidden in line))

    refused = target.import_events([json.dumps({**referral, "referred_by": "ZZZZ2222"})])

    assert refused.stopped is not None and refused.stopped.error == "MemberErased", refused.stopped
    assert refused.stopped.field == "member_id"
    found = target.referrals(hidden).referred_by
    assert found is not None and found.code == referral["referred_by"]
