"""Whatever single row of the ledger is edited, deleted, inserted or reordered behind the engine's
back (triggers out of the way), ``verify`` names the member whose chain it broke, on every adapter."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.chains import GENESIS, Break, link_of
from loyalty.engine import Engine
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.program import Program
from loyalty.store import Store, open_store
from loyalty.store.memory import MemoryStore
from loyalty.store.sqlite import SQLiteStore
from loyalty.testing.contract import T0
from tests.pg import postgres_dsn, schema_of, store_schema_url
from tests.tampering import EDITS, MemoryTamperer, PostgresTamperer, SQLiteTamperer, Tamperer

_examples = itertools.count()
Setup = tuple[Engine, Store, Tamperer]


@pytest.fixture(
    scope="module", params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def tampered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], Setup]]:
    """A store for an example, with its tamperer: a new one each time on memory and SQLite (SQLite
    numbers an entry after the last one there, and would reuse a deleted number), one schema for
    every example on PostgreSQL (never reused numbers: each example writes members of its own)."""
    stores: list[Store] = []
    drop = None

    def engine_on(store: Store, tamperer: Tamperer) -> Setup:
        stores.append(store)
        return Engine(Program("Audit", "EUR"), store, clock=lambda: T0), store, tamperer

    if request.param == "memory":

        def make() -> Setup:
            store = MemoryStore()
            return engine_on(store, MemoryTamperer(store))

    elif request.param == "sqlite":
        folder = tmp_path_factory.mktemp("tamper")

        def make() -> Setup:
            path = folder / f"ledger-{next(_examples)}.db"
            return engine_on(SQLiteStore(path, synchronous="normal"), SQLiteTamperer(path))

    else:
        dsn = postgres_dsn()
        url, drop = store_schema_url(dsn)
        shared = engine_on(open_store(url), PostgresTamperer(dsn, schema_of(url)))

        def make() -> Setup:
            return shared

    yield make
    for store in stores:
        store.close()
    if drop is not None:
        drop()


def _write(store: Store, n: int, points: list[int]) -> tuple[list[str], list[tuple[str, int]]]:
    """Two new members' entries (distinct points, alternating members): the (member, seq) of each."""
    members = [f"E{n}-A", f"E{n}-B"]
    written: list[tuple[str, int]] = []
    with store.unit_of_work() as uow:
        for member in members:
            uow.add_member(Member(member, T0))
        for i, amount in enumerate(points):
            member = members[i % 2]
            posting = Posting(member, EntryKind.ADJUST, amount, T0, T0, f"E{n}-{i}", "test", actor="ops")
            written.append((member, uow.append(posting).seq))
        uow.commit()
    return members, written


def _breaks(engine: Engine, members: list[str]) -> list[Break]:
    return [found for found in engine.verify(batch=7).breaks if found.member_id in members]


@given(
    points=st.lists(st.integers(1, 10_000), min_size=3, max_size=6, unique=True),
    tamper=st.sampled_from(["edit", "delete", "insert", "reorder"]),
    what=st.sampled_from(EDITS),
    pick=st.data(),
)
def test_verify_catches_any_single_row_changed_behind_the_engine(
    tampered: Callable[[], Setup], points: list[int], tamper: str, what: str, pick: st.DataObject
) -> None:
    engine, store, tamperer = tampered()
    members, written = _write(store, next(_examples), points)
    assert _breaks(engine, members) == []
    member, seq = pick.draw(st.sampled_from(written), label="row")
    own = [s for m, s in written if m == member]
    if tamper == "edit":
        tamperer.edit(seq, what, next(m for m in members if m != member))
    elif tamper == "delete":
        tamperer.delete(seq)
    elif tamper == "insert":
        tamperer.insert_copy(seq)
    else:
        if len(own) < 2:  # the second member may have one entry: the first has two or more
            member = members[0]
            own = [s for m, s in written if m == member]
        first, second = pick.draw(st.permutations(own), label="swapped")[:2]
        tamperer.swap(first, second)
    assert any(found.member_id == member for found in _breaks(engine, members))


def _rewritten(store: Store, member: str, seq: int, reason: str) -> dict[int, bytes]:
    """The member's links from entry ``seq`` on, worked out again with that entry's new reason:
    what someone who read docs/audit.md writes to hide an edit."""
    with store.unit_of_work(readonly=True) as uow:
        own = [found for found in uow.chain_links(limit=1000) if found.entry.member_id == member]
    before = GENESIS
    links: dict[int, bytes] = {}
    for found in own:
        if found.entry.seq < seq:
            before = found.link or GENESIS
            continue
        entry = attrs.evolve(found.entry, reason=reason) if found.entry.seq == seq else found.entry
        before = links[entry.seq] = link_of(before, entry, text=found.text)
    return links


@pytest.mark.parametrize("tamper", ["truncate", "rewrite", "relabel"])
def test_a_chain_cut_short_rewritten_or_relabelled_verifies_but_not_against_heads_exported_before(
    tampered: Callable[[], Setup], tamper: str
) -> None:
    engine, store, tamperer = tampered()
    members, written = _write(store, next(_examples), [40, 30, 25, 20, 7])
    exported = [head for head in engine.heads() if head.member_id in members]
    assert [head.seq for head in exported] == [written[-1][1], written[-2][1]]
    first = members[0]
    if tamper == "truncate":  # the last adjustment gone, the row's head and balance put back
        tamperer.truncate(first, balance=True)
    elif tamper == "rewrite":  # the first entry's reason changed, every link after it recomputed
        seq = written[0][1]
        tamperer.rewrite(seq, "changed", _rewritten(store, first, seq, "changed"), first)
    else:
        tamperer.relabel(*members)
    # The chains alone cannot tell: each is whole, and ends in its row's head and balance.
    assert _breaks(engine, members) == []
    found = [b for b in engine.verify(batch=7, heads=exported).breaks if b.member_id in members]
    expected = {Break(first, exported[0].seq, "exported")}
    if tamper == "relabel":
        expected.add(Break(members[1], exported[1].seq, "exported"))
    assert set(found) == expected


def test_an_entry_removed_from_the_end_with_the_head_put_back_leaves_the_balance_to_tell(
    tampered: Callable[[], Setup],
) -> None:
    engine, store, tamperer = tampered()
    members, written = _write(store, next(_examples), [40, 30, 25, 20, 7])
    tamperer.truncate(members[0], balance=False)
    # The member's entries were 40, 25 and 7: the 25 is now its last, and the head on it.
    last = [seq for member, seq in written if member == members[0]][-2]
    assert _breaks(engine, members) == [Break(members[0], last, "balance")]
