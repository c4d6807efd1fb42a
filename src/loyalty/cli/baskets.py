"""Baskets for ``loyalty quote``: JSON objects or ``--line`` options, read into a purchase and its member.

Every bad field raises the library's error for it, named by its path in the
basket (``lines[0].unit_price``), so a till developer can fix the file in one go.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from loyalty.checks import check_aware, check_id
from loyalty.cli.programs import check_file
from loyalty.earning_keys import visits_key
from loyalty.errors import InvalidAmount, InvalidDatetime, InvalidInput, InvalidQuantity
from loyalty.members import Member
from loyalty.money import check_currency
from loyalty.purchases import MAX_LINES, Line, Purchase
from loyalty.tallies import Tally

QUOTE_ID = "quote"
_BASKET_KEYS = ("member_id", "at", "currency", "id", "store_id", "terminal_id", "channel", "lines", "member")
_LINE_KEYS = ("sku", "quantity", "unit_price", "category", "labels", "discount", "tax")
_MEMBER_KEYS = ("birthday", "attributes", "visits", "enrolled_at")
#: A basket's member enrolled "long ago" unless it says when: a quote is for a regular member,
#: whom no cool-off since enrollment holds back (the earliest instant the library takes).
_LONG_AGO = datetime(1900, 1, 1, tzinfo=UTC)
_DECIMAL_TEXT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_WHOLE_TEXT = re.compile(r"[0-9]+")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AT_EXAMPLE = '"2024-03-05T15:10:00+01:00"'


class Basket(NamedTuple):
    """A basket to quote: the purchase, its member, and how many purchases the member made before."""

    purchase: Purchase
    member: Member
    visits: int = 0

    @property
    def tallies(self) -> dict[str, Tally]:
        """All a quote knows of the member's past: the visit count (for first-purchase rules)."""
        return {visits_key(self.member.id): Tally(self.visits)}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _within(path: str, error: InvalidInput) -> InvalidInput:
    """``error`` (raised by a domain constructor, named relative to it) named from the basket's root."""
    if not path:
        return error
    field = error.field or ""
    joined = path + field if field.startswith("[") else _join(path, field) if field else path
    return type(error)(joined, error.message)


def _object(path: str, value: object, keys: Sequence[str], required: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        what = "" if path else "the basket "
        raise InvalidInput(path or None, f"{what}must be a JSON object, not {type(value).__name__}")
    for key in value:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else "the keys are " + ", ".join(keys)
            raise InvalidInput(_join(path, str(key)), f"unknown key ({hint})")
    for key in required:
        if key not in value:
            raise InvalidInput(_join(path, key), "missing")
    return value


def _given(table: Mapping[str, Any], key: str) -> Any:
    """The value under ``key``; ``None`` when it is left out or null (the field's default)."""
    return table.get(key)


def _instant(field: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise InvalidDatetime(
            field, f"must be an ISO 8601 string such as {_AT_EXAMPLE}, not {type(value).__name__}"
        )
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidDatetime(
            field, f"must be an ISO 8601 date-time such as {_AT_EXAMPLE}, got {value!r}"
        ) from None
    if at.tzinfo is None:
        raise InvalidDatetime(
            field, f"must carry a UTC offset (+01:00, Z): {value!r} is ambiguous, e.g. {_AT_EXAMPLE}"
        )
    return check_aware(field, at)


def money_text(field: str, value: object) -> Decimal:
    if isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value):
            return Decimal(value)
        raise InvalidAmount(field, f'must be an amount such as "3.40", got {value!r}')
    raise InvalidAmount(field, f'must be a string such as "3.40", not {type(value).__name__}')


def _quantity(field: str, value: object) -> int | Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value):
            return Decimal(value)
        raise InvalidQuantity(field, f'must be a whole number or a decimal such as "1.250", got {value!r}')
    raise InvalidQuantity(
        field, f'must be an int or a decimal string such as "1.250", not {type(value).__name__}'
    )


def _line(path: str, value: object) -> Line:
    line = _object(path, value, _LINE_KEYS, ("sku", "quantity", "unit_price"))
    sku = check_id(_join(path, "sku"), line["sku"])
    quantity = _quantity(_join(path, "quantity"), line["quantity"])
    unit_price = money_text(_join(path, "unit_price"), line["unit_price"])
    extra: dict[str, Any] = {}
    for key in ("discount", "tax"):
        if _given(line, key) is not None:
            extra[key] = money_text(_join(path, key), line[key])
    try:
        return Line(
            sku,
            quantity,
            unit_price,
            category=_given(line, "category"),
            labels=_given(line, "labels"),
            **extra,
        )
    except InvalidInput as exc:
        raise _within(path, exc) from None


