"""``Engine.verify(keep_heads=True)`` gives the heads of the snapshot it checked: an entry written
while the check runs is neither checked nor among the heads to export (``loyalty verify
--write-heads`` writes those), on the adapters whose reads are a snapshot apart from writers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loyalty import Engine, Program
from loyalty.ledger import Entry
from loyalty.store import Store
from loyalty.testing.contract import T0
from tests.adapters import fresh_store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with fresh_store(request.param, tmp_path) as store:
        yield store


def test_an_entry_written_during_the_check_is_not_among_the_heads_kept(store: Store) -> None:
    engine = Engine(Program("Club", "EUR"), store, clock=lambda: T0)
    for member in ("M1", "M2"):
        engine.enroll(member, at=T0)
        engine.adjust(member, 10, id=f"A-{member}", at=T0, reason="welcome", actor="ops")
    before = engine.heads()
    written: list[Entry] = []

    def meanwhile(_: int) -> None:
        if not written:  # after the first page: another till writes
            written.append(engine.adjust("M2", 5, id="A-late", at=T0, reason="late", actor="ops"))

    report = engine.verify(batch=1, progress=meanwhile, keep_heads=True)
    assert report.ok and report.entries == 2
    assert list(report.heads) == before
    assert [head.seq for head in engine.heads() if head.member_id == "M2"] == [written[0].seq]
    assert engine.verify().entries == 3


def test_heads_are_kept_only_when_asked_for(store: Store) -> None:
    engine = Engine(Program("Club", "EUR"), store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    assert engine.verify().heads == ()
    assert list(engine.verify(keep_heads=True).heads) == engine.heads()
