"""Redemption terms: what one redemption or hold may take, and points as payment.

A program's ``[redemption]`` table (:class:`Redemption`) sets limits the way
merchants state them: the fewest points a redemption may take (``minimum``),
points taken in steps (``multiple``), the most points that may pay for one
purchase (``per_purchase``), the most a member may spend in a day
(``per_day``, holds included), and whether the points a purchase earned may
pay for that same purchase (``same_purchase``). With a ``point_value`` (money
per point) points pay for a purchase like money: never for more than its
total, and :func:`points_for` says how many cover an amount.

A request that breaks ``minimum`` or ``multiple`` is bad input
(:class:`~loyalty.errors.InvalidPoints`, nothing written). One that the
member's day, the purchase or its own points leave no room for is declined
like a short balance (:class:`~loyalty.errors.RedemptionLimit`, a kind of
:class:`~loyalty.errors.InsufficientPoints`, with what is still ``available``
under that limit) and stays declined on a retry.

>>> terms = Redemption(minimum=100, multiple=50, point_value=Decimal("0.01"))
>>> check_request(terms, 120)
Traceback (most recent call last):
...
loyalty.errors.InvalidPoints: points: redemption.multiple: points are taken in multiples of 50, got 120
>>> points_for(terms, Decimal("3.20")), value_of(terms, 350)
(350, Decimal('3.50'))
>>> refused = limit_refusal(terms, 300, day_used=0, paid=0, basket=Decimal("2.00"))
>>> print(refused, refused.limit, refused.available, sep=" | ")
points: the purchase total 2.00 is covered by at most 200 points; 300 requested | basket | 200
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import attrs

from loyalty.checks import MAX_POINTS, accepts
from loyalty.errors import InvalidInput, InvalidPoints, RedemptionLimit
from loyalty.json_form import JsonForm
from loyalty.money import EXACT, Money

__all__ = [
    "LIMITS",
    "PaymentQuote",
    "Redemption",
    "check_request",
    "day_key",
    "limit_refusal",
    "payment_quote",
    "points_for",
    "refusal",
    "value_of",
]

#: The limits a redemption can be declined by, as :attr:`RedemptionLimit.limit` names them.
LIMITS = ("per_day", "per_purchase", "basket", "same_purchase")


def _points(field: str, low: int) -> Any:
    @accepts(minimum=low, maximum=MAX_POINTS)
    def check(_: Any, __: Any, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_POINTS:
            raise InvalidInput(field, f"must be an int from {low} to {MAX_POINTS}, got {value!r}")

    return check


def _optional_points(field: str) -> Any:
    inner = _points(field, 1)

    @accepts(minimum=1, maximum=MAX_POINTS)
    def check(instance: Any, attribute: Any, value: object) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


def _check_bool(_: Any, __: Any, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInput("same_purchase", f"must be true or false, got {value!r}")


def _to_decimal(value: Any) -> Any:
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _check_value(_: Any, __: Any, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0 or value > 10**6:
        raise InvalidInput("point_value", f"must be None or an amount from above 0 to 1000000, got {value!r}")


@attrs.frozen(kw_only=True)
class Redemption:
    """How members may spend points (the program's ``redemption`` table); figures are points.

    ``minimum``: the fewest points one redemption or hold may take;
    ``multiple``: points are taken in multiples of it; ``per_purchase``: the
    most points that may pay for one purchase (``redeem(..., purchase_id=)``);
    ``per_day``: the most a member may spend in a day of the program's
    timezone, counting redemptions, holds still open and what holds captured;
    ``same_purchase``: whether the points a purchase earned may pay for it;
    ``point_value``: money one point is worth as payment (in the program's
    currency): points paying for a purchase are worth at most its total.
    """

    minimum: int = attrs.field(default=1, validator=_points("minimum", 1))
    multiple: int = attrs.field(default=1, validator=_points("multiple", 1))
    per_purchase: int | None = attrs.field(default=None, validator=_optional_points("per_purchase"))
    per_day: int | None = attrs.field(default=None, validator=_optional_points("per_day"))
    same_purchase: bool = attrs.field(default=True, validator=_check_bool)
    point_value: Decimal | None = attrs.field(default=None, converter=_to_decimal, validator=_check_value)

    def __attrs_post_init__(self) -> None:
        if self.minimum % self.multiple:
            raise InvalidInput("minimum", f"must be a multiple of {self.multiple}, got {self.minimum}")
        for name in ("per_purchase", "per_day"):
            top = getattr(self, name)
            if top is not None and top < self.minimum:
                raise InvalidInput(name, f"must be at least minimum ({self.minimum}), got {top}")


def check_request(terms: Redemption, points: int) -> None:
    """Refuse ``points`` (to redeem or hold) that break ``minimum`` or ``multiple``: bad input."""
    if points < terms.minimum:
        raise InvalidPoints(
            "points", f"redemption.minimum: at least {terms.minimum} points at a time, got {points}"
        )
    if points % terms.multiple:
        raise InvalidPoints(
            "points", f"redemption.multiple: points are taken in multiples of {terms.multiple}, got {points}"
        )


def day_key(member_id: str, day: date) -> str:
    """The tally of what ``member_id`` spent on ``day`` (redemptions and captured holds).

    >>> day_key("M1", date(2024, 3, 1))
    'spent|2024-03-01|M1'
    """
    return f"spent|{day.isoformat()}|{member_id}"


def value_of(terms: Redemption, points: int) -> Decimal:
    """What ``points`` are worth as payment (``point_value`` is required)."""
    assert terms.point_value is not None
    return EXACT.multiply(Decimal(points), terms.point_value)


def points_for(terms: Redemption, amount: Decimal) -> int:
    """The fewest points, in steps of ``multiple`` and at least ``minimum``, worth ``amount``."""
    assert terms.point_value is not None
    needed = int(EXACT.divide(amount, terms.point_value).to_integral_value(rounding=ROUND_CEILING))
    steps = -(-needed // terms.multiple)
    return max(terms.minimum, steps * terms.multiple)


def _most_for(terms: Redemption, amount: Decimal) -> int:
    """The most points, in steps of ``multiple``, worth no more than ``amount``."""
    assert terms.point_value is not None
    most = int(EXACT.divide(amount, terms.point_value).to_integral_value(rounding=ROUND_FLOOR))
    return max(0, most - most % terms.multiple)


def refusal(limit: str, available: int, requested: int, detail: str = "") -> RedemptionLimit:
    """The decline of ``requested`` points by ``limit`` (one of :data:`LIMITS`), ``available``
    being what the limit still allows."""
    messages = {
        "per_day": f"redemption.per_day: {available} points left today; {requested} requested",
        "per_purchase": f"redemption.per_purchase: {available} more points may pay for this purchase; "
        f"{requested} requested",
        "basket": f"the purchase total {detail} is covered by at most {available} points; "
        f"{requested} requested",
        "same_purchase": f"redemption.same_purchase: {available} points available besides those this "
        f"purchase earned; {requested} requested",
    }
    return RedemptionLimit(
        "points", messages[limit], available=available, requested=requested, limit=limit, detail=detail
    )


def limit_refusal(
    terms: Redemption,
    points: int,
    *,
    day_used: int,
    paid: int | None = None,
    basket: Decimal | None = None,
) -> RedemptionLimit | None:
    """Whether taking ``points`` passes a limit: the member's ``day_used`` so far, and for a
    payment the points already ``paid`` for the purchase and its ``basket`` total."""
    if terms.per_day is not None and day_used + points > terms.per_day:
        return refusal("per_day", max(0, terms.per_day - day_used), points)
    if paid is None:
        return None
    if terms.per_purchase is not None and paid + points > terms.per_purchase:
        return refusal("per_purchase", max(0, terms.per_purchase - paid), points)
    if basket is not None and terms.point_value is not None and value_of(terms, paid + points) > basket:
        return refusal("basket", max(0, _most_for(terms, basket) - paid), points, str(basket))
    return None


@attrs.frozen
class PaymentQuote(JsonForm):
    """How many points pay ``amount`` (:meth:`loyalty.Engine.quote_payment`), writing nothing.

    ``points`` cover the whole amount (``value`` is what they are worth, at
    least ``amount``); ``usable`` are the points the member can pay with now,
    within its available balance and the program's limits, and ``covers``
    what they pay of the amount. ``limited_by`` names what holds ``usable``
    below ``points`` (``balance``, ``minimum`` or a limit of :data:`LIMITS`),
    ``None`` when the points cover it all.
    """

    amount: Money
    points: int
    value: Money
    usable: int
    covers: Money
    limited_by: str | None


def payment_quote(
    terms: Redemption,
    amount: Money,
    *,
    available: int,
    day_used: int = 0,
    paid: int | None = None,
    basket: Decimal | None = None,
    own: int = 0,
) -> PaymentQuote:
    """What paying ``amount`` with points takes, for a member with ``available`` points who spent
    ``day_used`` today (and, paying for a recorded purchase, ``paid`` for it of its ``basket``,
    and ``own`` of the ``available`` points the purchase earned itself, which may not pay for it
    unless ``same_purchase``).

    >>> terms = Redemption(minimum=100, multiple=10, point_value=Decimal("0.01"))
    >>> quote = payment_quote(terms, Money(Decimal("3.25"), "EUR"), available=280)
    >>> quote.points, str(quote.value), quote.usable, str(quote.covers), quote.limited_by
    (330, '3.30 EUR', 280, '2.80 EUR', 'balance')
    """
    points = points_for(terms, amount.amount)
    caps = {"balance": available}
    if terms.per_day is not None:
        caps["per_day"] = terms.per_day - day_used
    if paid is not None:
        if terms.per_purchase is not None:
            caps["per_purchase"] = terms.per_purchase - paid
        if basket is not None:
            caps["basket"] = _most_for(terms, basket) - paid
        if not terms.same_purchase and own:
            caps["same_purchase"] = available - own
    usable, limited_by = points, None
    for name, cap in caps.items():
        if cap < usable:
            usable, limited_by = cap, name
    usable = max(0, usable - usable % terms.multiple)
    if usable < terms.minimum:
        usable, limited_by = 0, limited_by or "minimum"
    currency = amount.currency

    def money(value: Decimal) -> Money:
        return Money.of(value, currency).rounded()

    covers = min(amount.amount, value_of(terms, usable))
    return PaymentQuote(amount, points, money(value_of(terms, points)), usable, money(covers), limited_by)