def _birthday(value: object) -> date | None:
    if value is None:
        return None
    if isinstance(value, str) and _DATE_TEXT.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput("member.birthday", f'must be a date such as "1990-03-04", got {value!r}')


def _visits(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            "member.visits", f"must be the number of purchases before this one (an int >= 0), got {value!r}"
        )
    return value


def basket_from_json(data: object) -> Basket:
    """The purchase and member a basket's JSON ``data`` describes (the format is in ``docs/cli.md``).

    Money is strings (``"3.40"``), quantities ints or decimal strings, ``at``
    an ISO 8601 date-time with an offset. Anything else raises the
    :class:`~loyalty.LoyaltyError` subclass the domain raises for it, its
    ``field`` the path in ``data`` (``lines[0].unit_price``, ``member.birthday``).
    """
    basket = _object("", data, _BASKET_KEYS, ("member_id", "at", "currency", "lines"))
    at = _instant("at", basket["at"])
    raw_lines = basket["lines"]
    if not isinstance(raw_lines, list):
        raise InvalidInput("lines", f"must be a list of line objects, not {type(raw_lines).__name__}")
    if len(raw_lines) > MAX_LINES:
        raise InvalidInput("lines", f"at most {MAX_LINES} lines, got {len(raw_lines)}")
    lines = [_line(f"lines[{i}]", item) for i, item in enumerate(raw_lines)]
    purchase = Purchase(
        _given(basket, "id") if _given(basket, "id") is not None else QUOTE_ID,
        basket["member_id"],
        at,
        lines,
        basket["currency"],
        store_id=_given(basket, "store_id"),
        terminal_id=_given(basket, "terminal_id"),
        channel=_given(basket, "channel"),
    )
    raw_member = _given(basket, "member")
    about = {} if raw_member is None else _object("member", raw_member, _MEMBER_KEYS, ())
    birthday = _birthday(_given(about, "birthday"))
    visits = _visits(_given(about, "visits"))
    enrolled = (
        _LONG_AGO
        if _given(about, "enrolled_at") is None
        else _instant("member.enrolled_at", about["enrolled_at"])
    )
    if enrolled > at:
        raise InvalidDatetime("member.enrolled_at", "must not be after the basket's at")
    try:
        member = Member(purchase.member_id, enrolled, birthday, _given(about, "attributes"))
    except InvalidInput as exc:
        raise _within("member", exc) from None
    return Basket(purchase, member, visits)


def read_basket(source: str) -> object:
    """The JSON value in the basket file ``source`` (``-``: standard input)."""
    if source == "-":
        label, text = "<stdin>", sys.stdin.read().removeprefix("\ufeff")
    else:
        path = Path(source)
        check_file(path)
        label = source
        try:
            # utf-8-sig: a byte order mark, which some editors save UTF-8 with, is not the basket's.
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(source, f"is not UTF-8 text (byte {exc.start}: {exc.reason})") from None
        except OSError as exc:
            raise InvalidInput(source, f"cannot be read: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{label} line {exc.lineno}", f"{exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InvalidInput(label, "is nested too deeply to be a basket") from None
    except ValueError as exc:  # a number of more digits than Python converts
        raise InvalidInput(label, f"is not JSON this reader takes: {str(exc).split(';')[0]}") from None


def argument(check: Any) -> Any:
    """An argparse ``type`` running ``check(value)``, its LoyaltyError shown as argparse's own."""

    def convert(text: str) -> Any:
        try:
            return check(text)
        except InvalidInput as exc:
            raise argparse.ArgumentTypeError(exc.message if not exc.field else str(exc)) from None

    return convert


def _parse_line(text: str) -> Line:
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise InvalidInput(
            None, f"expected SKU:QTY:PRICE[:CATEGORY] such as latte:2:3.40:coffee, got {text!r}"
        )
    sku, quantity, price = parts[:3]
    data: dict[str, Any] = {
        "sku": sku,
        "quantity": int(quantity) if _WHOLE_TEXT.fullmatch(quantity) else quantity,
        "unit_price": price,
    }
    if len(parts) == 4:
        data["category"] = parts[3]
    try:
        return _line("", data)
    except InvalidInput as exc:
        raise InvalidInput(None, f"{text}: {exc}") from None


line_argument = argument(_parse_line)
at_argument = argument(lambda text: _instant("", text))


def _day_or_instant(text: str) -> date | datetime:
    """A plain date (``2024-03-25``: a whole day, read in the program's timezone later), or an instant."""
    if _DATE_TEXT.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise InvalidDatetime(None, f"{text!r} is not a date") from None
    return _instant("", text)


day_or_at_argument = argument(_day_or_instant)
id_argument = argument(lambda text: check_id("", text))
currency_argument = argument(lambda text: check_currency("", text))
