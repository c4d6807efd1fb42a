"""``loyalty migrate``: create a store, or bring an older one up to this version's schema.

The other commands on existing data open their store without migrating (a
mistyped URL must not leave an empty schema behind, nor a report upgrade a file
under a till that runs an older version): an operator runs this once instead.
"""

from __future__ import annotations

import argparse
import json

from loyalty.cli.stores import store_url
from loyalty.store import open_store


def run_migrate(args: argparse.Namespace) -> int:
    url = store_url(args.store)
    with open_store(url) as store:
        version = getattr(store, "schema_version", None)
        found = version() if callable(version) else None
    if args.json:
        print(json.dumps({"store": url, "schema_version": found}))
    elif found is None:
        print(f"{url}: nothing to migrate (this store keeps no schema)")
    else:
        print(f"{url}: schema version {found}")
    return 0
