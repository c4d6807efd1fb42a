"""Members erased by the version before pseudonyms (SQLite 18, PostgreSQL 17), which kept the
member id: the erasure of now with the pseudonym the member id itself writes what that one
did (its personal data scrubbed, its status erased, every row under the id)."""

from __future__ import annotations

from unittest import mock

from loyalty import Engine
from loyalty.testing.contract import T0

__all__ = ["erase_again", "erase_keeping_the_id"]

PHONE = "+31612345678"


def erase_keeping_the_id(engine: Engine, member_id: str = PHONE) -> None:
    """``member_id`` (which holds points and sent ``M2`` a transfer) erased as before."""
    engine.enroll(member_id, at=T0)
    engine.enroll("M2", at=T0)
    engine.adjust(member_id, 5, id="fix-1", at=T0, reason="welcome", actor="clerk")
    engine.transfer(member_id, "M2", 2, id="send-1", at=T0, reason=f"for {member_id}")
    with mock.patch("loyalty.service.erasure.pseudonym", lambda _secret, member: member):
        engine.erase(member_id, id="E-old", at=T0, reason="GDPR", actor="dpo")


def erase_again(engine: Engine, member_id: str = PHONE) -> str:
    """Erase the member erased as before once more; its pseudonym, having checked that the
    erasure moved everything there, kept the figures, and replays."""
    balance, report = engine.balance("M2"), engine.verify()
    erased = engine.erase(member_id, id="E-new", at=T0, reason="GDPR", actor="dpo")
    assert engine.erase(member_id, id="E-new", at=T0, reason="GDPR", actor="dpo") == erased
    assert (engine.balance("M2"), engine.verify()) == (balance, report)
    assert engine.balance(erased.pseudonym).total == 3
    with engine.store.unit_of_work(readonly=True) as uow:
        kept = repr((uow.entries(limit=1000), uow.events(limit=1000), uow.operation("send-1")))
        assert uow.member(member_id) is None
    assert member_id not in kept and erased.pseudonym in kept
    return erased.pseudonym
