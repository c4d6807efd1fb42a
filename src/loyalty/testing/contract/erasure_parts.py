"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

An erasure written one member at a time (:mod:`loyalty.erasure_parts`): its first part writes the
erased member's rows alone (:meth:`~loyalty.store.ErasureRole.erase_member`), each other member's
part that member's rows alone (:meth:`~loyalty.store.ErasureRole.erase_part`)."""

from __future__ import annotations

import pytest

from loyalty.chains import text_digest
from loyalty.engine import Engine
from loyalty.erasure import ERASED, Counterpart, ErasedEvent, ErasedText, plan_erasure
from loyalty.errors import StorageError
from loyalty.ledger import EntryKind
from loyalty.testing.contract._base import T0, ContractBase

__all__ = ["ErasurePartsContract"]


def _transferred(engine: Engine) -> tuple[int, int]:
    """M1 sent M2 points with a reason naming M1: M2's entry of it and M2's last event, by seq."""
    engine.enroll("M1", at=T0)
    engine.enroll("M2", at=T0)
    engine.adjust("M1", 10, id="A1", at=T0, reason="start", actor="clerk")
    engine.transfer("M1", "M2", 4, id="T1", at=T0, reason="from Zelda M1")
    engine.change_status("M2", "suspended", id="S1", at=T0, reason="asked by Zelda M1", actor="clerk")
    (entry,) = [e for e in engine.history("M2") if e.kind is EntryKind.TRANSFER]
    with engine.store.unit_of_work(readonly=True) as uow:
        event = [e for e in uow.member_events("M2") if e.member_id == "M2"][-1]
    return entry.seq, event.seq


class ErasurePartsContract(ContractBase):
    """Each part of an erasure writes one member's rows, and nothing of another member's."""

    def test_a_members_part_rewrites_its_entries_and_events_keeping_the_first_digest(
        self, engine: Engine
    ) -> None:
        seq, event_seq = _transferred(engine)
        (entry,) = [e for e in engine.history("M2") if e.seq == seq]
        with engine.store.unit_of_work() as uow:
            text = ErasedText(seq, ERASED, None, text_digest(entry))
            uow.erase_part(Counterpart("M2", (text,), (ErasedEvent(event_seq, {"reason": None}),)))
            uow.commit()
        # Written again (a part finished twice, or after another erasure): the first digest stays.
        with engine.store.unit_of_work() as uow:
            uow.erase_part(Counterpart("M2", (ErasedText(seq, ERASED, None, bytes(32)),), ()))
            uow.commit()
        (after,) = [e for e in engine.history("M2") if e.seq == seq]
        with engine.store.unit_of_work(readonly=True) as uow:
            links = {found.entry.seq: found.text for found in uow.chain_links(limit=1000)}
            (event,) = [e for e in uow.member_events("M2") if e.seq == event_seq]
        assert (after.reason, after.points, links[seq]) == (ERASED, entry.points, text_digest(entry))
        assert event.data == {"reason": None}
        assert engine.verify().ok
        assert "Zelda" in repr(engine.history("M1"))  # the sender's rows are its own part's

    def test_a_part_naming_another_members_entry_or_event_fails_and_writes_nothing(
        self, engine: Engine
    ) -> None:
        seq, event_seq = _transferred(engine)
        before = (engine.history("M1"), engine.history("M2"))
        text = ErasedText(seq, ERASED, None, bytes(32))
        for part in (
            Counterpart("M1", (text,), ()),
            Counterpart("M1", (), (ErasedEvent(event_seq, {}),)),
            Counterpart("M2", (ErasedText(10_000, ERASED, None, bytes(32)),), ()),
        ):
            with pytest.raises(StorageError), engine.store.unit_of_work() as uow:
                uow.erase_part(part)
                uow.commit()
        assert (engine.history("M1"), engine.history("M2")) == before
        assert engine.verify().ok

    def test_a_first_part_refuses_another_members_rows(self, engine: Engine) -> None:
        _transferred(engine)
        before = (engine.history("M1"), engine.history("M2"))
        with engine.store.unit_of_work(readonly=True) as uow:
            member = uow.member("M1")
            records = uow.member_records("M1")
            others = {"M2": (uow.history("M2"), uow.member_events("M2"))}
            plan = plan_erasure(member, uow.history("M1"), records, [], key="E", others=others)  # type: ignore[arg-type]
        assert plan.counterparts
        with pytest.raises(StorageError) as raised, engine.store.unit_of_work() as uow:
            uow.erase_member(plan)
            uow.commit()
        assert raised.value.field == "counterparts"
        assert (engine.history("M1"), engine.history("M2")) == before
