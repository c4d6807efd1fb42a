"""``loyalty entries``: the ledger feed, every member's entries in commit order, as JSON lines."""

from __future__ import annotations

import argparse
import json

from loyalty.cli.stores import engine_on, existing_store, store_url

#: Entries read per call to the engine (its most): ``--limit`` may ask for more, read page by page.
PAGE = 10_000


def entries(args: argparse.Namespace) -> int:
    """Print entries after ``--after``, at most ``--limit``, one JSON object (``Entry.to_dict()``) a line."""
    after, left = args.after, args.limit
    with existing_store(store_url(args.store)) as store:
        engine, _ = engine_on(store, args.program)
        while left:
            page = engine.entries(after=after, limit=min(left, PAGE))
            for entry in page:
                print(json.dumps(entry.to_dict(), ensure_ascii=False))
            if len(page) < min(left, PAGE):
                break
            after, left = page[-1].seq, left - len(page)
    return 0
