"""``loyalty run-due``: what an operator schedules: everything due, carried out once."""

from __future__ import annotations

import argparse
import json
from typing import Any

import attrs

from loyalty.cli.stores import engine_on, existing_store, store_url


def run_due(args: argparse.Namespace) -> int:
    with existing_store(store_url(args.store)) as store:
        engine, program = engine_on(store, args.program)
        done = engine.run_due(args.at, batch=args.batch)
    figures: dict[str, Any] = attrs.asdict(done)
    if args.json:
        print(json.dumps({"program": program.name, "at": None if args.at is None else args.at.isoformat(),
                          **figures}))  # fmt: skip
        return 0

    def points(units: int) -> str:
        return program.format_points(units)

    rows = [
        ("lots expired", f"{done.expired_lots:,} ({points(done.expired_points)} points)"),
        ("members who lost points", f"{done.members:,}"),
        ("holds expired", f"{done.expired_holds:,} ({points(done.released_points)} points back)"),
        ("tier reviews", f"{done.tier_reviews:,} ({done.tier_changes:,} changed tier)"),
        ("lots re-dated", f"{done.redated_lots:,}"),
        ("expiry reminders", f"{done.reminders:,}"),
    ]
    width = max(len(label) for label, _ in rows)
    when = "now" if args.at is None else args.at.isoformat()
    print(f"{program.name}: everything due by {when}")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    return 0
