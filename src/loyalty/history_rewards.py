"""A reward bought in a history file (:mod:`loyalty.history`): the command, not the entries it wrote.

A ``reward`` record is a member buying a reward of the catalogue with points, as
:meth:`~loyalty.Engine.redeem_reward` takes it: the member, when (``at``), the ``reward_id`` and,
when the voucher was bought against a purchase, that purchase (``purchase_id``). ``code`` is the
voucher's, written for people and checked on reading back: the engine gives a voucher the code of
its id, so the imported voucher has the code the till knows.

It is carried as the command rather than as the ``redeem`` entry it wrote because what matters
after it is the voucher, not the points alone: replayed, the engine spends the cost from the same
lots (soonest-expiring first, as the first store did), issues the voucher with the same code and
expiry, and keeps the purchase it was bought against, so that a return of that purchase in full
revokes the voucher and gives its points back, as it would have in the first store::

    {"type": "reward", "id": "S03-T2-000122", "member_id": "M00042",
     "at": "2024-03-05T14:02:51+01:00", "reward_id": "coffee", "code": "HH6J8HJY8Z",
     "purchase_id": "S03-T2-000123"}

A voucher used at the till says so on its reward's record: when (``used_at``, the engine's
time there) and on which purchase (``used_for``, if the till said). A use writes no ledger
entry, so it has no place of its own in the ledger's order; it moves no points either, so the
import ends the voucher as used right after buying it (a voucher used before its purchase came
back in full was not revoked by that return, here neither)::

    {"type": "reward", "id": "S03-T2-000122", "member_id": "M00042",
     "at": "2024-03-05T14:02:51+01:00", "reward_id": "coffee", "code": "HH6J8HJY8Z",
     "used_at": "2024-03-06T08:10:00+00:00", "used_for": "S03-T2-000140"}

A voucher the merchant voided is a ``voucher_void`` record where the void was written in the
ledger's order (its points came back to the lots they came from then), naming the ``code``::

    {"type": "voucher_void", "id": "VOID-7", "member_id": "M00042",
     "at": "2024-03-07T10:00:00+01:00", "code": "HH6J8HJY8Z"}

>>> from loyalty.history import parse, write
>>> bought = parse(1, '{"type": "reward", "id": "T1-7", "member_id": "M1",'
...     ' "at": "2024-03-05T14:00:00+01:00", "reward_id": "coffee", "code": "HH6J8HJY8Z"}')
>>> bought.reward_id, bought.purchase_id
('coffee', None)
>>> parse(1, next(write([bought]))) == bought
True
>>> parse(2, '{"type": "reward", "id": "T1-8", "member_id": "M1",'
...     ' "at": "2024-03-05T14:00:00+01:00", "reward_id": 7}')
Traceback (most recent call last):
...
loyalty.errors.InvalidInput: line 2: reward_id: must be a string, not int
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from loyalty.history_fields import Fields

__all__ = ["RewardBought", "VoucherVoided", "read_reward", "reward_record"]


@attrs.frozen
class RewardBought:
    """Member ``member_id`` buys reward ``reward_id`` ``at`` under the command id ``id``, against
    purchase ``purchase_id`` if any; ``code``: the voucher's, if known (see
    :meth:`~loyalty.Engine.redeem_reward`)."""

    id: str
    member_id: str
    at: datetime
    reward_id: str
    code: str | None = None
    purchase_id: str | None = None
    #: When the voucher was used (the engine's time), if it was.
    used_at: datetime | None = None
    #: The purchase it was used on, if the till said.
    used_for: str | None = None


def reward_record(bought: RewardBought) -> dict[str, Any]:
    """What a reward's record says beyond its id, member and time (the others only when known)."""
    record: dict[str, Any] = {"type": "reward", "reward_id": bought.reward_id}
    record |= {} if bought.code is None else {"code": bought.code}
    record |= {} if bought.purchase_id is None else {"purchase_id": bought.purchase_id}
    record |= {} if bought.used_at is None else {"used_at": bought.used_at.isoformat()}
    return record | ({} if bought.used_for is None else {"used_for": bought.used_for})


def read_reward(record: Fields, event_id: str, member_id: str, at: datetime) -> RewardBought:
    """The reward of ``record`` (its ids and code checked when it reaches an engine)."""
    code, paid = record.optional_text("code"), record.optional_text("purchase_id")
    used = None if record.data.get("used_at") is None else record.instant("used_at")
    used_for = record.optional_text("used_for")
    return RewardBought(event_id, member_id, at, record.text("reward_id"), code, paid, used, used_for)


@attrs.frozen
class VoucherVoided:
    """The merchant voids member ``member_id``'s voucher ``code`` ``at`` under the command id
    ``id``: its points come back (see :meth:`~loyalty.Engine.void_voucher`)."""

    id: str
    member_id: str
    at: datetime
    code: str
