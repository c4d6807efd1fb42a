"""Whatever single row of the ledger is edited, deleted, inserted or reordered behind the engine's
back (triggers out of the way), ``verify`` names the member whose chain it broke, on every adapter."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.chains import Break
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
