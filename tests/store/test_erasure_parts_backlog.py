"""A referee's first purchase after its referrer's erasure crashed between its parts finds the part
it is owed by key (the keyed hash of the id its referral row names), however many unfinished
erasures sort before it (``erasure_parts._SCAN`` set to 1 stands for a backlog of 1,000), on every
adapter; before, the part was not found and the purchase failed with a StorageError naming the
erased member's original id. A row naming no member that no erasure owes a part is refused with a
typed error that does not repeat the id, nothing written; a referee whose referrer is a member
never looks for a part."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from loyalty import Engine
from loyalty.errors import StorageError
from loyalty.pseudonyms import pseudonym
from loyalty.purchases import Line, Purchase
from loyalty.referrals import Referral
from loyalty.service import erasure_parts
from loyalty.store import UnitOfWork
from loyalty.testing.contract import T0
from tests.adapters import ADAPTERS
from tests.service.test_merge_parts import Crash, CrashingStore
from tests.store.test_erasure_parts import CRASHES, ERASED, OTHER, PENDING, _erase, _history, _store

SENDER, RECEIVER, REFEREE = "+31600000001", "+31600000002", "+31600000003"


def _crashed(adapter: str, request: pytest.FixtureRequest, path: Path) -> tuple[Engine, CrashingStore]:
    """The history of :func:`~tests.store.test_erasure_parts._history`, with two erasures crashed
    after their first part: ``A0`` (of SENDER, whose key sorts before) and ``E1`` (of ERASED, which
    owes PENDING its referral's part)."""
    engine, wrapped = _history(_store(adapter, request, path))
    for member in (SENDER, RECEIVER):
        engine.enroll(member, at=T0)
    engine.adjust(SENDER, 5, id="A9", at=T0, reason="start", actor="clerk")
    engine.transfer(SENDER, RECEIVER, 2, id="T9", at=T0)
    wrapped.crash = CRASHES["first"]
    with pytest.raises(Crash):
        engine.erase(SENDER, id="A0", at=T0, reason="asked", actor="dpo")
    with pytest.raises(Crash):
        _erase(engine)
    wrapped.crash = ""
    return engine, wrapped


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_referees_first_purchase_writes_its_part_whatever_the_backlog_before_it(
    adapter: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = _crashed(adapter, request, tmp_path / "club.db")
    monkeypatch.setattr(erasure_parts, "_SCAN", 1)
    engine.record_purchase(Purchase("P2", PENDING, T0, [Line("c", 1, Decimal("30"))], "EUR"))
    with engine.store.unit_of_work(readonly=True) as uow:
        referral, secret = uow.referral(PENDING), uow.erasure_secret()
    assert referral is not None and secret is not None
    assert referral.referrer == pseudonym(secret, ERASED)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_referral_naming_no_member_that_no_erasure_owes_a_part_is_refused_without_the_id(
    adapter: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = _crashed(adapter, request, tmp_path / "club.db")
    # As if the erasure had kept no record naming it (a store's rows edited by hand, say).
    monkeypatch.setattr(erasure_parts, "by_pseudonym_key", lambda hidden: "\x1fnothing")
    with engine.store.unit_of_work(readonly=True) as uow:
        before = uow.history(PENDING)
    with pytest.raises(StorageError) as refused:
        engine.record_purchase(Purchase("P2", PENDING, T0, [Line("c", 1, Decimal("30"))], "EUR"))
    assert refused.value.field == "referrer"
    assert ERASED not in str(refused.value) and ERASED[1:] not in str(refused.value)
    with engine.store.unit_of_work(readonly=True) as uow:
        assert uow.operation("P2") is None and uow.history(PENDING) == before
        referral = uow.referral(PENDING)
    assert referral is not None and referral.referrer == ERASED  # its part still pending


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_referee_whose_referrer_is_a_member_looks_for_no_part(
    adapter: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = _crashed(adapter, request, tmp_path / "club.db")
    engine.enroll(REFEREE, at=T0, referred_by=engine.referral_code(OTHER))

    def looked(ctx: object, uow: UnitOfWork, referral: Referral) -> bool:
        raise AssertionError("looked for an erasure's part")

    monkeypatch.setattr(erasure_parts, "_owed_referral", looked)
    engine.record_purchase(Purchase("P3", REFEREE, T0, [Line("c", 1, Decimal("30"))], "EUR"))
    with engine.store.unit_of_work(readonly=True) as uow:
        referral = uow.referral(REFEREE)
    assert referral is not None and referral.referrer == OTHER
