"""Turning results into JSON-able data and back, for the idempotency records and for callers.

One cattrs converter, at the edge: domain classes know nothing of JSON (their
``to_dict``/``from_dict``, from :class:`loyalty.json_form.JsonForm`, call
:func:`to_dict` and :func:`from_dict`, handed to it here). Decimals are written as strings,
date-times in ISO 8601 with their offset, enums as their values, tuples as
lists. What the engine kept itself is read back leniently (records of older
layouts); what a caller hands :func:`from_dict` is read strictly. The
*canonical request* functions give the form in which two requests under the
same idempotency key are compared, field by field, so that an equal retry is
recognised whatever the representation (``1.0`` vs ``1.00``, the same instant
in two offsets) and a different one names the first field that differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import cattrs

from loyalty import json_form, schema
from loyalty.errors import InvalidInput
from loyalty.members import Member, MemberStatus
from loyalty.purchases import Line, Purchase
from loyalty.receipts import Receipt, breakdown_rows

__all__ = [
    "canonical",
    "canonical_decimal",
    "canonical_instant",
    "first_difference",
    "from_dict",
    "line_details",
    "member_record",
    "purchase_from_request",
    "purchase_request",
    "receipt_from_result",
    "receipt_result",
    "structure",
    "to_dict",
    "unstructure",
    "value_at",
]

T = TypeVar("T")

# JSON has no tuples: they are written as lists (and read back as tuples by their type).
_converter = cattrs.Converter(unstruct_collection_overrides={tuple: list})
_converter.register_unstructure_hook(Decimal, str)
_converter.register_structure_hook(Decimal, lambda value, _: Decimal(value))
_converter.register_unstructure_hook(datetime, datetime.isoformat)
_converter.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))
_converter.register_unstructure_hook(date, date.isoformat)
_converter.register_structure_hook(date, lambda value, _: date.fromisoformat(value))


def member_record(member: Member) -> dict[str, Any]:
    """A member as a purchase's record keeps it: ``unstructure(member)`` without ``status`` when it
    is active, which only an active member can earn with (``structure`` reads it back as active)."""
    data: dict[str, Any] = _converter.unstructure(member)
    if member.status is MemberStatus.ACTIVE:
        del data["status"]
    return data


def receipt_result(receipt: Receipt, *, occurred_at: str | None = None) -> dict[str, Any]:
    """A receipt as kept for replay; the same data as ``unstructure(receipt)`` but for ``guest``,
    left out when it is false, built by hand.

    Hand-built because it is on every purchase's path and cattrs' generic
    route costs a fifth of an in-memory purchase; ``structure`` reads it back
    and a test holds the two forms equal.
    """
    amount = receipt.amount
    result: dict[str, Any] = {
        "source_id": receipt.source_id,
        "member_id": receipt.member_id,
        # The caller may pass the text it already made of the same instant.
        "occurred_at": occurred_at or receipt.occurred_at.isoformat(),
        "amount": None if amount is None else {"amount": str(amount.amount), "currency": amount.currency},
        "points": receipt.points,
        # From the rows, so that a receipt the evaluation made keeps its contributions unmade.
        "breakdown": [
            {"rule": rule, "name": name, "points": str(points), "detail": detail, "line": line}
            for rule, name, points, detail, line in breakdown_rows(receipt)
        ],
        # (The member's own ``_value_``: ``.value`` is a property that runs two Python calls.)
        "rounding": receipt.rounding._value_,
        "rounding_adjustment": str(receipt.rounding_adjustment),
        "balance_after": receipt.balance_after,
        # (A recorded purchase skips none: no comprehension, which makes a function object.)
        "skipped": [{"rule": s.rule, "name": s.name, "reason": s.reason} for s in receipt.skipped]
        if receipt.skipped
        else [],
        "program_version": receipt.program_version,
        "scale": receipt.scale,
        "carried_in": str(receipt.carried_in),
        "carried_out": str(receipt.carried_out),
        "event": receipt.event,
        "tier": receipt.tier,
        "tier_reached": receipt.tier_reached,
        "tier_bonus": receipt.tier_bonus,
    }
    if receipt.guest:
        # A recorded receipt is never a guest quote's: the key is kept only where it is set, so
        # records keep their compact layout and those from before the key read back alike.
        result["guest"] = True
    return result


def receipt_from_result(data: dict[str, Any]) -> Receipt:
    """A kept receipt read back, including one kept before earning rules existed.

    Those (schema 1) named the purchase ``purchase_id`` and had one breakdown
    row per rule, without a name or a line.
    """
    if "purchase_id" in data:
        data = dict(data)
        data["source_id"] = data.pop("purchase_id")
        data["breakdown"] = [{"name": row["rule"], "line": None, **row} for row in data["breakdown"]]
    return structure(data, Receipt)


# Data from outside, for from_dict: the same converter, but no unknown key (a misspelt one
# would quietly take its default) and schema's strict readers (no float for a Decimal, no
# naive date-time, no string for a list). The engine's own records keep the lenient reading:
# a purchase's result holds more keys than a Receipt, and older layouts must still replay.
_reader = _converter.copy(forbid_extra_keys=True)
schema.strict(_reader)


def to_dict(value: object) -> dict[str, Any]:
    """A result (an attrs value such as a Receipt) as JSON-ready data: ``json.dumps`` takes it."""
    data: dict[str, Any] = _converter.unstructure(value)
    return data


def from_dict(data: object, cls: type[T]) -> T:
    """The ``cls`` that ``data`` (a :func:`to_dict` form) describes.

    Raises :class:`~loyalty.errors.InvalidInput` naming the first field at
    fault (``breakdown[0].points``): a missing or unknown key, a value of the
    wrong type (a float for an amount, a date-time without an offset), or one
    the class's own checks refuse.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("data", f"must be a mapping, not {schema.describe(data)}")
    try:
        return _reader.structure(data, cls)
    except (cattrs.BaseValidationError, schema.Problem, InvalidInput) as exc:
        path, message = schema.problems(exc)[0]
        raise InvalidInput(path or "data", message) from None


