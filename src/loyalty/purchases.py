"""What a till sends: a purchase made of lines.

>>> from datetime import datetime, timezone
>>> from decimal import Decimal
>>> p = Purchase("S01-T1-000001", "M1", datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc),
...              [Line("8710000001236", 2, Decimal("1.29"), category="bakery")], "EUR")
>>> p.total
Money(amount=Decimal('2.58'), currency='EUR')
>>> Line("sku", 0, Decimal("1.00"))
Traceback (most recent call last):
...
loyalty.errors.InvalidQuantity: quantity: must be positive, got 0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from loyalty.checks import check_aware, check_id, validates
from loyalty.errors import InvalidAmount, InvalidInput, InvalidQuantity
from loyalty.money import EXACT, MAX_AMOUNT, Money, check_currency, check_decimal, check_magnitude

__all__ = ["MAX_LINES", "Line", "Purchase", "check_quantity"]

MAX_LINES = 1000


def check_quantity(_: Any, __: Any, value: Any) -> None:
    # Whole units are ints; weighed goods (1.235 kg) are Decimals. Never floats.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidQuantity("quantity", f"must be an int or Decimal, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidQuantity("quantity", f"must be finite, got {value}")
    if value <= 0:
        raise InvalidQuantity("quantity", f"must be positive, got {value}")
    if type(value) is int and value < MAX_AMOUNT:
        return  # a whole number of units has no decimal places to check
    check_magnitude("quantity", Decimal(value), InvalidQuantity)


def _amount(field: str) -> Any:
    def check(_: Any, __: Any, value: object) -> None:
        # Most lines have no discount and no tax: the default zero is known good.
        if value is not _ZERO:
            check_decimal(field, value)

    return check


def _optional_id(field: str) -> Any:
    def check(_: Any, __: Any, value: object) -> None:
        if value is not None:
            check_id(field, value)

    return check


def _freeze_labels(value: Mapping[str, str] | None) -> Mapping[str, str]:
    if value is None:
        return _NO_LABELS
    if not isinstance(value, Mapping):
        raise InvalidInput("labels", f"must be a mapping of str to str, not {type(value).__name__}")
    if len(value) > _MAX_LABELS:
        raise InvalidInput("labels", f"at most {_MAX_LABELS} labels, got {len(value)}")
    for key, item in value.items():
        check_id("labels", key)
        if not isinstance(item, str):
            raise InvalidInput(f"labels[{key!r}]", f"must be a str, not {type(item).__name__}")
        check_id(f"labels[{key!r}]", item)
    return MappingProxyType(dict(sorted(value.items())))


_NO_LABELS: Mapping[str, str] = MappingProxyType({})
_MAX_LABELS = 32
_ZERO = Decimal(0)


@attrs.frozen
class Line:
    """One basket line: ``quantity`` units of ``sku`` at ``unit_price`` each.

    ``discount`` is the money taken off the whole line; ``tax`` is the tax
    included in what the line costs after that discount (programs that earn on
    amounts without tax subtract it). ``labels`` are key=value facts such as
    ``{"color": "red"}`` that rules can filter on.
    """

    sku: str = attrs.field(validator=validates(check_id, "sku"))
    quantity: int | Decimal = attrs.field(validator=check_quantity)
    unit_price: Decimal = attrs.field(validator=validates(check_decimal, "unit_price"))
    category: str | None = attrs.field(default=None, validator=_optional_id("category"))
    labels: Mapping[str, str] = attrs.field(default=None, converter=_freeze_labels, hash=False)
    discount: Decimal = attrs.field(default=_ZERO, validator=_amount("discount"))
    tax: Decimal = attrs.field(default=_ZERO, validator=_amount("tax"))

    def __attrs_post_init__(self) -> None:
        gross = EXACT.multiply(self.unit_price, self.quantity)
        if self.discount > gross:
            raise InvalidAmount("discount", f"must not exceed the line amount {gross}, got {self.discount}")
        net = EXACT.subtract(gross, self.discount) if self.discount else gross
        if self.tax > net:
            raise InvalidAmount("tax", f"must not exceed the amount paid for the line {net}, got {self.tax}")
        # Computed once: every rule that looks at the line reads it.
        object.__setattr__(self, "amount", net)

    #: The exact amount paid for the line (after its discount, tax included),
    #: before any rounding to the currency's minor unit.
    amount: Decimal = attrs.field(init=False, eq=False, repr=False, hash=False)


def _lines(value: Iterable[Line]) -> tuple[Line, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput("lines", f"must be a sequence of Line, not {type(value).__name__}")
    return tuple(value)


def _check_lines(_: Any, __: Any, lines: tuple[Line, ...]) -> None:
    if not lines:
        raise InvalidInput("lines", "a purchase needs at least one line (empty basket)")
    if len(lines) > MAX_LINES:
        raise InvalidInput("lines", f"at most {MAX_LINES} lines, got {len(lines)}")
    for i, line in enumerate(lines):
        if not isinstance(line, Line):
            raise InvalidInput(f"lines[{i}]", f"must be a Line, not {type(line).__name__}")


@attrs.frozen
class Purchase:
    """A sale at a till. ``id`` is the POS's own receipt id and the idempotency key.

    ``at`` is when the sale happened at the till, which may be long before it
    reaches the engine (offline terminals); it must be timezone-aware.
    """

    id: str = attrs.field(validator=validates(check_id, "id"))
    member_id: str = attrs.field(validator=validates(check_id, "member_id"))
    at: datetime = attrs.field(validator=validates(check_aware, "at"))
    lines: tuple[Line, ...] = attrs.field(converter=_lines, validator=_check_lines)
    currency: str = attrs.field(validator=validates(check_currency, "currency"))
    store_id: str | None = attrs.field(default=None, validator=_optional_id("store_id"))
    terminal_id: str | None = attrs.field(default=None, validator=_optional_id("terminal_id"))
    channel: str | None = attrs.field(default=None, validator=_optional_id("channel"))

    def __attrs_post_init__(self) -> None:
        exact = Decimal(0)
        for line in self.lines:
            exact = EXACT.add(exact, line.amount)
        if exact >= MAX_AMOUNT:
            raise InvalidAmount("lines", f"the basket total must be below {MAX_AMOUNT:,.0f}, got {exact}")
        # The exact total is checked as an amount (a product of quantity and price can have
        # more places than either); the rounded one is made from it unchecked.
        check_magnitude("amount", exact, InvalidAmount)
        # Computed once here: the engine reads it several times per command.
        object.__setattr__(self, "total", Money.of(exact, self.currency).rounded())

    #: The amount paid for the basket (after line discounts), rounded to the currency's minor unit.
    total: Money = attrs.field(init=False, eq=False, repr=False)
