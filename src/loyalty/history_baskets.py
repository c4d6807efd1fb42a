"""A purchase's basket in a history file (:mod:`loyalty.history`): each line as a JSON object,
written and read back, with the labels, discount and tax the rules may read.

A line is ``{"sku": ..., "category": ..., "quantity": ..., "unit_price": ...}``, and, only when
it has them, ``labels`` (an object of strings: facts rules filter on), ``discount`` (the money
taken off the whole line) and ``tax`` (the tax in what the line cost), both decimal strings:

>>> from decimal import Decimal
>>> line = Line("shirt", 2, Decimal("20.00"), "apparel", {"color": "red"}, Decimal("5.00"), Decimal("6.00"))
>>> record = line_record(line)
>>> record
{'sku': 'shirt', 'category': 'apparel', 'quantity': 2, 'unit_price': '20.00', 'labels': {'color': 'red'}, \
'discount': '5.00', 'tax': '6.00'}
>>> read_line(1, 0, record) == line
True
>>> read_line(3, 1, {"sku": "shirt", "quantity": 1, "unit_price": "2.00", "discount": "2.50"})
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: line 3: lines[1].discount: must not exceed the line amount 2.00, got 2.50
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from loyalty import codec
from loyalty.errors import LoyaltyError
from loyalty.history_fields import Fields
from loyalty.purchases import Line

__all__ = ["CACHE", "PLAIN", "cache_key", "line_record", "read_line"]

#: Lines read back share their :class:`~loyalty.purchases.Line` when they are the same; at most
#: this many distinct ones are remembered, so the memory used stays bounded whatever the file.
_LINE_CACHE = 4096

# Lines already read, by what they say (see cache_key): a file repeats the same few thousand
# products, and building a Line checks every field again (most of a purchase's reading time
# otherwise).
CACHE: dict[tuple[Any, ...], Line] = {}

#: The keys of a plain line (no labels, discount or tax): most of a file's lines.
PLAIN = frozenset(("sku", "category", "quantity", "unit_price"))


def cache_key(item: dict[str, Any]) -> tuple[Any, ...] | None:
    """What line ``item`` is found by in :data:`CACHE`, or ``None`` for one never cached: a line
    with labels (an object, unhashable), or whose quantity is neither an int nor a string (true
    and 1.0 equal 1 to a dict: they are refused, never found as the line of 1 unit). A plain
    line's key is its four values (what :func:`loyalty.history.parse` looks up without a call);
    another's adds its discount and tax. Only the lines read from exactly these JSON values are
    cached under them (a unit price of ``"1.5"`` and ``"1.50"`` are two keys, each found again
    as it was written; a discount or tax cached is a string, so a JSON number never finds one)."""
    get = item.get
    quantity = get("quantity")
    if not (type(quantity) is int or type(quantity) is str):
        return None
    if item.keys() <= PLAIN:
        return (get("sku"), quantity, get("unit_price"), get("category"))
    if get("labels") is not None:
        return None
    return (get("sku"), quantity, get("unit_price"), get("category"), get("discount"), get("tax"))


def read_line(number: int, i: int, item: object) -> Line:
    """Line ``i`` of a purchase on line ``number``: the one read before if the same, else a new one."""
    key = cache_key(item) if isinstance(item, dict) else None
    if key is not None:
        try:
            line = CACHE.get(key)
        except TypeError:  # an array or object among its values: refused below, naming it
            key = None
        else:
            if line is not None:
                return line
    fields = Fields(number, item, f"lines[{i}].")
    sku, quantity, price = fields.text("sku"), fields.quantity("quantity"), fields.decimal("unit_price")
    category, labels = fields.optional_text("category"), fields.mapping("labels")
    # Only those given: a line without them keeps the default zero, which is known good.
    amounts = {key: fields.decimal(key) for key in ("discount", "tax") if fields.data.get(key) is not None}
    try:
        line = Line(sku, quantity, price, category, labels, **amounts)
    except LoyaltyError as exc:
        raise fields.error(exc.field or "", exc.message) from exc
    if key is not None:
        if len(CACHE) >= _LINE_CACHE:
            CACHE.clear()
        CACHE[key] = line
    return line


def _quantity(value: int | Decimal) -> int | str:
    return value if isinstance(value, int) else str(value)


def line_record(line: Line) -> dict[str, Any]:
    """The JSON object of a basket line; ``labels``, ``discount`` and ``tax`` only when the line
    has them (most have none, and a file without them reads as before)."""
    record: dict[str, Any] = {
        "sku": line.sku,
        "category": line.category,
        "quantity": _quantity(line.quantity),
        "unit_price": str(line.unit_price),
    }
    return record | codec.line_details(line)
