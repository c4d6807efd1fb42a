"""Idempotency records kept compactly: what :func:`pack_operation` makes of an operation's
request and result, and :func:`unpack_operation` gives back exactly (the store adapters keep
the text; :mod:`loyalty.codec` reads the result back into a receipt)."""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from decimal import Decimal
from operator import itemgetter
from typing import Any

from loyalty.money import EXACT

__all__ = ["EntryFacts", "pack_operation", "unpack_operation"]

#: What the entry that keeps a purchase's record says already (SQLite, schema 22): its member,
#: its till time as the request's text (``isoformat()`` of the instant in its offset, as the
#: entry reads back), its points, the balance it leaves and its number (the purchase's lot).
EntryFacts = tuple[str, str, int, int, int]


# A purchase's record is one JSON array, the request's and the result's values by position: no
# key repeated, nothing stored twice (the result's ``source_id``, ``member_id``, ``occurred_at``
# and currency are the key's and the request's), the lines once. It starts with the member and
# the amount, where the period figures read them whatever the layout:
#
#   [member_id, amount, 2, at, currency, store_id, terminal_id, channel, lines, breakdown,
#    skipped, texts, points, rounding_adjustment, balance_after, lot, context, member,
#    rounding, program_version, scale, carried_in, carried_out, event, tier, tier_reached,
#    tier_bonus]
#
# where the values from ``member`` on are left out at the end while they are what most
# purchases have (no member kept, ``floor``, version ``1``, no carry, no event or tier).
# A line is [sku, quantity, unit_price, category(, labels, discount, tax)] (the last three
# ``null`` when absent, trailing ones left out); a contribution [rule, points, line, detail(, name)]
# and a skipped rule [rule, reason(, name)], the name left out when it is the rule's id. A rule's
# contributions on consecutive lines, each named by the rule's id and with the same detail, are
# one run [first_line, rule, detail, count(, points...)]: the points are left out when each is
# its line's amount (quantity times unit price, as most rate rules give), else each is 0 for
# that or the text. (Records of layout 1 have no runs; an int leads a run, a rule's id a row.) A
# line's detail that ends with its sku and points is the index of its beginning in ``texts``
# (every line a rule earned on has the same); a context key ending with ``|`` and the member's
# id is kept without the id. Any other record, or one this layout would not give back
# exactly, is kept whole: [member_id, amount, 0, request, result].
#
# A record kept in its purchase's entry (SQLite, schema 22) leaves out what the entry says
# (:data:`EntryFacts`): layout 3 is layout 2 without its member, till time, points, balance and
# lot, with its currency first where the others have their member (the entry's member is the
# record's, where the period figures read it), and the amount and the layout where they are:
#
#   [currency, amount, 3, store_id, terminal_id, channel, lines, breakdown, skipped, texts,
#    rounding_adjustment, context, member, rounding, ...]
#
# A store or terminal id the key begins with (``S1-T2-000123``) is its length, and the lines are
# one text, each line's four values joined by spaces and the lines by ``|``, where no value holds
# either (and no line has labels, a discount or tax); else as in layout 2. It is written only when
# each value left out is exactly the entry's; otherwise layout 2.
#
# A purchase that earned nothing has no entry to place it in the ledger's commit order, so its
# result keeps the ledger's last entry then (``ledger_seq``): layout 4 is layout 2 with
# that number after the layout, [member_id, amount, 4, ledger_seq, at, currency, ...]. (Kept
# whole before, such a record was about 750 bytes of JSON where its layout 2 is about 200.)

_WHOLE, _PACKED_1, _PACKED, _IN_ENTRY, _NUMBERED = 0, 1, 2, 3, 4
_TAIL = ("points", "rounding_adjustment", "balance_after", "lot", "context")
# The fields after ``member``, each with the value that may be left out at the end.
_USUAL = (
    ("rounding", "floor"),
    ("program_version", "1"),
    ("scale", 0),
    ("carried_in", "0"),
    ("carried_out", "0"),
    ("event", None),
    ("tier", None),
    ("tier_reached", None),
    ("tier_bonus", 0),
)
_ABSENT = object()
# The values of those fields in a result, and the usual ones, read with itemgetters: on every
# purchase, where a generator costs a function object and a frame.
_TAIL_BUT_CONTEXT_OF = itemgetter(*_TAIL[:-1])
_USUAL_OF = itemgetter(*(name for name, _ in _USUAL))
_USUAL_VALUES = tuple(value for _, value in _USUAL)
_LINE_OPTIONAL = ("labels", "discount", "tax")


