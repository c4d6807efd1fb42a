"""``Engine.verify`` over an SQLite ledger of 40,000 entries by 2,000 members, for counting
instructions with callgrind: without exported heads, then reading them (``Engine.heads``) and
verifying against them. ``math.factorial(0)`` is called between the segments: run under valgrind
with ``--dump-before=math_factorial`` and each segment's count lands in a file of its own
(docs/performance.md, "Verification: balances and exported heads"):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-before=math_factorial \\
        --callgrind-out-file=cgv.out python benchmarks/cg_verify.py

``cgv.out.2`` counts ``verify()``, ``cgv.out.3`` ``heads()``, ``cgv.out.4`` ``verify(heads=...)``;
``cgv.out.1`` builds the store and warms up. ``--seconds`` prints wall-clock times instead.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from loyalty import Engine, Program
from loyalty.ledger import EntryKind, Posting
from loyalty.members import Member
from loyalty.store.sqlite import SQLiteStore

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
MEMBERS = 2_000
ENTRIES = 40_000


def build(path: Path) -> None:
    """The ledger, written in one unit of work through the port (no engine rules to run)."""
    store = SQLiteStore(path, synchronous="normal")
    members = [f"M{i:05d}" for i in range(MEMBERS)]
    with store.unit_of_work() as uow:
        for member in members:
            uow.add_member(Member(member, T0))
        for i in range(ENTRIES):
            posting = Posting(
                members[i % MEMBERS], EntryKind.ADJUST, 5 + i % 7, T0, T0, f"A{i}", "test", actor="ops"
            )
            uow.append(posting)
        uow.commit()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", action="store_true", help="time five runs of each instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ledger.db"
        build(path)
        store = SQLiteStore(path)
        engine = Engine(Program("Bench", "EUR"), store, clock=lambda: T0)
        engine.verify(batch=10_000)  # warm: imports, statements
        if args.seconds:
            heads = engine.heads()
            for what, given in (("verify()", None), ("verify(heads=...)", heads)):
                times = []
                for _ in range(5):
                    start = time.perf_counter()
                    engine.verify(heads=given)
                    times.append(time.perf_counter() - start)
                print(f"{what}: best {min(times):.3f} s, median {sorted(times)[2]:.3f} s")
        else:
            math.factorial(0)
            assert engine.verify().ok
            math.factorial(0)
            heads = engine.heads()
            math.factorial(0)
            assert engine.verify(heads=heads).exported == MEMBERS
            math.factorial(0)
        store.close()


if __name__ == "__main__":
    main()
