"""What listing the purchases that wrote no entry adds to ``loyalty export --history``.

A store of ``--purchases`` purchases by a tenth as many members (``loyalty.simulation.generate``,
seed 1, without its redemptions), every ``--small``-th purchase made 0.50 of gum, which the
default program gives no point for, is imported into an SQLite file (or ``--store``, an existing
one, is used as it is). Then, ``--repeat`` rounds, each taking turns: the whole history export
(``Engine.export_history(page=500)``, written to a file as the command does), and the listing
alone (``UnitOfWork.purchases_without_entry`` page after page of 500, each made into its
record), in process CPU time; the medians are printed with their ratio.

    python benchmarks/bench_export_no_entry.py --purchases 20000 --repeat 3
    python benchmarks/bench_export_no_entry.py --store /tmp/store.db
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import attrs

from loyalty import Engine, Program, codec, history, open_store
from loyalty.history import Redemption, Sale
from loyalty.purchases import Line
from loyalty.simulation import generate
from loyalty.store import Operation, Store

PROGRAM = Program("Bench Grocer", "EUR")
PAGE = 500


def build(path: Path, purchases: int, small: int) -> None:
    """The store: every ``small``-th purchase too small to earn a point (no redemptions: one
    after a purchase made smaller could be short)."""
    events: list[history.Event] = []
    sales = 0
    for event in generate(members=max(1, purchases // 10), purchases=purchases).events:
        if isinstance(event, Redemption):
            continue
        if isinstance(event, Sale):
            sales += 1
            if sales % small == 0:
                event = Sale(attrs.evolve(event.purchase, lines=[Line("gum", 1, Decimal("0.50"))]))
        events.append(event)
    with open_store(f"sqlite:///{path}") as store:
        summary = Engine(PROGRAM, store).import_events(events)
        assert not summary.rejected, summary.stopped


def export(store: Store, out: Path) -> float:
    start = time.process_time()
    with out.open("w", encoding="utf-8") as lines:
        for record in Engine(PROGRAM, store).export_history(page=PAGE):
            lines.writelines(history.write([record]))
    return time.process_time() - start


def listing(store: Store) -> tuple[float, int]:
    start, after, found = time.process_time(), None, 0
    while True:
        with store.unit_of_work(readonly=True) as uow:
            page: list[Operation] = uow.purchases_without_entry(after=after, limit=PAGE)
        for operation in page:
            Sale(codec.purchase_from_request(operation.key, operation.request))
        found += len(page)
        if len(page) < PAGE:
            return time.process_time() - start, found
        after = page[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--purchases", type=int, default=20_000)
    parser.add_argument("--small", type=int, default=10, help="every N-th purchase earns nothing (10)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", type=Path, help="an existing SQLite file to export")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = args.store
        if path is None:
            path = Path(folder) / "store.db"
            build(path, args.purchases, args.small)
        exports, lists, found = [], [], 0
        with open_store(f"sqlite:///{path}") as store:
            for _ in range(args.repeat):
                exports.append(export(store, Path(folder) / "history.jsonl"))
                took, found = listing(store)
                lists.append(took)
        whole, part = statistics.median(exports), statistics.median(lists)
        print(f"export --history: {whole:.2f} s CPU")
        print(f"listing the {found} purchases without an entry: {part:.2f} s CPU ({part / whole:.1%})")


if __name__ == "__main__":
    main()