def pack_operation(
    kind: str, key: str, request: dict[str, Any], result: dict[str, Any], entry: EntryFacts | None = None
) -> str:
    """The text an SQL adapter keeps for an operation: compact for a purchase, whole otherwise;
    without what its ``entry`` says, for a record kept in that entry (layout 3), where it can.

    The compact form is used only for the exact shape it holds (every map with exactly its
    keys, every value one that comes back as it went in), so :func:`unpack_operation` gives
    back exactly the ``request`` and ``result`` given and nothing a replay, a return or a
    conflict check reads is ever lost; any other shape (a future field, a hand-made record)
    is kept whole. (Checked by shape as it is packed rather than by unpacking and comparing:
    this is on every purchase, and the property tests hold the two equal.)
    """
    member = amount = None
    if kind == "purchase":
        member = request.get("member_id")
        money = result.get("amount")
        amount = money.get("amount") if isinstance(money, dict) else None
        try:
            packed = _pack_purchase(key, request, result)
        except (LookupError, TypeError, AttributeError, ValueError, ArithmeticError):
            packed = None  # a shape this layout does not hold
        if packed is not None:
            if entry is not None:
                shorter = _without_entry(key, packed, entry)
                if shorter is not None:
                    return _dump(shorter)
            return _dump(packed)
    return _dump([member, amount, _WHOLE, request, result])


