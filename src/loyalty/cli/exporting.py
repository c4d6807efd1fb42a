"""``loyalty export``: a store's members as a history file that ``loyalty import`` reads back."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from loyalty import history
from loyalty.cli.stores import engine_on, existing_store, store_url


def export(args: argparse.Namespace) -> int:
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
    print(f"{args.output}: {members} members, {balances} opening balances")
    return 0
