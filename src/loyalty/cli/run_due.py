"""``loyalty run-due``: what an operator schedules: everything due, carried out once."""

from __future__ import annotations

import argparse
import json

import attrs

from loyalty.cli.progress import progress
from loyalty.cli.stores import engine_on, existing_store, store_url
from loyalty.cli.tables import print_rows
from loyalty.engine import Maintenance


def run_due(args: argparse.Namespace) -> int:
    with existing_store(store_url(args.store)) as store:
        engine, program = engine_on(store, args.program)
        with progress("run-due") as advance:

            def show(so_far: Maintenance) -> None:
                advance(
                    description=f"run-due: {so_far.expired_lots} lots expired, "
                    f"{so_far.expired_holds} holds ended, {so_far.tier_reviews} tier reviews"
                )

            done = engine.run_due(args.at, batch=args.batch, progress=show)
    if args.json:
        at = None if args.at is None else args.at.isoformat()
        print(json.dumps({"program": program.name, "at": at, **attrs.asdict(done)}))
        return 0
    points = program.format_points
    when = "now" if args.at is None else args.at.isoformat()
    print_rows(
        f"{program.name}: everything due by {when}",
        [
            ("lots expired", f"{done.expired_lots} ({points(done.expired_points)} points)"),
            ("members who lost points", f"{done.members}"),
            ("holds expired", f"{done.expired_holds} ({points(done.released_points)} points back)"),
            ("tier reviews", f"{done.tier_reviews} ({done.tier_changes} changed tier)"),
            ("lots re-dated", f"{done.redated_lots}"),
            ("expiry reminders", f"{done.reminders}"),
            ("vouchers expired", f"{done.expired_vouchers}"),
            ("transfers finished", f"{done.finished_transfers}"),
            ("referral bonuses paid", f"{done.paid_referrals}"),
            ("merges finished", f"{done.finished_merges}"),
            ("erasures finished", f"{done.finished_erasures}"),
        ],
    )
    return 0
