"""``loyalty export``: a store's members, or with ``--history`` its history of commands, as a
history file that ``loyalty import`` (and ``loyalty simulate --history``) reads back."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from loyalty import history
from loyalty.cli.options import writable
from loyalty.cli.stores import engine_on, existing_store, store_url
from loyalty.service.history_export import HistoryExport


def export(args: argparse.Namespace) -> int:
    writable("--output", args.output)
    if args.history:
        return _history(args)
    counts: Counter[str] = Counter()
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        records = engine.export_members(page=args.page)
        if args.output is None:
            sys.stdout.writelines(history.write(records))
            return 0
        with args.output.open("w", encoding="utf-8") as out:
            for record in records:
                counts[type(record).__name__] += 1
                out.writelines(history.write([record]))
    members, balances = counts["Enrollment"], counts["OpeningBalance"]
    # Said only when there are any, as most stores have none at hand.
    vouchers, holds = counts["OpenVoucher"], counts["OpenHold"]
    more = (f", {vouchers} unused vouchers" if vouchers else "") + (f", {holds} open holds" if holds else "")
    print(f"{args.output}: {members} members, {balances} opening balances{more}")
    return 0


def _history(args: argparse.Namespace) -> int:
    counts = HistoryExport()
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        records = engine.export_history(page=args.page, counts=counts)
        if args.output is None:
            sys.stdout.writelines(history.write(records))
            return 0
        with args.output.open("w", encoding="utf-8") as out:
            # One record at a time: the file's lines never wait in memory.
            for record in records:
                out.writelines(history.write([record]))
    written = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.written.items()))
    skipped = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.skipped.items()))
    print(f"{args.output}: {written or 'nothing'}" + (f" (left out: {skipped})" if skipped else ""))
    return 0
