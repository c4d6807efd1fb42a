"""An erasure written one member at a time (loyalty.service.erasure_parts), on every adapter: a
crash after its first part (or after some of the other members' parts) leaves the other members'
rows naming the erased member until the parts are written, by ``run_due``, by a retry of the
erasure, or by a command of that member that reads its referral first; then the erased member's
id is in none of the store's bytes. Without a crash it is in none once the erasure returns."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine
from loyalty.config import program_from_dict
from loyalty.erasure import Erased
from loyalty.erasure_parts import KIND, OTHERS, part_key
from loyalty.pseudonyms import pseudonym
from loyalty.purchases import Line, Purchase
from loyalty.store import Store, open_store
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.contract import T0
from loyalty.testing.contract.erasure_ids import PROGRAM
from loyalty.transfers import RECEIVED
from tests.adapters import ADAPTERS
from tests.pg import postgres_dsn, schema_of
from tests.raw_bytes import forms, store_bytes
from tests.service.test_merge_parts import Crash, CrashingStore

#: Phone numbers, as a till may use: ERASED referred PENDING (no purchase yet) and PAID (whose
#: first purchase rewarded it), sent points to and got points from OTHER, and absorbed MERGED.
ERASED, PENDING, PAID = "+31644440004", "+31655550005", "+31666660006"
OTHER, MERGED = "+31677770007", "+31688880008"
#: Where the erasure crashes: before the first other member's part (PENDING's, by id order),
#: before the third's, or before the record saying all are written.
CRASHES = {"first": "\x1f0", "third": "\x1f2", "last": OTHERS + RECEIVED}


def _history(store: Store) -> tuple[Engine, CrashingStore]:
    wrapped = CrashingStore(store)
    engine = Engine(program_from_dict(PROGRAM), wrapped, clock=lambda: T0)  # type: ignore[arg-type]
    engine.enroll(ERASED, at=T0, identifiers=["card:600400"])
    code = engine.referral_code(ERASED)
    engine.enroll(PENDING, at=T0, referred_by=code)
    engine.enroll(PAID, at=T0, referred_by=code)
    engine.record_purchase(Purchase("P1", PAID, T0, [Line("c", 1, Decimal("30"))], "EUR"))
    for member in (OTHER, MERGED):
        engine.enroll(member, at=T0)
    engine.adjust(OTHER, 9, id="A1", at=T0, reason="start", actor="clerk")
    engine.transfer(ERASED, OTHER, 10, id="T1", at=T0, reason=f"for {ERASED}")
    engine.transfer(OTHER, ERASED, 4, id="T2", at=T0, reason=f"back to {ERASED}")
    engine.merge_members(ERASED, MERGED, id="M1", at=T0, reason=f"old account of {ERASED}")
    return engine, wrapped


def _erase(engine: Engine) -> Erased:
    return engine.erase(ERASED, id="E1", at=T0, reason="asked", actor="dpo")


def _bytes(adapter: str, store: Store, request: pytest.FixtureRequest, path: Path) -> bytes:
    """The store's bytes, once closed."""
    schema = schema_of(request.getfixturevalue("store_url")) if adapter == "postgres" else ""
    return store_bytes(adapter, store, path, postgres_dsn(), schema)


def _store(adapter: str, request: pytest.FixtureRequest, path: Path) -> Store:
    """A store of ``adapter``, closed when the test ends (closing twice is harmless)."""
    if adapter == "postgres":
        store = open_store(request.getfixturevalue("store_url"))
    else:
        store = open_store("memory://") if adapter == "memory" else SQLiteStore(path)
    request.addfinalizer(store.close)
    return store


def _unfinished(engine: Engine) -> list[str]:
    with engine.store.unit_of_work(readonly=True) as uow:
        return [op.key for op in uow.unfinished_parts(KIND, limit=10)]


@pytest.mark.parametrize("adapter", ADAPTERS)
# Without a crash there is nothing to finish: run_due alone checks that case.
@pytest.mark.parametrize(
    ("crash", "finisher"),
    [
        *((crash, finisher) for crash in CRASHES for finisher in ("run_due", "retry", "purchase")),
        (None, "run_due"),
    ],
)
def test_an_erasure_crashed_between_its_parts_leaves_the_id_in_no_byte_once_finished(
    adapter: str, crash: str | None, finisher: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    path = tmp_path / "club.db"
    store = _store(adapter, request, path)
    engine, wrapped = _history(store)
    report = engine.verify()
    assert report.ok
    if crash is None:
        erased = _erase(engine)
        assert _unfinished(engine) == []
    else:
        wrapped.crash = CRASHES[crash]
        with pytest.raises(Crash):
            _erase(engine)
        wrapped.crash = ""
        assert _unfinished(engine) == ["E1" + OTHERS]
        with engine.store.unit_of_work(readonly=True) as uow:
            written = [uow.operation(part_key("E1", n)) is not None for n in range(4)]
            referral = uow.referral(PENDING)
        assert (
            written == {"first": [False] * 4, "third": [True, True, False, False], "last": [True] * 4}[crash]
        )
        # PENDING's referral row is its own: until its part, it names the erased referrer's id.
        assert referral is not None and (referral.referrer == ERASED) == (crash == "first")
        if finisher == "run_due":
            assert engine.run_due().finished_erasures == 1
        elif finisher == "retry":
            erased = _erase(engine)
            assert erased.member_id == ERASED
        else:
            # PENDING's first purchase reads its referral: its part is written first, and the
            # referrer, erased, is rewarded nothing (its part's record says so).
            engine.record_purchase(Purchase("P2", PENDING, T0, [Line("c", 1, Decimal("30"))], "EUR"))
            with engine.store.unit_of_work(readonly=True) as uow:
                assert uow.operation(part_key("E1", 0)) is not None
            engine.run_due()
    assert _unfinished(engine) == [] and engine.run_due().finished_erasures == 0
    with engine.store.unit_of_work(readonly=True) as uow:
        referral, secret = uow.referral(PENDING), uow.erasure_secret()
        assert uow.operation("E1" + OTHERS + RECEIVED) is not None
    assert referral is not None and secret is not None and referral.referrer == pseudonym(secret, ERASED)
    assert engine.verify().ok
    dump = _bytes(adapter, store, request, path)
    left = {m for m in (ERASED, PENDING, PAID, OTHER, MERGED) if any(form in dump for form in forms(m[1:]))}
    # The scan finds what is there: every other member's id is.
    assert left == {PENDING, PAID, OTHER, MERGED}
