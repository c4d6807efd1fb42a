"""Vouchers: a reward of the catalogue bought with points, then used once or ended.

A member buys a reward (:mod:`loyalty.rewards`) with its ``cost`` in points
(a ``redeem`` entry drawing on the lots) and holds a :class:`Voucher` with a
code the till scans later. The voucher is *issued* and then ends exactly
once:

- *used* at the till, once, before it expires, by its own member;
- *voided* by the merchant: its points come back to the lots they came from
  (a ``release`` entry: a correction is a new entry, never an edit);
- *expired* once ``expires_at`` has passed (maintenance ends it): the points
  are **not** given back, as the member had the reward's value in hand;
- *revoked* when the purchase it was bought against comes back in full: it
  was part of that sale, so its points come back as with a void.

The decisions here are pure: :func:`check_use` and :func:`check_open`
refuse with typed errors naming the field ``code``, :func:`code_for` makes
the code from the caller's id, so a retry of the purchase names the same
code.

>>> from datetime import datetime, timezone
>>> t = datetime(2024, 3, 1, 9, 30, tzinfo=timezone.utc)
>>> code_for("T1-7")
'HH6J8HJY8Z'
>>> voucher = issue(code_for("T1-7"), "M1", "coffee", 300, ((4, -300),), at=t, valid_for_days=30)
>>> voucher.expires_at.isoformat(), voucher.status.value
('2024-03-31T09:30:00+00:00', 'issued')
>>> check_use(voucher, datetime(2024, 4, 1, tzinfo=timezone.utc), member_id="M1")
Traceback (most recent call last):
...
loyalty.errors.VoucherExpired: code: voucher 'HH6J8HJY8Z' expired at 2024-03-31T09:30:00+00:00
>>> voucher.give_back()
((4, 300),)
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, datetime, timedelta

import attrs

from loyalty.errors import VoucherEnded, VoucherExpired, VoucherNotOwned
from loyalty.json_form import JsonForm
from loyalty.referrals import ALPHABET

__all__ = [
    "CODE_LENGTH",
    "Voucher",
    "VoucherStatus",
    "check_open",
    "check_use",
    "code_for",
    "issue",
]

#: Characters in a voucher code, from :data:`loyalty.referrals.ALPHABET` (31**10: about 8e14).
CODE_LENGTH = 10


class VoucherStatus(enum.Enum):
    ISSUED = "issued"
    USED = "used"
    VOIDED = "voided"
    EXPIRED = "expired"
    REVOKED = "revoked"


@attrs.frozen
class Voucher(JsonForm):
    """A reward ``reward_id`` that member ``member_id`` bought for ``points``, under ``code``.

    ``draws`` are the ``(lot, points)`` pairs its purchase took (negative, in
    spending order): a void gives them back. ``issued_at`` is the till's time;
    ``expires_at`` (UTC) the instant from which it can no longer be used.
    ``purchase_id`` is the purchase it was bought against, if any. Once
    ended, ``ended_at`` is the engine's time and, when used, ``used_for`` the
    purchase it was used on (if the till said).
    """

    code: str
    member_id: str
    reward_id: str
    points: int
    draws: tuple[tuple[int, int], ...]
    issued_at: datetime
    expires_at: datetime
    status: VoucherStatus = VoucherStatus.ISSUED
    purchase_id: str | None = None
    ended_at: datetime | None = None
    used_for: str | None = None

    @property
    def open(self) -> bool:
        return self.status is VoucherStatus.ISSUED

    def give_back(self) -> tuple[tuple[int, int], ...]:
        """The (positive) draws that return its points to the lots, the last-drawn first."""
        return tuple((lot, -taken) for lot, taken in reversed(self.draws))

    def ended(self, status: VoucherStatus, at: datetime, used_for: str | None = None) -> Voucher:
        return attrs.evolve(self, status=status, ended_at=at, used_for=used_for)


def code_for(key: str, attempt: int = 0) -> str:
    """The code of the voucher bought under the caller's id ``key``: the same on every retry.

    A code another voucher already has (about one in 8e14) is made again
    with the next ``attempt``.
    """
    digest = hashlib.sha256(f"{attempt}|{key}".encode()).digest()
    number = int.from_bytes(digest[:10], "big")
    chars = []
    for _ in range(CODE_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def issue(
    code: str,
    member_id: str,
    reward_id: str,
    points: int,
    draws: tuple[tuple[int, int], ...],
    *,
    at: datetime,
    valid_for_days: int,
    purchase_id: str | None = None,
) -> Voucher:
    """A voucher bought at ``at`` (the till's time), valid for ``valid_for_days`` days of
    elapsed time from then."""
    expires = at.astimezone(UTC) + timedelta(days=valid_for_days)
    return Voucher(code, member_id, reward_id, points, draws, at, expires, purchase_id=purchase_id)


def check_open(voucher: Voucher) -> None:
    """A voucher that has ended (used, voided, expired, revoked) cannot end again."""
    if not voucher.open:
        raise VoucherEnded(
            "code",
            f"voucher {voucher.code!r} was already {voucher.status.value}",
            status=voucher.status.value,
        )


def check_use(voucher: Voucher, now: datetime, *, member_id: str | None) -> None:
    """Whether the voucher can be used at ``now`` (the engine's clock) by ``member_id``
    (``None``: the till did not say whose card it is)."""
    check_open(voucher)
    if now >= voucher.expires_at:
        raise VoucherExpired(
            "code",
            f"voucher {voucher.code!r} expired at {voucher.expires_at.isoformat()}",
            status=VoucherStatus.EXPIRED.value,
        )
    if member_id is not None and member_id != voucher.member_id:
        raise VoucherNotOwned("code", f"voucher {voucher.code!r} is another member's")
