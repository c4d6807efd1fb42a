"""SQLite schema 25: the purchases kept as operations indexed in the order
:meth:`loyalty.store.OperationsRole.purchases_without_entry` lists them (step 25 of
loyalty.store.sqlite.migrations, apart so that the list of steps stays readable).

Each page of the listing starts after the place the last one ended (keyset paging): without an
index in that order, every page sorted every purchase after it, and listing them all cost the
square of the store. The index holds the place itself: when the purchase was recorded, its till
time (the earliest instant where its record has none: :data:`EARLIEST_MICROS`, written out, so
that the query's expression is the index's), then its key (BINARY, code-point order in UTF-8).
"""

from __future__ import annotations

from loyalty.store.no_entry import EARLIEST
from loyalty.store.sqlite.statements import micros

__all__ = ["BOUGHT", "EARLIEST_MICROS", "NO_ENTRY_INDEX"]

#: :data:`loyalty.store.no_entry.EARLIEST` in microseconds since 1970.
EARLIEST_MICROS = micros(EARLIEST)
#: A purchase's till time in the listing's order, as the index and the query both write it.
BOUGHT = f"COALESCE(purchased_micros, {EARLIEST_MICROS})"

#: Step 25 of the SQLite migrations.
NO_ENTRY_INDEX: tuple[str, ...] = (
    f"""CREATE INDEX operations_purchase_order ON operations(recorded_micros, {BOUGHT}, key)
        WHERE kind = 'purchase'""",
)
