"""``loyalty simulate``: a history replayed under the current program and a proposed one."""

from __future__ import annotations

import argparse
import json

from loyalty.cli.programs import check_file, program_versions
from loyalty.cli.progress import progress
from loyalty.cli.report import check_html, write_html
from loyalty.errors import InvalidInput
from loyalty.reporting import of_comparison
from loyalty.whatif import simulate as compare


def simulate(args: argparse.Namespace) -> int:
    current = program_versions(args.program)
    proposed = program_versions(args.proposed)
    check_file(args.history)
    check_html(args.html)
    try:
        with (
            # A byte that is not UTF-8 stops the run at its line (loyalty.history_json).
            args.history.open(encoding="utf-8-sig", errors="surrogateescape") as lines,
            progress("simulate: replaying the history") as advance,
        ):
            found = compare(
                lines,
                list(current),
                list(proposed),
                point_value=args.point_value,
                until=args.until,
                top=args.top,
                progress=lambda done: advance(description=f"simulate: {done} records replayed"),
                over_time=args.html is not None,
                on_disk=args.on_disk,
                parallel=False if args.sequential else None,
            )
    except OSError as exc:
        raise InvalidInput(str(args.history), f"cannot be read: {exc.strerror or exc}") from None
    if args.html is not None:
        write_html(of_comparison(found, programs=(current[-1], proposed[-1])), args.html)
    if args.json:
        print(json.dumps({"history": str(args.history), **found.to_dict()}, ensure_ascii=False))
    else:
        print(found.render())
    return 0
