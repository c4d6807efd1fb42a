"""The rewards catalogue: what members can buy with their points.

A program's ``[[rewards]]`` (:class:`Reward`) name what is on offer, each at a
``cost`` in points (the program's unit) and giving one thing: money off
(``gives = "amount_off"`` with an ``amount`` in the program's currency), a
product (``"product"`` with its ``sku``) or a voucher of the merchant's own
(``"voucher"``). Whatever it gives, a reward bought is a voucher with a code
(:mod:`loyalty.vouchers`), valid for ``valid_for_days``; a reward may be on
offer only from ``available_from`` to ``available_until`` (days of the
program's timezone, both included).

>>> coffee = Reward(id="coffee", name="A free coffee", cost=300, gives="product", sku="ESP-1")
>>> coffee.gives.value, coffee.valid_for_days
('product', 30)
>>> Reward(id="five-off", name="5 off", cost=500, gives="amount_off")
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: amount: a reward that gives amount_off needs an amount
>>> [reward.id for reward in affordable([coffee], 250)], [reward.id for reward in affordable([coffee], 300)]
([], ['coffee'])
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from loyalty.checks import MAX_NAME_LENGTH, MAX_POINTS, accepts, check_id, check_text
from loyalty.errors import InvalidInput
from loyalty.money import check_decimal
from loyalty.rule_fields import as_enum, check_rule_id

__all__ = ["MAX_REWARDS", "MAX_VALID_DAYS", "Gives", "Reward", "affordable", "check_rewards", "on_offer"]

#: The most rewards a catalogue holds, and the longest a voucher may stay valid.
MAX_REWARDS = 1000
MAX_VALID_DAYS = 3660


class Gives(enum.Enum):
    """What a reward gives: money off, a product, or a voucher of the merchant's own."""

    AMOUNT_OFF = "amount_off"
    PRODUCT = "product"
    VOUCHER = "voucher"


@accepts(pattern="^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
def _check_slug(_: Any, __: Any, value: Any) -> None:
    check_rule_id("id", value)


@accepts(maxLength=MAX_NAME_LENGTH)
def _check_name(_: Any, __: Any, value: Any) -> None:
    check_text("name", value, max_length=MAX_NAME_LENGTH, blank=False)


@accepts(minimum=1, maximum=MAX_POINTS)
def _check_cost(_: Any, __: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("cost", f"must be an int, got {value!r}")
    if value <= 0:
        raise InvalidInput("cost", f"must be positive, got {value}")
    if value > MAX_POINTS:
        raise InvalidInput("cost", f"must be at most {MAX_POINTS}, got {value}")


def _to_gives(value: Any) -> Any:
    return as_enum(Gives, value)


def _check_gives(_: Any, __: Any, value: Any) -> None:
    if not isinstance(value, Gives):
        names = ", ".join(repr(member.value) for member in Gives)
        raise InvalidInput("gives", f"must be one of {names}, got {value!r}")


def _to_decimal(value: Any) -> Any:
    return Decimal(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _check_amount(_: Any, __: Any, value: object) -> None:
    if value is not None and check_decimal("amount", value) <= 0:
        raise InvalidInput("amount", f"must be positive, got {value}")


def _optional_date(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
        raise InvalidInput(attribute.name, f"must be a date, not {type(value).__name__}")


def _check_sku(_: Any, __: Any, value: object) -> None:
    if value is not None:
        check_id("sku", value)


@accepts(minimum=1, maximum=MAX_VALID_DAYS)
def _check_days(_: Any, __: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_VALID_DAYS:
        raise InvalidInput("valid_for_days", f"must be an int from 1 to {MAX_VALID_DAYS}, got {value!r}")


@attrs.frozen(kw_only=True)
class Reward:
    """A reward of the catalogue: ``cost`` points buy a voucher for what it ``gives``.

    ``amount`` (money off, in the program's currency) goes with ``gives = "amount_off"``
    and ``sku`` (the product's code at the till) with ``"product"``; a ``"voucher"``
    needs neither. The voucher is valid for ``valid_for_days`` from its issue; the
    reward is on offer from ``available_from`` to ``available_until``, days of the
    program's timezone, both included (always, when left out).
    """

    id: str = attrs.field(validator=_check_slug)
    name: str = attrs.field(validator=_check_name)
    cost: int = attrs.field(validator=_check_cost)
    gives: Gives = attrs.field(converter=_to_gives, validator=_check_gives)
    amount: Decimal | None = attrs.field(default=None, converter=_to_decimal, validator=_check_amount)
    sku: str | None = attrs.field(default=None, validator=_check_sku)
    valid_for_days: int = attrs.field(default=30, validator=_check_days)
    available_from: date | None = attrs.field(default=None, validator=_optional_date)
    available_until: date | None = attrs.field(default=None, validator=_optional_date)

    def __attrs_post_init__(self) -> None:
        if self.gives is Gives.AMOUNT_OFF and self.amount is None:
            raise InvalidInput("amount", "a reward that gives amount_off needs an amount")
        if self.gives is not Gives.AMOUNT_OFF and self.amount is not None:
            raise InvalidInput(
                "amount", f"only a reward that gives amount_off has one, not {self.gives.value}"
            )
        if self.gives is Gives.PRODUCT and self.sku is None:
            raise InvalidInput("sku", "a reward that gives a product needs its sku")
        if self.gives is not Gives.PRODUCT and self.sku is not None:
            raise InvalidInput("sku", f"only a reward that gives a product has one, not {self.gives.value}")
        start, end = self.available_from, self.available_until
        if start is not None and end is not None and end < start:
            raise InvalidInput("available_until", f"must not be before available_from ({start}), got {end}")

    def offered_at(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether the reward is on offer at ``at`` (its day read in ``zone``)."""
        day = at.astimezone(zone).date()
        if self.available_from is not None and day < self.available_from:
            return False
        return self.available_until is None or day <= self.available_until


def check_rewards(rewards: tuple[Reward, ...]) -> None:
    """A catalogue's rewards: :class:`Reward` values, at most :data:`MAX_REWARDS`, ids unique."""
    if len(rewards) > MAX_REWARDS:
        raise InvalidInput("rewards", f"at most {MAX_REWARDS} rewards, got {len(rewards)}")
    seen: dict[str, int] = {}
    for i, reward in enumerate(rewards):
        if not isinstance(reward, Reward):
            raise InvalidInput(f"rewards[{i}]", f"must be a Reward, got {reward!r}")
        if reward.id in seen:
            raise InvalidInput(
                f"rewards[{i}].id", f"{reward.id!r} is already the id of rewards[{seen[reward.id]}]"
            )
        seen[reward.id] = i


def on_offer(rewards: Iterable[Reward], at: datetime, zone: ZoneInfo) -> list[Reward]:
    """The rewards on offer at ``at``, in the catalogue's order."""
    return [reward for reward in rewards if reward.offered_at(at, zone)]


def affordable(rewards: Iterable[Reward], available: int) -> list[Reward]:
    """The rewards ``available`` points pay for, in the catalogue's order."""
    return [reward for reward in rewards if reward.cost <= available]
