"""``loyalty verify``: every member's chain of entry hashes recomputed (docs/audit.md)."""

from __future__ import annotations

import argparse
import json

from loyalty.cli.progress import progress
from loyalty.cli.stores import engine_on, existing_store, store_url

#: The exit status when a link is broken: the store could be read, and was tampered with.
BROKEN = 5


def verify(args: argparse.Namespace) -> int:
    """Recompute the chains; print what was checked and every broken link; exit 5 if any."""
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        checked = 0
        # The last seq bounds the entries to read: a bar, not a spinner (an upper bound on
        # PostgreSQL, whose rolled-back writers leave numbers unused).
        with progress("verify: recomputing the ledger's chains", engine.last_seq()) as advance:

            def step(entries: int) -> None:
                nonlocal checked
                checked += entries
                advance(entries, f"verify: {checked:,} entries checked")

            report = engine.verify(batch=args.batch, progress=step)
    breaks = [{"member_id": b.member_id, "seq": b.seq, "problem": b.problem} for b in report.breaks]
    if args.json:
        print(
            json.dumps(
                {"ok": report.ok, "entries": report.entries, "members": report.members, "breaks": breaks}
            )
        )
    else:
        for found in report.breaks:
            where = "its head (last entry" if found.problem == "head" else "entry"
            closing = ")" if found.problem == "head" else ""
            print(f"broken: member {found.member_id!r}, {where} {found.seq}{closing}")
        verdict = "every chain verified" if report.ok else f"{len(report.breaks)} broken link(s)"
        print(f"{report.entries:,} entries of {report.members:,} members checked: {verdict}")
    return 0 if report.ok else BROKEN
