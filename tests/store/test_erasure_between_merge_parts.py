"""A member erased while its merge is half written (the absorbed member's part committed, a crash
before the survivor's part or a referee's), on every adapter: maintenance finishes the merge, and
the erased member's id is in none of the store's bytes (the parts after the erasure write its
pseudonym, read from the records the erasure renamed). On PostgreSQL the same erasure may also
come while a part is being written: tests/store/test_postgres_erasure_races.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine
from loyalty.config import program_from_dict
from loyalty.errors import MemberErased
from loyalty.purchases import Line, Purchase
from loyalty.store import Store, open_store
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.contract import T0
from loyalty.testing.contract.erasure_ids import PROGRAM
from tests.adapters import ADAPTERS
from tests.pg import postgres_dsn, schema_of
from tests.raw_bytes import forms, store_bytes
from tests.service.test_merge_parts import MOVED, SURVIVED, Crash, CrashingStore

#: Phone numbers, as a till may use: the absorbed member referred the survivor and a third member.
SURVIVOR, ABSORBED, REFEREE = "+31611110001", "+31622220002", "+31633330003"
MEMBERS = {"survivor": SURVIVOR, "absorbed": ABSORBED}


def _half_merged(store: Store, crash: str) -> Engine:
    """ABSORBED (which referred SURVIVOR and REFEREE, whose first purchase rewarded it) merged
    into SURVIVOR as M1, crashed before the record whose key ends with ``crash``."""
    wrapped = CrashingStore(store)
    engine = Engine(program_from_dict(PROGRAM), wrapped, clock=lambda: T0)  # type: ignore[arg-type]
    engine.enroll(ABSORBED, at=T0, identifiers=["card:600100"])
    code = engine.referral_code(ABSORBED)
    engine.enroll(SURVIVOR, at=T0, identifiers=["card:500100"], referred_by=code)
    engine.enroll(REFEREE, at=T0, referred_by=code)
    engine.record_purchase(Purchase("P1", REFEREE, T0, [Line("c", 1, Decimal("30"))], "EUR"))
    engine.adjust(ABSORBED, 5, id="A1", at=T0, reason="start", actor="clerk")
    wrapped.crash = crash
    with pytest.raises(Crash):
        engine.merge_members(SURVIVOR, ABSORBED, id="M1", at=T0, reason="same person")
    wrapped.crash = ""
    return engine


def _kept(adapter: str, store: Store, request: pytest.FixtureRequest, path: Path) -> bytes:
    """The store's bytes, once closed."""
    schema = schema_of(request.getfixturevalue("store_url")) if adapter == "postgres" else ""
    return store_bytes(adapter, store, path, postgres_dsn(), schema)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("crash", [SURVIVED, MOVED])
@pytest.mark.parametrize("erased", ["absorbed", "survivor", None])
def test_a_member_erased_between_a_merges_parts_is_in_no_byte_once_the_merge_is_finished(
    adapter: str, crash: str, erased: str | None, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "club.db"
    if adapter == "postgres":
        store: Store = open_store(request.getfixturevalue("store_url"))
    else:
        store = open_store("memory://") if adapter == "memory" else SQLiteStore(path)
    engine = _half_merged(store, crash)
    if erased is not None:
        engine.erase(MEMBERS[erased], id="E1", at=T0, reason="asked", actor="dpo")
        # A retry names the erased member's id, which its record no longer keeps.
        with pytest.raises(MemberErased):
            engine.merge_members(SURVIVOR, ABSORBED, id="M1", at=T0, reason="same person")
    finished = engine.run_due()
    assert finished.finished_merges == 1
    assert engine.verify().ok
    assert engine.run_due().finished_merges == 0
    dump = _kept(adapter, store, request, path)
    left = {member for member in (SURVIVOR, ABSORBED) if any(form in dump for form in forms(member[1:]))}
    # The scan finds what is there: without the erasure, both ids are.
    assert left == {SURVIVOR, ABSORBED} - ({MEMBERS[erased]} if erased else set())
