"""One in-memory purchase in segments, for counting instructions with callgrind.

Records purchases 500 to 1,500 of the seeded workload (the default program, the
collector off), then repeats pieces of the path on the same 1,000 purchases,
calling ``math.factorial(0)`` between segments. Run under valgrind with
``--dump-before=math_factorial``, each segment's count lands in a file of its
own; ``--read`` prints them per purchase (docs/performance.md, "One purchase
in segments"):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-before=math_factorial \\
        --callgrind-out-file=seg.out python benchmarks/cg_segments.py
    python benchmarks/cg_segments.py --read seg.out
"""

from __future__ import annotations

import argparse
import gc
import glob
import math
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TypeVar

from loyalty import Engine, Program, codec, open_store
from loyalty.chains import GENESIS, link_of
from loyalty.earning import evaluate
from loyalty.habits import month_key
from loyalty.lots import Lot
from loyalty.purchases import Line, Purchase
from loyalty.simulation import generate
from loyalty.store.memory.data import pack
from loyalty.store.periods import purchase_facts

BATCH = 1000
T = TypeVar("T")

#: Each segment's name, in the order the dumps come (the first is the set-up before the batch).
SEGMENTS = (
    "set-up",
    "record_purchase (the whole path)",
    "a Purchase built and checked from its values",
    "codec.purchase_request",
    "earning.evaluate (the rows, the rounding, the receipt)",
    "set-up (receipts)",
    "codec.receipt_result",
    "the breakdown's Contributions made (on demand: not on the path)",
    "the plain loop's Decimal arithmetic",
    "set-up (records)",
    "chains.link_of (the entry's link)",
    "the memory store's kept record (data.pack)",
    "periods.purchase_facts",
    "Lot.opened_by",
    "habits.month_key",
)


def _rebuilt(purchase: Purchase) -> Purchase:
    lines = [
        Line(
            line.sku,
            line.quantity,
            line.unit_price,
            line.category,
            dict(line.labels) or None,
            line.discount,
            line.tax,
        )
        for line in purchase.lines
    ]
    return Purchase(
        purchase.id,
        purchase.member_id,
        purchase.at,
        lines,
        purchase.currency,
        purchase.store_id,
        purchase.terminal_id,
        purchase.channel,
    )


def _segment(items: Sequence[T], piece: Callable[[T], object]) -> None:
    for item in items:
        piece(item)
    math.factorial(0)


def run() -> None:
    workload = generate(members=300, purchases=3000, seed=1)
    program = Program("Bench Grocer", "EUR")
    store = open_store("memory://")
    engine = Engine(program, store)
    for enrollment in workload.enrollments:
        engine.enroll(enrollment.member_id, at=enrollment.at, birthday=enrollment.birthday)
    gc.disable()
    sales = workload.sales
    for purchase in sales[:500]:
        engine.record_purchase(purchase)
    batch = sales[500 : 500 + BATCH]
    math.factorial(0)
    for purchase in batch:
        engine.record_purchase(purchase)
    math.factorial(0)
    _segment(batch, _rebuilt)
    _segment(batch, lambda p: codec.purchase_request(p))
    _segment(batch, lambda p: evaluate(program, p).receipt)
    receipts = [evaluate(program, p).receipt for p in batch]
    math.factorial(0)
    _segment(receipts, lambda r: codec.receipt_result(r))
    _segment(receipts, lambda r: r.breakdown)
    _segment(batch, lambda p: sum((line.quantity * line.unit_price for line in p.lines), Decimal(0)))
    with store.unit_of_work(readonly=True) as uow:
        ids = {p.id for p in batch}
        entries = [e for e in uow.entries() if e.source_id in ids]
        operations = [uow.operation(p.id) for p in batch]
    kept = [op for op in operations if op is not None]
    math.factorial(0)
    _segment(entries, lambda e: link_of(GENESIS, e))
    _segment(kept, lambda o: pack(o.request, o.result))
    _segment(kept, lambda o: purchase_facts(o))
    _segment(entries, lambda e: Lot.opened_by(e, e.seq, e.points))
    _segment(batch, lambda p: month_key(p.at.astimezone(program.zone)))
    store.close()


def read(prefix: str) -> None:
    """Print each segment's count per purchase, from the dumps valgrind wrote at ``prefix``."""
    parts = sorted(glob.glob(f"{prefix}.*"), key=lambda name: int(name.rsplit(".", 1)[1]))
    for name, path in zip(SEGMENTS, parts, strict=False):
        with open(path) as dump:
            total = next(int(line.split()[1]) for line in dump if line.startswith(("summary:", "totals:")))
        print(f"{total / BATCH:>12,.0f}  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--read", metavar="OUT", help="print the counts valgrind wrote to OUT.N")
    args = parser.parse_args(argv)
    if args.read:
        read(args.read)
    else:
        run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
