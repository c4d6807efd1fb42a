"""``loyalty import FILE.jsonl``: a history applied to a store in batches (docs/import-export.md).

Bad records are reported by line, field and reason. With ``--on-error skip`` each goes to
``--rejects FILE`` as it was read, with a ``"rejected"`` key saying why: the history reader
ignores keys a record does not use, so the file, once corrected, is imported like any other.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from loyalty.cli.options import writable
from loyalty.cli.programs import check_file
from loyalty.cli.progress import progress
from loyalty.cli.stores import engine_on, existing_store, store_url
from loyalty.cli.tables import print_rows
from loyalty.errors import InvalidInput
from loyalty.service.importing import ImportSummary, Rejected

#: The exit status of an import that skipped bad records (each in --rejects, or on stderr).
SKIPPED = 4


def rejected_line(rejected: Rejected) -> str:
    """The line ``rejected`` came from, with why it was rejected, for a rejects file.

    >>> bad = Rejected(7, "points", "must not be zero", "InvalidPoints", '{"type": "redemption"}')
    >>> print(rejected_line(bad), end="")
    {"type": "redemption", "rejected": {"line": 7, "field": "points", "reason": "must not be zero"}}
    """
    why = {"line": rejected.line, "field": rejected.field, "reason": rejected.reason}
    try:
        record: Any = json.loads(rejected.text)
    except (ValueError, RecursionError):  # not JSON, or JSON no reader here takes
        record = None
    if not isinstance(record, dict):
        # Not a JSON object: kept as text beside the reason, for a person to mend.
        record = {"text": rejected.text}
    record["rejected"] = why
    return json.dumps(record, ensure_ascii=False) + "\n"


def _lines(path: Path) -> int:
    """How many lines ``path`` has (the progress bar's total), counted without decoding them."""
    with path.open("rb") as raw:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: raw.read(1 << 20), b""))


def import_file(args: argparse.Namespace) -> int:
    check_file(args.file)
    if args.rejects is not None and args.on_error != "skip":
        raise InvalidInput("rejects", "--rejects goes with --on-error skip")
    writable("--rejects", args.rejects)
    with ExitStack() as stack:
        store = stack.enter_context(existing_store(store_url(args.store)))
        engine, program = engine_on(store, args.program)
        # A line with a byte that is not UTF-8 is that line's reject (loyalty.history_json), not
        # the end of the run; a byte order mark, which some editors save UTF-8 with, is no record's.
        lines = stack.enter_context(args.file.open(encoding="utf-8-sig", errors="surrogateescape"))
        rejects = None
        if args.rejects is not None:
            # (A line rejected for a byte that is not UTF-8 is written back with that byte.)
            rejects = stack.enter_context(args.rejects.open("w", encoding="utf-8", errors="surrogateescape"))
        advance = stack.enter_context(progress("import", _lines(args.file) if sys.stderr.isatty() else None))
        read = [0]

        def show(so_far: ImportSummary) -> None:
            advance(so_far.lines - read[0])
            read[0] = so_far.lines

        def reject(bad: Rejected) -> None:
            if rejects is not None:
                rejects.write(rejected_line(bad))
            elif args.on_error == "skip":
                print(f"skipped {bad}", file=sys.stderr)

        summary = engine.import_events(
            lines,
            batch_size=args.batch_size,
            on_error=args.on_error,
            on_reject=reject,
            progress=show,
        )
    _report(args, program.name, summary)
    if summary.stopped is not None:
        print(f"error: {summary.stopped}", file=sys.stderr)
        return 2
    return SKIPPED if summary.total_rejected else 0


def _report(args: argparse.Namespace, name: str, summary: ImportSummary) -> None:
    if args.json:
        stopped = None if summary.stopped is None else str(summary.stopped)
        figures = {
            "applied": summary.applied,
            "already": summary.already,
            "rejected": summary.rejected,
            "lines": summary.lines,
            "stopped": stopped,
        }
        print(json.dumps({"file": str(args.file), "program": name, **figures}))
        return

    def counts(found: dict[str, int] | Any) -> str:
        total = sum(found.values())
        return f"{total} ({', '.join(f'{n} {kind}' for kind, n in sorted(found.items()))})" if total else "0"

    print_rows(
        f"{name}: {args.file} imported",
        [
            ("lines read", f"{summary.lines}"),
            ("applied", counts(summary.applied)),
            ("already recorded", counts(summary.already)),
            ("rejected", counts(summary.rejected)),
        ],
    )