def unpack_operation(
    key: str, text: str, entry: EntryFacts | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The request and result a record made by :func:`pack_operation` holds (given the facts of
    the ``entry`` that keeps it, for a record of layout 3)."""
    data = json.loads(text)
    layout = data[2]
    if layout == _IN_ENTRY:
        data = _with_entry(key, data, entry)
    elif layout == _WHOLE:
        return data[3], data[4]
    elif layout == _NUMBERED:
        request, result = _unpack_purchase(key, [data[0], data[1], _PACKED, *data[4:]])
        result["ledger_seq"] = data[3]
        return request, result
    return _unpack_purchase(key, data)


def _without_entry(key: str, packed: list[Any], entry: EntryFacts) -> list[Any] | None:
    """A record of layout 2 as layout 3, without the values its entry says, or ``None`` if one
    of them is not exactly the entry's (or a store or terminal id is a number, which layout 3
    would read as a length)."""
    member, at, points, balance, seq = entry
    store, terminal, lines = packed[5], packed[6], packed[8]
    if not (
        packed[2] == _PACKED  # a ledger_seq (layout 4) is not an entry's to say
        and _same(packed[0], member)
        and _same(packed[3], at)
        and _same(packed[12], points)
        and _same(packed[14], balance)
        and _same(packed[15], seq)
        and type(store) is not int
        and type(terminal) is not int
    ):
        return None
    if type(store) is str and store and key.startswith(store):
        store = len(store)
    if type(terminal) is str and terminal and key.startswith(terminal):
        terminal = len(terminal)
    if lines and all(len(line) == 4 for line in lines):
        try:
            text = "|".join([" ".join(line) for line in lines])
        except TypeError:  # a value that is not a text
            text = None
        # Joined first and counted after, rather than each value searched: this is on every purchase.
        if text is not None and text.count(" ") == 3 * len(lines) and text.count("|") == len(lines) - 1:
            lines = text
    return [
        packed[4], packed[1], _IN_ENTRY, store, terminal, packed[7], lines, *packed[9:12], packed[13],
        *packed[16:],
    ]  # fmt: skip


def _with_entry(key: str, data: list[Any], entry: EntryFacts | None) -> list[Any]:
    """A record of layout 3 as layout 2, with the values its ``entry`` says."""
    if entry is None:
        raise ValueError(f"the record of {key!r} is read with its entry")
    member, at, points, balance, seq = entry
    currency, amount, _, store, terminal, channel, lines = data[:7]
    if type(store) is int:
        store = key[:store]
    if type(terminal) is int:
        terminal = key[:terminal]
    if type(lines) is str:
        lines = [line.split(" ") for line in lines.split("|")]
    return [
        member, amount, _PACKED, at, currency, store, terminal, channel, lines, *data[7:10],
        points, data[10], balance, seq, *data[11:],
    ]  # fmt: skip


# One encoder, made once: ``json.dumps`` with options makes a new one on every call.
_dump = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _pack_line(line: dict[str, Any]) -> list[Any] | None:
    """A line as a list, or ``None`` if it has a key this layout does not hold (or an optional
    one set to ``None``, which would come back absent)."""
    if type(line) is not dict or not _LINE_REQUIRED <= line.keys() <= _LINE_KEYS:
        return None
    packed = [line["sku"], line["quantity"], line["unit_price"], line["category"]]
    if len(line) > 4:
        packed += [line.get(name) for name in _LINE_OPTIONAL]
        if sum(value is not None for value in packed[4:]) != len(line) - 4:
            return None
        while packed[-1] is None:
            packed.pop()
    return packed


def _unpack_line(packed: list[Any]) -> dict[str, Any]:
    line = {"sku": packed[0], "quantity": packed[1], "unit_price": packed[2], "category": packed[3]}
    for name, value in zip(_LINE_OPTIONAL, packed[4:], strict=False):
        if value is not None:
            line[name] = value
    return line


def _pack_purchase(key: str, request: dict[str, Any], result: dict[str, Any]) -> list[Any] | None:
    """The compact form of a purchase's record, or ``None`` if it is not of the one shape whose
    every value the layout gives back as it was."""
    if request.keys() != _REQUEST_KEYS:
        return None
    keys: AbstractSet[str] = result.keys()
    numbered = "ledger_seq" in keys
    if numbered:
        keys = keys - {"ledger_seq"}  # kept as it is, where a whole record would keep it
    if not (keys == _RESULT_KEYS or (keys == _RESULT_KEYS_WITH_MEMBER and result["member"] is not None)):
        return None
    member = request["member_id"]
    money = result["amount"]
    currency = request["currency"]
    # What the record does not keep, as it is the key's or the request's, must be just that.
    if (
        not _same(result["source_id"], key)
        or not _same(result["member_id"], member)
        or not _same(result["occurred_at"], request["at"])
        or not (
            money is None
            or (
                type(money) is dict
                and money.keys() == _MONEY_KEYS
                and money["amount"] is not None  # which would come back as no amount
                and _same(money["currency"], currency)
            )
        )
    ):
        return None
    request_lines, contributions, skips = request["lines"], result["breakdown"], result["skipped"]
    # Lists and dicts only: a tuple or another mapping would come back as a list or a dict.
    if not type(request_lines) is type(contributions) is type(skips) is list:
        return None
    if type(result["context"]) is not dict:
        return None
    lines = []
    for line in request_lines:
        packed_line = _pack_line(line)
        if packed_line is None:
            return None
        lines.append(packed_line)
    texts: dict[str, int] = {}
    breakdown: list[list[Any]] = []
    run: list[Any] | None = None  # the run the previous contribution went to, if any
    for c in contributions:
        if type(c) is not dict or c.keys() != _CONTRIBUTION_KEYS or not isinstance(c["detail"], str | None):
            return None
        rule, line, detail = c["rule"], c["line"], _detail(c, request_lines, texts)
        if type(rule) is not str:
            return None  # a row starts with a rule's id, a run with an int
        if type(line) is not int or type(detail) is not int or not _same(c["name"], rule):
            run = None
            row = [rule, c["points"], line, detail]
            if not _same(c["name"], rule):
                row.append(c["name"])
            breakdown.append(row)
            continue
        points = c["points"]
        if type(points) is not str or not 0 <= line < len(lines):
            return None
        shown = 0 if points == _line_amount(lines[line]) else points
        if run is not None and run[1] == rule and run[2] == detail and run[0] + run[3] == line:
            run[3] += 1
            run.append(shown)
        else:
            run = [line, rule, detail, 1, shown]
            breakdown.append(run)
    for row in breakdown:
        if type(row[0]) is int and all(type(shown) is int for shown in row[4:]):
            del row[4:]  # every one its line's amount (the 0 that stands for it; any text is kept)
    skipped = []
    for s in skips:
        if type(s) is not dict or s.keys() != _SKIPPED_KEYS:
            return None
        skipped.append([s["rule"], s["reason"], *([] if _same(s["name"], s["rule"]) else [s["name"]])])
    own = f"|{member}"
    context = {}
    for name, value in result["context"].items():
        if name.endswith("|"):
            return None  # it would come back with the member's id after it
        context[name[: -len(member)] if name.endswith(own) else name] = value
    packed = [
        member,
        None if money is None else money["amount"],
        _PACKED,
        request["at"],
        currency,
        request["store_id"],
        request["terminal_id"],
        request["channel"],
        lines,
        breakdown,
        skipped,
        list(texts),
        *_TAIL_BUT_CONTEXT_OF(result),
        context,
        result.get("member", _ABSENT),
        *_USUAL_OF(result),
    ]
    usual = [_ABSENT, *_USUAL_VALUES]
    while usual and _same(packed[-1], usual[-1]):
        packed.pop()
        usual.pop()
    slot = _FIRST_OF_TAIL + len(_TAIL)
    if len(packed) > slot and packed[slot] is _ABSENT:
        packed[slot] = None  # no member, before values that are kept
    if numbered:
        packed[2:3] = [_NUMBERED, result["ledger_seq"]]
    return packed


_RECEIPT_KEYS = ("source_id", "member_id", "occurred_at", "amount", "breakdown", "skipped")
_FIRST_OF_TAIL = 12
# The exact key sets of the maps the compact layout holds.
_REQUEST_KEYS = frozenset({"member_id", "at", "currency", "store_id", "terminal_id", "channel", "lines"})
_RESULT_KEYS = frozenset({*_RECEIPT_KEYS, *_TAIL, *dict(_USUAL)})
_RESULT_KEYS_WITH_MEMBER = _RESULT_KEYS | {"member"}
_MONEY_KEYS = frozenset({"amount", "currency"})
_CONTRIBUTION_KEYS = frozenset({"rule", "name", "points", "detail", "line"})
_SKIPPED_KEYS = frozenset({"rule", "name", "reason"})
_LINE_REQUIRED = frozenset({"sku", "quantity", "unit_price", "category"})
_LINE_KEYS = _LINE_REQUIRED | frozenset(_LINE_OPTIONAL)


def _same(value: Any, usual: Any) -> bool:
    """Equal and of the same type: ``False`` is not the ``0`` it equals."""
    return value is usual or (type(value) is type(usual) and value == usual)


def _detail(contribution: dict[str, Any], lines: list[dict[str, Any]], texts: dict[str, int]) -> Any:
    """A line's detail that ends with its sku and points (``1 point per 1 EUR on P0002 3.09``) as
    the number of its beginning in the record's ``texts``, which the purchase's lines share;
    any other detail as it is."""
    detail, line = contribution["detail"], contribution["line"]
    if isinstance(line, int) and isinstance(detail, str) and 0 <= line < len(lines):
        sku, points = lines[line]["sku"], contribution["points"]
        # Texts only: a tuple would be written into the detail as one and come back as a list.
        if type(sku) is str and type(points) is str:
            end = f"{sku} {points}"
            if detail.endswith(end):
                return texts.setdefault(detail[: -len(end)], len(texts))
    return detail


def _unpack_purchase(key: str, data: list[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    member, amount, _, at, currency, store, terminal, channel, lines, breakdown, skipped, texts = data[
        :_FIRST_OF_TAIL
    ]
    request = {
        "member_id": member,
        "at": at,
        "currency": currency,
        "store_id": store,
        "terminal_id": terminal,
        "channel": channel,
        "lines": [_unpack_line(line) for line in lines],
    }
    result: dict[str, Any] = {
        "source_id": key,
        "member_id": member,
        "occurred_at": at,
        "amount": None if amount is None else {"amount": amount, "currency": currency},
        "breakdown": _unpack_breakdown(breakdown, lines, texts, runs=data[2] == _PACKED),
        "skipped": [{"rule": s[0], "name": s[2] if len(s) > 2 else s[0], "reason": s[1]} for s in skipped],
    }
    tail = data[_FIRST_OF_TAIL:]
    result.update(zip(_TAIL, tail, strict=False))
    result["context"] = {
        f"{name}{member}" if name.endswith("|") else name: value for name, value in result["context"].items()
    }
    rest = tail[len(_TAIL) :]
    if rest and rest[0] is not None:
        result["member"] = rest[0]
    kept = rest[1:]
    for i, (name, usual) in enumerate(_USUAL):
        result[name] = kept[i] if i < len(kept) else usual
    return request, result


def _line_amount(line: list[Any]) -> str:
    """A packed line's quantity times its unit price, exactly, as text: what a run's points are
    compared with (and made from again). Converted, multiplied and written out in the exact
    context, so the caller's (its traps, its ``capitals``) changes nothing."""
    return EXACT.to_sci_string(EXACT.multiply(Decimal(line[1], EXACT), Decimal(line[2], EXACT)))


def _unpack_breakdown(
    breakdown: list[list[Any]], lines: list[list[Any]], texts: list[str], *, runs: bool
) -> list[dict[str, Any]]:
    unpacked = []
    for c in breakdown:
        if runs and type(c[0]) is int:
            first, rule, detail, count = c[:4]
            shown = c[4:] or [0] * count
            for line, points in enumerate(shown, start=first):
                if points == 0:
                    points = _line_amount(lines[line])
                text = f"{texts[detail]}{lines[line][0]} {points}"
                unpacked.append({"rule": rule, "name": rule, "points": points, "detail": text, "line": line})
            continue
        rule, points, line, detail = c[:4]
        unpacked.append(
            {
                "rule": rule,
                "name": c[4] if len(c) > 4 else rule,
                "points": points,
                "detail": f"{texts[detail]}{lines[line][0]} {points}" if isinstance(detail, int) else detail,
                "line": line,
            }
        )
    return unpacked
