"""``loyalty offline-grant TERMINAL``: an offline allowance granted to a terminal; ``loyalty offline-report
TERMINAL``: a terminal's offline allowances reconciled (docs/offline.md)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from loyalty.cli.stores import engine_on, existing_store, store_url
from loyalty.offline import OfflineAllowance, TerminalReport


def _figures(report: TerminalReport) -> dict[str, Any]:
    """The report's JSON form, with the sums a reconciliation reads first."""
    return report.to_dict() | {
        "used": report.used,
        "left": report.left,
        "shortfall": report.shortfall,
        "declined": report.declined,
    }


def _granted(allowance: OfflineAllowance) -> str:
    """The allowance in a line: its terminal, id, window and who granted it."""
    return (
        f"{allowance.terminal_id}: allowance {allowance.id} from {allowance.opened_at.isoformat()}"
        f" until {allowance.until.isoformat()}, granted by {allowance.actor}"
    )


def offline_grant(args: argparse.Namespace) -> int:
    """Grant the terminal an allowance (the original one again on a retry of its --id) and print it."""
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        at = args.at if args.at is not None else datetime.now(UTC)
        granted = engine.grant_offline_allowance(
            args.terminal,
            id=args.id,
            at=at,
            per_member=args.per_member,
            total=args.total,
            until=args.until,
            actor=args.actor,
        )
    if args.json:
        print(json.dumps(granted.to_dict()))
        return 0
    print(f"{_granted(granted)}; per member {granted.per_member}, total {granted.total}")
    return 0


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
        print(_granted(granted))
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
