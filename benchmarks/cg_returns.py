"""SQLite returns, for counting instructions with callgrind.

The members of ``generate(members=100, purchases=400, seed=7)`` enrolled in an SQLite file
(``synchronous=normal``) under the default program, every sale recorded, then the first
``--returns`` sales each given back one unit of their first line (a part return), the first
``WARM`` of them before counting. ``math.factorial(0)`` is called around the counted returns: run
under valgrind with ``--dump-before=math_factorial``, their count lands in a file of its own,
which ``--read`` prints per return (docs/performance.md, "Returns"):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-before=math_factorial \\
        --callgrind-out-file=cgr.out python benchmarks/cg_returns.py
    python benchmarks/cg_returns.py --read cgr.out
"""

from __future__ import annotations

import argparse
import gc
import glob
import math
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from loyalty import Engine, Program, open_store
from loyalty.returns import Return, Returned
from loyalty.simulation import generate

PROGRAM = Program("Bench", "EUR")
SALES = 400
WARM = 50  # returns before counting: the statements prepared, the pages cached


def returns(folder: Path, count: int) -> None:
    workload = generate(members=100, purchases=SALES, seed=7)
    store = open_store(f"sqlite:///{folder / 'returns.db'}?synchronous=normal")
    engine = Engine(PROGRAM, store)
    for enrollment in workload.enrollments:
        engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)
    for purchase in workload.sales:
        engine.record_purchase(purchase)
    given = [
        Return(f"R-{sale.id}", sale.id, sale.at + timedelta(hours=1), (Returned(sale.lines[0].sku, 1),))
        for sale in workload.sales[: WARM + count]
    ]
    gc.collect()
    gc.disable()
    for one in given[:WARM]:
        engine.record_return(one)
    math.factorial(0)
    for one in given[WARM:]:
        engine.record_return(one)
    math.factorial(0)
    gc.enable()
    store.close()


def read(prefix: str, count: int) -> None:
    """Print the counted segment's instructions per return, from the dumps valgrind wrote."""
    parts = sorted(glob.glob(f"{prefix}.*"), key=lambda name: int(name.rsplit(".", 1)[1]))
    with open(parts[1]) as dump:
        total = next(int(line.split()[1]) for line in dump if line.startswith(("summary:", "totals:")))
    print(f"{total / count:>14,.0f}  Engine.record_return on SQLite, per return")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--returns", type=int, default=300, help="returns counted (default: 300)")
    parser.add_argument("--read", metavar="OUT", help="print the count valgrind wrote to OUT.N")
    args = parser.parse_args(argv)
    if args.read:
        read(args.read, args.returns)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        returns(Path(folder), args.returns)
    print("done", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
