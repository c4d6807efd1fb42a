"""``loyalty report``: a period's figures from a store, added up in the store."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from loyalty import codec, report_html
from loyalty.checks import MAX_YEAR, MIN_YEAR
from loyalty.cli.progress import progress
from loyalty.cli.stores import engine_on, existing_store, store_url
from loyalty.cli.tables import print_rows
from loyalty.errors import InvalidDatetime, InvalidInput
from loyalty.report import Report
from loyalty.reporting import of_store


def report(args: argparse.Namespace) -> int:
    if args.store is not None and args.store_option is not None and args.store != args.store_option:
        raise InvalidInput("store", "give the store once: STORE_URL or --store")
    check_html(args.html)
    with existing_store(store_url(args.store or args.store_option)) as store:
        engine, program = engine_on(store, args.program)
        start = _bound(args.start, program.zone, field="--from")
        end = _bound(args.end, program.zone, field="--to", day_included=True)
        if end <= start:
            # Said as typed: --to 2024-01-01 is the end of that day, which the engine would name.
            raise InvalidInput(
                "--to", f"must be after --from ({args.start.isoformat()}), got {args.end.isoformat()}"
            )
        # Priced as the HTML report and a what-if are: by default at the program's point value.
        value = program.redemption.point_value if args.point_value is None else args.point_value
        with progress("report: adding up the figures in the store"):
            found = engine.figures(start, end, point_value=value)
        if args.html is not None:
            with progress("report: gathering the figures over time for the HTML report"):
                page = of_store(engine, store, start, end, point_value=value)
            write_html(page, args.html)
    if args.json:
        print(json.dumps({"program": program.name, **codec.unstructure(found)}, ensure_ascii=False))
        return 0

    def points(units: int) -> str:
        return program.format_points(units)

    def rate(value: Decimal | None) -> str:
        return "-" if value is None else f"{value * 100:.1f}%"

    def money(value: object) -> str:
        return "-" if value is None else str(value)

    rows = [
        ("period", f"{found.start.isoformat()} to {found.end.isoformat()}"),
        ("members enrolled", f"{found.members}"),
        ("active members", f"{found.active} (before: {found.active_before}, both: {found.retained})"),
        ("retention rate", rate(found.retention_rate)),
        ("defection rate", rate(found.defection_rate)),
        ("points issued", points(found.issued)),
        ("points redeemed", points(found.redeemed)),
        ("points expired", points(found.expired)),
        ("points taken back", points(found.taken_back)),
        ("points adjusted", points(found.adjusted)),
        ("points transferred", f"{points(found.transferred_out)} out, {points(found.transferred_in)} in"),
        ("breakage rate", rate(found.breakage_rate)),
        ("points outstanding", points(found.outstanding)),
        ("liability", money(found.liability)),
        ("purchases", f"{found.purchases}"),
        ("spend", str(found.spend)),
        ("spend per active member", money(found.average_spend)),
        ("estimated lifetime value", money(found.lifetime_value)),
    ]
    print_rows(f"{program.name}: figures", rows)
    by_rule = []
    for row in found.by_rule:
        label = row.name if row.name == row.rule else f"{row.name} ({row.rule})"
        value = f"{points(row.issued)} issued"
        if row.budget is not None and row.budget_spent is not None:
            # Exact in the store (a rate of 1 per 3.00 spends thirds): to the hundredth here.
            exact = row.budget_spent
            spent = program.format_points(
                exact if exact == exact.to_integral_value() else exact.quantize(_HUNDREDTH)
            )
            value += f", {spent} of a budget of {points(row.budget)} spent"
        by_rule.append((label, value))
    if by_rule:
        print_rows(f"{program.name}: points by rule", by_rule)
    return 0


_HUNDREDTH = Decimal("0.01")


def check_html(path: Path | None) -> None:
    """Refuse ``--html FILE`` before any work: without the ``report`` extra, or in no directory."""
    if path is None:
        return
    report_html.require()
    if not path.parent.is_dir():
        raise InvalidInput("html", f"no directory {path.parent} to write {path.name} in")


def write_html(page: Report, path: Path) -> None:
    """Draw ``page`` into ``path`` and say so on stderr (stdout keeps the text or JSON)."""
    try:
        report_html.write(page, path)
    except OSError as exc:
        raise InvalidInput("html", f"cannot write {path}: {exc.strerror or exc}") from None
    print(f"HTML report written to {path}", file=sys.stderr)


def _bound(value: date | datetime, zone: ZoneInfo, *, field: str, day_included: bool = False) -> datetime:
    """An instant as given; a date as the midnight that starts it (or, for ``--to``, ends it) in the
    program's timezone, where its days are counted: ``--from 2024-03-01 --to 2024-03-31`` is March."""
    if isinstance(value, datetime):
        return value
    try:
        return datetime.combine(value + timedelta(days=1) if day_included else value, time(), zone)
    except OverflowError:
        # The day after 9999-12-31 is no date: refused as the engine refuses any such instant.
        raise InvalidDatetime(field, f"must lie in the years {MIN_YEAR} to {MAX_YEAR}, got {value}") from None
