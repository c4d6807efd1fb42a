"""``loyalty offline-report TERMINAL``: a terminal's offline allowances reconciled (docs/offline.md)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from loyalty.cli.stores import engine_on, existing_store, store_url
from loyalty.offline import TerminalReport


def _figures(report: TerminalReport) -> dict[str, Any]:
    """The report's JSON form, with the sums a reconciliation reads first."""
    return report.to_dict() | {
        "used": report.used,
        "left": report.left,
        "shortfall": report.shortfall,
        "declined": report.declined,
    }


def offline_report(args: argparse.Namespace) -> int:
    """Print each allowance of the terminal, oldest first, and what each member did under it."""
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        reports = engine.offline_report(args.terminal)
    if args.json:
        print(json.dumps([_figures(report) for report in reports]))
        return 0
    for report in reports:
        granted = report.allowance
        print(
            f"{granted.terminal_id}: allowance {granted.id} from {granted.opened_at.isoformat()}"
            f" until {granted.until.isoformat()}, granted by {granted.actor}"
        )
        print(
            f"  per member {granted.per_member}, total {granted.total}: {report.used} used,"
            f" {report.left} left, {report.shortfall} short, {report.declined} declined"
        )
        for use in report.members:
            print(
                f"  {use.member_id}: {use.redemptions} redeemed for {use.points} points,"
                f" {use.shortfall} short, {use.declined} declined"
            )
    return 0
