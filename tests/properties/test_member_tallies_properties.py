"""A member's own tallies, which SQLite keeps in the member's row, read back as the memory store
gives them after any sequence of enrolments, adds (in any order of months, refused or rolled
back), entries and reads."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from loyalty.earning_keys import visits_key
from loyalty.errors import InvalidInput
from loyalty.habits import seen_key, spent_key
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.returns import debt_key, owed_key
from loyalty.store import Store, open_store
from loyalty.store.sqlite import SQLiteStore
from loyalty.tallies import Tally

T0 = datetime(2024, 3, 1, tzinfo=UTC)
MEMBERS = ("a", "b|c", "2024-03|x")
MONTHS = ("2023-12", "2024-01", "2024-02", "2024-03")
KEYS = [
    key
    for member in MEMBERS
    for key in (
        visits_key(member),
        seen_key(member),
        debt_key(member),
        owed_key(member),
        f"cap|{member}",
        *(spent_key(member, month) for month in MONTHS),
    )
]
deltas = st.dictionaries(
    st.sampled_from(KEYS),
    st.builds(
        Tally,
        st.integers(-3, 3),
        st.sampled_from([Decimal(0), Decimal("1.5"), Decimal("-0.25"), Decimal("0.00"), Decimal("1E+2")]),
    ),
    min_size=1,
    max_size=4,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("enrol"), st.sampled_from(MEMBERS)),
        st.tuples(st.just("add"), deltas, st.booleans(), st.sampled_from(["commit", "roll back", "refuse"])),
        st.tuples(st.just("credit"), st.sampled_from(MEMBERS), deltas),
    ),
    max_size=12,
)


@contextmanager
def _stores() -> Iterator[tuple[Store, Store]]:
    with tempfile.TemporaryDirectory() as folder:
        memory, sqlite = open_store("memory://"), SQLiteStore(Path(folder) / "t.db", synchronous="normal")
        try:
            yield memory, sqlite
        finally:
            memory.close()
            sqlite.close()


def _apply(store: Store, step: tuple[Any, ...], enrolled: set[str]) -> str:
    """Run one step on ``store``; what it answered, to compare."""
    kind = step[0]
    try:
        with store.unit_of_work() as uow:
            if kind == "enrol":
                uow.add_member(Member(step[1], T0))
            elif kind == "add":
                _, changes, lock_first, end = step
                members = sorted({m for m in MEMBERS if any(k.endswith(f"|{m}") for k in changes)} & enrolled)
                if lock_first:
                    for member in members:
                        uow.balance(member, for_update=True)
                uow.add_tallies(changes)
                answer = "done"
                if end == "refuse":
                    # A sum no adapter can keep exactly: refused, none of the call's other deltas
                    # added, and the unit of work goes on to commit what it had.
                    try:
                        uow.add_tallies({seen_key("a"): Tally(0, Decimal("1E+999"))})
                        uow.add_tallies({**changes, seen_key("a"): Tally(0, Decimal("1E-9"))})
                    except InvalidInput as exc:
                        answer = f"refused: {exc.field}"
                    uow.add_tallies(changes)  # on what the unit of work had before the refusal
                if end == "roll back":
                    return "rolled back"
                uow.commit()
                return answer
            else:
                _, member, changes = step
                if member not in enrolled:
                    return "not enrolled"
                uow.operation_and_lock(f"K{len(changes)}", member)
                uow.add_tallies(changes)
                uow.append(Posting(member, EntryKind.ADJUST, 1, T0, T0, "P", "property test"))
            uow.commit()
    except InvalidInput as exc:
        return f"refused: {exc.field}"
    return "done"


@given(steps)
def test_a_members_own_tallies_read_back_as_in_memory_after_any_steps(plan: list[tuple[Any, ...]]) -> None:
    with _stores() as (memory, sqlite):
        enrolled: set[str] = set()
        for step in plan:
            if step[0] == "enrol" and step[1] in enrolled:
                continue
            assert _apply(sqlite, step, enrolled) == _apply(memory, step, enrolled), step
            if step[0] == "enrol":
                enrolled.add(step[1])
            with memory.unit_of_work(readonly=True) as m, sqlite.unit_of_work(readonly=True) as s:
                expected, got = m.tallies(KEYS), s.tallies(KEYS)
            assert got == expected, step
            as_text = [{k: str(t.points) for k, t in found.items()} for found in (got, expected)]
            assert as_text[0] == as_text[1], step