json_form.use(to_dict, from_dict)


def unstructure(value: object) -> Any:
    return _converter.unstructure(value)


def structure(data: Any, cls: type[T]) -> T:
    return _converter.structure(data, cls)


def canonical_decimal(value: Decimal | int | str) -> str:
    """One spelling per value (``2.50`` and ``2.5`` alike, ``-0`` is ``0``), exactly.

    Built from the digits, not with ``normalize()``, which would round in the
    caller's decimal context and could make two different amounts equal.
    """
    number = Decimal(value)  # exact for str and int: no context involved
    if number.is_zero():
        return "0"
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    kept = list(digits)
    while exponent < 0 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    if exponent > 0:
        kept += [0] * exponent
        exponent = 0
    return str(Decimal((sign, tuple(kept), exponent)))


def canonical_instant(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).isoformat()


def purchase_request(purchase: Purchase) -> dict[str, Any]:
    """The purchase as kept under its key: cheap to build, made canonical only when compared."""
    return {
        "member_id": purchase.member_id,
        "at": purchase.at.isoformat(),
        "currency": purchase.currency,
        "store_id": purchase.store_id,
        "terminal_id": purchase.terminal_id,
        "channel": purchase.channel,
        "lines": list(map(_line_request, purchase.lines)),
    }


def purchase_from_request(key: str, request: dict[str, Any]) -> Purchase:
    """The purchase a kept request describes (the inverse of :func:`purchase_request`)."""
    lines = [
        Line(
            line["sku"],
            _quantity(line["quantity"]),
            Decimal(line["unit_price"]),
            line.get("category"),
            line.get("labels"),
            Decimal(line.get("discount", "0")),
            Decimal(line.get("tax", "0")),
        )
        for line in request["lines"]
    ]
    return Purchase(
        key,
        request["member_id"],
        datetime.fromisoformat(request["at"]),
        lines,
        request["currency"],
        request.get("store_id"),
        request.get("terminal_id"),
        request.get("channel"),
    )


def _quantity(text: str) -> int | Decimal:
    number = Decimal(text)
    # Whole units went in as ints; they come back as ints, so rules that count units see the same.
    return int(number) if text.lstrip("-").isdecimal() else number


def _line_request(line: Line) -> dict[str, Any]:
    request: dict[str, Any] = {
        "sku": line.sku,
        "quantity": str(line.quantity),
        "unit_price": str(line.unit_price),
        "category": line.category,
    }
    # line_details' keys, added in place: on every line of every purchase, where most lines have
    # none of them, a merge would make two dicts more.
    if line.labels:
        request["labels"] = dict(line.labels)
    if line.discount:
        request["discount"] = str(line.discount)
    if line.tax:
        request["tax"] = str(line.tax)
    return request


def line_details(line: Line) -> dict[str, Any]:
    """A line's ``labels``, ``discount`` and ``tax`` as JSON values, each only when the line has it:
    left out when empty or zero, as most lines have none, so the same line always gives the same
    form (a stored request, a history record)."""
    details: dict[str, Any] = {"labels": dict(line.labels)} if line.labels else {}
    details |= {"discount": str(line.discount)} if line.discount else {}
    return details | ({"tax": str(line.tax)} if line.tax else {})


# Fields compared by value rather than spelling: 1.0 == 1.00, one instant in two offsets.
_BY_VALUE: dict[str, Any] = {
    "at": canonical_instant,
    "until": canonical_instant,
    "opened_at": canonical_instant,
    "expires_at": canonical_instant,
    "vests_at": canonical_instant,
    "quantity": canonical_decimal,
    "unit_price": canonical_decimal,
    "discount": canonical_decimal,
    "tax": canonical_decimal,
}
# Free-form maps: their keys are the merchant's, not field names (a label may be called "at").
_OPAQUE = frozenset({"labels", "properties", "attributes"})


def canonical(request: Any, key: str = "") -> Any:
    """``request`` with every amount, quantity and instant in one spelling, for comparison."""
    if isinstance(request, dict):
        return {k: v if k in _OPAQUE else canonical(v, k) for k, v in request.items()}
    if isinstance(request, list):
        return [canonical(v) for v in request]
    if key in _BY_VALUE and isinstance(request, str):
        return _BY_VALUE[key](request)
    return request


def first_difference(old: Any, new: Any, path: str = "") -> str | None:
    """The path of the first place where two canonical requests differ, or ``None``."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            found = first_difference(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list):
        for i, (a, b) in enumerate(zip(old, new, strict=False)):
            found = first_difference(a, b, f"{path}[{i}]")
            if found is not None:
                return found
        # An added or missing element is named by its index: ``lines[3]``.
        return f"{path}[{min(len(old), len(new))}]" if len(old) != len(new) else None
    # True == 1 in Python, but a flag and a number are different requests.
    return None if old == new and isinstance(old, bool) == isinstance(new, bool) else path


def value_at(data: Any, path: str) -> Any:
    """The value at a path produced by :func:`first_difference` (``None`` where it is missing)."""
    for part in path.replace("[", ".[").split("."):
        if part.startswith("["):
            index = int(part[1:-1])
            data = data[index] if isinstance(data, list) and index < len(data) else None
        elif part:
            data = data.get(part) if isinstance(data, dict) else None
    return data
