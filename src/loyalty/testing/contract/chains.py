"""Part of the store contract (:class:`~loyalty.testing.contract.StoreContract`).

Tamper evidence (:mod:`loyalty.chains`): every entry's link, chained per member, and the heads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import attrs
import pytest

from loyalty.chains import GENESIS, Break, Head, Link, link_of
from loyalty.engine import Engine
from loyalty.ledger import EntryKind
from loyalty.store import Store
from loyalty.testing.contract._base import T0, ContractBase, adjust_posting, debit


def _chained(links: list[Link]) -> dict[str, tuple[int, bytes, int]]:
    """Each member's last (seq, link, balance after), checking every stored link against the one
    before it."""
    heads: dict[str, tuple[int, bytes, int]] = {}
    for found in links:
        entry = found.entry
        expected = link_of(heads.get(entry.member_id, (0, GENESIS, 0))[1], entry)
        assert found.link == expected, f"entry {entry.seq} of {entry.member_id!r}"
        heads[entry.member_id] = (entry.seq, expected, entry.balance_after)
    return heads


class ChainsContract(ContractBase):
    """Each entry's link is chained to its member's entry before it; the member's row has the head
    and the balance, which is its last entry's ``balance_after``."""

    def test_every_entry_is_stored_with_its_link_and_each_member_with_its_head(self, store: Store) -> None:
        for member in ("M1", "M2", "M3"):
            self._enroll(store, member)
        with store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 10, "a"))
            uow.append(adjust_posting("M2", 7, "b"))
            uow.append(attrs.evolve(adjust_posting("M1", 5, "c"), rules=("spend", "bonus"), shares=(4, 1)))
            uow.commit()
        with pytest.raises(RuntimeError), store.unit_of_work() as uow:
            uow.append(adjust_posting("M1", 99, "lost"))
            raise RuntimeError("the till crashed")
        with store.unit_of_work() as uow:
            debit(uow, "M1", -4, "d")
            uow.append(attrs.evolve(adjust_posting("M2", 0, "t"), kind=EntryKind.TIER, actor=None))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            feed = uow.entries()  # (the feed is read first in its unit of work)
            links = uow.chain_links(limit=100)
            assert [found.entry for found in links] == feed
            heads = _chained(links)
            assert uow.chain_heads(limit=100) == [
                Head("M1", *heads["M1"]),
                Head("M2", *heads["M2"]),
                Head("M3", 0, GENESIS, 0),
            ]
            assert [head.balance for head in uow.chain_heads(limit=100)] == [11, 7, 0]

    def test_links_and_heads_are_read_a_page_at_a_time(self, store: Store) -> None:
        for member in ("M2", "M1", "Ä"):
            self._enroll(store, member)
        with store.unit_of_work() as uow:
            for n in range(5):
                uow.append(adjust_posting(("M1", "M2")[n % 2], n + 1, f"p{n}"))
            uow.commit()
        with store.unit_of_work(readonly=True) as uow:
            every = uow.chain_links(limit=100)
            first = every[1].entry.seq
            assert uow.chain_links(after=first, limit=2) == every[2:4]
            assert uow.chain_links(after=every[-1].entry.seq, limit=2) == []
            assert [head.member_id for head in uow.chain_heads(after="M1", limit=5)] == ["M2", "Ä"]
            assert [head.member_id for head in uow.chain_heads(limit=1)] == ["M1"]

    def test_the_engine_verifies_a_ledger_written_through_it(self, engine: Engine) -> None:
        engine.enroll("M1", at=T0)
        engine.enroll("M2", at=T0)
        engine.adjust("M1", 30, id="A1", at=T0, reason="welcome", actor="ops")
        engine.redeem("M1", 10, id="R1", at=T0)
        engine.adjust("M2", 5, id="A2", at=T0, reason="goodwill", actor="ops")
        pages: list[int] = []
        report = engine.verify(batch=2, progress=pages.append)
        assert report.ok, report.breaks
        assert (report.entries, report.members, pages) == (3, 2, [2, 1])

    def test_heads_exported_before_an_erasure_are_found_under_the_pseudonym_after_it(
        self, engine: Engine
    ) -> None:
        for member in ("+31612345678", "M2"):
            engine.enroll(member, at=T0)
            engine.adjust(member, 30, id=f"A-{member}", at=T0, reason="welcome", actor="ops")
        engine.transfer("+31612345678", "M2", 5, id="T1", at=T0, reason="a gift from Ann")
        exported = engine.heads()
        assert [(head.seq, head.balance) for head in exported] == [(3, 25), (4, 35)]
        hidden = engine.erase("+31612345678", id="E1", at=T0, reason="request", actor="dpo").pseudonym
        report = engine.verify(heads=exported)
        assert (report.ok, report.exported) == (True, 2), report.breaks
        # The same head under another member's id is not in that member's chain.
        other = [attrs.evolve(exported[0], member_id="M2")]
        assert engine.verify(heads=other).breaks == (Break("M2", 3, "exported"),)
        assert [head.member_id for head in engine.heads()] == sorted(["M2", hidden])

    def test_writers_of_one_member_at_once_keep_its_chain_whole(self, store: Store, engine: Engine) -> None:
        if not self.concurrent:
            pytest.skip("this store is not shared between threads")
        engine.enroll("M1", at=T0)

        def write(n: int) -> None:
            engine.adjust("M1", 1, id=f"W{n}", at=T0, reason="race", actor="ops")

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(write, range(24)))
        report = engine.verify()
        assert report.ok, report.breaks
        with store.unit_of_work(readonly=True) as uow:
            assert uow.chain_heads(limit=1)[0].seq == max(e.seq for e in uow.history("M1"))
